package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// TestPlanHelpListsEveryKey: `ferry plan --help` documents every key a plan
// file may hold, read from the plan type itself, so a new key cannot be
// added without a description.
func TestPlanHelpListsEveryKey(t *testing.T) {
	out, err := exec.Command(ferryBin, "plan", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	help := string(out)
	if strings.Contains(help, "undocumented") {
		t.Errorf("a plan key has no description:\n%s", help)
	}
	for _, k := range steps.PlanKeys() {
		if !strings.Contains(help, "  "+k+" ") && !strings.Contains(help, "  "+k+".") && !strings.Contains(help, "  "+k+"[]") {
			t.Errorf("ferry plan --help does not list %q", k)
		}
	}
	for _, k := range []string{"job", "provider.datastore", "probes[].tcp", "cutover.green_timeout", "bandwidth_mbit"} {
		if !strings.Contains(help, "  "+k+" ") {
			t.Errorf("ferry plan --help does not describe %q", k)
		}
	}
	// The replica datastore is one of a storage policy's datastores (QA:
	// it read "one of the VDC's storage policy").
	if !strings.Contains(help, "a datastore of one of the VDC's storage policies") || strings.Contains(help, "storage policy (else") {
		t.Errorf("ferry plan --help: provider.datastore's description is not in plain words:\n%s", help)
	}
	// A default derived from another answer names it (it once read
	// "ferry L2 VPN ()").
	if !strings.Contains(help, "[default ferry L2 VPN (<org>)]") {
		t.Errorf("ferry plan --help: rights.bundle's default does not name the org:\n%s", help)
	}
}

// TestPlanFileDefault: plan, run and status look for the file the wizard
// saves its answers to, and say how to make one when it is missing.
func TestPlanFileDefault(t *testing.T) {
	for _, c := range []string{"plan", "run", "status"} {
		cmd := exec.Command(ferryBin, c)
		cmd.Dir = t.TempDir()
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), "plan file ferry-plan.yaml does not exist") ||
			!strings.Contains(string(out), "ferry lab") {
			t.Errorf("ferry %s without a plan: exit %d\n%s", c, code, out)
		}
	}
}

// TestRunHelpSaysWhereTestProbesRun (QA: ferry run --help said a test
// migration's TCP and ICMP probes cannot run and are listed as not run,
// where the code and the README run them from a peer copy in the isolated
// network): the help says what the code does.
func TestRunHelpSaysWhereTestProbesRun(t *testing.T) {
	out, err := exec.Command(ferryBin, "run", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("ferry run --help: %v\n%s", err, out)
	}
	got := strings.Join(strings.Fields(string(out)), " ")
	if strings.Contains(got, "TCP and ICMP probes (from this host) cannot") || !strings.Contains(got, "a TCP or ICMP probe whose VMs all have a copy there from a peer copy") {
		t.Errorf("ferry run --help on a test migration's probes:\n%s", out)
	}
}
