package tui

import (
	"slices"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestDetailAfterRestartHasNoFalseZeros (QA demo: after a restart of the
// wizard the detail line read "WebApp2 pass: planned 0 B · read 0 B ·
// sent 0 B · acked 0 B" for a VM twelve passes in; the store keeps no
// pass figures, only its last incremental pass's planned bytes and the
// last rate): the detail line says no figures were reported yet and what
// the record keeps, until the engine reports a pass; then its figures.
func TestDetailAfterRestartHasNoFalseZeros(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication"), feeds: true,
		replicas: map[string]replication.VMState{"WebApp2": {LastPass: t0.Add(-40 * time.Second), LastIncremental: t0.Add(-100 * time.Second),
			LastPlanned: 40 << 20, LastRate: 12 << 20, PassCount: 12}}})
	h.start(120, 40)
	h.send(press("[")) // the dashboard (step 6)
	// The engine's first word after the restart: its job's status.
	f := NewReplicationFeed(nil)
	f.Seed([]replication.JobStatus{{VM: "WebApp2", RPO: replication.RPO(time.Minute), Phase: replication.JobReplicating, Health: replication.HealthOK, LastPass: t0.Add(-40 * time.Second), Passes: 12,
		NextPass: t0.Add(20 * time.Second)}})
	h.send(replicationMsg(<-f.Updates()))
	h.mustSee(t, "WebApp2 pass: no figures reported yet · recorded: last incremental pass 1m40s ago planned", "40 MiB, last rate 12 MiB/s · RPO 1m00s")
	h.mustNotSee(t, "planned 0 B", "read 0 B")

	// A pass this process sees: its own figures.
	for _, ev := range []replication.Event{
		{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot, Pass: replication.PassIncremental},
		{Kind: replication.EventProgress, Counters: replication.Counters{Planned: 8 << 20, Read: 8 << 20, Sent: 6 << 20, Acked: 8 << 20}, Rate: 4 << 20},
		{Kind: replication.EventPassDone, Number: 13},
	} {
		ev.VM, ev.Time = "WebApp2", t0
		f.Handle(ev)
		h.send(replicationMsg(<-f.Updates()))
	}
	h.mustSee(t, "WebApp2 pass: planned 8.0 MiB · read 8.0 MiB · sent 6.0 MiB · acked 8.0 MiB")
	h.mustNotSee(t, "recorded:", "no figures")
}
