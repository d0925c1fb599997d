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
	est := projectDowntime(vm, "", legacy, cutoverHistory{}, 0, 0)
	p := final(est)
	if p.Seconds > 5 || !strings.Contains(p.From, "over one RPO (the interval before the last incremental pass is not recorded") {
		t.Errorf("older record after a rolled-back cutover: final pass %s: %s\n%s", roundSecs(p.Seconds), p.From, est.Text())
	}
	rec := legacy
	rec.IncrementalInterval, rec.IncrementalDuration = 2*time.Minute, 300*time.Millisecond
	est = projectDowntime(vm, "", rec, cutoverHistory{}, 0, 0)
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
		est := projectDowntime(vm, "", vs, h, 0, 0)
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
	est := projectDowntime(vm, "", small, h, 0, 0)
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
	est = projectDowntime(vm, "", fast, slowFinal, 0, 0)
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

// TestProjectionSmallPassesAndTheInitialSync (CI, a wave test: passes of
// 2.1, 1.2 and 2.2 s copying 448 KiB each, mostly their fixed cost, none
// twice as long as the shortest, projected the final pass at the fastest
// one's throughput, ~400 KiB/s, fixed cost included: near a minute for a
// VM whose passes take 2 s): the initial sync measures the throughput,
// the small passes the fixed cost, and the part says so. A bandwidth cap
// (bandwidth_mbit) below what the passes measured is the throughput, and
// the part says that too.
func TestProjectionSmallPassesAndTheInitialSync(t *testing.T) {
	vm := VMPlan{Name: "WebApp2", RPO: replication.RPO(time.Minute)}
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	phase := func(name string, secs float64) PhaseRecord {
		return PhaseRecord{Name: name, Start: t0, End: t0.Add(time.Duration(secs * float64(time.Second)))}
	}
	// Two earlier cutovers' final passes of the wave, rolled back.
	var reports []CutoverReport
	for _, f := range []struct {
		vm   string
		secs float64
	}{{"WebApp1", 2.1}, {"WebApp3", 1.2}} {
		reports = append(reports, CutoverReport{VMs: []VMReport{{VM: f.vm, RolledBack: true, FinalPass: &replication.Counters{Planned: 448 << 10},
			Phases: []PhaseRecord{phase("final pass", f.secs)}}}})
	}
	h := cutoverHistory{reports: reports}
	var vs replication.VMState
	// The initial sync: 96 MiB planned, 32 MiB of them zero (not sent),
	// in 3 s; later, passes back to back (a wave's), the last one of
	// 448 KiB in 2.2 s, 2.5 s after the one before it.
	vs.NotePass(t0, t0, 3*time.Second, replication.PassInitial, replication.Counters{Planned: 96 << 20, ZeroSkipped: 32 << 20}, false)
	t1 := t0.Add(time.Minute)
	vs.NotePass(t1, t1, 2100*time.Millisecond, replication.PassIncremental, replication.Counters{Planned: 448 << 10}, false)
	t2 := t1.Add(2500 * time.Millisecond)
	vs.NotePass(t2, t2, 2200*time.Millisecond, replication.PassIncremental, replication.Counters{Planned: 448 << 10}, false)
	final := func(est *DowntimeEstimate) EstimatePart {
		p, ok := est.FinalPass()
		if !ok {
			t.Fatalf("no final pass in %+v", est)
		}
		return p
	}

	est := projectDowntime(vm, "", vs, h, 0, 0)
	p := final(est)
	// 448 KiB in 2.5 s, over the 2.2 s pass and the default 30 s shutdown.
	bytes := float64(448<<10) / 2.5 * (2.2 + 30)
	rate := float64(64<<20) / (3 - 1.2)
	want := 1.2 + bytes/rate
	if atSmall := bytes / (float64(448<<10) / 1.2); p.Default || p.Seconds < want-0.01 || p.Seconds > want+0.01 || p.Seconds > atSmall/4 {
		t.Errorf("final pass projected %.2f s, want %.2f s (the small passes' 1.2 s fixed cost plus the bytes at the initial sync's throughput), not about %.0f s (the bytes at the small passes' throughput)\n%s",
			p.Seconds, want, atSmall, est.Text())
	}
	sync := "the initial sync (" + t0.Local().Format("2006-01-02 15:04") + "): 64 MiB of data in 3.0s"
	if !strings.Contains(p.From, "at 36 MiB/s (measured on "+sync+", less the fixed cost) plus a fixed cost of 1.2s per pass (the shortest of 4 recorded passes, a final pass of WebApp3: 448 KiB in 1.2s)") ||
		strings.Contains(p.From, "capped") {
		t.Errorf("the final pass does not say what it comes from: %s", p.From)
	}

	// 8 Mbit/s: 1 MB/s of wire bytes, far below what the initial sync did.
	est = projectDowntime(vm, "", vs, h, 0, 8)
	p = final(est)
	if want := 1.2 + bytes/1e6; p.Default || p.Seconds < want-0.01 || p.Seconds > want+0.01 ||
		!strings.Contains(p.From, "at 36 MiB/s (measured on "+sync+", less the fixed cost) plus a fixed cost of 1.2s per pass") ||
		!strings.Contains(p.From, "; capped at 977 KiB/s, the plan's bandwidth_mbit (8 Mbit/s of wire bytes, all VMs together)") {
		t.Errorf("capped at 8 Mbit/s: final pass %.2f s, want %.2f s, saying so: %s", p.Seconds, want, p.From)
	}
	// No throughput measured: the cap rather than the default 50 MiB/s.
	none := replication.VMState{LastPass: t0, LastIncremental: t0, LastPlanned: 448 << 10, IncrementalInterval: 2500 * time.Millisecond}
	p = final(projectDowntime(vm, "", none, cutoverHistory{}, 0, 8))
	if !p.Default || !strings.Contains(p.From, "at 977 KiB/s, the plan's bandwidth_mbit (8 Mbit/s of wire bytes, all VMs together; no throughput measured)") {
		t.Errorf("capped, none measured: %+v", p)
	}
}

