package engine

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/tui"
)

// TestAttachDuringInitialSyncShowsIt (QA: a wizard attached to ferry serve
// during a VM's initial sync showed its row as "running", where ferry lab's
// wizard shows "initial transfer", and no "pass: planned ... read ... sent"
// figures): the dashboard of a wizard attaching mid-pass subscribes then
// seeds its rows from the scheduler's status (serve_wizard.go); the pass's
// events before it attached reach it from the engine, so its row says the
// pass's kind and phase and has the pass's figures, as one attached all
// along does.
func TestAttachDuringInitialSyncShowsIt(t *testing.T) {
	elog, err := OpenEventLog(filepath.Join(t.TempDir(), "plan.events.jsonl"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer elog.Close()
	e := &Engine{events: elog, subs: map[int]func(replication.Event){}, logged: map[string]int64{}, pass: map[string][]replication.Event{}}
	e.Metrics = newMetrics(e)
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	for _, ev := range []replication.Event{
		{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot},
		{Kind: replication.EventPhase, Phase: replication.PhasePlan, Disk: "2000"},
		{Kind: replication.EventPhase, Phase: replication.PhaseTransfer, Disk: "2000", Pass: replication.PassInitial},
		{Kind: replication.EventProgress, Phase: replication.PhaseTransfer, Pass: replication.PassInitial,
			Counters: replication.Counters{Planned: 38 << 20, Read: 20 << 20, Sent: 11 << 20, Acked: 19 << 20}, Rate: 480 << 10, ETA: 25 * time.Second},
	} {
		ev.VM, ev.Time = "WebApp2", t0
		e.replicationEvent(ev)
	}

	// What serve_wizard.go's first attach does, mid-pass.
	feed := tui.NewReplicationFeed(func(string) time.Duration { return time.Minute })
	defer e.Subscribe(feed.Handle)()
	feed.Seed([]replication.JobStatus{{VM: "WebApp2", RPO: replication.RPO(time.Minute), Phase: replication.JobReplicating, Running: true}})
	var row tui.ReplicationUpdate
	for len(feed.Updates()) > 0 {
		row = <-feed.Updates()
	}
	if row.Phase != "initial transfer" {
		t.Errorf("the attached wizard's row reads %q, want \"initial transfer\" as ferry lab's", row.Phase)
	}
	if !row.Figures || row.Planned != 38<<20 || row.Read != 20<<20 || row.Sent != 11<<20 || row.Acked != 19<<20 {
		t.Errorf("the attached wizard's row has not the pass's figures (planned 38 MiB, read 20 MiB, sent 11 MiB, acked 19 MiB): %+v", row)
	}

	// Once the pass is done, a wizard attaching then has its figures and
	// no phase of the pass.
	e.replicationEvent(replication.Event{VM: "WebApp2", Time: t0.Add(time.Minute), Kind: replication.EventPassDone, Pass: replication.PassInitial, Number: 1,
		Counters: replication.Counters{Planned: 38 << 20, Read: 38 << 20, Sent: 20 << 20, Acked: 38 << 20}})
	later := tui.NewReplicationFeed(func(string) time.Duration { return time.Minute })
	defer e.Subscribe(later.Handle)()
	later.Seed([]replication.JobStatus{{VM: "WebApp2", RPO: replication.RPO(time.Minute), Phase: replication.JobReplicating, Passes: 1, LastPass: t0}})
	for len(later.Updates()) > 0 {
		row = <-later.Updates()
	}
	if row.Phase != "idle" || row.Pass != 1 || !row.Figures || row.Planned != 38<<20 {
		t.Errorf("attached after the pass: row %+v, want idle #1 with its figures (planned 38 MiB)", row)
	}
}
