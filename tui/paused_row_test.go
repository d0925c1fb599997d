package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// dashRowLines are the row of vm on the dashboard and the line under it.
func dashRowLines(view, vm string) string {
	lines := strings.Split(view, "\n")
	for i, l := range lines {
		_, r, ok := strings.Cut(l, "│ ")
		if ok && (strings.HasPrefix(r, "▸ "+vm+" ") || strings.HasPrefix(r, "  "+vm+" ")) && i+1 < len(lines) {
			_, next, _ := strings.Cut(lines[i+1], "│ ")
			return r + "\n" + next
		}
	}
	return ""
}

// TestPausedRowReadsPaused (QA demo: a VM paused mid-pass kept the
// stopped pass's "pass 76% ETA 34s" and showed the pause as an error):
// whatever the order in which the engine reports the pause and the end of
// the pass it stopped, the row reads paused, with no percentage, no ETA
// and no error; resumed, it reads as before. A job a failure paused keeps
// its error.
func TestPausedRowReadsPaused(t *testing.T) {
	stopped := fmt.Errorf("read extent of Hard disk 1: %w", context.Canceled)
	for _, errFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("error-first=%v", errFirst), func(t *testing.T) {
			h := newHarness(t, setup{pf: withVMs("WebApp3"), done: append(slices.Clone(infraDone), "vm-selection", "replication"), feeds: true})
			h.start(120, 40)
			f := NewReplicationFeed(func(string) time.Duration { return time.Minute })
			handle := func(ev replication.Event) {
				ev.VM, ev.Time = "WebApp3", t0
				f.Handle(ev)
				h.send(replicationMsg(<-f.Updates()))
			}
			handle(replication.Event{Kind: replication.EventPassDone, Number: 4, LastPassAge: 50 * time.Second})
			handle(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot, Pass: replication.PassIncremental})
			handle(replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Planned: 100 << 20, Read: 80 << 20, Sent: 78 << 20, Acked: 76 << 20}, Rate: 8 << 20, ETA: 34 * time.Second})
			h.send(press("[")) // the dashboard (step 6)
			if r := dashRowLines(h.view(), "WebApp3"); !strings.Contains(r, "76% ETA 3") {
				t.Fatalf("before the pause the row reads %q, want the pass at 76%%:\n%s", r, h.view())
			}
			pause := replication.Event{Kind: replication.EventPaused, Msg: replication.PausedByRequest}
			end := replication.Event{Kind: replication.EventError, Err: stopped}
			if errFirst {
				handle(end)
				handle(pause)
			} else {
				handle(pause)
				handle(end)
			}
			handle(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseIdle})
			r := dashRowLines(h.view(), "WebApp3")
			if !strings.Contains(r, "paused") || strings.Contains(r, "ETA") || strings.Contains(r, "%") || strings.Contains(r, "✗") {
				t.Fatalf("the paused row reads\n%s\nwant paused, without the stopped pass's percentage and ETA, and no error:\n%s", r, h.view())
			}
			h.mustNotSee(t, "canceled", "paused by request")
			h.mustSee(t, "WebApp3 paused")

			handle(replication.Event{Kind: replication.EventResumed})
			handle(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot, Pass: replication.PassIncremental})
			handle(replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Planned: 100 << 20, Acked: 10 << 20}, Rate: 8 << 20, ETA: 12 * time.Second})
			if r := dashRowLines(h.view(), "WebApp3"); !strings.Contains(r, "10% ETA 12s") || strings.Contains(r, "paused") {
				t.Fatalf("resumed, the row reads %q, want its new pass:\n%s", r, h.view())
			}
		})
	}
}

