package steps

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestFirstPassPausedElsewhereWaits (QA demo: step 6 failed with "replicate
// WebApp2: replication job is paused: paused by request" when the VM's job
// was paused from another session of ferry serve during its first pass):
// the step says the job is paused, by whom, how it goes on, and waits; resumed,
// it says so (steps.Resolved, after the warning), its pass completes and the
// step is done.
func TestFirstPassPausedElsewhereWaits(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	var sched *replication.Scheduler
	var pauseOnce sync.Once
	pauseErr := make(chan error, 1)
	sched, err := env.EnableWarm(ctx, func(ev replication.Event) {
		// Another session pauses the job as its first pass takes its
		// snapshot (before the pass can complete).
		if ev.VM == "WebApp2" && ev.Kind == replication.EventPhase && ev.Phase == replication.PhaseSnapshot {
			pauseOnce.Do(func() { pauseErr <- sched.PauseBy("WebApp2", "admin (alice@laptop) (ssh 127.0.0.1)") })
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var warnings []string
	var resumeOnce sync.Once
	resumeErr := make(chan error, 1)
	var history []string // the warnings and what ended them, in order
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) {
		if ev.Step == "replication" && ev.Resolves {
			mu.Lock()
			history = append(history, ev.Message)
			mu.Unlock()
		}
		if ev.Step != "replication" || ev.Kind != EventWarning {
			return
		}
		mu.Lock()
		history = append(history, ev.Message)
		warnings = append(warnings, ev.Message)
		mu.Unlock()
		if strings.Contains(ev.Message, "step 6 waits") {
			// Resumed from that other session, having read it.
			resumeOnce.Do(func() { go func() { resumeErr <- sched.Resume("WebApp2") }() })
		}
	}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("the run, the job paused during step 6's first pass and resumed: %v", err)
	}
	if err := <-pauseErr; err != nil {
		t.Fatalf("pause: %v", err)
	}
	select {
	case err := <-resumeErr:
		if err != nil {
			t.Fatalf("resume: %v", err)
		}
	default:
		t.Fatalf("the step never said it waits for the paused job; its warnings: %q", warnings)
	}
	want := "WebApp2: replication paused by request of admin (alice@laptop) (ssh 127.0.0.1): step 6 waits; resume WebApp2 (u on the replication dashboard, or ferry resume WebApp2) and its pass, and the step, go on"
	mu.Lock()
	defer mu.Unlock()
	if len(warnings) == 0 || warnings[0] != want {
		t.Errorf("the step's warnings: %q; want first %q", warnings, want)
	}
	// Resumed, the step says so after the warning (QA: its list read as
	// still waiting once resumed).
	if i := slices.Index(history, want); i < 0 || !slices.Contains(history[i+1:], "WebApp2: replication resumed: its pass, and step 6, go on") {
		t.Errorf("the step's warnings and what ended them: %q; want \"WebApp2: replication resumed: its pass, and step 6, go on\" after %q", history, want)
	}
	// The stopped pass's own error is the pause the step already said
	// (QA h9: "! WebApp2: replication job is paused" beside it).
	for _, w := range warnings {
		if strings.Contains(w, "replication job is paused") {
			t.Errorf("the stopped pass's error is a warning too: %q", w)
		}
	}
	if st := env.State.Status("replication"); st != StatusDone {
		t.Errorf("step 6: %s, want done", st)
	}
	if j, ok := env.warmStatus("WebApp2"); !ok || j.LastPass.IsZero() || j.Paused {
		t.Errorf("WebApp2's job after the step: %+v; want its first pass complete, not paused", j)
	}
}

// TestProgressOfAPausedPass (QA h9: while step 6 waited out a pause, its
// progress line read "WebApp2: idle", the stopped pass's end arriving
// after the step's "step 6 waits; resume ..."): the end of a pass a pause
// stopped is neither a warning nor an "idle" line; once resumed, the
// phases read again.
func TestProgressOfAPausedPass(t *testing.T) {
	var got []string
	emit := progressEmitter(func(ev Event) { got = append(got, string(ev.Kind)+" "+ev.Message) }, "WebApp2")
	emit(replication.Event{Kind: replication.EventPaused, Msg: "paused by request"})
	emit(replication.Event{Kind: replication.EventError, Err: fmt.Errorf("WebApp2: pass: %w", replication.ErrPaused)})
	emit(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseIdle})
	if len(got) != 0 {
		t.Errorf("a pass a pause stopped emitted %q", got)
	}
	emit(replication.Event{Kind: replication.EventResumed})
	emit(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot})
	emit(replication.Event{Kind: replication.EventError, Err: errors.New("receiver gone")})
	emit(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseIdle})
	want := []string{"progress WebApp2: snapshot", "warning WebApp2: receiver gone", "progress WebApp2: idle"}
	if !slices.Equal(got, want) {
		t.Errorf("after the resume: %q, want %q", got, want)
	}
}

