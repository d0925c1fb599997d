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
