package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/steps"
)

// TestTimelineKeepsThePhaseDuration (QA: at 80 columns the live cutover
// timeline cut "connect networks done in 7ms" to "done in 7m…", which reads
// as minutes inside the downtime window): a phase line too long for the
// screen is cut before its duration, which stays whole.
func TestTimelineKeepsThePhaseDuration(t *testing.T) {
	line := "✓ +915ms  1ms     WebApp2: connect networks done in 7ms"
	got := truncKeepingTail(line, 50, " done in ")
	if want := "✓ +915ms  1ms     WebApp2: connect ne… done in 7ms"; got != want {
		t.Errorf("cut to 50 cells: %q, want %q", got, want)
	}
	if got := truncKeepingTail(line, 80, " done in "); got != line {
		t.Errorf("a line that fits was changed: %q", got)
	}
	if got := truncKeepingTail("✓ +2s  1ms  WebApp3: power on", 20, " done in "); got != "✓ +2s  1ms  WebApp3…" {
		t.Errorf("a line without a duration: %q", got)
	}
}

// TestTimelineKeepsTheVMName (QA: at 80 columns a phase with a long detail
// read "✓ +1s 1ms  W… done in 25ms (00:0c:29:39:31:38 on company-network
// …)": in a wave nobody could tell which VM a line was about): the detail
// after the duration is cut first, the VM, phase and duration stay whole.
func TestTimelineKeepsTheVMName(t *testing.T) {
	line := "✓ +1s     1ms     WebApp3: connect networks done in 25ms (00:0c:29:39:31:38 on company-network at 172.16.10.13 MANUAL)"
	got := truncPhase(line, 80)
	if want := "✓ +1s     1ms     WebApp3: connect networks done in 25ms (00:0c:29:39:31:38 on …"; got != want {
		t.Errorf("cut to 80 cells: %q, want %q", got, want)
	}
	if got := truncPhase("✓ +915ms  1ms     WebApp2: connect networks done in 7ms", 50); got != "✓ +915ms  1ms     WebApp2: connect ne… done in 7ms" {
		t.Errorf("a line without a detail: %q", got)
	}
}

// TestDurSubMillisecond (QA: the live probe panel showed a 300 µs answer
// as "0ms", beside step 7's "2.18ms"): under a millisecond reads "<1ms".
func TestDurSubMillisecond(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 300 * time.Microsecond: "<1ms", 7 * time.Millisecond: "7ms", 1500 * time.Millisecond: "2s"} {
		if got := dur(d); got != want {
			t.Errorf("dur(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestAlreadyCutOverIsNoPhaseUnderWay (QA: in a wave, "WebApp1: already cut
// over" kept a spinner and its duration grew with the wave, ending at 2s):
// it is a state found, closed at once, while the other VM's phase runs.
func TestAlreadyCutOverIsNoPhaseUnderWay(t *testing.T) {
	h := toCutover(t, nil)
	s := h.m.screens[7].(*cutoverScreen)
	s.run.started, s.run.phase = t0, phaseApplying
	s.run.events = []steps.Event{
		{Kind: steps.EventProgress, Fraction: -1, Message: "WebApp1: already cut over", Time: t0},
		{Kind: steps.EventProgress, Fraction: -1, Message: "WebApp2: snapshot", Time: t0.Add(time.Second)},
	}
	h.clock = t0.Add(5 * time.Second)
	lines := s.phaseLines(120, 10, false)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], sOK.Render("✓")) || !strings.Contains(lines[0], "0s      WebApp1: already cut over") {
		t.Errorf("phase lines %q: want WebApp1's line done, taking no time", lines)
	}
}

// TestDashboardCutOverRow (QA: after a resume, a cut-over VM's detail line
// read "planned 0 B · read 0 B · sent 0 B · acked 0 B · RPO 0s"): a VM cut
// over says that its replication ended.
func TestDashboardCutOverRow(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1"), done: append(append([]string{}, infraDone...), "vm-selection"), feeds: true})
	h.start(120, 40)
	h.deliver(replicationMsg{VM: "WebApp1", Phase: PhaseCutOver})
	h.mustSee(t, "WebApp1: cut over, replication ended")
	h.mustNotSee(t, "planned 0 B")
}