// TestPausedFirstPassHoldsOnlyItsVM (QA: step 6 ran its VMs' first passes
// one after another, so a first pass paused from another session kept
// the VMs after it from even starting theirs): with WebApp1's first pass
// paused while step 6 runs, WebApp2's completes (its job records the pass)
// while WebApp1 stays paused; resumed, WebApp1's completes and the step is
// done, its changes in the plan's VM order.
func TestPausedFirstPassHoldsOnlyItsVM(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	env.EditPlan(func(pf *PlanFile) {
		pf.VMs = append([]VMPlan{{Name: "WebApp1"}}, pf.VMs...) // before WebApp2
		pf.ApplyDefaults(NewItinerary())
	})
	ctx := context.Background()
	var sched *replication.Scheduler
	var pauseOnce sync.Once
	pauseErr := make(chan error, 1)
	sched, err := env.EnableWarm(ctx, func(ev replication.Event) {
		if ev.VM == "WebApp1" && ev.Kind == replication.EventPhase && ev.Phase == replication.PhaseSnapshot {
			pauseOnce.Do(func() { pauseErr <- sched.PauseBy("WebApp1", "admin (alice@laptop) (ssh 127.0.0.1)") })
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var changes []string
	var waitOnce sync.Once
	// The wizard's line while the step applies: the last progress, change
	// or warning (tui's stepRun); and when WebApp2's completion was said.
	var headline string
	web2Said := make(chan struct{})
	var web2Once sync.Once
	// While WebApp1 waits: what WebApp2's job and WebApp1's say once
	// WebApp2's first pass completed (or why it did not).
	meanwhile := make(chan string, 1)
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) {
		if ev.Step != "replication" {
			return
		}
		if ev.Kind == EventProgress || ev.Kind == EventChange || ev.Kind == EventStarted || ev.Kind == EventWarning {
			mu.Lock()
			headline = ev.Message
			mu.Unlock()
		}
		if ev.Kind == EventProgress && strings.HasPrefix(ev.Message, "WebApp2: replica complete") {
			web2Once.Do(func() { close(web2Said) })
		}
		if ev.Kind == EventChange && ev.Item != nil && ev.Item.Kind == "replica" {
			mu.Lock()
			changes = append(changes, ev.Item.Name)
			mu.Unlock()
		}
		if ev.Kind != EventWarning || !strings.HasPrefix(ev.Message, "WebApp1: ") || !strings.Contains(ev.Message, "step 6 waits") {
			return
		}
		waitOnce.Do(func() {
			go func() {
				// Not a measure of time: a bound so that a step that
				// never starts WebApp2's pass fails this test instead of
				// hanging it.
				wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
				defer cancel()
				why := ""
			wait:
				for {
					changed := sched.Changed()
					if j, ok := env.warmStatus("WebApp2"); ok && !j.LastPass.IsZero() {
						// Its record, as ferry status reads it, and
						// WebApp1's job, still paused without a pass.
						if vs, err := recordOf(env, "WebApp2"); err != nil || vs.LastPass.IsZero() || vs.PassCount < 1 {
							why = fmt.Sprintf("WebApp2's record once its first pass completed: %+v (%v); want its pass", vs, err)
						}
						if w1, _ := env.warmStatus("WebApp1"); !w1.Paused || !w1.LastPass.IsZero() {
							why += fmt.Sprintf("; WebApp1's job when WebApp2's first pass completed: %+v; want paused, no pass", w1)
						}
						break
					}
					select {
					case <-wctx.Done():
						j, _ := env.warmStatus("WebApp2")
						why = fmt.Sprintf("WebApp2's first pass did not complete while WebApp1's was paused: its job %+v", j)
						break wait
					case <-changed:
					}
				}
				// What the wizard's line says once WebApp2's pass is done:
				// that the step waits for WebApp1, paused, and how it goes
				// on (QA hD: it read WebApp2's last change, the pause
				// warning pushed out of sight).
				select {
				case <-web2Said:
					mu.Lock()
					h := headline
					mu.Unlock()
					if !strings.Contains(h, "waits for WebApp1 (replication paused by request of admin") || !strings.Contains(h, "ferry resume WebApp1") {
						why += fmt.Sprintf("; the step's line once WebApp2's pass completed: %q; want it to say that it waits for WebApp1, paused, and how to resume it", h)
					}
				case <-wctx.Done():
					why += "; the step never said that WebApp2's pass completed"
				}
				// Resumed from that other session.
				if err := sched.Resume("WebApp1"); err != nil {
					why += "; resume: " + err.Error()
				}
				meanwhile <- why
			}()
		})
	}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("the run, WebApp1's first pass paused during step 6 and resumed: %v", err)
	}
	if err := <-pauseErr; err != nil {
		t.Fatalf("pause: %v", err)
	}
	select {
	case why := <-meanwhile:
		if why != "" {
			t.Error(why)
		}
	default:
		t.Fatal("the step never said it waits for WebApp1's paused job")
	}
	if st := env.State.Status("replication"); st != StatusDone {
		t.Errorf("step 6: %s, want done", st)
	}
	for _, vm := range []string{"WebApp1", "WebApp2"} {
		if j, ok := env.warmStatus(vm); !ok || j.LastPass.IsZero() || j.Paused {
			t.Errorf("%s's job after the step: %+v; want its first pass complete, not paused", vm, j)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(changes, []string{"WebApp1", "WebApp2"}) {
		t.Errorf("the step's replica changes: %q; want them in the plan's VM order (WebApp1, WebApp2)", changes)
	}
}

// recordOf is vm's record in the replication store.
func recordOf(env *Env, vm string) (replication.VMState, error) {
	store, err := env.replicationStore()
	if err != nil {
		return replication.VMState{}, err
	}
	return store.VM(vm)
}

// TestStepProgressOfPassesTogether: while step 6 waits for several VMs'
// passes at once, each line names its VM and the fraction it carries is
// the step's (the wizard shows it as "% of the step"), not the pass of
// whichever VM spoke last: WebApp1 half done and WebApp2 not started is a
// quarter of the step; WebApp2 at 60% with WebApp1 done is 80%; a pass of
// a VM after the one the step waited for says nothing.
func TestStepProgressOfPassesTogether(t *testing.T) {
	type line struct {
		msg  string
		frac float64
	}
	var got []line
	p := newStepProgress(func(ev Event) { got = append(got, line{ev.Message, ev.Fraction}) }, []VMPlan{{Name: "WebApp1"}, {Name: "WebApp2"}})
	web1, web2 := p.emitter("WebApp1"), p.emitter("WebApp2")
	web1(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot})
	web1(replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Planned: 100 << 20, Acked: 50 << 20}})
	web2(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot})
	p.done("WebApp1", []string{"WebApp2's pass"})
	web1(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot}) // its next pass
	web2(replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Planned: 100 << 20, Acked: 60 << 20}})
	want := []struct {
		prefix string
		frac   float64
	}{
		{"WebApp1: snapshot", -1},
		{"WebApp1: 50 MiB of 100 MiB acknowledged", 0.25},
		{"WebApp2: snapshot", -1},
		{"WebApp1: replica complete (1 of 2 VMs); step 6 waits for WebApp2's pass", 0.5},
		{"WebApp2: 60 MiB of 100 MiB acknowledged", 0.8},
	}
	if len(got) != len(want) {
		t.Fatalf("the step's lines: %v; want %d", got, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i].msg, w.prefix) || math.Abs(got[i].frac-w.frac) > 1e-9 {
			t.Errorf("line %d: %q at %v; want %q... at %v", i+1, got[i].msg, got[i].frac, w.prefix, w.frac)
		}
	}
}

