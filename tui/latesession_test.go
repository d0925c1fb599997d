package tui

import (
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
