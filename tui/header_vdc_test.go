package tui

import (
	"errors"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// TestHeaderHidesUnverifiedTargetVDC (QA: in step 5's options, Target VDC
// set to Nope-VDC and ctrl+s: the plan failed, and the header read "org
// Company / Nope-VDC"): the header shows a VDC only as a step found it in
// Cloud Director; a name changed since is not shown.
func TestHeaderHidesUnverifiedTargetVDC(t *testing.T) {
	mutate := func(m map[string]*fakeStep) {
		m["vm-selection"].planErr = errors.New(`org VDC "Nope-VDC" not found in org Company`)
	}
	h := newHarness(t, setup{pf: withVMs(), done: infraDone, mutate: mutate})
	h.start(120, 40)
	header := func() string { return strings.SplitN(h.view(), "\n", 2)[0] }
	if !strings.Contains(header(), "org Company / Company-VDC") {
		t.Fatalf("header before: %q", header())
	}
	h.send(press("space")) // WebApp1
	h.send(press("enter")) // options
	h.send(press("tab"))   // RPO
	h.send(press("tab"))   // Target VDC
	h.mustSee(t, "▸ Target VDC")
	h.send(tea.KeyMsg{Type: tea.KeyCtrlU})
	h.typeText("Nope-VDC")
	h.send(tea.KeyMsg{Type: tea.KeyCtrlS})
	h.mustSee(t, "✗ failed", "Nope-VDC")
	if got := header(); strings.Contains(got, "Nope-VDC") || !strings.Contains(got, "org Company") {
		t.Errorf("header after a plan with the unverified VDC Nope-VDC failed: %q, want org Company and no Nope-VDC", got)
	}
}