// TestStepETAIsTheStepsOwn (QA: step 6's line read one VM's ETA beside the
// step's percentage, whichever VM spoke last, while another's first pass
// would end minutes later): while several VMs' passes run, the ETA of the
// step's line is the step's, the longest of the passes it waits for,
// naming that VM; none while one of them has none (not started yet,
// paused); not a VM's whose pass completed. With one VM, its pass's ETA is
// the step's.
func TestStepETAIsTheStepsOwn(t *testing.T) {
	var got []string
	p := newStepProgress(func(ev Event) {
		if ev.Kind == EventProgress && ev.Fraction >= 0 {
			got = append(got, ev.Message)
		}
	}, []VMPlan{{Name: "WebApp1"}, {Name: "WebApp2"}, {Name: "WebApp3"}})
	web := map[string]func(replication.Event){"WebApp1": p.emitter("WebApp1"), "WebApp2": p.emitter("WebApp2"), "WebApp3": p.emitter("WebApp3")}
	progress := func(vm string, acked int64, eta time.Duration) string {
		t.Helper()
		n := len(got)
		web[vm](replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Planned: 100 << 20, Acked: acked << 20}, AckRate: 1 << 20, Rate: 1 << 20, ETA: eta})
		if len(got) != n+1 {
			t.Fatalf("%s's progress said %q", vm, got[n:])
		}
		return got[n]
	}
	type want struct{ has, hasNot string }
	check := func(line string, w want) {
		t.Helper()
		if !strings.Contains(line, w.has) || w.hasNot != "" && strings.Contains(line, w.hasNot) {
			t.Errorf("line %q: want %q, not %q", line, w.has, w.hasNot)
		}
	}
	// WebApp3 has not reported: the step's ETA is not known.
	check(progress("WebApp1", 50, time.Minute), want{"WebApp1: 50 MiB of 100 MiB acknowledged, 1.0 MiB/s", "ETA"})
	check(progress("WebApp2", 10, 4*time.Minute), want{"WebApp2: 10 MiB of 100 MiB acknowledged", "ETA"})
	check(progress("WebApp3", 40, 2*time.Minute), want{"WebApp3: 40 MiB of 100 MiB acknowledged, 1.0 MiB/s; step 6 ETA 4m0s (WebApp2's pass ends last)", "ETA 2m"})
	time.Sleep(260 * time.Millisecond) // past the emitter's throttle
	check(progress("WebApp1", 60, 30*time.Second), want{"; step 6 ETA 4m0s (WebApp2's pass ends last)", "ETA 30s"})
	// WebApp2 paused: the step waits for its resume.
	web["WebApp2"](replication.Event{Kind: replication.EventPaused, Msg: "paused by request"})
	time.Sleep(260 * time.Millisecond)
	check(progress("WebApp3", 50, 100*time.Second), want{"WebApp3: 50 MiB of 100 MiB acknowledged", "ETA"})
	// Resumed and completed: the longest of the others'.
	web["WebApp2"](replication.Event{Kind: replication.EventResumed})
	web["WebApp2"](replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot})
	time.Sleep(260 * time.Millisecond)
	check(progress("WebApp2", 90, 10*time.Minute), want{"; step 6 ETA 10m0s (WebApp2's pass ends last)", ""})
	p.done("WebApp2", []string{"WebApp1's pass", "WebApp3's pass"})
	time.Sleep(260 * time.Millisecond)
	check(progress("WebApp1", 70, 20*time.Second), want{"; step 6 ETA 1m40s (WebApp3's pass ends last)", "10m"})

	// One VM: its pass's ETA is the step's.
	got = nil
	one := newStepProgress(func(ev Event) { got = append(got, ev.Message) }, []VMPlan{{Name: "WebApp2"}})
	one.emitter("WebApp2")(replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Planned: 100 << 20, Acked: 50 << 20}, AckRate: 1 << 20, Rate: 1 << 20, ETA: 50 * time.Second})
	if len(got) != 1 || !strings.HasSuffix(got[0], "50 MiB of 100 MiB acknowledged, 1.0 MiB/s, ETA 50s") {
		t.Errorf("one VM's line: %q", got)
	}
}

