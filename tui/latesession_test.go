package tui

import (
	"regexp"
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

// finalPassOf is the figure after "final pass" in the line of view that
// says it ("" none): "~1.1s" on the dashboard, "1.1s" on the confirmation.
func finalPassOf(view string) string {
	m := regexp.MustCompile(`final pass (~?[0-9][^ ]*)`).FindStringSubmatch(view)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestDashboardFinalPassIsTheConfirmations (QA: the dashboard's "final
// pass ~" was the figure of the engine's last event, frozen there, while
// the cutover's confirmation projected another): the dashboard shows the
// final pass the confirmation projects, read again when a pass ends and
// when the last read is old, whatever the events said.
func TestDashboardFinalPassIsTheConfirmations(t *testing.T) {
	last := t0.Add(-40 * time.Second)
	rec := replication.VMState{LastPass: last, LastIncremental: last, LastPlanned: 40 << 20, IncrementalInterval: time.Minute, IncrementalDuration: 2 * time.Second, PassCount: 12}
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: checksDone, feeds: true, replicas: map[string]replication.VMState{"WebApp2": rec}})
	h.start(120, 40)
	feed := NewReplicationFeed(func(string) time.Duration { return time.Minute })
	record := func(vs replication.VMState) {
		t.Helper()
		st, err := replication.OpenState(h.env.State.Path() + ".replication.db")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.PutVM("WebApp2", vs); err != nil {
			t.Fatal(err)
		}
	}
	// The figures of the confirmation and of the dashboard, now.
	figures := func() (confirm, dash string) {
		t.Helper()
		h.send(gotoStepMsg{Index: 7})
		confirm = finalPassOf(h.view())
		h.send(gotoStepMsg{Index: 5})
		dash = finalPassOf(h.view())
		if confirm == "" || dash != "~"+confirm {
			t.Fatalf("the confirmation projects the final pass at %q, the dashboard says %q:\n%s", confirm, dash, h.view())
		}
		return confirm, dash
	}
	feed.Handle(replication.Event{Kind: replication.EventPassDone, VM: "WebApp2", Pass: replication.PassIncremental, Number: 12, Time: last})
	h.send(replicationMsg(drainUpdates(feed)))
	first, _ := figures()

	// A pass ends: a larger change, a longer pass.
	last = t0.Add(-time.Second)
	rec = replication.VMState{LastPass: last, LastIncremental: last, LastPlanned: 300 << 20, IncrementalInterval: 39 * time.Second, IncrementalDuration: 9 * time.Second, PassCount: 13}
	record(rec)
	feed.Handle(replication.Event{Kind: replication.EventPassDone, VM: "WebApp2", Pass: replication.PassIncremental, Number: 13, Time: last})
	h.send(replicationMsg(drainUpdates(feed)))
	second, dash := figures()
	if second == first {
		t.Fatalf("the final pass projected %s before and after a pass that changed what it projects from", first)
	}
	// Seen at once on the dashboard, without moving.
	h.send(replicationMsg(drainUpdates(feed)))
	if got := finalPassOf(h.view()); got != dash {
		t.Fatalf("dashboard says final pass %q, want %q", got, dash)
	}

	// What it projects from changes with no event the dashboard hears of:
	// the next message after projectionTTL (the tick, a probe's sample)
	// reads it again.
	rec.IncrementalDuration = 30 * time.Second
	record(rec)
	h.clock = h.clock.Add(projectionTTL + time.Second)
	h.send(probeMsg{Pair: "WebApp1 → WebApp2", Kind: "tcp 172.16.10.12:80", Time: h.clock, Up: true, Latency: time.Millisecond})
	got := finalPassOf(h.view())
	if got == dash {
		t.Fatalf("the dashboard still says final pass %s, %s after the last read", got, projectionTTL+time.Second)
	}
	h.send(gotoStepMsg{Index: 7})
	if c := finalPassOf(h.view()); got != "~"+c {
		t.Fatalf("the confirmation projects the final pass at %q, the dashboard said %q", c, got)
	}
}
