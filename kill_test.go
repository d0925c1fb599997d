package main

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
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
			killed := false
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				line := sc.Text()
				seen = append(seen, line)
				if !killed && strings.Contains(line, "WebApp2: "+after+" done") {
					_ = cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				}
			}
			<-done
			if !killed {
				t.Fatalf("the cutover never printed %q:\n%s", "WebApp2: "+after+" done", strings.Join(seen, "\n"))
			}

			out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
			if code != 0 || !strings.Contains(out, "measured downtime") {
				t.Fatalf("re-run after SIGKILL after %s: exit %d\n%s", after, code, out)
			}
			if out, code := run("status", "--plan", l.PlanPath(), "--json"); code != 0 || !strings.Contains(out, `"health":"cut over"`) {
				t.Errorf("status: exit %d\n%s", code, out)
			}
			ctx := context.Background()
			for _, side := range []struct {
				name string
				vc   *lab.VCenter
				want vsphere.PowerState
			}{{"source (on-prem)", l.OnPrem, vsphere.PoweredOff}, {"target (provider)", l.Provider, vsphere.PoweredOn}} {
				vc, err := vsphere.Connect(ctx, vsphere.Config{URL: side.vc.URL, Username: side.vc.Username, Password: side.vc.Password, CAFile: l.CAFile})
				if err != nil {
					t.Fatal(err)
				}
				ref, ok, err := vc.FindVM(ctx, "WebApp2")
				if err != nil || !ok {
					t.Fatalf("%s WebApp2: %v %v", side.name, ok, err)
				}
				if st, err := vc.PowerState(ctx, ref); err != nil || st != side.want {
					t.Errorf("%s WebApp2 is %s (%v), want %s", side.name, st, err, side.want)
				}
				vc.Close(ctx)
			}
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
