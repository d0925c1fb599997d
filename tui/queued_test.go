package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestQueuedRowsSayTheyWaitForASlot (QA: a VM whose pass waited for a pass
// slot, its initial sync or a pass of a VM with a replica, read "idle ·
// last — · next —", nothing saying it waited): fed what the scheduler says
// (its status, then its events) through the wizard's feed, the rows of
// queued VMs say "queued" and that they wait for a pass slot, the detail
// line under the cursor says how many run at once and which plan setting
// sets it, whole at 80x24 and 120x40; once the pass starts, the row no
// longer says it waits.
func TestQueuedRowsSayTheyWaitForASlot(t *testing.T) {
	f := NewReplicationFeed(func(string) time.Duration { return time.Minute })
	f.Seed([]replication.JobStatus{
		{VM: "WebApp1", RPO: replication.RPO(time.Minute), Phase: replication.JobReplicating, Health: replication.HealthOK, Running: true,
			LastPass: t0.Add(-20 * time.Second), Passes: 3, Slots: 1},
		{VM: "WebApp2", RPO: replication.RPO(time.Minute), Phase: replication.JobReplicating, Health: replication.HealthOK,
			LastPass: t0.Add(-50 * time.Second), Passes: 2, NextPass: t0.Add(-5 * time.Second), Slots: 1},
		// No replica yet: its initial sync is due (no due time) and waits.
		{VM: "WebApp3", RPO: replication.RPO(time.Minute), Phase: replication.JobReplicating, Health: replication.HealthUnknown, Queued: true, Slots: 1},
	})
	// WebApp2's pass falls due while WebApp1's holds the only slot.
	f.Handle(replication.Event{VM: "WebApp2", Kind: replication.EventScheduled, Time: t0, Queued: true, NextPass: t0.Add(-5 * time.Second), LastPassAge: 50 * time.Second,
		Msg: "pass due, waiting for a free pass slot (1 run at once)"})
	rows := map[string]ReplicationUpdate{}
	for u := range drainAll(f) {
		rows[u.VM] = u
	}
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2", "WebApp3"), done: append(append([]string{}, infraDone...), "vm-selection", "replication"), feeds: true})
		h.start(size[0], size[1])
		h.send(gotoStepMsg{Index: 5})
		h.clock = t0
		for _, vm := range []string{"WebApp1", "WebApp2", "WebApp3"} {
			h.send(replicationMsg(rows[vm]))
		}
		// What the cutover would project of WebApp2's final pass: on the
		// same line, which fits 80 columns beside the sidebar.
		h.m.w.dash.SetFinalPasses(map[string]string{"WebApp2": "0.1s"})
		h.send(press("down")) // the cursor on WebApp2
		v := h.view()
		_, main, _ := shown(v)
		words := strings.Join(strings.Fields(strings.Join(main, " ")), " ")
		for _, want := range []string{
			"WebApp2 queued #2",
			"last 50s ago · waits for a slot · final pass ~0.1s",
			"WebApp3 queued",
			// Under the cursor: why, and the plan's setting.
			"its pass waits for a free pass slot (1 at a time: concurrent_passes)",
		} {
			if !strings.Contains(words, want) {
				t.Errorf("%dx%d: the dashboard lacks %q\n%s", size[0], size[1], want, v)
			}
		}
		if strings.Contains(words, "WebApp1 queued") {
			t.Errorf("%dx%d: WebApp1 runs its pass, and its row says queued\n%s", size[0], size[1], v)
		}
		noCut(t, size, main, v)
		h.send(press("down")) // the cursor on WebApp3: its row whole
		v = h.view()
		_, main, _ = shown(v)
		if words := strings.Join(strings.Fields(strings.Join(main, " ")), " "); !strings.Contains(words, "first pass waits for a pass slot") {
			t.Errorf("%dx%d: WebApp3's row does not say its first pass waits for a slot\n%s", size[0], size[1], v)
		}
		noCut(t, size, main, v)
	}

	// WebApp2's pass starts: it waits no more.
	f.Handle(replication.Event{VM: "WebApp2", Kind: replication.EventPhase, Phase: replication.PhaseSnapshot, Time: t0})
	began := drainUpdates(f)
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2", "WebApp3"), done: append(append([]string{}, infraDone...), "vm-selection", "replication"), feeds: true})
	h.start(80, 24)
	h.send(gotoStepMsg{Index: 5})
	h.clock = t0
	h.send(replicationMsg(began))
	if v := h.view(); strings.Contains(v, "waits for a slot") || strings.Contains(v, "queued") {
		t.Errorf("WebApp2's pass started, and its row still says it waits for a slot\n%s", v)
	}
}

// noCut fails when a line about the slot is cut at the panel's edge (its
// words checked whole above, a cut one ends in "…").
func noCut(t *testing.T, size [2]int, main []string, v string) {
	t.Helper()
	for _, l := range main {
		if strings.Contains(l, "slot") && strings.Contains(l, "…") {
			t.Errorf("%dx%d: a line about the slot is cut: %q\n%s", size[0], size[1], l, v)
		}
	}
}

// drainAll returns every row f published since the last read, in order.
func drainAll(f *ReplicationFeed) func(func(ReplicationUpdate) bool) {
	return func(yield func(ReplicationUpdate) bool) {
		for {
			select {
			case u := <-f.Updates():
				if !yield(u) {
					return
				}
			default:
				return
			}
		}
	}
}
