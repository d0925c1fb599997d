package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// TestStatusCutOverHealth (QA): a VM cut over keeps its job's paused
// record ("paused by request", as the cutover paused it); ferry status
// says "cut over", not "cut over: paused by request". A VM that still
// replicates and is paused says why.
func TestStatusCutOverHealth(t *testing.T) {
	now := time.Now()
	rpo := replication.RPO(time.Minute)
	cut := replication.StoredStatus("WebApp2", rpo, replication.VMState{LastPass: now, Paused: true, PausedReason: "paused by request"}, now).WithPhase(replication.JobCutOver)
	paused := replication.StoredStatus("WebApp1", rpo, replication.VMState{LastPass: now, Paused: true, PausedReason: "paused by request"}, now)
	st := engine.Status{Jobs: []steps.VMStatus{{JobStatus: cut, Summary: "cut over"}, {JobStatus: paused, Summary: "paused"}}}
	var b bytes.Buffer
	if err := printStatus(&b, st, false, false); err != nil { // a ferry runs for the plan
		t.Fatal(err)
	}
	out := b.String()
	rows := jobRows(out)
	if l := rows["WebApp2"]; !strings.Contains(l, "cut over") || strings.Contains(l, "paused") {
		t.Errorf("cut-over VM: %q", l)
	}
	if l := rows["WebApp1"]; !strings.Contains(l, "paused: paused by request") {
		t.Errorf("paused VM: %q", l)
	}
	if len(rows) != 2 {
		t.Fatalf("status lacks the jobs:\n%s", out)
	}
}

// TestStatusLongHealthBelowTable (QA: a held job's health, some 500
// characters, pushed LAST FULL COMPARE far to the right and made the
// table unreadable at 80 columns): the table keeps the first words of a
// long health, and the whole of it follows the table, once per VM.
func TestStatusLongHealthBelowTable(t *testing.T) {
	now := time.Now()
	rpo := replication.RPO(time.Minute)
	long := "held by its cutover, which a previous ferry process left unfinished before power-on of the target was requested (the target VM may hold the replica disks): run the cutover again"
	held := replication.StoredStatus("WebApp2", rpo, replication.VMState{LastPass: now}, now)
	ok := replication.StoredStatus("WebApp1", rpo, replication.VMState{LastPass: now}, now)
	st := engine.Status{Jobs: []steps.VMStatus{{JobStatus: held, Summary: long}, {JobStatus: ok, Summary: "ok"}}}
	var b bytes.Buffer
	if err := printStatus(&b, st, false, false); err != nil { // a ferry runs for the plan
		t.Fatal(err)
	}
	out := b.String()
	rows := jobRows(out)
	var whole int
	for _, l := range strings.Split(unwrapped(out), "\n") {
		if strings.HasPrefix(l, "WebApp2: ") {
			whole++
			if l != "WebApp2: "+long {
				whole = -100
			}
		}
	}
	if len(rows) != 2 || !strings.HasSuffix(rows["WebApp2"], "held by its cutover (below)") || len(rows["WebApp2"]) > textWidth ||
		!strings.HasSuffix(rows["WebApp1"], "  ok") || whole != 1 {
		t.Errorf("status with a long health:\n%s", out)
	}
}

