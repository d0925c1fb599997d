package steps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
	if md := rep.Markdown(); !strings.Contains(md, "downtime at least 3m0s") || strings.Contains(md, "to the last service back") {
		t.Errorf("report:\n%s", md)
	}
}

// TestReportSaysWhatCameOfTheWave (QA): a wave interrupted before power-on,
// both VMs rolled back, was reported "Wave of 2 VMs cut over in parallel";
// a VM left powered off read "0.4s" in the table where its section said
// "at least 0.4s (still down)"; a test migration stopped by a signal read
// "did not boot".
func TestReportSaysWhatCameOfTheWave(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 16, 20, 0, 0, time.UTC)
	rolledBack := func(name string) VMReport {
		return VMReport{VM: name, Started: t0, SourceOff: t0.Add(time.Second), SourceBackOn: t0.Add(2 * time.Second),
			Finished: t0.Add(3 * time.Second), Outcome: "rolled back", Error: "hangup signal received", RolledBack: true}
	}
	rep := &CutoverReport{Started: t0, Parallel: 4, VMs: []VMReport{rolledBack("Archive1"), rolledBack("LinuxDB1")}}
	rep.finishWave()
	if md := rep.Markdown(); !strings.Contains(md, "Wave of 2 VMs confirmed together (at most 4 at a time): 2 rolled back;") || strings.Contains(md, "cut over in parallel") {
		t.Errorf("report of a wave rolled back:\n%s", md)
	}
	// A warm VM whose cutover stopped before its shutdown kept running: it
	// is not reported "rolled back" beside those that were down.
	early := VMReport{VM: "WebApp3", Started: t0, RolledBack: true}
	early.finish(errors.New("WebApp3: pre-cutover pass: context canceled (stopped before the shutdown: WebApp3 kept running on-prem, its replica disks are kept and replication goes on)"))
	if early.Outcome != "stopped before the shutdown" {
		t.Errorf("a VM stopped before its shutdown: outcome %q", early.Outcome)
	}
	// A wave stopped before any VM went down (QA: "downtime - from the
	// first shutdown (-)").
	stopped := func(name string) VMReport {
		return VMReport{VM: name, Started: t0, Finished: t0.Add(time.Second), Outcome: "not started", Error: "stopped while waiting to prepare"}
	}
	rep = &CutoverReport{Started: t0, Parallel: 1, VMs: []VMReport{stopped("WebApp1"), stopped("WebApp2")}}
	rep.finishWave()
	if md := rep.Markdown(); !strings.Contains(md, "Wave of 2 VMs confirmed together (at most 1 at a time): 2 not started; no VM was shut down; not projected.") ||
		strings.Contains(md, "(-)") {
		t.Errorf("report of a wave stopped before any shutdown:\n%s", md)
	}
	if f := rep.WaveFigures(); !strings.Contains(f, "no VM was shut down") || strings.Contains(f, "downtime") {
		t.Errorf("wave figures of a wave stopped before any shutdown: %q", f)
	}
	off := VMReport{VM: "WebApp2", Started: t0, SourceOff: t0.Add(time.Second), TargetOn: t0.Add(2 * time.Second),
		Outages: []probe.Outage{{Target: "tcp WebApp2", Start: t0.Add(time.Second)}}}
	off.finish(nil)
	rep = &CutoverReport{Started: t0, VMs: []VMReport{off}}
	if md := rep.Markdown(); !strings.Contains(md, "| WebApp2 | migrated | at least ") {
		t.Errorf("report of a VM still down at the end:\n%s", md)
	}
	test := VMReport{VM: "WebApp2", Probes: []TestProbe{{Name: "WebApp2 (tcp)", Detail: "not run: WebApp2 has no running copy in the isolated network"}}}
	test.finishTest(fmt.Errorf("WebApp2: boot: %w", context.Canceled))
	if test.Outcome != "interrupted" {
		t.Errorf("test migration stopped by a signal: outcome %q, want interrupted", test.Outcome)
	}
	rep = &CutoverReport{Kind: ReportTest, Started: t0, VMs: []VMReport{test}}
	if md := rep.Markdown(); !strings.Contains(md, "- WebApp2 (tcp): not run (WebApp2 has no running copy") {
		t.Errorf("test report of a probe not run (QA: \"not run (not run: ...)\"):\n%s", md)
	}
}

