package tui

import (
	"slices"
	"strings"
	"testing"
)

// TestInterruptedReplicationStepSaysSo (QA: after a kill -9 of the wizard
// during the initial sync, the restarted wizard's step 6 said "Press enter
// to plan the replication…", nothing about the run it interrupted, while
// replication already went on): the step says it was interrupted and that
// enter plans resuming it, at 120x40 and 80x24; once its run resumes, the
// note goes.
func TestInterruptedReplicationStepSaysSo(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection"), running: []string{"replication"},
			inFlight: map[string][2]int64{"WebApp2": {16 << 20, 64 << 20}}})
		h.start(size[0], size[1])
		if got := h.screenID(); got != "replication" {
			t.Fatalf("%dx%d: started at %q, want replication", size[0], size[1], got)
		}
		_, main, _ := shown(h.view())
		flat := strings.Join(strings.Fields(strings.Join(main, " ")), " ")
		for _, want := range []string{
			"Step 6 was interrupted: the ferry that ran it stopped midway (it began at",
			"Press enter to plan resuming it: the replica disks made are kept, an interrupted pass goes on from what the receiver holds durably (not sent again)",
		} {
			if !strings.Contains(flat, want) {
				t.Errorf("%dx%d: the interrupted step 6 does not say %q:\n%s", size[0], size[1], want, h.view())
			}
		}
		h.mustNotSee(t, "Press enter to plan the replication of the selected VMs")
		h.send(press("enter")) // plan
		h.send(press("enter")) // apply: the run resumes it
		h.mustNotSee(t, "was interrupted")
	}

	// A step this process runs (a ferry serve session's, seen by
	// another) is not interrupted.
	h := newHarness(t, setup{pf: withVMs("WebApp1"), done: append(slices.Clone(infraDone), "vm-selection")})
	if err := h.env.State.Begin("replication"); err != nil {
		t.Fatal(err)
	}
	h.start(120, 40)
	h.send(gotoStepMsg{Index: 5})
	h.mustNotSee(t, "was interrupted")
}
