package tui

import (
	"slices"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestResumedInitialSyncReadsAsOne (QA: after ferry restarted during step
// 6's initial syncs, the rows of the VMs whose initial sync it resumed read
// "running" until the pass committed): the scheduler starts a pass a killed
// ferry left as soon as warm replication starts (steps.Env.EnableWarm),
// so its events can reach the feed before the wizard seeds it with the
// scheduler's status (tui.feedLive, ferry serve's first attach); the row
// still reads as an initial sync, with its figures, not "running".
func TestResumedInitialSyncReadsAsOne(t *testing.T) {
	pf := withVMs("WebApp1", "WebApp2")
	h := newHarness(t, setup{pf: pf, done: append(slices.Clone(infraDone), "vm-selection"), running: []string{"replication"}, feeds: true,
		inFlight: map[string][2]int64{"WebApp1": {8 << 20, 46 << 20}, "WebApp2": {7 << 20, 45 << 20}}})
	h.start(120, 40)
	f := NewReplicationFeed(func(string) time.Duration { return time.Minute })
	// WebApp1's resumed pass reports before the status is read, as it
	// does in the lab; WebApp2's after.
	for _, ev := range []replication.Event{
		{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot},
		{Kind: replication.EventPhase, Phase: replication.PhasePlan, Disk: "2000"},
		{Kind: replication.EventPhase, Phase: replication.PhaseTransfer, Disk: "2000", Pass: replication.PassInitial},
		{Kind: replication.EventProgress, Phase: replication.PhaseTransfer, Pass: replication.PassInitial,
			Counters: replication.Counters{Planned: 38 << 20, Acked: 2 << 20, Resumed: 8 << 20}, Rate: 300 << 10, ETA: 2 * time.Minute},
	} {
		ev.VM, ev.Time = "WebApp1", t0
		f.Handle(ev)
	}
	f.Seed([]replication.JobStatus{
		{VM: "WebApp1", RPO: replication.RPO(time.Minute), Phase: replication.JobReplicating, Running: true, PassAge: time.Second},
		{VM: "WebApp2", RPO: replication.RPO(time.Minute), Phase: replication.JobReplicating, Running: true, PassAge: time.Second},
	})
	for _, ev := range []replication.Event{
		{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot},
		{Kind: replication.EventPhase, Phase: replication.PhaseTransfer, Disk: "2000", Pass: replication.PassInitial},
		{Kind: replication.EventProgress, Phase: replication.PhaseTransfer, Pass: replication.PassInitial,
			Counters: replication.Counters{Planned: 38 << 20, Acked: 1 << 20, Resumed: 7 << 20}, Rate: 300 << 10, ETA: 2 * time.Minute},
	} {
		ev.VM, ev.Time = "WebApp2", t0
		f.Handle(ev)
	}
	for {
		select {
		case u := <-f.Updates():
			h.send(replicationMsg(u))
			continue
		default:
		}
		break
	}
	h.mustSee(t, "WebApp1         initial transfer", "WebApp2         initial transfer",
		"WebApp1 pass: planned 38 MiB (resumed: 8.0 MiB durable before)", "pass  22% ETA 2m00s")
	h.mustNotSee(t, "running")
}