// pausedAndResumed sends the events the scheduler reports of WebApp1's
// pass paused, the job resumed and a new pass begun, then waits past the
// emitter's throttle.
func pausedAndResumed(web1 func(replication.Event)) {
	web1(replication.Event{Kind: replication.EventPaused, Msg: "paused by request"})
	web1(replication.Event{Kind: replication.EventError, Err: fmt.Errorf("WebApp1: pass: %w", replication.ErrPaused)})
	web1(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseIdle})
	web1(replication.Event{Kind: replication.EventResumed})
	web1(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot})
	time.Sleep(260 * time.Millisecond) // past the emitter's throttle
}

// TestStepProgressHoldsWhenAPassStartsAgain (QA: after a resume step 6's
// bar went back, 71% then 69%; in the lab, WebApp1 paused at 40% of its
// first pass and resumed began it again from 0 of more bytes, and the
// step's bar went from 44% to 31%): a pass a pause stopped starts again
// in a new snapshot (its own was released) with more to copy, so the VM's
// pass reads less than the step counted of it; the step's fraction does not go back,
// the line says why, and it moves again once the pass passes what it had
// reached.
func TestStepProgressHoldsWhenAPassStartsAgain(t *testing.T) {
	type line struct {
		msg  string
		frac float64
	}
	var got []line
	p := newStepProgress(func(ev Event) {
		if ev.Kind == EventProgress && ev.Fraction >= 0 {
			got = append(got, line{ev.Message, ev.Fraction})
		}
	}, []VMPlan{{Name: "WebApp1"}, {Name: "WebApp2"}})
	web1, web2 := p.emitter("WebApp1"), p.emitter("WebApp2")
	progress := func(emit func(replication.Event), planned, acked int64) line {
		t.Helper()
		n := len(got)
		emit(replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Planned: planned << 20, Acked: acked << 20}, AckRate: 1 << 20, Rate: 1 << 20, ETA: time.Minute})
		if len(got) != n+1 {
			t.Fatalf("progress said %v", got[n:])
		}
		return got[n]
	}
	web1(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot})
	web2(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot})
	progress(web1, 100, 40)
	if l := progress(web2, 100, 30); math.Abs(l.frac-0.35) > 1e-9 {
		t.Fatalf("WebApp1 at 40%%, WebApp2 at 30%%: the step at %v, want 0.35", l.frac)
	}
	// Paused and resumed as the scheduler reports it: the pass stops, a
	// new one begins, with more to copy (the guest wrote meanwhile).
	pausedAndResumed(web1)
	l := progress(web1, 120, 0)
	if l.frac < 0.35-1e-9 {
		t.Errorf("WebApp1's pass began again: the step went back from 35%% to %.1f%%", l.frac*100)
	}
	if !strings.Contains(l.msg, "WebApp1: 0 B of 120 MiB acknowledged, beginning (no rate yet); WebApp1's pass") || strings.Contains(l.msg, "ETA") || !strings.Contains(l.msg, "; WebApp1's pass started again: the step counts it at the 40% it had reached until it passes that") {
		t.Errorf("the line of the pass begun again: %q", l.msg)
	}
	time.Sleep(260 * time.Millisecond)
	if l := progress(web2, 100, 50); math.Abs(l.frac-0.45) > 1e-9 {
		t.Errorf("WebApp2 at 50%%, WebApp1 counted at 40%%: the step at %v, want 0.45", l.frac)
	}
	time.Sleep(260 * time.Millisecond)
	if l := progress(web1, 120, 60); math.Abs(l.frac-0.5) > 1e-9 || strings.Contains(l.msg, "the step counts it") {
		t.Errorf("WebApp1's new pass at 50%%, past what it had reached: %q at %v, want 0.5", l.msg, l.frac)
	}
}

