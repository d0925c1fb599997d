package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/ferry-migrate/ferry/steps"
)

// TestWarningsWhileApplyingAreWhole (QA h9: while step 6 waited out a
// pause of a VM's first pass, its warning read "! WebApp1: replication
// paused by request: step 6 waits; resume WebApp1 (u on the replication…"
// at 120 columns: what it says to do, ferry resume WebApp1, was cut off):
// a warning of a step still running is shown whole, wrapped, under the
// step's progress (at 80x24 the panel has no room for the log under the
// dashboard: the warning reads whole as the step's message).
func TestWarningsWhileApplyingAreWhole(t *testing.T) {
	const warning = "WebApp3: replication paused by request of alice (ferry pause): step 6 waits; resume WebApp3 (u on the replication dashboard, or ferry resume WebApp3) and its pass, and the step, go on"
	for _, size := range [][2]int{{120, 40}, {100, 40}} {
		release := make(chan struct{})
		h := newHarness(t, setup{pf: withVMs("WebApp3"), done: append(slices.Clone(infraDone), "vm-selection"),
			mutate: func(m map[string]*fakeStep) {
				m["replication"].events = []steps.Event{steps.Warning(warning)}
				m["replication"].block = release
			}})
		h.start(size[0], size[1])
		msgs := applyUntil(h, steps.EventWarning)
		h.mustSee(t, "elapsed")
		mustRead(t, h, "! "+warning)
		close(release)
		applyToEnd(h, msgs) // nothing writes the state after the test
	}
}

// applyUntil plans and applies the harness's step and gives the model the
// step's messages while it applies (each message's commands read the
// next) until its first event of kind; the rest come on the channel
// returned (applyToEnd).
func applyUntil(h *harness, kind steps.EventKind) chan tea.Msg {
	h.send(press("enter")) // plan
	_, run := h.m.Update(press("enter"))
	msgs := make(chan tea.Msg, 64)
	go pump(run, msgs)
	for {
		msg := <-msgs
		_, cmd := h.m.Update(msg)
		go pump(cmd, msgs)
		if ev, ok := msg.(stepEventMsg); ok && ev.Event.Kind == kind {
			return msgs
		}
	}
}

// applyToEnd gives the model the step's messages (applyUntil's) until its
// apply ends.
func applyToEnd(h *harness, msgs chan tea.Msg) {
	for {
		msg := <-msgs
		_, cmd := h.m.Update(msg)
		if _, ok := msg.(applyDoneMsg); ok {
			return
		}
		go pump(cmd, msgs)
	}
}

// pump runs cmd and sends the messages it makes (a batch's each) to out,
// which it never closes: its caller updates the model with the ones it
// needs, and pumps the commands that returns.
func pump(cmd tea.Cmd, out chan<- tea.Msg) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			go pump(c, out)
		}
	default:
		out <- msg
	}
}

// TestLogUnderProgressShowsWarningsFromTheirStart (QA hD: a viewer at 80x24
// of step 6, three VMs, WebApp2 paused, read "the replication dashboard,
// or ferry resume WebApp2) and its pass, and the step, go on" under the
// step's progress: the log's room cut the wrapped warning at its top, its
// VM and cause gone): the log under a running step shows whole entries,
// the newest that fit; a warning's end is never shown without its start.
func TestLogUnderProgressShowsWarningsFromTheirStart(t *testing.T) {
	const warning = "WebApp2: replication paused by request of root (root@vm) (ssh): step 6 waits; resume WebApp2 (u on the replication dashboard, or ferry resume WebApp2) and its pass, and the step, go on"
	vms := []string{"WebApp1", "WebApp2", "WebApp3"}
	cut := 0
	for _, size := range [][2]int{{80, 24}, {80, 30}, {100, 30}, {120, 40}} {
		for changes := 0; changes <= 3; changes++ {
			release := make(chan struct{})
			evs := []steps.Event{steps.Warning(warning)}
			for i := range changes {
				evs = append(evs, steps.Changed(steps.Item{Action: steps.ActionCreate, Kind: "replica disk", Name: fmt.Sprintf("[provider-ds] ferry-replicas/Company/WebApp1/WebApp1_%d.vmdk", i)}))
			}
			evs = append(evs, steps.Progress("WebApp3: 10 MiB of 56 MiB acknowledged", 0.5))
			h := newHarness(t, setup{pf: withVMs(vms...), done: append(slices.Clone(infraDone), "vm-selection"),
				mutate: func(m map[string]*fakeStep) {
					m["replication"].events = evs
					m["replication"].block = release
				}})
			h.start(size[0], size[1])
			msgs := applyUntil(h, steps.EventProgress)
			h.mustSee(t, "elapsed")
			v := mainText(h.view())
			if strings.Contains(v, "and the step, go on") && !strings.Contains(v, "! WebApp2: replication paused") {
				t.Errorf("%dx%d, %d change(s) after the warning: its end without its start:\n%s", size[0], size[1], changes, h.view())
			}
			if !strings.Contains(v, "and the step, go on") {
				cut++
			}
			close(release)
			applyToEnd(h, msgs)
		}
	}
	t.Logf("%d screen(s) had no room for the warning's end", cut)
}

// TestResumedAfterPausedWarning (QA: once WebApp2's job was resumed, step
// 6's running list still read "! WebApp2: replication paused ...: step 6
// waits; resume WebApp2 ..." with nothing after it, as if it still held):
// the step's line that ends the warning (steps.Resolved) is in the list
// after it, which keeps the warning as its history (where the list has no
// room for both, the newest: the resume).
func TestResumedAfterPausedWarning(t *testing.T) {
	const (
		warning = "WebApp2: replication paused by request of alice (ferry pause): step 6 waits; resume WebApp2 (u on the replication dashboard, or ferry resume WebApp2) and its pass, and the step, go on"
		resumed = "WebApp2: replication resumed: its pass, and step 6, go on"
	)
	for _, size := range [][2]int{{120, 40}, {80, 30}} {
		release := make(chan struct{})
		h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection"),
			mutate: func(m map[string]*fakeStep) {
				m["replication"].events = []steps.Event{steps.Warning(warning), steps.Resolved(resumed),
					steps.Progress("WebApp2: 10 MiB of 56 MiB acknowledged", 0.2)}
				m["replication"].block = release
			}})
		h.start(size[0], size[1])
		msgs := applyUntil(h, steps.EventProgress)
		for {
			// Until the pass's progress after the resume.
			if v := mainText(h.view()); strings.Contains(v, "10 MiB of 56 MiB") {
				break
			}
			_, cmd := h.m.Update(<-msgs)
			go pump(cmd, msgs)
		}
		v := mainText(h.view())
		w, r := strings.Index(v, "! "+warning), strings.Index(v, "✓ "+resumed)
		if r < 0 || r < w || (w < 0 && size[0] >= 120) {
			t.Errorf("%dx%d: the running list does not say WebApp2 was resumed after its paused warning (%d, %d):\n%s", size[0], size[1], w, r, h.view())
		}
		close(release)
		applyToEnd(h, msgs)
	}
}
