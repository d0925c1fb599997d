package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestVerifyMismatchAtCutoverPausesTheJob: blocks of WebApp2's replica are
// corrupted in the provider datastore behind the receiver's back after the
// last pass; the cutover (cutover.full_verify: whole disks hashed on both
// sides) finds the mismatch after the shutdown and rolls back. Through the
// binary and govmomi: the run fails naming the mismatch, `ferry status`
// shows the job paused (phase failed) with the mismatch as its reason, the
// source runs again, nothing is left at the provider, the replica disk is
// still there; a new cutover is refused until `ferry run --verify` has
// compared and repaired the replica (a full compare of the kept replica,
// not a new copy), which lifts the pause; the cutover then succeeds with a
// replica equal to the source.
func TestVerifyMismatchAtCutoverPausesTheJob(t *testing.T) {
	t.Parallel() // a lab of its own; runs beside the ferry serve journeys
	l, run := headlessLab(t)
	editPlan(t, l.PlanPath(), "\ncutover:\n", "\ncutover:\n  full_verify: true\n")
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("steps 1-7: exit %d\n%s", code, out)
	}

	// Garbage in eight places of the replica's flat file, each in its own
	// 64 KiB chunk and 1 MiB block (the guest keeps writing until the
	// shutdown: a pass may carry the source's data over some of them, not
	// over all).
	replica := l.ReplicaFlatFile("[" + l.Provider.Spec.Datastore + "] " + replication.ReplicaDiskPath(lab.TenantOrg, "WebApp2", 0))
	if replica == "" {
		t.Fatal("no replica flat file of WebApp2 at the provider")
	}
	garbage := []byte("garbage written behind the receiver's back")
	f, err := os.OpenFile(replica, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	offsets := []int64{1<<20 + 5, 3<<20 + 4093, 7<<20 + 99, 11<<20 + 17, 15<<20 + 8191, 19<<20 + 333, 23<<20 + 1, 27<<20 + 60000}
	for _, off := range offsets {
		if _, err := f.WriteAt(garbage, off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
	if code != 1 || !strings.Contains(out, "replica differs from source") || !strings.Contains(out, "rolled back") ||
		!strings.Contains(out, "its replica disks are kept") || !strings.Contains(out, "ferry run --verify=WebApp2") {
		t.Fatalf("cutover over a corrupted replica: exit %d, want 1 with a rolled-back verify mismatch\n%s", code, out)
	}

	job := webApp2Job(t, run, l)
	if !job.Paused || job.Phase != replication.JobFailed || !strings.Contains(job.Reason, "replica differs from source") ||
		!job.CompareDue || !strings.Contains(job.Summary, "ferry run --verify=WebApp2") {
		t.Fatalf("status after the mismatch: %+v", job)
	}
	if out, _ := run("status", "--plan", l.PlanPath()); !strings.Contains(unwrapped(out), "paused: the replica differs from its source") || !strings.Contains(unwrapped(out), "replica differs from source") {
		t.Errorf("text status after the mismatch does not say the job is paused and why:\n%s", out)
	}
	checkPower(t, l, "after the rolled-back cutover", vsphere.PoweredOn, "")
	if st, err := os.Stat(replica); err != nil || st.Size() != 32<<20 {
		t.Fatalf("the replica flat file after the rollback: %v %v", st, err)
	}

	// Not cut over while the replica is known to differ.
	out, code = run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
	if code != 1 || !strings.Contains(out, "not cut over: a verify found the replica differs from the source") || !strings.Contains(out, "ferry run --verify=WebApp2") {
		t.Fatalf("cutover of a paused job: exit %d, want 1 refusing it\n%s", code, out)
	}
	checkPower(t, l, "after the refused cutover", vsphere.PoweredOn, "")

	// The full compare repairs the kept replica and replication goes on.
	out, code = run("run", "--plan", l.PlanPath(), "--verify", "WebApp2")
	if code != 0 || !strings.Contains(out, "32 blocks compared") {
		t.Fatalf("run --verify: exit %d\n%s", code, out)
	}
	job = webApp2Job(t, run, l)
	c := job.LastCompare
	if c == nil {
		t.Fatalf("no full compare in the status after run --verify: %+v", job)
	}
	// The corrupted blocks count as differing, or as unreported when a
	// pass had written part of them (the sender's map then took the
	// receiver's digest of the whole block): sent again either way.
	// Not paused; no ferry runs for the plan now, so nothing replicates
	// ("stopped"), with its replica current.
	if found := c.Differing + c.Unreported; job.Paused || job.Phase != replication.JobStopped || job.CompareDue || !strings.HasSuffix(job.Summary, "; its last pass is still within the RPO") ||
		c.Blocks != 32 || found < 1 || found > int64(len(offsets)) || c.Repaired != c.Differing {
		t.Fatalf("status after the repairing compare: %+v (last compare %+v)", job, c)
	}

	out, code = run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
	if code != 0 || !strings.Contains(out, "measured downtime") {
		t.Fatalf("cutover after the repair: exit %d\n%s", code, out)
	}
	if job := webApp2Job(t, run, l); job.Summary != "cut over" {
		t.Errorf("status after the cutover: %+v", job)
	}
	checkPower(t, l, "after the cutover", vsphere.PoweredOff, vsphere.PoweredOn)
	if !bytes.Equal(readFile(t, replica), readFile(t, l.OnPrem.FlatFile("WebApp2"))) {
		t.Error("the replica differs from the source after the cutover")
	}
	waitAnswers(t, l, "after the cutover")
}

// readFile is the content of a file.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitAnswers waits until the lab's probe of WebApp2 answers: the target's
// guest booted (the guest model says why not otherwise).
func waitAnswers(t *testing.T, l *lab.Lab, when string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !l.Reach.Reachable("172.16.10.12") {
		if time.Now().After(deadline) {
			t.Fatalf("WebApp2 does not answer %s (guest model: %q)", when, l.Reach.BootFailure("WebApp2"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// webApp2Job is WebApp2's job in `ferry status --json`.
func webApp2Job(t *testing.T, run func(args ...string) (string, int), l *lab.Lab) steps.VMStatus {
	t.Helper()
	out, code := run("status", "--plan", l.PlanPath(), "--json")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	var st engine.Status
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out)
	}
	for _, j := range st.Jobs {
		if j.VM == "WebApp2" {
			return j
		}
	}
	t.Fatalf("no job of WebApp2 in the status:\n%s", out)
	return steps.VMStatus{}
}

// anyPower accepts a VM in any power state, notRunning a VM that is not
// powered on or no VM at all (checkPower).
const (
	anyPower   vsphere.PowerState = "any"
	notRunning vsphere.PowerState = "not running"
)

// checkPower checks WebApp2's power state on-prem (the source) and at the
// provider (the target; "" for no VM there, anyPower for a VM in any
// state, notRunning for none powered on), through govmomi.
func checkPower(t *testing.T, l *lab.Lab, when string, source, target vsphere.PowerState) {
	t.Helper()
	ctx := context.Background()
	for _, side := range []struct {
		name string
		vc   *lab.VCenter
		want vsphere.PowerState
	}{{"source (on-prem)", l.OnPrem, source}, {"target (provider)", l.Provider, target}} {
		vc := connectVC(t, l, side.vc)
		ref, ok, err := labtest.ProviderVM(ctx, vc, "WebApp2")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case !ok && side.want != "" && side.want != notRunning:
			t.Errorf("%s: no %s WebApp2", when, side.name)
		case ok && side.want == "":
			t.Errorf("%s: a %s WebApp2 is left", when, side.name)
		case ok && side.want == notRunning:
			if st, err := vc.PowerState(ctx, ref); err != nil || st == vsphere.PoweredOn {
				t.Errorf("%s: %s WebApp2 is %s (%v), want no running copy there", when, side.name, st, err)
			}
		case ok && side.want != anyPower:
			if st, err := vc.PowerState(ctx, ref); err != nil || st != side.want {
				t.Errorf("%s: %s WebApp2 is %s (%v), want %s", when, side.name, st, err, side.want)
			}
		}
	}
}
