package steps

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestProjectDowntime: with nothing recorded every phase is a default and
// the estimate says so; with a replication record and an earlier cutover's
// report, the phases come from them (the final pass from the change rate
// and the measured throughput), and only what is still unrecorded is a
// default.
func TestProjectDowntime(t *testing.T) {
	vm := VMPlan{Name: "WebApp2", RPO: replication.RPO(replication.MinRPO)}
	est := projectDowntime(vm, replication.VMState{}, cutoverHistory{})
	if got := est.Short(); !strings.Contains(got, "all defaults") {
		t.Errorf("nothing recorded: %q", got)
	}
	if len(est.Defaults()) != len(est.Parts) {
		t.Errorf("defaults %v of %d parts", est.Defaults(), len(est.Parts))
	}

	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	phase := func(name string, secs float64) PhaseRecord {
		return PhaseRecord{Name: name, Start: t0, End: t0.Add(time.Duration(secs * float64(time.Second)))}
	}
	h := cutoverHistory{reports: []CutoverReport{{VMs: []VMReport{{
		VM:        "WebApp1",
		FinalPass: &replication.Counters{Planned: 8 << 20},
		Phases: []PhaseRecord{phase("shutdown", 2), phase("final pass", 1), phase("verify", 0.5), phase("create VM at provider", 0.3),
			phase("import into vCD", 0.2), phase("connect networks", 0.1), phase("power on", 0.1), phase("probes green", 0.4)},
	}}}}}
	// 60 MiB changed in the last minute (1 MiB/s); the last pass took 4 s.
	vs := replication.VMState{LastPass: t0, LastPlanned: 60 << 20, LastInterval: time.Minute, LastDuration: 4 * time.Second, LastRate: 20 << 20}
	est = projectDowntime(vm, vs, h)
	if def := est.Defaults(); len(def) != 0 {
		t.Errorf("defaults %v with every phase recorded", def)
	}
	var final EstimatePart
	for _, p := range est.Parts {
		if p.Phase == "final pass" {
			final = p
		}
	}
	// (4 s pass + 2 s shutdown) x 1 MiB/s = 6 MiB at the recorded final
	// passes' 8 MiB/s: 0.75 s.
	if final.Seconds < 0.74 || final.Seconds > 0.76 || !strings.Contains(final.From, "1 recorded final pass") {
		t.Errorf("final pass %+v, want 0.75 s from the recorded throughput", final)
	}
	if want := 2 + 0.75 + 0.5 + 0.3 + 0.2 + 0.1 + 0.1 + 0.4; est.TotalSeconds < want-0.01 || est.TotalSeconds > want+0.01 {
		t.Errorf("total %.2f s, want %.2f\n%s", est.TotalSeconds, want, est.Text())
	}
	if !strings.Contains(est.Text(), "median of 1 in earlier cutovers of this plan's VMs") {
		t.Errorf("text does not say where the figures come from: %s", est.Text())
	}
}

func TestWaveProjection(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		each     []time.Duration
		parallel int
		want     time.Duration
	}{
		{[]time.Duration{3 * s, 2 * s, 1 * s}, 4, 3 * s},
		{[]time.Duration{3 * s, 2 * s, 1 * s}, 1, 6 * s},
		{[]time.Duration{3 * s, 2 * s, 2 * s, 1 * s}, 2, 4 * s},
		{nil, 4, 0},
	} {
		if got := waveProjection(tc.each, tc.parallel); got != tc.want {
			t.Errorf("waveProjection(%v, %d) = %s, want %s", tc.each, tc.parallel, got, tc.want)
		}
	}
}