// TestCutoverLeftOffSaysSo (QA: a VM cut over with power_on: false was
// reported `+ create VM "WebApp2": running in vApp WebApp2`): the change
// says the target was left powered off, and the report's table that its
// outage was still open ("at least"). Its plan (ferry plan, a run's plan
// lines) projects no downtime, which would end at a power-on and probes
// that do not happen (QA: "left powered off; projected downtime ~4s:
// ... power on 0.1s + probes green 1.0s"), and says until when it lasts.
func TestCutoverLeftOffSaysSo(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	env.Plan().VMs[0].SetPower(LeaveOff)
	var changes, plans []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Confirmed: true, Emit: func(ev Event) {
		if ev.Step == "cutover" && ev.Kind == EventChange {
			changes = append(changes, ev.Message)
		}
		if ev.Step == "cutover" && ev.Kind == EventPlanItem && strings.Contains(ev.Message, `VM "WebApp2"`) {
			plans = append(plans, ev.Message)
		}
	}}
	defer func() {
		if len(plans) != 1 || strings.Contains(plans[0], "projected") || !strings.Contains(plans[0], "left powered off; down from its shutdown until someone powers it on (power_on: false)") {
			t.Errorf("cutover plan %q: want the VM left off, its downtime open, no projection", plans)
		}
	}()
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || !strings.Contains(changes[0], `+ create VM "WebApp2": left powered off (power_on: false) in vApp WebApp2; measured downtime at least`) {
		t.Errorf("cutover changes %q: want the VM said to be left off, its downtime open", changes)
	}
	// Its report projects nothing either: no window was projected to set
	// the measured one against.
	if md := reportOf(t, env); !regexp.MustCompile(`\| WebApp2 \| [^|]+ \| at least [^|]+ \| - \| - \|`).MatchString(md) || strings.Contains(md, "Projected ~") {
		t.Errorf("report of a VM left off: want no projection:\n%s", md)
	}
}

// TestReportDurationsReadAsTheScreens (QA: the confirmation projected
// "~1m43s", the report "~103.0s"): from a minute on, the report writes
// minutes and seconds.
func TestReportDurationsReadAsTheScreens(t *testing.T) {
	for s, want := range map[float64]string{0: "-", 0.44: "0.4s", 59.9: "59.9s", 103.04: "1m43s", 103.44: "1m43.4s", 3600: "1h0m0s"} {
		if got := secs(s); got != want {
			t.Errorf("secs(%v) = %q, want %q", s, got, want)
		}
	}
	// Projections, approximate, to the second from 10 s on, as ferry plan
	// and the wizard's confirmation write them.
	for s, want := range map[float64]string{1.94: "~1.9s", 19.4: "~19s", 103.4: "~1m43s", 0: "-"} {
		if got := approx(s); got != want {
			t.Errorf("approx(%v) = %q, want %q", s, got, want)
		}
	}
}

// TestRollbackOfAFinishedCutoverRefused (QA: "--confirm-cutover WebApp2
// --rollback" on a finished cutover said "is done: run without
// --rollback", and running without it did nothing): it says a finished
// cutover is not rolled back.
func TestRollbackOfAFinishedCutoverRefused(t *testing.T) {
	pf := &PlanFile{}
	pf.VMs = []VMPlan{{Name: "WebApp2"}}
	env := NewEnv(nil, pf, NewState(filepath.Join(t.TempDir(), "state.json")))
	if err := env.State.SetOutput("cutover", cutoverKey("WebApp2"), cutoverDone); err != nil {
		t.Fatal(err)
	}
	err := env.CheckDecision([]string{"WebApp2"}, CutoverRollback)
	if err == nil || !strings.Contains(err.Error(), "WebApp2 was cut over and runs in Cloud Director: ferry rolls back no finished cutover") {
		t.Errorf("--rollback of a finished cutover: %v", err)
	}
}

