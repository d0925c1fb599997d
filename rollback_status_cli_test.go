package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// rolledBackState writes the state a rolled back cutover of WebApp2 leaves
// in l's plan: the cutover step pending with summary (""): running, as a
// --rollback killed once it had rolled WebApp2 back leaves it), WebApp2's cutover
// rolled back (at at, RFC 3339; "" as an older ferry wrote it, without the
// time), and returns a runner of ferry commands against it.
func rolledBackState(t *testing.T, l *lab.Lab, summary, at string) func(args ...string) (string, int) {
	t.Helper()
	path := filepath.Join(l.Dir, "plan.state.json")
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	st := steps.NewState(path)
	out := map[string]string{"cutover.WebApp2": "rolled back"}
	if at != "" {
		out["rolled_back_at.WebApp2"] = at
	}
	if err := st.SetOutputs("cutover", out); err != nil {
		t.Fatal(err)
	}
	if summary == "" {
		if err := st.Begin("cutover"); err != nil {
			t.Fatal(err)
		}
	} else if err := st.Pend("cutover", summary); err != nil {
		t.Fatal(err)
	}
	return func(args ...string) (string, int) {
		cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile}, args...)...)
		cmd.Env = cleanEnv()
		b, err := cmd.CombinedOutput()
		return string(b), labtest.ExitCode(err)
	}
}

// cutoverRow is the cutover step's row of ferry status, with its whole
// summary (stepLine).
func cutoverRow(t *testing.T, out string) string {
	t.Helper()
	if line := stepLine(out, "8 Cutover"); line != "" {
		return line
	}
	t.Fatalf("no cutover row in ferry status:\n%s", out)
	return ""
}

// TestStatusSaysRolledBack (QA): after a --rollback killed once it had
// rolled WebApp2 back, run again (which puts the step to pending), ferry
// status read the cutover step "pending ... waiting for --confirm-cutover"
// and no longer said WebApp2 was rolled back, nor when. It says so, and
// how to cut over again, and the step is still pending (not done); a state
// an older ferry wrote, without the rollback's time, reads well too, in
// ferry status and in the --rollback run again.
func TestStatusSaysRolledBack(t *testing.T) {
	l := smallLab(t)
	settled := "a ferry process stopped in this step after its VMs' cutovers ended (their outages go into the next downtime report); waiting for --confirm-cutover"
	run := rolledBackState(t, l, settled, "2026-12-01T10:00:00Z")
	out, code := run("status", "--plan", l.PlanPath())
	row := cutoverRow(t, out)
	t.Logf("ferry status:\n%s", out)
	if code != 0 || !strings.Contains(row, "pending") || !strings.Contains(row, "WebApp2 not cut over: its cutover was rolled back at 2026-12-01 10:00:00 UTC; cut over again with --confirm-cutover=WebApp2") ||
		strings.Contains(row, "waiting for --confirm-cutover") {
		t.Errorf("ferry status after WebApp2's cutover was rolled back: exit %d, cutover row:\n%s", code, row)
	}
	if out, _ := run("status", "--plan", l.PlanPath(), "--json"); !strings.Contains(out, `"status":"pending","summary":"WebApp2 not cut over: its cutover was rolled back at 2026-12-01 10:00:00 UTC`) {
		t.Errorf("ferry status --json after WebApp2's cutover was rolled back:\n%s", out)
	}

	// Left running by a --rollback killed once it had rolled WebApp2
	// back: interrupted, and no run runs it again (QA: "the next ferry
	// run, or the wizard, runs it again", nothing of the rollback).
	run = rolledBackState(t, l, "", "2026-12-01T10:00:00Z")
	out, code = run("status", "--plan", l.PlanPath())
	if row := cutoverRow(t, out); code != 0 || !strings.Contains(row, "interrupted  its run stopped (the process was killed or stopped) once its VMs' cutovers had ended: WebApp2 not cut over: its cutover was rolled back at 2026-12-01 10:00:00 UTC; cut over again with --confirm-cutover=WebApp2") ||
		strings.Contains(row, "runs it again") {
		t.Errorf("ferry status after a --rollback killed once it had rolled WebApp2 back: exit %d, cutover row:\n%s", code, row)
	}
	if out, _ := run("status", "--plan", l.PlanPath(), "--json"); !strings.Contains(out, `"status":"interrupted","summary":"its run stopped (the process was killed or stopped) once its VMs' cutovers had ended: WebApp2 not cut over`) {
		t.Errorf("ferry status --json after a --rollback killed once it had rolled WebApp2 back:\n%s", out)
	}

	// Written by an older ferry: no time.
	run = rolledBackState(t, l, settled, "")
	out, code = run("status", "--plan", l.PlanPath())
	if row := cutoverRow(t, out); code != 0 || !strings.Contains(row, "WebApp2 not cut over: its cutover was rolled back (when is not recorded: an older ferry rolled it back); cut over again with --confirm-cutover=WebApp2") {
		t.Errorf("ferry status of a state an older ferry wrote: exit %d, cutover row:\n%s", code, row)
	}
	out, code = run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2", "--rollback")
	t.Logf("--rollback run again:\n%s", out)
	if code != 0 || !strings.Contains(out, "WebApp2: already rolled back (when is not recorded: an older ferry rolled it back); nothing to do; cut over again with --confirm-cutover=WebApp2") {
		t.Errorf("--rollback run again on a state an older ferry wrote: exit %d\n%s", code, out)
	}
}

