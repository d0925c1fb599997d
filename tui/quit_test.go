package tui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/steps"
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

// TestQuitWhileAStepAppliesSaysItStopsMidway (QA walk: q during step 6's
// initial sync of WebApp1 and WebApp3 asked "Replication of WebApp2
// stops", the one VM already replicating, and said nothing of the sync; q
// during another step's apply quit without a word): quitting while a step
// applies asks, says that step stops midway, which VMs' initial sync stops,
// and what the next start does.
func TestQuitWhileAStepAppliesSaysItStopsMidway(t *testing.T) {
	for _, tc := range []struct {
		step string
		done []string
		want []string
	}{
		{"replication", append(slices.Clone(infraDone), "vm-selection"), []string{"Step 6 (Replication) is running: quitting stops it midway.",
			"The initial sync of WebApp1, WebApp3 stops; when ferry runs again, the step says it was interrupted",
			"goes on from what the receiver holds durably (not sent again)"}},
		{"appliance", []string{"rights", "trunk-network"}, []string{"Step 3 (L2 appliance) is running: quitting stops it midway.",
			"When ferry runs again, the step says it was interrupted", "picks up from what is done (nothing is created twice)"}},
	} {
		release := make(chan struct{})
		h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp3"), done: tc.done, mutate: func(m map[string]*fakeStep) {
			m[tc.step].block = release
			m[tc.step].plan.Items = nil // nothing that needs resolving before apply
			m[tc.step].events = []steps.Event{steps.Progress("working", 0.1)}
		}})
		h.start(120, 40)
		if got := h.screenID(); got != tc.step {
			t.Fatalf("at %q, want %q", got, tc.step)
		}
		if tc.step == "appliance" {
			h.typeText("company-network")
			h.send(press("enter"))
			h.typeText("172.16.10.9")
			h.send(press("enter"))
			h.send(press("enter"))
		} else {
			h.send(press("enter")) // plan
		}
		_, run := h.m.Update(press("enter")) // apply
		msgs := make(chan tea.Msg, 64)
		go collect(run, msgs)
		h.deliver(<-msgs) // the step's first event: it applies
		_, cmd := h.m.Update(press("q"))
		if isQuit(cmd) {
			t.Fatalf("%s: q quit while the step applied, without a word", tc.step)
		}
		h.mustSee(t, "Quit ferry?")
		// The panel's text, its lines joined: what it says, however wrapped.
		var words []string
		for _, l := range strings.Split(h.view(), "\n") {
			if _, p, ok := strings.Cut(l, "│"); ok {
				words = append(words, strings.Fields(p)...)
			}
		}
		said := strings.Join(words, " ")
		for _, w := range tc.want {
			if !strings.Contains(said, w) {
				t.Errorf("%s: the question does not say %q: %s", tc.step, w, said)
			}
		}
		h.mustNotSee(t, "Replication of WebApp1")
		close(release)
		for range msgs {
		}
	}
}
