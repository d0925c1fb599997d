package steps

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestCorruptedReplicaRepairedWhileRunning: after the initial sync a full
// compare has run; a replica block corrupted behind the receiver's back in
// the provider datastore is found by an on-demand full compare (`ferry run
// --verify`) and repaired while the VM runs; `ferry status` shows the
// compare; the cutover then verifies only the blocks its final pass touched
// plus the digest-map roots, and its report says so and names the compare.
// The guest writes all along (the lab's snapshots freeze nothing, so some
// blocks change between a snapshot and its reads: they must not be counted
// as corruption).
func TestCorruptedReplicaRepairedWhileRunning(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	var lines []string
	emit := func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: emit}
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("run: %+v %v\n%s", out, err, strings.Join(lines, "\n"))
	}
	jobs, err := env.ReplicationStatus(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c := jobs[0].LastCompare; c == nil || c.Blocks != 16 || c.Differing != 0 {
		t.Fatalf("full compare right after the initial sync: %+v", c)
	}

	// Garbage in the replica's flat file, behind the receiver's back.
	replica := l.ReplicaFlatFile("[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 0))
	f, err := os.OpenFile(replica, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("garbage written behind the receiver's back"), 11<<20+4093); err != nil {
		t.Fatal(err)
	}
	f.Close()

	lines = nil
	if err := env.VerifyReplicas(ctx, []string{"WebApp2"}, emit); err != nil {
		t.Fatalf("verify: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if !strings.Contains(strings.Join(lines, "\n"), "1 differing, 1 repaired") {
		t.Errorf("on-demand compare output:\n%s", strings.Join(lines, "\n"))
	}
	jobs, err = env.ReplicationStatus(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c := jobs[0].LastCompare; c == nil || c.Differing != 1 || c.Repaired != 1 || c.Blocks != 16 {
		t.Fatalf("status after the on-demand compare: %+v", c)
	}
	if err := env.VerifyReplicas(ctx, []string{"WebApp9"}, emit); err == nil || !strings.Contains(err.Error(), "not a VM of the plan") {
		t.Errorf("--verify of an unknown VM: %v", err)
	}

	lines = nil
	r.Confirmed = true
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if fileHash(t, l.OnPrem.FlatFile("WebApp2")) != fileHash(t, replica) {
		t.Error("replica differs from source after the cutover")
	}
	reportPath := env.State.Get("cutover").Outputs["report"]
	md, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(strings.TrimSuffix(reportPath, ".md") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var rep CutoverReport
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	v, fp := rep.VMs[0].Verify, rep.VMs[0].FinalPass
	if v == nil || fp == nil {
		t.Fatalf("report without verify or final pass:\n%s", md)
	}
	// The verify read exactly the blocks the final pass wrote and checked,
	// never the whole 16 MiB disk.
	if v.Mode != "final pass" || v.Blocks != fp.Checked || v.BytesRead != v.Blocks*replication.HashBlock || v.Blocks >= 16 || v.RootBlocks != 16 {
		t.Errorf("verify %+v after a final pass that checked %d blocks", v, fp.Checked)
	}
	if c := v.LastCompare; c == nil || c.Differing != 1 || c.Repaired != 1 {
		t.Errorf("report's last compare: %+v", c)
	}
	if !strings.Contains(string(md), "Verified what the final pass touched") || !strings.Contains(string(md), "Last full compare while the VM ran: 16 blocks compared, 1 differing, 1 repaired") {
		t.Errorf("report does not say what was verified and what the last compare found:\n%s", md)
	}
	t.Logf("report:\n%s", md)
}

// TestCutoverFullVerify: cutover.full_verify keeps the whole-disk verify
// inside the window, and the report shows what it read and its time.
func TestCutoverFullVerify(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	yes := true
	env.Plan().Cutover.FullVerify = &yes
	ctx := context.Background()
	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, ev.Message+ev.Error) }, Confirmed: true}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("run: %v\n%s", err, strings.Join(lines, "\n"))
	}
	md, err := os.ReadFile(env.State.Get("cutover").Outputs["report"])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "Verified whole disks inside the downtime window") || !strings.Contains(string(md), "16 MiB read from the source") {
		t.Errorf("report:\n%s", md)
	}
}