// TestStepProgressHeldLineOfAPassThatKeptItsBytes (QA hQ: in the lab,
// WebApp2 paused at 51% of its initial sync; resumed, its new pass kept
// the 44 MiB the paused one made durable, and step 6 read "WebApp2: 44 MiB
// of 106 MiB acknowledged (resumed: 44 MiB were durable already), ...;
// WebApp2's pass started again: the step counts it at the 51% ...", which
// reads as a pass from 0%): a pass begun again that counts resumed bytes
// went on, with more to copy; one that kept nothing started again.
func TestStepProgressHeldLineOfAPassThatKeptItsBytes(t *testing.T) {
	for _, tc := range []struct {
		resumed int64
		want    string
	}{
		{40, "; WebApp1's pass went on in a new snapshot with more to copy: the step counts it at the 40% it had reached until it passes that"},
		{0, "; WebApp1's pass started again: the step counts it at the 40% it had reached until it passes that"},
	} {
		var got []string
		p := newStepProgress(func(ev Event) {
			if ev.Kind == EventProgress && ev.Fraction >= 0 {
				got = append(got, ev.Message)
			}
		}, []VMPlan{{Name: "WebApp1"}})
		web1 := p.emitter("WebApp1")
		web1(replication.Event{Kind: replication.EventPhase, Phase: replication.PhaseSnapshot})
		web1(replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Planned: 100 << 20, Acked: 40 << 20}, AckRate: 1 << 20, Rate: 1 << 20, ETA: time.Minute})
		pausedAndResumed(web1)
		// 40 MiB kept (or none), 80 MiB to copy: below the 40% reached.
		web1(replication.Event{Kind: replication.EventProgress, Counters: replication.Counters{Planned: 80 << 20, Acked: 1 << 20, Resumed: tc.resumed << 20}, AckRate: 1 << 20, Rate: 1 << 20, ETA: time.Minute})
		if len(got) != 2 || !strings.HasSuffix(got[1], tc.want) {
			t.Errorf("resumed %d MiB: the line of the pass begun again: %q, want it to end %q", tc.resumed, got, tc.want)
		}
	}
}
