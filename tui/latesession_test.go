package tui

import (
	"slices"

	tea "github.com/charmbracelet/bubbletea"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// allUpdates returns every row f published since the last read, in order.
func allUpdates(f *ReplicationFeed) []ReplicationUpdate {
	var out []ReplicationUpdate
	for {
		select {
		case u := <-f.Updates():
			out = append(out, u)
		default:
			return out
		}
	}
}

// dashboardOf is the replication screen of a terminal whose dashboard got
// us (a terminal of a ferry serve engine: its feed follows the engine's).
func dashboardOf(t *testing.T, width, height int, us []ReplicationUpdate) *harness {
	t.Helper()
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(append([]string{}, infraDone...), "vm-selection", "replication"), feeds: true})
	h.start(width, height)
	h.send(gotoStepMsg{Index: 5})
	for _, u := range us {
		h.send(replicationMsg(u))
	}
	return h
}

// lineWith is the first line of view that contains s ("" none).
func lineWith(view, s string) string {
	for _, l := range strings.Split(view, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// TestLateSessionDrawsTheRecentThroughput (QA of ferry serve: a terminal
// attaching late started with an empty sparkline while those attached all
// along drew the recent throughput): every terminal follows the engine's
// feed (ReplicationFeed.Follow); one that follows after a pass's progress
// draws the same sparkline as one that followed from its start.
func TestLateSessionDrawsTheRecentThroughput(t *testing.T) {
	engine := NewReplicationFeed(func(string) time.Duration { return time.Hour })
	early, stopEarly := engine.Follow()
	defer stopEarly()
	at := t0.Add(-time.Minute)
	engine.Handle(replication.Event{Kind: replication.EventPhase, VM: "WebApp2", Phase: replication.PhaseSnapshot, Pass: replication.PassIncremental, Time: at})
	engine.Handle(replication.Event{Kind: replication.EventPhase, VM: "WebApp2", Phase: replication.PhaseTransfer, Pass: replication.PassIncremental, Time: at})
	const planned = 1 << 30
	rates := []float64{1, 3, 8, 2, 5, 9, 4, 7, 1, 6, 8, 3, 2, 9, 5, 4, 7, 6, 2, 8}
	for i, r := range rates {
		engine.Handle(replication.Event{Kind: replication.EventProgress, VM: "WebApp2", Counters: replication.Counters{Planned: planned, Sent: int64(i+1) << 24, Acked: int64(i) << 24},
			Rate: r * (1 << 20), Time: at.Add(time.Duration(i) * time.Second)})
	}
	late, stopLate := engine.Follow()
	defer stopLate()
	engine.Handle(replication.Event{Kind: replication.EventProgress, VM: "WebApp2", Counters: replication.Counters{Planned: planned, Sent: 22 << 24, Acked: 21 << 24},
		Rate: 5 << 20, Time: at.Add(30 * time.Second)})
	earlyUpdates, lateUpdates := allUpdates(early), allUpdates(late)
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		want := lineWith(dashboardOf(t, size[0], size[1], earlyUpdates).view(), " · next ")
		if strings.Count(want, "█")+strings.Count(want, "▇")+strings.Count(want, "▆")+strings.Count(want, "▅") < 4 {
			t.Fatalf("%dx%d: the session attached all along draws no throughput history: %q", size[0], size[1], want)
		}
		if got := lineWith(dashboardOf(t, size[0], size[1], lateUpdates).view(), " · next "); got != want {
			t.Errorf("%dx%d: the late session draws\n%q\nthe session attached all along\n%q", size[0], size[1], got, want)
		}
	}
}

// dashRow is vm's row on the dashboard of view (right of the sidebar),
// "" none.
func dashRow(view, vm string) string {
	for _, l := range strings.Split(view, "\n") {
		_, r, ok := strings.Cut(l, "│ ")
		if ok && (strings.HasPrefix(r, "▸ "+vm+" ") || strings.HasPrefix(r, "  "+vm+" ")) {
			return r
		}
	}
	return ""
}

// TestSessionAttachedBeforeTheFirstPassListsEveryVM (QA of ferry serve: a
// session attached before a VM's first replication event had no row for
// it until that event): once the driver's replication step runs, the
// dashboard of a session attached before lists every VM of the plan at
// once, each waiting for its first pass until the engine reports it; the
// engine's first event of one then shows its pass.
func TestSessionAttachedBeforeTheFirstPassListsEveryVM(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		release := make(chan struct{})
		drv, view, _ := twoSessions(t, setup{pf: withVMs("WebApp1", "WebApp2", "WebApp3"), done: append(slices.Clone(infraDone), "vm-selection"),
			mutate: func(m map[string]*fakeStep) { m["replication"].block = release }}, size[0], size[1])
		view.mustSee(t, "Step 6 of 8", "No replication reported yet.")
		drv.send(press("enter")) // plan
		_, run := drv.m.Update(press("enter"))
		msgs := make(chan tea.Msg, 64)
		go collect(run, msgs)

		// The driver's run shows on the viewer's screen (the board of
		// runs), and with it the plan's VMs.
		view.pullUntil(t, "elapsed", "3 VM(s) · none copying")
		v := view.view()
		for _, vm := range []string{"WebApp1", "WebApp2", "WebApp3"} {
			if r := dashRow(v, vm); !strings.Contains(r, vm+" ") || !strings.Contains(r, " waiting ") {
				t.Errorf("%dx%d: %s's dashboard row %q, want it waiting\n%s", size[0], size[1], vm, r, v)
			}
		}
		mustRead(t, view, "waiting for its first pass")
		view.send(replicationMsg{VM: "WebApp1", Phase: "initial transfer", Planned: 4 << 20, Acked: 1 << 20, Rate: 1 << 20})
		v = view.view()
		if r := dashRow(v, "WebApp1"); !strings.Contains(r, "initial transfer") {
			t.Errorf("%dx%d: WebApp1's row %q once its pass began\n%s", size[0], size[1], r, v)
		}
		for _, vm := range []string{"WebApp2", "WebApp3"} {
			if r := dashRow(v, vm); !strings.Contains(r, " waiting ") {
				t.Errorf("%dx%d: %s's dashboard row %q once WebApp1's pass began, want it waiting\n%s", size[0], size[1], vm, r, v)
			}
		}
		close(release)
		for msg := range msgs {
			drv.send(msg)
		}
	}
}