// TestRollbackRunAgainRefusesVerifyAndRedo (QA): `ferry run --rollback`
// naming only VMs rolled back already runs no step, and it ignored
// --verify and --redo given with it, exit 0 "nothing to do", as if the
// full compare or the step had run. The combination is refused as bad
// usage (exit 2), naming the flags, why, and the command that does what
// they ask; nothing changes (the state file as it was, no log); the same
// through a ferry serve engine. The --rollback alone is still "nothing to
// do", exit 0.
func TestRollbackRunAgainRefusesVerifyAndRedo(t *testing.T) {
	l := smallLab(t)
	run := rolledBackState(t, l, "WebApp2: cutover rolled back as decided (--rollback)", "2026-12-01T10:00:00Z")
	statePath := filepath.Join(l.Dir, "plan.state.json")
	state := string(readFile(t, statePath))
	rollback := []string{"run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2", "--rollback"}
	for _, c := range []struct{ flags, want []string }{
		{[]string{"--verify", "WebApp2"}, []string{"--verify=WebApp2 with --rollback: the cutover of WebApp2 was rolled back at 2026-12-01 10:00:00 UTC, so --rollback has nothing to do and this run would run no step: --verify=WebApp2 would be ignored; nothing was changed",
			"For --verify=WebApp2, run the same command without --confirm-cutover and --rollback"}},
		{[]string{"--redo", "checks", "--verify", "WebApp2"}, []string{"--verify=WebApp2 and --redo=checks with --rollback:", "For --verify=WebApp2 and --redo=checks, run the same command without"}},
	} {
		out, code := run(append(rollback, c.flags...)...)
		t.Logf("with %v: exit %d\n%s", c.flags, code, out)
		for _, w := range c.want {
			if code != 2 || !strings.Contains(out, w) {
				t.Errorf("--rollback of a VM rolled back already, with %v: exit %d, want 2 and %q:\n%s", c.flags, code, w, out)
			}
		}
		if got := string(readFile(t, statePath)); got != state {
			t.Errorf("refused with %v, the run changed the state:\n%s\nwas\n%s", c.flags, got, state)
		}
		if _, err := os.Stat(filepath.Join(l.Dir, "ferry.log")); err == nil {
			t.Errorf("refused with %v, the run left a ferry.log", c.flags)
		}
	}
	if out, code := run(append(rollback, "--verify", "WebApp2", "--json")...); code != 2 || !strings.Contains(out, `"kind":"failed"`) || !strings.Contains(out, "would be ignored") {
		t.Errorf("--rollback --verify --json of a VM rolled back already: exit %d\n%s", code, out)
	}
	if out, code := run(rollback...); code != 0 || !strings.Contains(out, "ferry: nothing to do") {
		t.Errorf("--rollback alone of a VM rolled back already: exit %d\n%s", code, out)
	}
	// Sent to the engine, the same refusal.
	startServe(t, l)
	out, code := run(append(rollback, "--redo", "checks")...)
	if code != 2 || !strings.Contains(out, "--redo=checks with --rollback: the cutover of WebApp2 was rolled back at 2026-12-01 10:00:00 UTC") {
		t.Errorf("--rollback --redo through the engine, of a VM rolled back already: exit %d\n%s", code, out)
	}
}

