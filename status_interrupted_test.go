package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// TestStatusSaysInterruptedStep: a step the state file records as running
// while no ferry runs it (the ferry run or the engine that ran it was
// killed) is shown by ferry status as interrupted, not running: without an
// engine, and with an engine that runs no steps; while a ferry process
// holds the state file, it is running.
func TestStatusSaysInterruptedStep(t *testing.T) {
	l := smallLab(t)
	statePath := filepath.Join(filepath.Dir(l.PlanPath()), "plan.state.json")
	if err := steps.NewState(statePath).Begin("rights"); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile}, args...)...)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		return string(out), labtest.ExitCode(err)
	}
	rightsLine := func(out string) string {
		return strings.Join(strings.Fields(stepLine(out, "1 Rights")), " ")
	}
	// rightsJSON is the rights step's status in ferry status --json.
	rightsJSON := func() string {
		out, code := run("status", "--plan", l.PlanPath(), "--json")
		var doc struct {
			Steps []struct{ Step, Status string }
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("ferry status --json: exit %d, %v\n%s", code, err, out)
		}
		for _, s := range doc.Steps {
			if s.Step == "rights" {
				return s.Status
			}
		}
		return ""
	}
	want := "1 Rights interrupted its run stopped midway"
	if out, code := run("status", "--plan", l.PlanPath()); code != 0 || !strings.HasPrefix(rightsLine(out), want) {
		t.Errorf("ferry status, nobody running the step: exit %d, rights line %q, want %q...\n%s", code, rightsLine(out), want, out)
	}
	if got := rightsJSON(); got != "interrupted" {
		t.Errorf("ferry status --json, nobody running the step: rights status %q, want interrupted (as the text says)", got)
	}

	release, err := steps.LockState(statePath) // a ferry run at work
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := run("status", "--plan", l.PlanPath()); rightsLine(out) != "1 Rights running" {
		t.Errorf("ferry status while a ferry holds the state: rights line %q, want it running\n%s", rightsLine(out), out)
	}
	if got := rightsJSON(); got != "running" {
		t.Errorf("ferry status --json while a ferry holds the state: rights status %q, want running", got)
	}
	release()

	startServe(t, l)
	out, code := run("status", "--plan", l.PlanPath())
	if code != 0 || !strings.HasPrefix(out, "Engine: ferry serve") || !strings.HasPrefix(rightsLine(out), want) {
		t.Errorf("ferry status from an engine that runs no steps: exit %d, rights line %q, want %q...\n%s", code, rightsLine(out), want, out)
	}
	if got := rightsJSON(); got != "interrupted" {
		t.Errorf("ferry status --json from an engine that runs no steps: rights status %q, want interrupted", got)
	}
}

// TestStatusInterruptedStepWhileAWizardHoldsThePlan (QA: after a kill -9 of
// the wizard during step 6, the restarted wizard, which ran no step, had
// ferry status call step 6 running): a step begun by a ferry process that
// is gone is interrupted while another ferry holds the plan without
// running it, and the summary names that holder; once the holder begins
// the step itself, it is running.
func TestStatusInterruptedStepWhileAWizardHoldsThePlan(t *testing.T) {
	l := smallLab(t)
	statePath := filepath.Join(filepath.Dir(l.PlanPath()), "plan.state.json")
	// The killed wizard: it began step 6, and its process is gone.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	st := steps.NewState(statePath)
	if err := st.Begin("replication"); err != nil {
		t.Fatal(err)
	}
	st.Steps["replication"].PID = gone.Process.Pid
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	// The restarted wizard holds the plan (this process) and runs no step.
	release, err := steps.LockState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	status := func(args ...string) string {
		cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile, "status", "--plan", l.PlanPath()}, args...)...)
		cmd.Env = cleanEnv()
		out, _ := cmd.Output() // exit 1: the holder's replication data is not read
		return string(out)
	}
	replicationLine := func(out string) string {
		return strings.Join(strings.Fields(stepLine(out, "6 Replication")), " ")
	}
	replicationJSON := func() string {
		var doc struct {
			Steps []struct{ Step, Status, Summary string }
		}
		out := status("--json")
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("ferry status --json: %v\n%s", err, out)
		}
		for _, s := range doc.Steps {
			if s.Step == "replication" {
				return s.Status
			}
		}
		return ""
	}
	holder := fmt.Sprintf("ferry process %d, which holds the plan now", os.Getpid())
	if got := replicationLine(status()); !strings.HasPrefix(got, "6 Replication interrupted its run stopped midway") || !strings.Contains(got, holder) {
		t.Errorf("ferry status, step 6 begun by a killed ferry, another holding the plan: %q, want it interrupted, naming %q", got, holder)
	}
	if got := replicationJSON(); got != "interrupted" {
		t.Errorf("ferry status --json, step 6 begun by a killed ferry, another holding the plan: %q, want interrupted", got)
	}

	// The holder resumes the step (enter in the wizard).
	if err := st.Begin("replication"); err != nil {
		t.Fatal(err)
	}
	if got := replicationLine(status()); got != "6 Replication running" {
		t.Errorf("ferry status, step 6 begun again by the ferry holding the plan: %q, want running", got)
	}
	if got := replicationJSON(); got != "running" {
		t.Errorf("ferry status --json, step 6 begun again by the ferry holding the plan: %q, want running", got)
	}
}
