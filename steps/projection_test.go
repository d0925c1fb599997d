package steps

import (
	"encoding/json"
	"os"
	"path/filepath"
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
	est := projectDowntime(vm, "", replication.VMState{}, cutoverHistory{}, 0, 0)
	if got := est.Short(); !strings.Contains(got, "all defaults") ||
		!strings.Contains(got, "; a test migration (ferry run --test-migrate=WebApp2) measures shutdown, create VM at provider, import into vCD, connect networks, power on, probes green") {
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
	est = projectDowntime(vm, "", vs, h, 0, 0)
	if def := est.Defaults(); len(def) != 0 || strings.Contains(est.Short(), "test migration") {
		t.Errorf("defaults %v with every phase recorded: %s", def, est.Short())
	}
	var final EstimatePart
	for _, p := range est.Parts {
		if p.Phase == "final pass" {
			final = p
		}
	}
	// (4 s pass + 2 s shutdown) x 1 MiB/s = 6 MiB at the recorded final
	// passes' 8 MiB/s: 0.75 s.
	if final.Seconds < 0.74 || final.Seconds > 0.76 || !strings.Contains(final.From, "at the throughput of the one recorded pass (a final pass of WebApp1: 8.0 MiB in 1.0s)") {
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

// TestProjectDowntimeNoChangeSeen: when the last incremental pass found
// nothing changed, the final pass's projection says so and what it rests
// on, not "0 B changed at 0 B/s" as if a rate had been measured; when it
// cannot be told whether a pass found nothing or none ran (a record from
// before LastIncremental), the change rate is unknown (a default); a
// change rate under 1 B/s does not read as 0 B/s either.
func TestProjectDowntimeNoChangeSeen(t *testing.T) {
	vm := VMPlan{Name: "WebApp2", RPO: replication.RPO(replication.MinRPO)}
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
	zeroRate := func(text string) bool {
		return strings.Contains(text, " 0 B/s") || strings.Contains(text, " 0 B changed")
	}

	// As stores record it before LastIncremental: a pass after the initial
	// sync, nothing planned, nothing sent.
	est := projectDowntime(vm, "", replication.VMState{LastPass: t0, LastInterval: time.Minute, LastDuration: time.Second}, cutoverHistory{}, 0, 0)
	if p := final(est); zeroRate(est.Text()) || !p.Default || !strings.Contains(p.From, "change rate unknown") {
		t.Errorf("no change recorded, old record: final pass %+v\n%s", p, est.Text())
	}

	vs := replication.VMState{LastPass: t0, LastIncremental: t0, LastInterval: time.Minute, LastDuration: time.Second}
	est = projectDowntime(vm, "", vs, cutoverHistory{}, 0, 0)
	p := final(est)
	if zeroRate(est.Text()) || p.Default || p.Seconds != 0 ||
		!strings.Contains(p.From, "no change seen by the last incremental pass ("+t0.Local().Format("2006-01-02 15:04:05")+", nothing written in the 1m0s before it)") ||
		!strings.Contains(p.From, "only what the guest writes from now to its shutdown") {
		t.Errorf("no change seen: final pass %+v\n%s", p, est.Text())
	}
	if c := est.Compact(); !strings.Contains(c, "final pass 0.0s (no change in the last pass)") {
		t.Errorf("compact: %s", c)
	}

	vs.LastPlanned, vs.LastRate = 30, 1<<20 // 30 B in a minute: 15 B over the 1 s pass and the 30 s shutdown
	est = projectDowntime(vm, "", vs, cutoverHistory{}, 0, 0)
	if p := final(est); zeroRate(est.Text()) || !strings.Contains(p.From, "15 B changed at under 1 B/s over the last pass interval") {
		t.Errorf("a change rate under 1 B/s: final pass %+v\n%s", p, est.Text())
	}
}

// TestProjectDowntimeFromTestMigration: before any cutover, the phases a
// test migration measured (its copy's guest shutdown; create, import,
// connect, power on and boot at the provider) stand for the cutover's,
// saying so. A test report from before copies were shut down leaves the
// shutdown a default, and the projection says a test would measure it. A
// cutover's own record wins.
func TestProjectDowntimeFromTestMigration(t *testing.T) {
	vm := VMPlan{Name: "WebApp2", RPO: replication.RPO(replication.MinRPO)}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	phase := func(name string, secs float64) PhaseRecord {
		return PhaseRecord{Name: name, Start: t0, End: t0.Add(time.Duration(secs * float64(time.Second)))}
	}
	test := CutoverReport{Kind: ReportTest, VMs: []VMReport{{VM: "WebApp2", Phases: []PhaseRecord{
		phase("freeze replicas", 0.1), phase("create copy at provider", 0.3), phase("import into vCD", 0.2),
		phase("connect to isolated network", 0.1), phase("power on", 0.1), phase("boot", 0.4), phase("shut down copy", 0.6),
	}}}}
	est := projectDowntime(vm, "", replication.VMState{}, cutoverHistory{tests: []CutoverReport{test}}, 0, 0)
	got := map[string]EstimatePart{}
	for _, p := range est.Parts {
		got[p.Phase] = p
	}
	for name, secs := range map[string]float64{"shutdown": 0.6, "create VM at provider": 0.3, "import into vCD": 0.2, "connect networks": 0.1, "power on": 0.1, "probes green": 0.4} {
		p := got[name]
		if p.Default || p.Seconds != secs || !strings.Contains(p.From, "test migrations of WebApp2") {
			t.Errorf("%s: %+v; want %.1f s from the test migration", name, p, secs)
		}
	}
	if !strings.Contains(got["probes green"].From, "VMware Tools") {
		t.Errorf("probes green does not say the test migration measured VMware Tools, not the probes: %q", got["probes green"].From)
	}
	if !strings.Contains(got["shutdown"].From, "guest OS shutdown of the copy") {
		t.Errorf("shutdown does not say it is the copy's guest shutdown: %q", got["shutdown"].From)
	}
	if short := est.Short(); strings.Contains(short, "a test migration") {
		t.Errorf("after a test migration the projection still suggests one: %s", short)
	}
	// A test report without the copy's shutdown (an older ferry's).
	old := CutoverReport{Kind: ReportTest, VMs: []VMReport{{VM: "WebApp2", Phases: test.VMs[0].Phases[:6]}}}
	est = projectDowntime(vm, "", replication.VMState{}, cutoverHistory{tests: []CutoverReport{old}}, 0, 0)
	if p := est.Parts[0]; p.Phase != "shutdown" || !p.Default || !strings.HasSuffix(est.Short(), "a test migration (ferry run --test-migrate=WebApp2) measures shutdown") {
		t.Errorf("from a test report without the shutdown: %+v; %s", p, est.Short())
	}
	// Another VM's test migration stands for this one's too, saying whose.
	est = projectDowntime(VMPlan{Name: "WebApp1"}, "", replication.VMState{}, cutoverHistory{tests: []CutoverReport{test}}, 0, 0)
	if p := est.Parts[3]; p.Phase != "create VM at provider" || p.Default || !strings.Contains(p.From, "test migrations of this plan's VMs") {
		t.Errorf("WebApp1 from WebApp2's test migration: %+v", p)
	}
	// A cutover's record wins over a test migration's.
	cut := CutoverReport{VMs: []VMReport{{VM: "WebApp1", Phases: []PhaseRecord{phase("create VM at provider", 2)}}}}
	est = projectDowntime(vm, "", replication.VMState{}, cutoverHistory{reports: []CutoverReport{cut}, tests: []CutoverReport{test}}, 0, 0)
	if p := est.Parts[3]; p.Seconds != 2 || !strings.Contains(p.From, "earlier cutovers") {
		t.Errorf("with a cutover recorded: %+v", p)
	}
}

// TestProjectionNamesUnreadableReports (QA: a truncated report silently
// turned the projection's recorded shutdown into the 30 s default): a
// downtime report beside the state that cannot be read is named in the
// projection's text, with why, and the readable ones still count.
func TestProjectionNamesUnreadableReports(t *testing.T) {
	dir := t.TempDir()
	env := NewEnv(nil, &PlanFile{VMs: []VMPlan{{Name: "WebApp2"}}}, NewState(filepath.Join(dir, "plan.state.json")))
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	good := CutoverReport{Started: t0, VMs: []VMReport{{VM: "WebApp2", Phases: []PhaseRecord{{Name: "shutdown", Start: t0, End: t0.Add(4 * time.Second)}}}}}
	b, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cutover-20261201-120000.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cutover-20261201-130000.json"), b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	est := projectDowntime(VMPlan{Name: "WebApp2", RPO: replication.RPO(replication.MinRPO)}, "", replication.VMState{}, env.cutoverHistory(), 0, 0)
	text := est.Text()
	if !strings.Contains(text, "Not counted: 1 downtime report(s) that cannot be read (cutover-20261201-130000.json: unexpected end of JSON input)") {
		t.Errorf("the projection does not name the unreadable report: %s", text)
	}
	if !strings.Contains(text, "shutdown 4.0s (median of 1 in earlier cutovers of WebApp2)") {
		t.Errorf("the readable report no longer counts: %s", text)
	}
}

// TestProjectionCountsThisPlansReportsOnly (QA: a test migration another
// plan had saved in the same directory, of another lab's WebApp2, stood
// for "test migrations of WebApp2" in a new plan's projection): reports
// of another plan's runs beside the state are not this plan's history;
// two reports started in the same second are both kept, neither written
// over.
func TestProjectionCountsThisPlansReportsOnly(t *testing.T) {
	dir := t.TempDir()
	st := NewState(filepath.Join(dir, "wave2.state.json"))
	if err := st.BindPlan(filepath.Join(dir, "wave2.yaml")); err != nil {
		t.Fatal(err)
	}
	env := NewEnv(nil, &PlanFile{VMs: []VMPlan{{Name: "WebApp2"}}}, st)
	vm := VMPlan{Name: "WebApp2", RPO: replication.RPO(replication.MinRPO)}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	test := func(plan string, secs float64) *CutoverReport {
		return &CutoverReport{Kind: ReportTest, Plan: plan, Started: t0, VMs: []VMReport{{VM: "WebApp2", Phases: []PhaseRecord{
			{Name: "create copy at provider", Start: t0, End: t0.Add(time.Duration(secs * float64(time.Second)))}}}}}
	}
	create := func() EstimatePart {
		t.Helper()
		for _, p := range projectDowntime(vm, "", replication.VMState{}, env.cutoverHistory(), 0, 0).Parts {
			if p.Phase == "create VM at provider" {
				return p
			}
		}
		t.Fatal("no create VM at provider in the projection")
		return EstimatePart{}
	}
	_, other, err := test(filepath.Join(dir, "lab.yaml"), 9).Save(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p := create(); !p.Default || strings.Contains(p.From, "test migrations") {
		t.Errorf("another plan's test migration counts for this plan's projection: %+v", p)
	}
	_, mine, err := test(st.BoundPlan(), 0.3).Save(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mine == other {
		t.Fatalf("two reports started in the same second saved as one file %s", mine)
	}
	if p := create(); p.Default || p.Seconds != 0.3 || !strings.Contains(p.From, "median of 1 \"create copy at provider\" in test migrations of WebApp2") {
		t.Errorf("this plan's test migration: %+v; want 0.3 s from it alone", p)
	}
	b, err := os.ReadFile(other)
	if err != nil || !strings.Contains(string(b), "lab.yaml") {
		t.Errorf("the other plan's report %s was written over: %v\n%s", other, err, b)
	}
}
