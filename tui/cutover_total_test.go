package tui

import (
	"errors"
	"regexp"
	"slices"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// TestViewerCutoverTotalTime (QA: a watching session's cutover screen,
// with no report saved, read "total time 252h19m"): the run's end on the
// board is read by the clock of the session that ran it, as its start, so
// the viewer's fallback report says the driver's total time, never one
// made of two clocks.
func TestViewerCutoverTotalTime(t *testing.T) {
	drv, view, _ := twoSessions(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication", "checks"),
		mutate: func(m map[string]*fakeStep) {
			m["cutover"].err = errors.New("WebApp2: shutdown: the guest did not shut down")
		}}, 120, 40)
	drv.typeText("WebApp2")
	_, run := drv.m.Update(press("enter"))
	msgs := make(chan tea.Msg, 64)
	go collect(run, msgs)
	for msg := range msgs {
		drv.send(msg)
	}
	drv.mustSee(t, "✗ cutover failed")
	view.pullUntil(t, "✗ cutover failed")
	total := regexp.MustCompile(`total time +(\S+)`)
	d, v := total.FindStringSubmatch(drv.view()), total.FindStringSubmatch(view.view())
	if d == nil || v == nil || d[1] != v[1] {
		t.Fatalf("total time: the driver's %q, the viewer's %q\ndriver:\n%s\nviewer:\n%s", d, v, drv.view(), view.view())
	}
}
