package steps

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/replication"
)

// TestCutoverShutsDownABusySource: as the cutover asks WebApp2's guest to
// shut down, another task holds the VM (a backup job's snapshot, a
// snapshot's removal still consolidating): vCenter refuses the guest
// shutdown TaskInProgress. The cutover waits for that task and asks again:
// the guest shuts down cleanly and the cutover completes, rather than
// powering the source off hard at once (cutover.hard_power_off, the
// default) or failing.
func TestCutoverShutsDownABusySource(t *testing.T) {
	t.Parallel()
	l, env := migrationLabWith(t, "WebApp2", lab.Options{WorkloadRate: -1})
	r := replicateToCutover(t, env)
	var mu sync.Mutex
	var lines []string
	r.Emit = func(ev Event) {
		mu.Lock()
		lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error)
		mu.Unlock()
	}
	busy := false
	env.phaseHook = func(vm, phase string) {
		if vm != "WebApp2" || phase != "shutdown" {
			return
		}
		refused := l.OnPrem.TasksRefused()
		end, err := l.OnPrem.BusyVM("WebApp2", time.Minute)
		if err != nil {
			t.Error(err)
			return
		}
		busy = true
		// The backup's task ends once vCenter refused a call of ferry's.
		go func() {
			for l.OnPrem.TasksRefused() == refused {
				time.Sleep(20 * time.Millisecond)
			}
			end()
		}()
	}
	defer func() { env.phaseHook = nil }()
	r.Confirmed = true
	_, err := r.Run(context.Background())
	mu.Lock()
	text := strings.Join(lines, "\n")
	mu.Unlock()
	if err != nil {
		t.Fatalf("cutover of a source busy as it was shut down: %v\n%s", err, text)
	}
	if !busy {
		t.Fatalf("the cutover had no shutdown phase:\n%s", text)
	}
	// The wait for the backup's task is said as it begins.
	if !strings.Contains(text, "WebApp2: vCenter refused ShutdownGuest: another task (task-busy-") {
		t.Errorf("the run does not say the shutdown waits for another task:\n%s", text)
	}
	if !strings.Contains(text, "WebApp2: shutdown done in ") || !strings.Contains(text, "(guest shut down)") || strings.Contains(text, "powered off hard") {
		t.Errorf("the run does not say WebApp2's guest shut down (not powered off hard):\n%s", text)
	}
	md, rerr := os.ReadFile(env.State.Get("cutover").Outputs["report"])
	if rerr != nil {
		t.Fatalf("report: %v", rerr)
	}
	if strings.Contains(string(md), "powered off hard") {
		t.Errorf("report says WebApp2 was powered off hard:\n%s", md)
	}
}

// TestPassSaysItWaitsForABusySource: a replication pass (step 6's, the
// scheduler's) takes its snapshot while a backup job's task holds the VM:
// vCenter fails ferry's snapshot task TaskInProgress; the pass starts it
// again once the other task ended, and its job warns meanwhile what it
// waits for (the dashboard and ferry status show a job's warnings).
func TestPassSaysItWaitsForABusySource(t *testing.T) {
	t.Parallel()
	l, env := migrationLabWith(t, "WebApp2", lab.Options{WorkloadRate: -1})
	replicateToCutover(t, env)
	ctx := context.Background()
	var mu sync.Mutex
	var warnings []string
	job, _, err := env.job(ctx, "WebApp2", func(ev replication.Event) {
		if ev.Kind == replication.EventWarning {
			mu.Lock()
			warnings = append(warnings, ev.Msg)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	refused := l.OnPrem.TasksRefused()
	end, err := l.OnPrem.BusyVM("WebApp2", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for l.OnPrem.TasksRefused() == refused {
			time.Sleep(20 * time.Millisecond)
		}
		end()
	}()
	if _, err := job.RunPassWith(ctx, replication.PassOptions{}); err != nil {
		t.Fatalf("a pass while another task held the VM: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "vCenter refused a task: another task (task-busy-") {
		t.Errorf("the pass's warnings: %q, want one saying it waits for another task", warnings)
	}
}
