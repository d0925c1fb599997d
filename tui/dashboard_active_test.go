package tui

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestResumedQueuedPassIsNotCopying (QA: a VM paused mid-pass and resumed
// while the scheduler's four passes ran read "idle", its stopped pass's
// figures kept, and the summary counted it: "5 copying" with at most 4
// passes at once): a row idle, whatever figures its last pass left, is not
// copying; one in a pass's transfer is.
func TestResumedQueuedPassIsNotCopying(t *testing.T) {
	vms := []string{"WebApp1", "WebApp2"}
	h := newHarness(t, setup{pf: withVMs(vms...), done: append(slices.Clone(infraDone), "vm-selection"), feeds: true, replicas: recordedPasses(vms...)})
	h.start(120, 40)
	h.send(replicationMsg(ReplicationUpdate{VM: "WebApp1", Phase: "incremental transfer", Pass: 3, Planned: 40 << 20, Read: 20 << 20, Sent: 10 << 20, Acked: 8 << 20,
		Rate: 2 << 20, LastPass: t0.Add(-50 * time.Second), RPO: time.Minute, Health: RPOOK}))
	// Resumed, waiting for a pass slot: the feed's row after EventResumed.
	h.send(replicationMsg(ReplicationUpdate{VM: "WebApp2", Phase: "idle", Pass: 2, Planned: 10 << 20, Read: 13 << 20, Sent: 7 << 20, Acked: 7 << 20,
		LastPass: t0.Add(-70 * time.Second), RPO: time.Minute, Health: RPOViolated}))
	v := h.view()
	if !strings.Contains(v, "2 VM(s) · 1 copying at 2.0 MiB/s") {
		t.Errorf("want only WebApp1 counted as copying:\n%s", v)
	}
}

// TestFailedJobSaysWhyAt80x24 (QA: a job paused for a replica disk
// detached by hand read, at 80x24, "✗ job paused after a failed pass; the
// replica is at …", its cause and what to do lost, while ferry status
// refused to read the store the wizard held): under the cursor, the cause
// comes first and is shown as far as the panel goes (the others' rows
// give way; the sidebar lists them).
func TestFailedJobSaysWhyAt80x24(t *testing.T) {
	vms := []string{"WebApp1", "WebApp2", "WebApp3", "WebApp4", "WebApp5", "WebApp6"}
	h := newHarness(t, setup{pf: withVMs(vms...), done: append(slices.Clone(infraDone), "vm-selection"), feeds: true, replicas: recordedPasses(vms...)})
	h.start(80, 24)
	dashboardData(h, vms...)
	// What the scheduler reports when a pass finds the replica disk
	// detached, through the dashboard's feed.
	f := NewReplicationFeed(nil)
	f.Handle(replication.Event{VM: "WebApp2", Kind: replication.EventPaused, Time: t0, Msg: "job paused after a failed pass; the replica is at its last committed pass",
		Err: errors.New("WebApp2: pass: receiver: replica disk detached from the receiver appliance during the pass: Company/WebApp2's disk with UUID 69446502-17ee-3d16-52ba-c5ad8afb1366 (detached by hand? resuming the job has ferry hot-add it again)")})
	u := <-f.Updates()
	u.RPO, u.Health, u.LastPass = time.Minute, RPOViolated, t0.Add(-3*time.Minute)
	h.send(replicationMsg(u))
	h.send(press("down"))
	v := h.view()
	_, main, _ := shown(v)
	var words []string
	for _, l := range main {
		words = append(words, strings.Fields(l)...)
	}
	if text := strings.Join(words, " "); !strings.Contains(text, "✗ WebApp2: pass: receiver: replica disk detached from the receiver appliance") {
		t.Errorf("the cause of WebApp2's pause is not shown:\n%s", v)
	}
	if !strings.Contains(v, "▸ WebApp2") || !strings.Contains(v, "Probes") {
		t.Errorf("WebApp2's row or the probe panel is not shown:\n%s", v)
	}
}