// TestVerifyEveryValidated: verify_every is a duration within 1h..720h,
// and a bad one is refused naming the field and the valid range.
func TestVerifyEveryValidated(t *testing.T) {
	for v, ok := range map[string]bool{"24h": true, "1h": true, "720h": true, "30m": false, "721h": false, "daily": false} {
		pf, err := ParsePlanFile([]byte("verify_every: " + v + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		err = pf.Validate(nil)
		if ok != (err == nil) {
			t.Errorf("verify_every %s: %v", v, err)
		}
		if err != nil && (!strings.Contains(err.Error(), "verify_every") || !strings.Contains(err.Error(), "1h") || !strings.Contains(err.Error(), "720h")) {
			t.Errorf("verify_every %s: error does not name the field and range: %v", v, err)
		}
	}
}

// TestVerifyMismatchAtCutoverInTheWizard: with the wizard's scheduler, a
// cutover whose verify (cutover.full_verify) finds the replica corrupted
// behind the receiver's back rolls back and leaves the scheduler's job
// paused as failed, with the mismatch as its reason (not resumed as after
// other rollbacks); a new cutover is refused while it is; `ferry run
// --verify` resumes it with a full compare that repairs the replica, and the
// cutover then succeeds.
func TestVerifyMismatchAtCutoverInTheWizard(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	yes := true
	env.Plan().Cutover.FullVerify = &yes
	ctx := context.Background()
	sched, err := env.EnableWarm(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, ev.Message+ev.Error) }}
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("run: %+v %v\n%s", out, err, strings.Join(lines, "\n"))
	}
	// The full compare right after the initial sync has run (else the
	// cutover's pre-cutover pass would be one, and repair the replica).
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		changed := sched.Changed()
		if st := sched.Status()[0]; st.LastCompare != nil && !st.Running {
			break
		}
		select {
		case <-changed:
		case <-wctx.Done():
			t.Fatalf("no full compare after the initial sync: %+v", sched.Status())
		}
	}
	// The guest stops writing: on this small disk it would soon overwrite
	// the corrupted bytes, and its passes would carry the source's data
	// there before the cutover's verify could see them.
	l.Workload.Stop()
	replica := l.ReplicaFlatFile("[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 0))
	f, err := os.OpenFile(replica, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	offsets := []int64{2<<20 + 99, 7<<20 + 4093, 13<<20 + 1}
	for _, off := range offsets {
		if _, err := f.WriteAt([]byte("garbage written behind the receiver's back"), off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	r.Confirmed = true
	if _, err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "replica differs from source") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("cutover over a corrupted replica: %v", err)
	}
	st := sched.Status()[0]
	if !st.Paused || st.Phase != replication.JobFailed || !strings.Contains(st.Reason, "replica differs from source") || !st.CompareDue {
		t.Fatalf("scheduler after the mismatch: %+v", st)
	}
	if !sourceOn(t, env) {
		t.Fatal("source not running after the rollback")
	}
	if _, err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "not cut over: a verify found the replica differs") {
		t.Fatalf("cutover of the paused job: %v", err)
	}
	if st := sched.Status()[0]; !st.Paused || st.Phase != replication.JobFailed {
		t.Fatalf("scheduler after the refused cutover: %+v", st)
	}

	// `ferry run --verify` against the wizard's (or an engine's) scheduler
	// resumes the job with the full compare that repairs the replica
	// (resuming it on the dashboard does the same: the replication tests).
	lines = nil
	if err := env.VerifyReplicas(ctx, []string{"WebApp2"}, func(ev Event) { lines = append(lines, ev.Message+ev.Error) }); err != nil {
		t.Fatalf("verify: %v\n%s", err, strings.Join(lines, "\n"))
	}
	st = sched.Status()[0]
	// Differing, or unreported when a pass wrote part of a corrupted block.
	if c := st.LastCompare; st.Paused || st.CompareDue || c == nil || c.Differing+c.Unreported < 1 || c.Differing+c.Unreported > int64(len(offsets)) || c.Repaired != c.Differing {
		t.Fatalf("scheduler after resuming: %+v (last compare %+v)", st, c)
	}
	lines = nil
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover after the repair: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if fileHash(t, l.OnPrem.FlatFile("WebApp2")) != fileHash(t, replica) {
		t.Error("replica differs from source after the cutover")
	}
}
