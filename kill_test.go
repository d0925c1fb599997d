package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/vsphere"
)

// TestKillDuringCutover kills `ferry run` with SIGKILL (no handler runs) at
// phase boundaries of a cutover, before power-on of the target is
// requested: with the source shut down and nothing at the provider yet,
// with the target created at the provider, and with it imported into
// Cloud Director. A second `ferry run` then finishes the cutover: exactly
// one copy of WebApp2 runs (the target), the source stays off, and the
// status says cut over. (A kill after power-on was requested is never
// rolled back automatically: the steps' crash tests cover it.)
func TestKillDuringCutover(t *testing.T) {
	for _, after := range []string{"shutdown", "create VM at provider", "import into vCD"} {
		t.Run(strings.ReplaceAll(after, " ", "_"), func(t *testing.T) {
			l, run := headlessLab(t)
			if out, code := run("run", "--plan", l.PlanPath()); code != 0 {
				t.Fatalf("steps 1-7: exit %d\n%s", code, out)
			}

			// The cutover, killed when the phase's end is printed.
			cutoverSignalled(t, l, "WebApp2: "+after+" done", syscall.SIGKILL)

			out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
			if code != 0 || !strings.Contains(out, "measured downtime") {
				t.Fatalf("re-run after SIGKILL after %s: exit %d\n%s", after, code, out)
			}
			if out, code := run("status", "--plan", l.PlanPath(), "--json"); code != 0 || !strings.Contains(out, `"health":"cut over"`) {
				t.Errorf("status: exit %d\n%s", code, out)
			}
			powerStates(t, l, vsphere.PoweredOff, vsphere.PoweredOn)
			// The lab's probe of WebApp2 answers: the target's guest booted.
			deadline := time.Now().Add(10 * time.Second)
			for !l.Reach.Reachable("172.16.10.12") {
				if time.Now().After(deadline) {
					t.Fatalf("WebApp2 does not answer after the re-run (guest model: %q)", l.Reach.BootFailure("WebApp2"))
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
