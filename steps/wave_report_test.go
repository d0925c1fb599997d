package steps

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/probe"
)

// TestWaveLeftForADecisionReportsItsOpenOutage (QA): a wave whose VMs were
// all left for a decision, their services never back, reported "downtime
// 0.9s from the first shutdown to the last service back" (the targets'
// power-on). The wave's downtime runs until the cutovers ended and says it
// is a lower bound; no service back is claimed.
func TestWaveLeftForADecisionReportsItsOpenOutage(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 9, 8, 15, 0, time.UTC)
	vm := func(name string) VMReport {
		// As finish leaves a VM whose target never answered.
		return VMReport{VM: name, Started: t0, SourceOff: t0.Add(time.Second), TargetOn: t0.Add(2 * time.Second),
			Finished: t0.Add(181 * time.Second), Outcome: "failed", MeasuredDowntimeSeconds: 180, OutageOpen: true,
			Outages: []probe.Outage{{Target: "tcp " + name, Start: t0.Add(time.Second)}}}
	}
	rep := &CutoverReport{Started: t0, Parallel: 4, VMs: []VMReport{vm("LinuxDB1"), vm("WebApp3")}}
	rep.finishWave()
	if !rep.WaveOutageOpen || rep.WaveDowntimeSeconds < 179 || !rep.LastServiceBack.IsZero() {
		t.Errorf("wave: open %v, %.1fs, last service back %v; want open, about 180 s, none", rep.WaveOutageOpen, rep.WaveDowntimeSeconds, rep.LastServiceBack)
	}
	if md := rep.Markdown(); !strings.Contains(md, "downtime at least 18") || strings.Contains(md, "to the last service back") {
		t.Errorf("report:\n%s", md)
	}
}