// TestStatusSaysQueued (QA: a job whose pass waited for a pass slot, more
// jobs due than concurrent_passes, read NEXT PASS "-" in ferry status, as
// if nothing were due): a job the engine's scheduler has queued reads
// NEXT PASS "queued", through the status document as the engine sends it
// (JSON: "queued", "pass_slots"); a job with no replica yet says, in its
// health, that its initial sync waits for a free pass slot.
func TestStatusSaysQueued(t *testing.T) {
	now := time.Now()
	rpo := replication.RPO(time.Minute)
	queued := replication.StoredStatus("WebApp2", rpo, replication.VMState{LastPass: now.Add(-50 * time.Second)}, now)
	queued.Queued, queued.Slots, queued.NextPass = true, 1, now.Add(-5*time.Second)
	first := replication.StoredStatus("WebApp3", rpo, replication.VMState{}, now)
	first.Queued, first.Slots = true, 1
	running := replication.StoredStatus("WebApp1", rpo, replication.VMState{LastPass: now.Add(-20 * time.Second)}, now)
	running.Running, running.Slots = true, 1
	sent := engine.Status{Engine: &engine.Info{PID: 1, Since: now}, Jobs: []steps.VMStatus{
		{JobStatus: running, Summary: "ok"}, {JobStatus: queued, Summary: "ok"}, {JobStatus: first, Summary: "no replica yet: " + steps.QueuedText("its initial sync", 1)}}}
	doc, err := json.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), `"queued":true`) || !strings.Contains(string(doc), `"pass_slots":1`) {
		t.Errorf("status document: %s\nwant queued and pass_slots", doc)
	}
	var st engine.Status
	if err := json.Unmarshal(doc, &st); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := printStatus(&b, st, false, true); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	next := map[string]string{}
	var header string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "VM ") {
			header = l
		}
		i := strings.Index(header, "NEXT PASS")
		if vm, _, ok := strings.Cut(l, " "); ok && strings.HasPrefix(vm, "WebApp") && !strings.HasSuffix(vm, ":") && i > 0 && len(l) > i {
			next[vm] = strings.Fields(l[i:])[0]
		}
	}
	if next["WebApp1"] != "running" || next["WebApp2"] != "queued" || next["WebApp3"] != "queued" {
		t.Errorf("NEXT PASS: %v, want WebApp1 running, WebApp2 and WebApp3 queued\n%s", next, out)
	}
	if !strings.Contains(unwrapped(out), "WebApp3: no replica yet: its initial sync waits for a free pass slot (1 at a time: concurrent_passes)") {
		t.Errorf("WebApp3's health does not say its initial sync waits for a slot:\n%s", out)
	}
}

// TestStatusSaysNotReplicatingOnceForItsVMs: with nothing replicating,
// the "not replicating ..." health that several VMs share is said once
// below the jobs table, naming each of them; a VM whose health differs
// otherwise (its RPO missed, theirs still kept) has its own paragraph;
// every row says "not replicating (below)".
func TestStatusSaysNotReplicatingOnceForItsVMs(t *testing.T) {
	st, err := steps.LoadState(filepath.Join(t.TempDir(), "plan.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	store, err := replication.OpenState(st.Path() + ".replication.db")
	if err != nil {
		t.Fatal(err)
	}
	within := []string{"WebApp1", "WebApp2", "WebApp3"}
	for _, vm := range within {
		if err := store.PutVM(vm, replication.VMState{LastPass: now.Add(-20 * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.PutVM("db01", replication.VMState{LastPass: now.Add(-10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	pf := &steps.PlanFile{}
	for _, vm := range []string{"WebApp1", "db01", "WebApp2", "WebApp3"} {
		pf.VMs = append(pf.VMs, steps.VMPlan{Name: vm, RPO: replication.RPO(time.Minute)})
	}
	jobs, err := steps.NewEnv(nil, pf, st).ReplicationStatus(now)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := printStatus(&b, engine.Status{Jobs: jobs}, false, true); err != nil { // nobody runs the plan
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("ferry status:\n%s", out)
	var shared, db01 []string
	for _, l := range strings.Split(unwrapped(out), "\n") {
		switch {
		case strings.HasPrefix(l, "WebApp1, WebApp2 and WebApp3, each: "+stoppedSummary):
			shared = append(shared, l)
		case strings.HasPrefix(l, "db01: "+stoppedSummary):
			db01 = append(db01, l)
		}
	}
	if n := strings.Count(unwrapped(out), stoppedSummary); n != 2 || len(shared) != 1 || len(db01) != 1 {
		t.Errorf("the not-replicating health said %d times, %d naming WebApp1 to 3 together, %d for db01; want twice: once for the three, once for db01", n, len(shared), len(db01))
	}
	if len(shared) == 1 && (!strings.HasSuffix(shared[0], "still within the RPO") || strings.Contains(shared[0], "db01")) {
		t.Errorf("the three VMs' health: %q", shared[0])
	}
	if len(db01) == 1 && strings.Contains(db01[0], "still within the RPO") {
		t.Errorf("db01's health, its RPO missed: %q", db01[0])
	}
	for _, vm := range append(within, "db01") {
		if !strings.HasSuffix(jobRows(out)[vm], "not replicating (below)") {
			t.Errorf("%s's row: %q, want it not replicating (below)", vm, jobRows(out)[vm])
		}
	}
}
