package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vsphere"
)

// leaveTest records a test migration of vm left running in the state file
// at path, as a `ferry run --test-migrate` killed halfway leaves it
// (steps.TestMigrate records it before it changes the provider).
func leaveTest(t *testing.T, path, vm string) {
	t.Helper()
	st, err := steps.LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetOutput("test-migration", "test."+vm, "running"); err != nil {
		t.Fatal(err)
	}
}

// TestConfirmedCutoverRefusedWhileTestLeft (QA: a cutover confirmed while
// a test migration of the VM was left running was refused inside step 8,
// which was recorded failed, and ferry status still read "8 Cutover
// failed: a test migration is left running" after --test-cleanup removed
// it): the confirmed cutover is refused before step 1, as a bad decision
// is (exit 2), naming the test and `ferry run --test-cleanup`, and the
// state file is as it was; steps 1 to 7 run beside the test all the same;
// after the cleanup ferry status says no cutover failed. A cutover an
// older ferry recorded failed for the test is cleared by the cleanup.
func TestConfirmedCutoverRefusedWhileTestLeft(t *testing.T) {
	t.Parallel() // labs of its own
	l, run := headlessLab(t)
	statePath := filepath.Join(l.Dir, "plan.state.json")
	leaveTest(t, statePath, "WebApp2")
	refused := func(when string) {
		t.Helper()
		before, err := os.ReadFile(statePath)
		if err != nil {
			t.Fatal(err)
		}
		out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover=WebApp2")
		for _, w := range []string{"a test migration is left running (WebApp2)", "the cutover of WebApp2 waits until `ferry run --test-cleanup` removes it", "nothing was changed"} {
			if !strings.Contains(out, w) {
				t.Errorf("%s: --confirm-cutover=WebApp2 with a test of WebApp2 left: lacks %q\n%s", when, w, out)
			}
		}
		if code != exitUsage || strings.Contains(out, "step 1") || strings.Contains(out, "Cutover") {
			t.Errorf("%s: --confirm-cutover=WebApp2 with a test left: exit %d, want %d before step 1\n%s", when, code, exitUsage, out)
		}
		if after, _ := os.ReadFile(statePath); !bytes.Equal(before, after) {
			t.Errorf("%s: the refused run changed the state file:\n%s", when, after)
		}
	}
	refused("before step 1")
	// A test left never holds steps 1 to 7 (replication included).
	out, code := run("run", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "stopped before Cutover") {
		t.Fatalf("run without a confirmation, a test left: exit %d\n%s", code, out)
	}
	refused("steps 1 to 7 done")
	// ferry status's line of step 8, its whole summary (stepLine).
	cutoverLine := func() string {
		t.Helper()
		out, code := run("status", "--plan", l.PlanPath())
		if line := stepLine(out, "8 Cutover"); line != "" && code == 0 {
			return line
		}
		t.Fatalf("ferry status: exit %d, no line of step 8:\n%s", code, out)
		return ""
	}
	statusSaysNoFailure := func(when string) {
		t.Helper()
		if line := cutoverLine(); strings.Contains(line, "failed") || strings.Contains(line, "left running") {
			t.Errorf("ferry status %s: %q", when, line)
		}
	}
	statusSaysNoFailure("after the refusal")
	if out, code := run("run", "--plan", l.PlanPath(), "--test-cleanup"); code != 0 || !strings.Contains(out, "no test migration left") {
		t.Fatalf("run --test-cleanup: exit %d\n%s", code, out)
	}
	statusSaysNoFailure("after --test-cleanup")

	// As a ferry that refused inside the step left it.
	leaveTest(t, statePath, "WebApp2")
	st, err := steps.LoadState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Fail("cutover", errors.New("a test migration is left running (WebApp2): the cutover waits until `ferry run --test-cleanup` removed it")); err != nil {
		t.Fatal(err)
	}
	if line := cutoverLine(); !strings.Contains(line, "failed") || !strings.Contains(line, "a test migration is left running") {
		t.Fatalf("ferry status with the cutover recorded failed for the test does not say so: %q", line)
	}
	if out, code := run("run", "--plan", l.PlanPath(), "--test-cleanup"); code != 0 || !strings.Contains(out, "no test migration left") {
		t.Fatalf("run --test-cleanup: exit %d\n%s", code, out)
	}
	statusSaysNoFailure("after --test-cleanup of a cutover recorded failed for the test")
}