// TestPausedRowAfterRestart: a wizard started while a job is paused (the
// scheduler's status, or the stored one) shows it paused, not its reason
// "paused by request" as an error; a job a failed pass paused shows why.
func TestPausedRowAfterRestart(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication"), feeds: true})
	h.start(120, 40)
	f := NewReplicationFeed(nil)
	f.Seed([]replication.JobStatus{
		{VM: "WebApp1", RPO: replication.RPO(time.Minute), Phase: replication.JobPaused, Paused: true, Reason: replication.PausedByRequest, LastPass: t0.Add(-time.Minute), Passes: 3},
		{VM: "WebApp2", RPO: replication.RPO(time.Minute), Phase: replication.JobFailed, Paused: true, Reason: "receiver unreachable", LastPass: t0.Add(-time.Minute), Passes: 3},
	})
	h.send(replicationMsg(<-f.Updates()))
	h.send(replicationMsg(<-f.Updates()))
	h.send(press("["))
	if r := dashRowLines(h.view(), "WebApp1"); !strings.Contains(r, "paused") || strings.Contains(r, "✗") {
		t.Fatalf("the row of a job paused by request reads\n%s\nwant paused, no error:\n%s", r, h.view())
	}
	h.mustNotSee(t, "paused by request")
	if r := dashRowLines(h.view(), "WebApp2"); !strings.Contains(r, "✗ receiver unreachable") {
		t.Fatalf("the row of a job a failed pass paused reads\n%s\nwant why:\n%s", r, h.view())
	}
	// The stored status (a wizard without an engine feed yet) reads the same.
	h2 := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication"), feeds: true})
	h2.start(120, 40)
	h2.send(statusMsg(statusRows([]steps.VMStatus{
		{JobStatus: replication.StoredStatus("WebApp1", replication.RPO(time.Minute), replication.VMState{LastPass: t0.Add(-time.Minute), Paused: true, PausedReason: replication.PausedByRequest}, t0)},
		{JobStatus: replication.StoredStatus("WebApp2", replication.RPO(time.Minute), replication.VMState{LastPass: t0.Add(-time.Minute), Paused: true, Failed: true, PausedReason: "receiver unreachable"}, t0)},
	}, false)))
	h2.send(press("["))
	if r := dashRowLines(h2.view(), "WebApp1"); !strings.Contains(r, "paused") || strings.Contains(r, "✗") {
		t.Fatalf("the stored row of a job paused by request reads\n%s\nwant paused, no error:\n%s", r, h2.view())
	}
	if r := dashRowLines(h2.view(), "WebApp2"); !strings.Contains(r, "✗ receiver unreachable") {
		t.Fatalf("the stored row of a job a failed pass paused reads\n%s\nwant why:\n%s", r, h2.view())
	}
}

// dashRowBlock is the row of vm on the dashboard and the two lines under
// it (a narrow panel's row takes three).
func dashRowBlock(view, vm string) string {
	lines := strings.Split(view, "\n")
	for i, l := range lines {
		_, r, ok := strings.Cut(l, "│ ")
		if ok && (strings.HasPrefix(r, "▸ "+vm+" ") || strings.HasPrefix(r, "  "+vm+" ")) {
			out := []string{r}
			for _, n := range lines[i+1 : min(i+3, len(lines))] {
				_, next, _ := strings.Cut(n, "│ ")
				out = append(out, next)
			}
			return strings.Join(out, "\n")
		}
	}
	return ""
}

// TestPausedRowSaysWhoPaused (QA: the paused row's second line read "next
// paused", and did not say who paused, as ferry status does): at 120 and
// 80 columns the line says who paused the job, from the engine's event and
// from a seeded status; a name too long for the panel is cut with "…".
func TestPausedRowSaysWhoPaused(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp3"), done: append(slices.Clone(infraDone), "vm-selection", "replication"), feeds: true})
		h.start(size[0], size[1])
		f := NewReplicationFeed(func(string) time.Duration { return time.Minute })
		f.Seed([]replication.JobStatus{{VM: "WebApp1", RPO: replication.RPO(time.Minute), Phase: replication.JobPaused, Paused: true, Reason: replication.PausedBy("bob (ferry pause)"), LastPass: t0.Add(-time.Minute), Passes: 3}})
		h.send(replicationMsg(<-f.Updates()))
		long := "a-very-long-operator-name-from-a-directory (alice@a-laptop-with-a-long-name) (ssh)"
		for _, ev := range []replication.Event{
			{Kind: replication.EventPassDone, Number: 4, LastPassAge: 50 * time.Second},
			{Kind: replication.EventPaused, Msg: replication.PausedBy(long)},
		} {
			ev.VM, ev.Time = "WebApp3", t0
			f.Handle(ev)
			h.send(replicationMsg(<-f.Updates()))
		}
		h.send(press("["))
		if r := dashRowBlock(h.view(), "WebApp1"); !strings.Contains(r, "· paused by bob (ferry pause)") || strings.Contains(r, "next") {
			t.Errorf("%dx%d: the paused row reads\n%s\nwant who paused it:\n%s", size[0], size[1], r, h.view())
		}
		r := dashRowBlock(h.view(), "WebApp3")
		if !strings.Contains(r, "· paused by a-very-long") || !strings.Contains(r, "…") || strings.Contains(r, "next") {
			t.Errorf("%dx%d: the row paused by a long name reads\n%s\nwant who paused it, cut with …:\n%s", size[0], size[1], r, h.view())
		}
	}
}
