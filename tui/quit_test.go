package tui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestQuitDuringReplicationAsks (issue 14 item 11): quitting while VMs
// replicate says replication stops; in the lab, that the lab and its
// directory go away, with the choice to keep the directory.
func TestQuitDuringReplicationAsks(t *testing.T) {
	h := newHarness(t, setup{lab: true, runsLab: true, pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication"), labDir: "/tmp/ferry-lab-123"})
	h.start(80, 24)
	_, cmd := h.m.Update(press("q"))
	if isQuit(cmd) {
		t.Fatal("q quit during replication without asking")
	}
	h.mustSee(t, "Quit ferry?", "Replication of WebApp2 stops", "/tmp/ferry-lab-123", "is deleted", "y quit", "n stay", "k quit, keep")
	h.send(press("n"))
	h.mustNotSee(t, "Quit ferry?")
	_, cmd = h.m.Update(press("ctrl+c"))
	if isQuit(cmd) {
		t.Fatal("ctrl+c quit during replication without asking")
	}
	_, cmd = h.m.Update(press("k"))
	if !isQuit(cmd) || !h.m.KeepLab() || !h.m.Interrupted() {
		t.Fatalf("k: quit %v keep %v interrupted %v", isQuit(cmd), h.m.KeepLab(), h.m.Interrupted())
	}
}

// TestQuitAttachedToLabServeKeepsTheLab: a wizard started with the config
// of a lab that `ferry lab serve` runs (Config.Lab, but this process does
// not run the lab) does not claim that quitting stops the lab, which keeps
// running; it still says replication stops.
func TestQuitAttachedToLabServeKeepsTheLab(t *testing.T) {
	h := newHarness(t, setup{lab: true, pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication")})
	h.start(80, 24)
	h.send(press("q"))
	h.mustSee(t, "Quit ferry?", "Replication of WebApp2 stops")
	h.mustNotSee(t, "This is the lab", "quitting stops it", "k quit, keep")
}

// TestQuitInLabItRunsSaysTheLabStops: `ferry lab --dir D` (the wizard runs
// the lab, the directory is kept anyway) says the lab stops.
func TestQuitInLabItRunsSaysTheLabStops(t *testing.T) {
	h := newHarness(t, setup{lab: true, runsLab: true, pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication")})
	h.start(80, 24)
	h.send(press("q"))
	h.mustSee(t, "Quit ferry?", "Replication of WebApp2 stops", "This is the lab: quitting stops it.")
}

// TestQuitWithNothingRunningDoesNotAsk: no replication, not a lab: q quits.
func TestQuitWithNothingRunningDoesNotAsk(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: infraDone})
	h.start(80, 24)
	if _, cmd := h.m.Update(press("q")); !isQuit(cmd) {
		t.Fatal("q did not quit")
	}
}

// TestLabInterruptSaysTheLabStopped: ctrl+c in `ferry lab` exits 130 but
// does not offer to resume a lab that is gone.
func TestLabInterruptSaysTheLabStopped(t *testing.T) {
	err := error(labInterrupted{})
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatal("the lab's interrupt does not map to exit code 130")
	}
	if s := err.Error(); strings.Contains(s, "resume") || strings.Contains(s, "context canceled") {
		t.Fatalf("lab interrupt says %q", s)
	}
}
