package steps

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestResumedPassProgressAndSummary (QA: a ferry run killed in the initial
// sync, run again, printed "39 MiB of 39 MiB acknowledged (resumed ...),
// 0 B/s" about eight times while the resumed pass read back and checked
// what the killed run had made durable, and its summary said "initial
// pass: 0 B planned"): while nothing is acknowledged yet, the progress says
// the pass checks the durable data, without a rate, and once, however many
// events come; the summary counts the whole pass and what was durable.
func TestResumedPassProgressAndSummary(t *testing.T) {
	t.Parallel()
	var got []string
	emit := progressEmitter(func(ev Event) { got = append(got, ev.Message) }, "WebApp2")
	checking := replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Resumed: 39 << 20}}
	for range 8 {
		emit(checking)
		time.Sleep(260 * time.Millisecond) // past the emitter's throttle
	}
	if len(got) != 1 {
		t.Errorf("8 identical progress events of a resumed pass checking its durable data: %d lines, want 1: %q", len(got), got)
	}
	for _, line := range got {
		if strings.Contains(line, "0 B/s") || !strings.Contains(line, "39 MiB an earlier attempt made durable") {
			t.Errorf("progress of a resumed pass checking its durable data: %q", line)
		}
	}
	// Then the rest is sent: the usual line, counting the durable part.
	emit(replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Resumed: 30 << 20, Planned: 9 << 20, Acked: 3 << 20}, AckRate: 1 << 20, Rate: 1 << 20})
	if last := got[len(got)-1]; !strings.Contains(last, "33 MiB of 39 MiB acknowledged (resumed: 30 MiB were durable already), 1.0 MiB/s") {
		t.Errorf("progress of a resumed pass sending the rest: %q", last)
	}

	if s := plannedText(replication.Counters{Resumed: 39 << 20}); s != "39 MiB planned (resumed: 39 MiB of it durable before the interruption, checked and not sent again; 0 B to send now)" {
		t.Errorf("summary of a resumed pass with everything durable: %q", s)
	}
	// QA: blocks the resumed pass's check found differing were sent again
	// all the same; the summary said none were.
	if s := plannedText(replication.Counters{Resumed: 39 << 20, Resent: 2}); !strings.Contains(s, "checked and not sent again but for 2 block(s) the check found differing, sent again") {
		t.Errorf("resumed with 2 blocks sent again: %q", s)
	}
	if s := plannedText(replication.Counters{Planned: 12 << 20}); s != "12 MiB planned" {
		t.Errorf("summary of a pass not resumed: %q", s)
	}
}
