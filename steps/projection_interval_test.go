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
	est := projectDowntime(vm, legacy, cutoverHistory{}, 0)
	p := final(est)
	if p.Seconds > 5 || !strings.Contains(p.From, "over one RPO (the interval before the last incremental pass is not recorded") {
		t.Errorf("older record after a rolled-back cutover: final pass %s: %s\n%s", roundSecs(p.Seconds), p.From, est.Text())
	}
	rec := legacy
	rec.IncrementalInterval, rec.IncrementalDuration = 2*time.Minute, 300*time.Millisecond
	est = projectDowntime(vm, rec, cutoverHistory{}, 0)
	p = final(est)
	if p.Seconds > 5 || !strings.Contains(p.From, "over the interval before the last incremental pass (") {
		t.Errorf("record after a rolled-back cutover: final pass %s: %s\n%s", roundSecs(p.Seconds), p.From, est.Text())
	}
}

// TestProjectionFinalPassFixedCost: after a rolled-back cutover, whose
// tiny final pass (193 KiB in 137 ms) is mostly a pass's fixed cost
// (snapshot, changed-block query, commit, snapshot removal), the next
// final pass is projected as that fixed cost plus its bytes at the
// throughput the larger last incremental pass measured, not as its bytes
// over the tiny pass's 1.4 MB/s (QA: 7 s projected where 0.5 s is real).
// A final pass that copied nothing is a fixed cost as well.
func TestProjectionFinalPassFixedCost(t *testing.T) {
	vm := VMPlan{Name: "WebApp2", RPO: replication.RPO(time.Minute)}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	const (
		tiny      = 193 << 10
		tinySecs  = 0.137
		incBytes  = 40 << 20
		incSecs   = 1.0
		shutdown  = 20.0
		interval  = 2 * time.Minute
		finalTime = 137 * time.Millisecond
	)
	phase := func(name string, secs float64) PhaseRecord {
		return PhaseRecord{Name: name, Start: t0, End: t0.Add(time.Duration(secs * float64(time.Second)))}
	}
	// The record the rolled-back cutover left: its pre-cutover pass the
	// last incremental one, its final pass the last pass (and the last
	// throughput, the tiny pass's).
	vs := replication.VMState{LastIncremental: t0, LastPlanned: incBytes, IncrementalInterval: interval, IncrementalDuration: time.Second,
		LastPass: t0.Add(21 * time.Second), LastInterval: 21 * time.Second, LastDuration: finalTime, LastFinal: true, LastRate: tiny / tinySecs}
	bytes := float64(incBytes) / interval.Seconds() * (incSecs + shutdown)
	want := tinySecs + bytes/(incBytes/(incSecs-tinySecs))
	for _, planned := range []int64{tiny, 0} {
		h := cutoverHistory{reports: []CutoverReport{{VMs: []VMReport{{
			VM: "WebApp2", RolledBack: true, FinalPass: &replication.Counters{Planned: planned},
			Phases: []PhaseRecord{phase("shutdown", shutdown), phase("final pass", tinySecs), phase("verify", 0.05),
				{Name: "create VM at provider", Start: t0, End: t0.Add(time.Second), Error: "no room at the provider"}},
		}}}}}
		est := projectDowntime(vm, vs, h, 0)
		var p EstimatePart
		for _, q := range est.Parts {
			if q.Phase == "final pass" {
				p = q
			}
		}
		if naive := bytes / (tiny / tinySecs); p.Seconds < want-0.01 || p.Seconds > want+0.01 || p.Seconds > naive/4 {
			t.Errorf("final pass of %d B recorded: projected %.3f s, want %.3f s (fixed cost + bytes at the measured throughput), not about %.1f s (bytes over the tiny pass's throughput)\n%s",
				planned, p.Seconds, want, naive, est.Text())
		}
		if p.Default || !strings.Contains(p.From, "plus a fixed cost of 0.1s per pass (the shortest of 2 recorded passes, a final pass of WebApp2: "+Bytes(planned)+" in 0.1s)") ||
			!strings.Contains(p.From, "(measured on the last incremental pass: 40 MiB in 1.0s, less the fixed cost)") {
			t.Errorf("final pass of %d B recorded: the estimate does not say where it comes from: %s", planned, p.From)
		}
	}

	// Passes that took about as long whatever they copied tell no fixed
	// cost apart: the fastest one's throughput, whole, saying so.
	small := vs
	small.IncrementalDuration = 200 * time.Millisecond
	h := cutoverHistory{reports: []CutoverReport{{VMs: []VMReport{{VM: "WebApp2", FinalPass: &replication.Counters{Planned: tiny},
		Phases: []PhaseRecord{phase("shutdown", shutdown), phase("final pass", tinySecs)}}}}}}
	est := projectDowntime(vm, small, h, 0)
	for _, p := range est.Parts {
		if p.Phase != "final pass" {
			continue
		}
		if w := float64(incBytes) / interval.Seconds() * (0.2 + shutdown) / (incBytes / 0.2); p.Seconds < w-0.001 || p.Seconds > w+0.001 ||
			!strings.Contains(p.From, "at the throughput of the fastest of 2 recorded passes (the last incremental pass: 40 MiB in 0.2s), its fixed cost included") {
			t.Errorf("no fixed cost told apart: final pass %.3f s, want %.3f s: %s", p.Seconds, w, p.From)
		}
	}

	// A final pass (the source off) can cost more than an incremental
	// pass: a small final pass slower than a larger incremental one
	// measures no throughput of its own beyond its fixed cost. The
	// throughput is at least what the fastest pass did whole.
	slowFinal := cutoverHistory{reports: []CutoverReport{{VMs: []VMReport{{VM: "WebApp2", FinalPass: &replication.Counters{Planned: 320 << 10},
		Phases: []PhaseRecord{phase("shutdown", shutdown), phase("final pass", 0.23)}}}}}}
	fast := vs
	fast.IncrementalDuration = 100 * time.Millisecond
	est = projectDowntime(vm, fast, slowFinal, 0)
	for _, p := range est.Parts {
		if p.Phase != "final pass" {
			continue
		}
		if w := 0.1 + float64(incBytes)/interval.Seconds()*(0.1+shutdown)/(incBytes/0.1); p.Seconds < w-0.001 || p.Seconds > w+0.001 ||
			!strings.Contains(p.From, "(as the last incremental pass: 40 MiB in 0.1s, fixed cost included, which was faster than measured on a final pass of WebApp2: 320 KiB in 0.2s, less the fixed cost) plus a fixed cost of 0.1s per pass") {
			t.Errorf("a slow small final pass: final pass %.3f s, want %.3f s: %s", p.Seconds, w, p.From)
		}
	}
}