// TestWaveSharesTheBandwidthCap: each VM's estimate projects its final
// pass at the whole bandwidth_mbit, but a wave's final passes run
// cutover.parallel at a time and share it: three VMs whose final passes
// each copy ~4 MB at 8 Mbit/s (1 MB/s) are projected a wave of about 12 s
// of final passes, not 4 s, and the projection says why. Cut over one at
// a time (cutover.parallel 1), nothing is shared; with no cap, nothing
// either.
func TestWaveSharesTheBandwidthCap(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	var vs replication.VMState
	// The initial sync: 64 MiB in 1 s; then passes of 4 MB each 10 s
	// apart, in 1 s (fixed cost included).
	vs.NotePass(t0, t0, time.Second, replication.PassInitial, replication.Counters{Planned: 64 << 20}, false)
	for i := 1; i <= 2; i++ {
		ti := t0.Add(time.Duration(i) * 10 * time.Second)
		vs.NotePass(ti, ti, time.Second, replication.PassIncremental, replication.Counters{Planned: 4e6}, false)
	}
	wave := func(mbit, parallel int) (WaveProjection, []*DowntimeEstimate) {
		env := NewEnv(nil, &PlanFile{MigrationPlan: MigrationPlan{BandwidthMbit: mbit, Cutover: CutoverPlan{Parallel: &parallel}}}, NewState(""))
		var ests []*DowntimeEstimate
		for _, name := range []string{"WebApp1", "WebApp2", "WebApp3"} {
			ests = append(ests, projectDowntime(VMPlan{Name: name, RPO: replication.RPO(time.Minute)}, "", vs, cutoverHistory{}, 0, mbit))
		}
		return env.ProjectWave(ests), ests
	}
	finalSecs := func(est *DowntimeEstimate) float64 {
		p, _ := est.FinalPass()
		return p.Seconds
	}

	w, ests := wave(8, 4)
	one := finalSecs(ests[0])
	// Written over the 1 s pass and the default 30 s shutdown: 12.4 MB,
	// 12.4 s alone at 1 MB/s, 37.2 s at a third of it.
	bytes := 4e6 / 10 * (1 + 30)
	if one < bytes/1e6 || one > bytes/1e6+1.1 {
		t.Fatalf("one VM's final pass %.1f s, want about %.1f s at the whole cap: %+v", one, bytes/1e6, ests[0].Parts)
	}
	alone := ests[0].Total
	extra := time.Duration((bytes/(1e6/3) - bytes/1e6) * float64(time.Second))
	if got := w.Downtime; got < alone+extra-time.Second || got > alone+extra+time.Second {
		t.Errorf("a wave of 3 sharing 8 Mbit/s projected ~%s, want ~%s (one VM alone ~%s)", got, alone+extra, alone)
	}
	if w.Shared != "the final passes share bandwidth_mbit, 3 at a time: 326 KiB/s each" {
		t.Errorf("the wave does not say why it is longer: %q", w.Shared)
	}

	if w, _ := wave(8, 1); w.Shared != "" || w.Downtime < 3*alone-time.Second || w.Downtime > 3*alone+time.Second {
		t.Errorf("one at a time: ~%s (%q), want ~%s, nothing shared", w.Downtime, w.Shared, 3*alone)
	}
	if w, ests := wave(0, 4); w.Shared != "" || w.Downtime != ests[0].Total {
		t.Errorf("no cap: ~%s (%q), want one VM's ~%s", w.Downtime, w.Shared, ests[0].Total)
	}
}
