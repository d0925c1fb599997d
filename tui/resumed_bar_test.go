package tui

import (
	"slices"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

// TestResumedStepBarStartsFromWhatIsDurable (QA: after the wizard
// restarted with step 6 mid-way, its run resumed read "0% of the step"
// until the passes' first progress lines, though WebApp2's interrupted
// initial sync goes on from what the receiver holds durably): the step's
// bar starts from what the replication store persisted, the mean of the
// step's VMs (WebApp2 half durable, WebApp1 nothing: 25%), before any
// progress line of the run.
func TestResumedStepBarStartsFromWhatIsDurable(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		release := make(chan struct{})
		h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection"), running: []string{"replication"},
			inFlight: map[string][2]int64{"WebApp2": {32 << 20, 64 << 20}},
			mutate:   func(m map[string]*fakeStep) { m["replication"].block = release }})
		h.start(size[0], size[1])
		msgs := applyUntil(h, steps.EventStarted)
		mustRead(t, h, " 25% of the step")
		close(release)
		applyToEnd(h, msgs)
	}

	// Nothing durable (a first run): no bar until the step says how far
	// it got, as before.
	release := make(chan struct{})
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection"),
		mutate: func(m map[string]*fakeStep) { m["replication"].block = release }})
	h.start(120, 40)
	msgs := applyUntil(h, steps.EventStarted)
	h.mustNotSee(t, "of the step")
	close(release)
	applyToEnd(h, msgs)
}

// TestViewerSeesTheResumedStepBar: a session watching the driver's resumed
// step 6 (ferry serve) shows its bar from the same start, before any
// progress line.
func TestViewerSeesTheResumedStepBar(t *testing.T) {
	release := make(chan struct{})
	drv, view, _ := twoSessions(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection"), running: []string{"replication"},
		inFlight: map[string][2]int64{"WebApp2": {32 << 20, 64 << 20}},
		mutate:   func(m map[string]*fakeStep) { m["replication"].block = release }}, 120, 40)
	msgs := applyUntil(drv, steps.EventStarted)
	mustRead(t, drv, " 25% of the step")
	view.pullUntil(t, "Step 6 of 8 · Replication", "elapsed")
	mustRead(t, view, " 25% of the step")
	close(release)
	applyToEnd(drv, msgs)
}

// TestStepBarKeptByALineWithoutFraction (read in the code: every progress
// line set the step's fraction, so one that has none, -1, such as step 6's
// "WebApp2: commit" between two VMs' transfer lines, hid the step's bar
// until the next line with one; with several VMs replicating it blinked):
// a line without a fraction says its message and leaves the bar at what
// the step said last, on the driver's screen and a watching session's.
func TestStepBarKeptByALineWithoutFraction(t *testing.T) {
	release := make(chan struct{})
	drv, view, _ := twoSessions(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection"),
		mutate: func(m map[string]*fakeStep) {
			m["replication"].events = []steps.Event{
				steps.Progress("WebApp1: 40 MiB of 100 MiB acknowledged, 10 MiB/s", 0.4),
				steps.Progress("WebApp2: commit", -1),
			}
			m["replication"].block = release
		}}, 120, 40)
	msgs := applyUntil(drv, steps.EventProgress)
	mustRead(t, drv, " 40% of the step")
	for { // up to the line without a fraction
		msg := <-msgs
		_, cmd := drv.m.Update(msg)
		go pump(cmd, msgs)
		if _, ok := msg.(stepEventMsg); ok {
			break
		}
	}
	mustRead(t, drv, "WebApp2: commit", " 40% of the step")
	view.pullUntil(t, "Step 6 of 8 · Replication", "elapsed")
	mustRead(t, view, "WebApp2: commit", " 40% of the step")
	close(release)
	applyToEnd(drv, msgs)
}