// TestConfirmedNameInAnotherCase (QA: "--confirm-cutover webapp3" was
// refused as "not in the plan" without a word of WebApp3).
func TestConfirmedNameInAnotherCase(t *testing.T) {
	pf := &PlanFile{}
	pf.VMs = []VMPlan{{Name: "WebApp3"}}
	if _, err := planVMNames(pf, "--verify", "webapp3"); err == nil || !strings.Contains(err.Error(), "names are case-sensitive: did you mean WebApp3?") {
		t.Errorf("--verify=webapp3: %v", err)
	}
	if _, err := ConfirmedVMs(pf, "webapp3"); err == nil || !strings.Contains(err.Error(), "names are case-sensitive: did you mean WebApp3?") {
		t.Errorf("--confirm-cutover=webapp3: %v", err)
	}
}

// TestEarlierOutageCountedOnce (QA: a decided rollback's report read
// "1.1s (+2.1s: interrupted cutover)" where the service was down 2.1s in
// all: the earlier outage ran on until this run powered the source on and
// it answered, and this run's probes measured that same outage from its
// start). The earlier outage counts up to where the measured outage began;
// one that ended before a later, separate measured outage counts whole.
func TestEarlierOutageCountedOnce(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 18, 52, 32, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	rollback := &VMReport{VM: "WebApp2", Started: at(1), Finished: at(2.2),
		EarlierOutages: []EarlierOutage{{Start: at(0), End: at(2.1), How: "after it shut the source down"}},
		Outages:        []probe.Outage{{Start: at(1), End: at(2.1)}}}
	rollback.finish(nil)
	if got := rollback.earlierText(); got != "+1.0s: interrupted cutover" {
		t.Errorf("the rollback's earlier outage reads %q; want +1.0s (1.0s before the run, 1.1s measured by it, 2.1s in all)", got)
	}
	if got := rollback.downtimeText(); !strings.Contains(got, "before it, 1.0s with the source down") {
		t.Errorf("the rollback's downtime reads %q", got)
	}
	// A retry: the source answered again, then the new cutover's own
	// outage (the longest) is the measured one.
	retry := &VMReport{VM: "WebApp2", Started: at(1), Finished: at(9),
		EarlierOutages: []EarlierOutage{{Start: at(0), End: at(1.5), How: "after it shut the source down"}},
		Outages:        []probe.Outage{{Start: at(1), End: at(1.6)}, {Start: at(5), End: at(8)}}}
	retry.finish(nil)
	if got := retry.earlierText(); got != "+1.5s: interrupted cutover" {
		t.Errorf("the retry's earlier outage reads %q; want it whole, +1.5s", got)
	}
}

