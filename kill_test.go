package main

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

// TestKillDuringCutover kills `ferry run` with SIGKILL (no handler runs) at
// phase boundaries of a cutover, before power-on of the target is
// requested: in the middle of the pre-cutover pass (its transfer started,
// the pass's snapshot open on the source), after that pass with the source
// still running, with the source shut down and nothing at the provider yet,
// with the target created at the provider, and with it imported into
// Cloud Director. A kill before the shutdown leaves the source running and
// nothing at the provider. A second `ferry run` then finishes the cutover:
// exactly one copy of WebApp2 runs (the target), the source stays off, and
// the status says cut over. (A kill after power-on was requested is never
// rolled back automatically: the steps' crash tests cover it.)
func TestKillDuringCutover(t *testing.T) {
	for _, kp := range []struct {
		name string
		// The run is killed at the first line holding at printed after
		// a line holding after ("": from the start).
		after, at string
		// The source still runs when the run is killed.
		beforeShutdown bool
	}{
		{"mid_pre-cutover_pass", "WebApp2: pre-cutover pass", "WebApp2: transfer", true},
		{"pre-cutover_pass", "", "WebApp2: pre-cutover pass done", true},
		{"shutdown", "", "WebApp2: shutdown done", false},
		{"create_VM_at_provider", "", "WebApp2: create VM at provider done", false},
		{"import_into_vCD", "", "WebApp2: import into vCD done", false},
	} {
		t.Run(kp.name, func(t *testing.T) {
			l, run := headlessLab(t)
			if out, code := run("run", "--plan", l.PlanPath()); code != 0 {
				t.Fatalf("steps 1-7: exit %d\n%s", code, out)
			}

			// The cutover, killed when the line is printed.
			cmd := exec.Command(ferryBin, "--config", l.ConfigFile, "run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
			cmd.Env = cleanEnv()
			pr, pw := io.Pipe()
			cmd.Stdout, cmd.Stderr = pw, pw
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait(); pw.Close() }()
			var seen []string
			armed, killed := kp.after == "", false
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				line := sc.Text()
				seen = append(seen, line)
				if !killed && armed && strings.Contains(line, kp.at) {
					_ = cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				}
				armed = armed || strings.Contains(line, kp.after)
			}
			<-done
			if !killed {
				t.Fatalf("the cutover never printed %q (after %q):\n%s", kp.at, kp.after, strings.Join(seen, "\n"))
			}
			if kp.beforeShutdown {
				checkPower(t, l, "after the kill before the shutdown", types.VirtualMachinePowerStatePoweredOn, "")
			}

			out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
			if code != 0 || !strings.Contains(out, "measured downtime") {
				t.Fatalf("re-run after SIGKILL at %q: exit %d\n%s", kp.at, code, out)
			}
			if out, code := run("status", "--plan", l.PlanPath(), "--json"); code != 0 || !strings.Contains(out, `"health":"cut over"`) {
				t.Errorf("status: exit %d\n%s", code, out)
			}
			checkPower(t, l, "after the re-run", types.VirtualMachinePowerStatePoweredOff, types.VirtualMachinePowerStatePoweredOn)
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
