package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/tui"
)

// TestExitCodeKeepsTheCause: only the operator aborts (a signal, ctrl+c in
// the wizard) exit 130; a context cancelled below ferry (the receiver lost
// during a pass or a verify) is a failure.
func TestExitCodeKeepsTheCause(t *testing.T) {
	live := context.Background()
	stopped, cancel := context.WithCancel(live)
	cancel()
	for _, c := range []struct {
		ctx  context.Context
		err  error
		want int
	}{
		{live, fmt.Errorf("cutover verify: receiver lost: %w", context.Canceled), exitFailed},
		{live, tui.ErrInterrupted, exitAborted},
		{stopped, fmt.Errorf("step 6: %w", context.Canceled), exitAborted},
		{live, usagef("bad"), exitUsage},
		{live, nil, exitOK},
	} {
		if got := exitCode(c.ctx, c.err, "ferry"); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestUsageErrorPointsToItsCommandsHelp (QA: a usage error of ferry run
// said "Run 'ferry --help' for usage", whose help does not list run's
// flags).
func TestUsageErrorPointsToItsCommandsHelp(t *testing.T) {
	out, err := exec.Command(ferryBin, "run", "--plan", "/nonexistent/plan.yaml", "--finish").CombinedOutput()
	if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), "Run 'ferry run --help' for usage.") {
		t.Errorf("exit %d, want %d pointing to ferry run --help:\n%s", code, exitUsage, out)
	}
}

// TestApplianceOVFFlagNamed: a bad --appliance-ovf is reported as the
// flag's, not as the plan file's appliance.ovf (exit 2).
func TestApplianceOVFFlagNamed(t *testing.T) {
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(plan, []byte("rpo: 5m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ferryBin, "plan", "--plan", plan, "--appliance-ovf", "/nonexistent.ova").CombinedOutput()
	if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), `--appliance-ovf (in place of the plan's appliance.ovf): "/nonexistent.ova"`) {
		t.Errorf("exit %d, want %d naming the flag:\n%s", code, exitUsage, out)
	}
}