// TestWaveSaysWhatInterruptedCutoversLeft (QA): a wave whose VM a retry
// went on with after an interrupted cutover had left it down 6.8s read
// "downtime 4.0s from the first shutdown" and nothing more: the wave's
// figures count this run's windows only, and now say what the interrupted
// cutovers had left before them, in the report and the wizard's line.
func TestWaveSaysWhatInterruptedCutoversLeft(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 16, 22, 45, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	r := &CutoverReport{Started: at(6), Finished: at(12), Parallel: 2, VMs: []VMReport{
		{VM: "WebApp2", Started: at(6), SourceOff: at(6.5), TargetOn: at(8), ServiceBack: at(10.5)},
		{VM: "WebApp3", Started: at(6), SourceOff: at(6.8), TargetOn: at(8), ServiceBack: at(11),
			EarlierOutages: []EarlierOutage{{Start: at(0), End: at(6.8), How: "after it shut the source down"}}},
	}}
	for i := range r.VMs {
		r.VMs[i].finish(nil)
	}
	r.finishWave()
	want := "before it, interrupted cutovers had left services down: WebApp3 6.8s"
	if md := r.Markdown(); !strings.Contains(md, want) {
		t.Errorf("the report's wave lacks %q:\n%s", want, md)
	}
	if got := r.WaveFigures(); !strings.Contains(got, want) {
		t.Errorf("the wave's line %q lacks %q", got, want)
	}
	// Neither VM projected: the wave says so, and why when each went on
	// from an interrupted cutover (QA: "projected -" read as a figure
	// missing).
	if md, w := r.Markdown(), r.WaveFigures(); strings.Contains(md+w, "projected -") || !strings.Contains(w, "· not projected ·") ||
		strings.Contains(md+w, "each VM went on") {
		t.Errorf("a wave with no projection (WebApp2 without an interrupted cutover):\n%s\n%s", w, md)
	}
	r.VMs[0].EarlierOutages = []EarlierOutage{{Start: at(1), End: at(6.5), How: "after it shut the source down"}}
	why := "not projected (each VM went on from an interrupted cutover, whose window began before this run)"
	if md, w := r.Markdown(), r.WaveFigures(); !strings.Contains(md, "; "+why+"; before it") || !strings.Contains(w, "· "+why+" ·") {
		t.Errorf("a wave whose VMs all went on from interrupted cutovers:\n%s\n%s", w, md)
	}
	r.VMs[0].EarlierOutages, r.VMs[1].EarlierOutages = nil, nil
	if md := r.Markdown(); strings.Contains(md, "before it") {
		t.Errorf("a wave with no interrupted cutover says one:\n%s", md)
	}
}

// TestReportCarriesAnEarlierRunsVMOutsideTheWave (QA): a run that confirmed
// one VM, whose report also held a VM a killed run had cut over (carried
// in from the state), read "Wave of 2 VMs confirmed together: 1 rolled
// back, 1 migrated; downtime -". The wave is this run's VMs; the carried
// VM's row says it was an earlier run's.
func TestReportCarriesAnEarlierRunsVMOutsideTheWave(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 19, 2, 0, 0, time.UTC)
	this := VMReport{VM: "WebApp3", Started: t0, SourceOff: t0.Add(time.Second), SourceBackOn: t0.Add(3 * time.Second),
		Finished: t0.Add(4 * time.Second), Outcome: "rolled back", RolledBack: true, Decided: CutoverRollback}
	earlier := VMReport{VM: "WebApp2", Started: t0.Add(-time.Minute), SourceOff: t0.Add(-50 * time.Second), TargetOn: t0.Add(-48 * time.Second),
		Finished: t0.Add(-40 * time.Second), Outcome: "migrated", MeasuredDowntimeSeconds: 2.1, EarlierRun: true,
		Note: "Cut over by an earlier run that stopped before it saved its report; its figures were kept in the state."}
	rep := &CutoverReport{Started: t0, Parallel: 4, VMs: []VMReport{this}}
	rep.finishWave()
	rep.VMs = append(rep.VMs, earlier) // as Cutover.Apply carries it in
	md := rep.Markdown()
	if strings.Contains(md, "Wave of") {
		t.Errorf("a run that confirmed one VM reports a wave:\n%s", md)
	}
	if !strings.Contains(md, "| WebApp2 | migrated (earlier run) | 2.1s |") || !strings.Contains(md, "| WebApp3 | rolled back |") {
		t.Errorf("report table:\n%s", md)
	}
	if w := rep.WaveFigures(); w != "" || !strings.HasPrefix(earlier.Figures(), "migrated (earlier run) · ") {
		t.Errorf("the wizard's lines: wave %q, carried VM %q", w, earlier.Figures())
	}
	two := this
	two.VM = "WebApp1"
	rep = &CutoverReport{Started: t0, Parallel: 4, VMs: []VMReport{this, two}}
	rep.finishWave()
	rep.VMs = append(rep.VMs, earlier)
	if md := rep.Markdown(); !strings.Contains(md, "Wave of 2 VMs confirmed together (at most 4 at a time): 2 rolled back;") {
		t.Errorf("a wave of two beside a carried VM:\n%s", md)
	}
}