// TestRunAfterRollbackSaysRolledBack (QA): after WebApp2's cutover was
// rolled back (as decided, or automatically), a `ferry run` without
// --confirm-cutover ended with "stopped before Cutover: it needs a typed
// confirmation" and nothing of the rollback. It says, as ferry status
// does, that WebApp2's cutover was rolled back, when, and how to cut over
// again; standalone and through a ferry serve engine.
func TestRunAfterRollbackSaysRolledBack(t *testing.T) {
	t.Parallel() // labs of its own
	l := smallLab(t)
	run := rolledBackState(t, l, "WebApp2: cutover rolled back as decided (--rollback)", "2026-12-01T10:00:00Z")
	decided := "[8/8] cutover: warning: stopped before Cutover: WebApp2 not cut over: its cutover was rolled back at 2026-12-01 10:00:00 UTC; cut over again with --confirm-cutover=WebApp2"
	out, code := run("run", "--plan", l.PlanPath())
	t.Logf("ferry run after WebApp2's cutover was rolled back:\n%s", out)
	if code != 0 || !strings.Contains(out, decided) || strings.Contains(out, "it needs a typed confirmation") || !strings.Contains(out, "stopped at cutover") {
		t.Errorf("ferry run after WebApp2's cutover was rolled back as decided: exit %d, want 0 and %q:\n%s", code, decided, out)
	}

	// Rolled back automatically (a killed cutover, at the start of a run).
	st, err := steps.LoadState(filepath.Join(l.Dir, "plan.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetOutput("cutover", "auto_rollback.WebApp2", "its cutover ... was ROLLED BACK AUTOMATICALLY"); err != nil {
		t.Fatal(err)
	}
	auto := "[8/8] cutover: warning: stopped before Cutover: WebApp2 not cut over: its cutover was rolled back automatically at 2026-12-01 10:00:00 UTC; cut over again with --confirm-cutover=WebApp2"
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, auto) || strings.Contains(out, "it needs a typed confirmation") {
		t.Errorf("ferry run after WebApp2's cutover was rolled back automatically: exit %d, want 0 and %q:\n%s", code, auto, out)
	}
	startServe(t, l)
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, auto) || strings.Contains(out, "it needs a typed confirmation") {
		t.Errorf("ferry run through the engine after WebApp2's cutover was rolled back automatically: exit %d, want 0 and %q:\n%s", code, auto, out)
	}
}

// TestEngineRefusedRunSaysOnlyTheRefusal (QA): a `ferry run` the ferry
// serve engine refused as bad usage printed "ferry: the steps run in the
// ferry serve engine" first, though nothing ran. It prints the refusal
// alone (exit 2); a run the engine takes still says where its steps run.
func TestEngineRefusedRunSaysOnlyTheRefusal(t *testing.T) {
	l := smallLab(t)
	run := rolledBackState(t, l, "WebApp2: cutover rolled back as decided (--rollback)", "2026-12-01T10:00:00Z")
	startServe(t, l)
	for _, c := range []struct{ args, want []string }{
		{[]string{"--confirm-cutover", "WebApp2", "--rollback", "--verify", "WebApp2"}, []string{"--verify=WebApp2 with --rollback: the cutover of WebApp2 was rolled back at 2026-12-01 10:00:00 UTC"}},
		{[]string{"--confirm-cutover", "Nope"}, []string{"Nope"}},
	} {
		out, code := run(append([]string{"run", "--plan", l.PlanPath()}, c.args...)...)
		t.Logf("ferry run %v through the engine: exit %d\n%s", c.args, code, out)
		for _, w := range c.want {
			if code != 2 || !strings.Contains(out, w) || strings.Contains(out, "the steps run in the ferry serve engine") {
				t.Errorf("ferry run %v through the engine: exit %d, want 2, %q and not a word of the steps running in the engine:\n%s", c.args, code, w, out)
			}
		}
	}
	if out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2", "--rollback"); code != 0 || !strings.Contains(out, "ferry: the steps run in the ferry serve engine") {
		t.Errorf("ferry run the engine takes: exit %d, want 0 saying the steps run in the engine:\n%s", code, out)
	}
}
