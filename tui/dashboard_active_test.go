package tui

import (
	"slices"
	"strings"
	"testing"
	"time"
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