// TestRollbackReportSetsNoCutoverProjectionAgainstIt (QA): a rolled-back
// VM's section read "Projected ~4m8s, measured 1.2s", a cutover's
// projection beside a rollback's outage.
func TestRollbackReportSetsNoCutoverProjectionAgainstIt(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 19, 2, 0, 0, time.UTC)
	v := VMReport{VM: "WebApp2", Started: t0, SourceOff: t0.Add(time.Second), SourceBackOn: t0.Add(2200 * time.Millisecond),
		Finished: t0.Add(3 * time.Second), Outcome: "rolled back", RolledBack: true, ServiceWindowSeconds: 1.2,
		ProjectedDowntimeSeconds: 248, Projection: &DowntimeEstimate{VM: "WebApp2", TotalSeconds: 248, Total: 248 * time.Second}}
	md := (&CutoverReport{Started: t0, VMs: []VMReport{v}}).Markdown()
	if strings.Contains(md, "Projected ~4m8s, measured") || !strings.Contains(md, "Projected ~4m8s for the cutover, which was rolled back; the service was down 1.2s") {
		t.Errorf("report of a rolled-back VM:\n%s", md)
	}
}

// TestReportSavedBeforeAKillIsNotWrittenAgain (QA): a run killed right
// after it saved its downtime report, before it recorded so, left the VM's
// section in the state; the next run said the VM was "cut over by a run
// that stopped before it saved its downtime report" and reported it again
// in a second report. A section a saved report holds is not carried again.
func TestReportSavedBeforeAKillIsNotWrittenAgain(t *testing.T) {
	t.Parallel()
	env, r, rep, _ := webApp2CutOver(t)
	// As the killed run left the state: its section kept, not yet cleared.
	if err := env.keepUnreported(rep.VMs[0]); err != nil {
		t.Fatal(err)
	}
	if out := cutWebApp3(t, env, r); strings.Contains(out, "stopped before it saved") {
		t.Errorf("the run after the kill carries the saved section again:\n%s", out)
	}
	if reports, _ := filepath.Glob(filepath.Join(filepath.Dir(env.State.Path()), "cutover-*.md")); len(reports) != 2 {
		t.Errorf("reports %v, want the two runs' (WebApp2's, WebApp3's)", reports)
	}
	if _, ok := env.unreportedCutover("WebApp2"); ok {
		t.Error("the state still keeps WebApp2's section as unreported")
	}
}

// TestDecidedRollbackReportSaysNoCutoverWasAttempted (QA): the report of a
// `--rollback` run read "Projected ~2.5s; this run measured no downtime of
// its own" and called the outage it ended "downtime before this run's
// attempt", for a run that attempted no cutover.
func TestDecidedRollbackReportSaysNoCutoverWasAttempted(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 22, 26, 42, 0, time.UTC)
	v := VMReport{VM: "WebApp3", Started: t0, Finished: t0.Add(3 * time.Second), Outcome: "rolled back as decided", Decided: CutoverRollback,
		RolledBack: true, ProjectedDowntimeSeconds: 2.5, Projection: &DowntimeEstimate{VM: "WebApp3", TotalSeconds: 2.5, Total: 2500 * time.Millisecond},
		EarlierOutages: []EarlierOutage{{Start: t0.Add(456 * time.Millisecond), End: t0.Add(2214 * time.Millisecond), How: "after it shut the source down"}}}
	md := (&CutoverReport{Started: t0, VMs: []VMReport{v}}).Markdown()
	if strings.Contains(md, "this run measured no downtime of its own") || strings.Contains(md, "before this run's attempt") ||
		!strings.Contains(md, "This run attempted no cutover (rolled back as decided); a cutover of WebApp3 is projected at ~2.5s") {
		t.Errorf("report of a decided rollback:\n%s", md)
	}
}

