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
	_, env := migrationLab(t, "WebApp2")
	yes := true
	env.Plan.Cutover.FullVerify = &yes
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
