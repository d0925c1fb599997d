package steps

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestProjectionFinalPassAfterRolledBackCutover: the record a rolled-back
// cutover leaves (its final pass the last pass, under a second after the
// pre-cutover pass that planned 4.3 MiB) projects the final pass from the
// incremental pass's own interval, or, in an older ferry's record that
// kept no such interval, from one RPO, saying so: not 4.3 MiB over the
// shutdown's 0.8 s (QA: "downtime ~7m28s ... final pass 3m2s").
func TestProjectionFinalPassAfterRolledBackCutover(t *testing.T) {
	vm := VMPlan{Name: "WebApp2", RPO: replication.RPO(time.Minute)}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	final := func(est *DowntimeEstimate) EstimatePart {
		for _, p := range est.Parts {
			if p.Phase == "final pass" {
				return p
			}
		}
		t.Fatalf("no final pass in %+v", est)
		return EstimatePart{}
	}
	legacy := replication.VMState{LastPass: t0.Add(800 * time.Millisecond), LastInterval: 800 * time.Millisecond, LastDuration: 137 * time.Millisecond,
		LastIncremental: t0, LastPlanned: 43 << 17, LastRate: 1.4 * (1 << 20)}
	est := projectDowntime(vm, legacy, cutoverHistory{})
	p := final(est)
	if p.Seconds > 5 || !strings.Contains(p.From, "over one RPO (the interval before the last incremental pass is not recorded") {
		t.Errorf("older record after a rolled-back cutover: final pass %s: %s\n%s", roundSecs(p.Seconds), p.From, est.Text())
	}
	rec := legacy
	rec.IncrementalInterval, rec.IncrementalDuration = 2*time.Minute, 300*time.Millisecond
	est = projectDowntime(vm, rec, cutoverHistory{})
	p = final(est)
	if p.Seconds > 5 || !strings.Contains(p.From, "over the interval before the last incremental pass (") {
		t.Errorf("record after a rolled-back cutover: final pass %s: %s\n%s", roundSecs(p.Seconds), p.From, est.Text())
	}
}