// TestReportKilledBetweenItsFilesIsCompleted: a run killed after it wrote
// its downtime report's JSON and before its Markdown left the operator a
// JSON file only; the next run counts the section reported (the JSON holds
// it) and writes the Markdown from the JSON.
func TestReportKilledBetweenItsFilesIsCompleted(t *testing.T) {
	t.Parallel()
	env, r, rep, md := webApp2CutOver(t)
	want, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	// As the killed run left things: the JSON saved, no Markdown, the
	// section kept in the state.
	if err := os.Remove(md); err != nil {
		t.Fatal(err)
	}
	if err := env.keepUnreported(rep.VMs[0]); err != nil {
		t.Fatal(err)
	}
	if out := cutWebApp3(t, env, r); strings.Contains(out, "stopped before it saved") {
		t.Errorf("the run after the kill carries the section its JSON holds again:\n%s", out)
	}
	got, err := os.ReadFile(md)
	if err != nil {
		t.Fatalf("the killed run's Markdown report was not written from its JSON: %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("the Markdown written from the JSON differs from the one the run wrote:\n%s\nwant:\n%s", got, want)
	}
}

// webApp2CutOver cuts WebApp2 over in a lab of WebApp2 and WebApp3 and
// returns the Env, the runner it used, the run's saved downtime report and
// its Markdown file.
func webApp2CutOver(t *testing.T) (*Env, *Runner, *CutoverReport, string) {
	t.Helper()
	_, env := waveLab(t, "WebApp2", "WebApp3")
	env.CutoverVMs = []string{"WebApp2"}
	r := &Runner{Itinerary: NewItinerary(), Env: env, Confirmed: true, Emit: func(Event) {}}
	if _, err := r.Run(context.Background()); err != nil && !errors.Is(err, ErrWaiting) {
		t.Fatal(err)
	}
	md := env.State.Get("cutover").Outputs["report"]
	rep, _, err := env.LastCutoverReport()
	if err != nil || rep == nil || len(rep.VMs) != 1 || md == "" {
		t.Fatalf("the cutover's report %s: %v %+v", md, err, rep)
	}
	return env, r, rep, md
}

// cutWebApp3 runs r again to cut WebApp3 over (the run after a kill) and
// returns what it said.
func cutWebApp3(t *testing.T, env *Env, r *Runner) string {
	t.Helper()
	var lines []string
	r.Emit = func(ev Event) { lines = append(lines, ev.Message) }
	env.CutoverVMs = []string{"WebApp3"}
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestLongEarlierOutagesInMinutes (QA: the wizard's report line read
// "measured downtime 5.7s (+142.0s: interrupted cutover)" and the wave
// "WebApp2 142.0s", where its other figures write "2m22s").
func TestLongEarlierOutagesInMinutes(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 18, 33, 23, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	r := &CutoverReport{Started: at(142), Finished: at(150), Parallel: 2}
	for _, vm := range []string{"WebApp2", "WebApp3"} {
		r.VMs = append(r.VMs, VMReport{VM: vm, Started: at(142), SourceOff: at(142), TargetOn: at(145), ServiceBack: at(147.7),
			EarlierOutages: []EarlierOutage{{Start: at(0), End: at(142), How: "after it shut the source down"}}})
	}
	for i := range r.VMs {
		r.VMs[i].finish(nil)
	}
	r.finishWave()
	if f := r.VMs[0].Figures(); !strings.Contains(f, "(+2m22s: interrupted cutover)") {
		t.Errorf("the wizard's line: %q", f)
	}
	if w := r.WaveFigures(); !strings.Contains(w, "WebApp2 2m22s and WebApp3 2m22s") {
		t.Errorf("the wave's line: %q", w)
	}
	if md := r.Markdown(); !strings.Contains(md, "(2m22s of downtime before this run's attempt") || strings.Contains(md, "142.0s") {
		t.Errorf("the report:\n%s", md)
	}
}
