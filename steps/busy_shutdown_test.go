package steps

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
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