// TestServeRefusesConfirmedCutoverWhileTestLeft: through ferry serve the
// same: the engine refuses the confirmed cutover before it runs a step
// (exit 2, the test and `ferry run --test-cleanup` named), the state file
// as it was, ferry status saying no cutover failed.
func TestServeRefusesConfirmedCutoverWhileTestLeft(t *testing.T) {
	l, run := engineLab(t)
	statePath := filepath.Join(l.Dir, "plan.state.json")
	leaveTest(t, statePath, "WebApp2")
	startServe(t, l)
	before, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover=WebApp2")
	if code != exitUsage || !strings.Contains(out, "a test migration is left running (WebApp2)") ||
		!strings.Contains(out, "the cutover of WebApp2 waits until `ferry run --test-cleanup` removes it") || strings.Contains(out, "Rights") {
		t.Errorf("ferry run --confirm-cutover=WebApp2 through the engine, a test left: exit %d, want %d before step 1\n%s", code, exitUsage, out)
	}
	if after, _ := os.ReadFile(statePath); !bytes.Equal(before, after) {
		t.Errorf("the refused run changed the state file:\n%s", after)
	}
	if out, code := run("status", "--plan", l.PlanPath()); code != 0 || regexp.MustCompile(`8 Cutover +failed`).MatchString(out) {
		t.Errorf("ferry status after the refusal: exit %d\n%s", code, out)
	}
}

// TestDecisionWhileATestIsLeft (QA): WebApp2's cutover killed with its
// source shut down, then a test migration of WebApp1 killed once its
// snapshot of the receiver appliance was taken. `--confirm-cutover=WebApp2
// --rollback` was refused until `--test-cleanup` ("the test's snapshot ...
// freezes every replica, so none could be detached for a target"), though
// a decision detaches nothing from the appliance (a rollback gives the
// replica disks back to it, beside the snapshot; --finish keeps the
// target), and a plain `ferry run` rolled it back all the same. The
// decision runs: the source runs again, WebApp2's replica disks are the
// appliance's again, the test is still left; its cleanup then removes it,
// and WebApp2 cuts over.
func TestDecisionWhileATestIsLeft(t *testing.T) {
	t.Parallel() // a lab of its own
	l, run := engineLab(t)
	editPlan(t, l.PlanPath(), "  - name: WebApp2\n", "  - name: WebApp1\n  - name: WebApp2\n")
	if !killedAfterShutdown(t, l, run) {
		t.Skip("the kill landed after power-on was requested")
	}
	runSignalled(t, l, []string{"run", "--plan", l.PlanPath(), "--test-migrate=WebApp1"}, "", "snapshot "+steps.TestSnapshot+" of receiver appliance", syscall.SIGKILL)
	if out, code := run("status", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "WebApp1") || !strings.Contains(out, "test") {
		t.Fatalf("ferry status after the killed test: exit %d\n%s", code, out)
	}
	out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover=WebApp2", "--rollback")
	if code != 0 || !strings.Contains(out, "cutover rolled back as decided (--rollback)") || strings.Contains(out, "FAILED") {
		t.Fatalf("--rollback of WebApp2 with a test of WebApp1 left: exit %d\n%s", code, out)
	}
	checkPower(t, l, "after --rollback", vsphere.PoweredOn, "")
	if out, code := run("status", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "TEST MIGRATION LEFT RUNNING: WebApp1") {
		t.Errorf("ferry status after the rollback: the test of WebApp1 is no longer listed as left: exit %d\n%s", code, out)
	}
	if out, code := run("run", "--plan", l.PlanPath(), "--test-cleanup"); code != 0 {
		t.Fatalf("--test-cleanup: exit %d\n%s", code, out)
	}
	if out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2"); code != 0 || !strings.Contains(out, "measured downtime") {
		t.Fatalf("cutover after the rollback and the cleanup: exit %d\n%s", code, out)
	}
	checkPower(t, l, "after the cutover", vsphere.PoweredOff, vsphere.PoweredOn)
}
