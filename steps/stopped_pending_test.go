package steps

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// stopWhileHeld runs WebApp2's confirmed cutover, stopping it (its
// context cancelled, as a signal does) once hold announces the work it
// holds (ferry waits for it), and releasing the work once a line of the
// run says waitLine, or else when the run has returned; it returns once the
// work held has ended, with the run's lines, the report as text and the
// run's error.
func stopWhileHeld(t *testing.T, env *Env, r *Runner, hold *lab.Hold, waitLine string) ([]string, string, error) {
	t.Helper()
	t.Cleanup(hold.Release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var lines []string
	r.Emit = func(ev Event) {
		line := string(ev.Kind) + " " + ev.Step + ": " + ev.Message + ev.Error
		mu.Lock()
		lines = append(lines, line)
		mu.Unlock()
		if strings.Contains(line, waitLine) {
			hold.Release()
		}
	}
	stopped := make(chan struct{})
	go func() {
		select {
		case <-hold.Began():
			cancel()
		case <-ctx.Done():
		}
		close(stopped)
	}()
	r.Confirmed = true
	_, err := r.Run(ctx)
	cancel()
	<-stopped
	hold.Release()
	hold.Ended()
	md, rerr := os.ReadFile(env.State.Get("cutover").Outputs["report"])
	if rerr != nil {
		t.Fatalf("report: %v", rerr)
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(lines), string(md), err
}

// TestStoppedDuringGuestShutdownRollsBackRunning (QA: SIGTERM while the
// cutover waited for WebApp1 to power off after vCenter had accepted its
// guest shutdown: the rollback found it still powered on and left it, then
// the guest powered off; the run said "rolled back: WebApp1 is running
// on-prem again", and the next run found it off and migrated it cold): a
// guest shutdown cannot be cancelled, so the rollback waits for the
// power-off and powers the source on again; it runs at the end, the
// replica is intact, nothing is left at the provider, and the run and the
// report say what happened.
func TestStoppedDuringGuestShutdownRollsBackRunning(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	r := replicateToCutover(t, env)
	hold := l.OnPrem.HoldGuestShutdowns()
	waitLine := "WebApp2: its guest OS was asked to shut down at "
	lines, md, err := stopWhileHeld(t, env, r, hold, waitLine)
	text := strings.Join(lines, "\n")
	if err == nil || !strings.Contains(err.Error(), "rolled back: WebApp2 is running on-prem again") {
		t.Fatalf("stopped in the shutdown: %v; want it rolled back, running again:\n%s", err, text)
	}
	// Checked once the guest's shutdown has ended: the source runs.
	if !sourceOn(t, env) {
		t.Fatalf("WebApp2 is powered off after a rollback that said it runs on-prem again:\n%s", text)
	}
	if !strings.Contains(text, waitLine) || !strings.Contains(text, "vCenter cannot cancel that") ||
		!strings.Contains(text, "WebApp2: its guest OS finished the shutdown: powering it on again") {
		t.Errorf("the run does not say it waited for the guest's shutdown to power the source on again:\n%s", text)
	}
	if !strings.Contains(md, "| WebApp2 | rolled back |") {
		t.Errorf("report:\n%s", md)
	}
	ctx := context.Background()
	provider, perr := env.ProviderVC(ctx)
	if perr != nil {
		t.Fatal(perr)
	}
	if ref, ok, _ := labtest.ProviderVM(ctx, provider, "WebApp2"); ok {
		t.Errorf("a VM WebApp2 (%s) is left at the provider", ref.Value)
	}
	checkReplicaResumes(t, l, env, "WebApp2")
}

// TestStoppedDuringCreateVMRemovesItsVM (QA: SIGTERM while the cutover
// waited for the provider vCenter's CreateVM task: the task made the VM
// after the wait was cancelled, the rollback knew nothing of it, and the
// next run refused "a VM named WebApp1 (vm-70) ... which ferry did not
// make"): the rollback waits for the task's end and removes the VM it made,
// its replica disks detached and kept; the source runs again, nothing is
// left at the provider, the next cutover is not refused, and the run says
// what happened.
func TestStoppedDuringCreateVMRemovesItsVM(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	r := replicateToCutover(t, env)
	hold := l.Provider.HoldCreateVMs()
	waitLine := "WebApp2: the provider vCenter's task creating the target ("
	lines, md, err := stopWhileHeld(t, env, r, hold, waitLine)
	text := strings.Join(lines, "\n")
	if err == nil || !strings.Contains(err.Error(), "create VM at provider") || !strings.Contains(err.Error(), "rolled back: WebApp2 is running on-prem again") {
		t.Fatalf("stopped in the create: %v; want it rolled back, running again:\n%s", err, text)
	}
	ctx := context.Background()
	provider, perr := env.ProviderVC(ctx)
	if perr != nil {
		t.Fatal(perr)
	}
	// Checked once the task has ended: nothing it made is left.
	if ref, ok, _ := labtest.ProviderVM(ctx, provider, "WebApp2"); ok {
		t.Errorf("the VM WebApp2 (%s) the stopped create made is left at the provider:\n%s", ref.Value, text)
	}
	if taken, err := env.targetNameTaken(ctx, "WebApp2"); err != nil || taken != "" {
		t.Errorf("the next cutover would be refused: %v %s", err, taken)
	}
	if !strings.Contains(text, waitLine) || !strings.Contains(text, "was still running when the cutover stopped") ||
		!strings.Contains(text, "after the stop: removing it, its replica disks detached and kept") {
		t.Errorf("the run does not say it waited for the create and removed what it made:\n%s", text)
	}
	if !strings.Contains(md, "| WebApp2 | rolled back |") {
		t.Errorf("report:\n%s", md)
	}
	if !sourceOn(t, env) {
		t.Fatal("WebApp2 is not running after the rollback")
	}
	checkReplicaResumes(t, l, env, "WebApp2")
}
