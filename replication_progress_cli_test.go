package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
)

// TestRunReplicationPercentIsTheSteps (QA: ferry run's step 6 printed each
// VM's own percentage at the head of its lines, where every other step
// prints the step's, so with several VMs replicating the step read 80%,
// then 10%, then 85%, and started again at the full compare after an
// initial sync): the percentage of step 6's lines is the step's, said so
// on its first line; it never goes back; each line with one names the VM
// it is about; it ends at 100%. Without an engine (the wizard's and ferry
// serve's step 6 said the step's already). A cold VM's pass, before the
// warm VMs' (its "23% Archive1: ..." was followed by "0% replicating
// WebApp2, ..."), says its percentage in its line, as its pass's.
func TestRunReplicationPercentIsTheSteps(t *testing.T) {
	t.Parallel()
	l, run := labWith(t, lab.Options{DiskSize: 64 << 20})
	editPlan(t, l.PlanPath(), "vms:\n  - name: WebApp2\n    power_on: true\n",
		"vms:\n  - name: Archive1\n    power_on: true\n  - name: WebApp2\n    power_on: true\n  - name: WebApp3\n    power_on: true\n")
	// Capped: the passes last long enough to say how far they got.
	editPlan(t, l.PlanPath(), "\nrpo: ", "\nbandwidth_mbit: 40\nrpo: ")
	out, code := run("run", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("ferry run: exit %d\n%s", code, out)
	}
	line := regexp.MustCompile(`(?m)^\[6/8\] replication: +(\d+)% (.*)$`)
	var pcts []int
	transfer := 0
	for i, m := range line.FindAllStringSubmatch(out, -1) {
		p, _ := strconv.Atoi(m[1])
		msg := m[2]
		if i == 0 {
			if !strings.Contains(msg, "replicating WebApp2, WebApp3: their passes run together") || !strings.Contains(msg, "the percentage is step 6's") {
				t.Errorf("step 6's first line with a percentage does not say it is the step's: %q", m[0])
			}
		} else if !strings.HasPrefix(msg, "WebApp2: ") && !strings.HasPrefix(msg, "WebApp3: ") {
			t.Errorf("a line of step 6 with the step's percentage is not a warm VM's: %q", m[0])
		}
		if strings.Contains(msg, " acknowledged") {
			transfer++
		}
		if len(pcts) > 0 && p < pcts[len(pcts)-1] {
			t.Errorf("step 6's percentage went back from %d%% to %d%%: %q", pcts[len(pcts)-1], p, m[0])
		}
		pcts = append(pcts, p)
	}
	if !regexp.MustCompile(`(?m)^\[6/8\] replication: Archive1: \d+% of its pass, .* acknowledged`).MatchString(out) {
		t.Errorf("the cold VM's pass does not say its percentage in its lines:\n%s", out)
	}
	if transfer < 2 || pcts[len(pcts)-1] != 100 {
		t.Fatalf("step 6 printed %d transfer lines with a percentage (want 2 or more), its percentages %v (want to end at 100):\n%s", transfer, pcts, out)
	}
}
