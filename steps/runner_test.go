package steps

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeStep creates one object in a map standing for the world.
type fakeStep struct {
	id      string
	world   map[string]bool
	applies int
	fail    error // returned by Apply after creating the object
	onApply func()
}

func (f *fakeStep) ID() string      { return f.id }
func (f *fakeStep) Title() string   { return "Fake " + f.id }
func (f *fakeStep) Fields() []Field { return nil }
func (f *fakeStep) item(a Action) Item {
	return Item{Action: a, Kind: "thing", Name: f.id, Resource: &Resource{Kind: "thing", Name: f.id, ID: "thing-" + f.id}}
}
func (f *fakeStep) Plan(context.Context, *Env) (Plan, error) {
	if f.world[f.id] {
		return Plan{Step: f.id, Items: []Item{f.item(ActionExists)}}, nil
	}
	return Plan{Step: f.id, Items: []Item{f.item(ActionCreate)}}, nil
}
func (f *fakeStep) Apply(_ context.Context, _ *Env, emit Emit) (Result, error) {
	f.applies++
	if f.onApply != nil {
		f.onApply()
	}
	var res Result
	if !f.world[f.id] {
		f.world[f.id] = true
		res.Changes = append(res.Changes, f.item(ActionCreate))
		emit(Changed(f.item(ActionCreate)))
	}
	if f.fail != nil {
		return res, f.fail
	}
	return res, nil
}
func (f *fakeStep) Verify(context.Context, *Env) error {
	if !f.world[f.id] {
		return errors.New("missing")
	}
	return nil
}

func fakeItinerary(world map[string]bool, ids ...string) (Itinerary, map[string]*fakeStep) {
	steps := map[string]*fakeStep{}
	var it Itinerary
	for _, id := range ids {
		s := &fakeStep{id: id, world: world}
		steps[id] = s
		it = append(it, Stage{Step: s})
	}
	return it, steps
}

// assertIdempotent checks the Step contract on a fresh world: the plan
// lists changes, apply makes them, a second apply and a plan find nothing
// to do, verify passes.
func assertIdempotent(t *testing.T, s Step, env *Env) {
	t.Helper()
	ctx := context.Background()
	p, err := s.Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if p.Changes() == 0 {
		t.Fatalf("plan on a fresh world has no changes:\n%s", p)
	}
	if r, err := s.Apply(ctx, env, func(Event) {}); err != nil || len(r.Changes) == 0 {
		t.Fatalf("first apply: %v, %s", err, r.Summary())
	}
	r, err := s.Apply(ctx, env, func(Event) {})
	if err != nil {
		t.Fatal(err)
	}
	if r.Summary() != "no changes" {
		t.Errorf("second apply: %s, want no changes", r.Summary())
	}
	if p, _ := s.Plan(ctx, env); p.Changes() != 0 || !strings.Contains(p.String(), "no changes") {
		t.Errorf("plan after apply:\n%s", p)
	}
	if err := s.Verify(ctx, env); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func TestFakeStepHonoursTheContract(t *testing.T) {
	assertIdempotent(t, &fakeStep{id: "x", world: map[string]bool{}}, NewEnv(nil, &PlanFile{}, NewState("")))
}

func TestApplianceHonoursTheContract(t *testing.T) {
	t.Parallel()
	o := newOnPrem(t)
	assertIdempotent(t, &Appliance{}, newApplianceEnv(t, o, appliancePlan()))
}

func newTestRunner(t *testing.T, it Itinerary, pf *PlanFile, statePath string) (*Runner, *[]Event) {
	t.Helper()
	st, err := LoadState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	return &Runner{Itinerary: it, Env: NewEnv(nil, pf, st), Emit: collect(&evs)}, &evs
}

func TestRunnerResumesAfterCrashBetweenSteps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	world := map[string]bool{}
	it, steps := fakeItinerary(world, "rights", "trunk-network", "appliance", "dc-extension")

	// First process: step 3 "crashes" (the process dies) right after steps 1
	// and 2 are done and the state says so.
	crash := errors.New("killed")
	steps["appliance"].onApply = func() { panic(crash) }
	r, _ := newTestRunner(t, it, &PlanFile{}, path)
	func() {
		defer func() {
			if p := recover(); p != crash {
				panic(p)
			}
		}()
		_, _ = r.Run(context.Background())
	}()

	st, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status("rights") != StatusDone || st.Status("trunk-network") != StatusDone || st.Status("appliance") != StatusRunning {
		t.Fatalf("state after the crash: %+v", st.Steps)
	}

	// Second process: continues at step 3.
	steps["appliance"].onApply = nil
	r, evs := newTestRunner(t, it, &PlanFile{}, path)
	out, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if steps["rights"].applies != 1 || steps["trunk-network"].applies != 1 {
		t.Errorf("steps 1 and 2 ran again after resume: %d, %d", steps["rights"].applies, steps["trunk-network"].applies)
	}
	if steps["appliance"].applies != 2 || steps["dc-extension"].applies != 1 {
		t.Errorf("steps 3 and 4 applies: %d, %d", steps["appliance"].applies, steps["dc-extension"].applies)
	}
	if out.Done != 2 || out.AlreadyDone != 2 {
		t.Errorf("outcome %+v", out)
	}
	if (*evs)[0].Kind != EventSkipped || !strings.Contains((*evs)[0].Message, "already done") {
		t.Errorf("first event after resume: %+v", (*evs)[0])
	}
	st, _ = LoadState(path)
	for _, id := range it.IDs() {
		if s := st.Get(id); s.Status != StatusDone || len(s.Resources) != 1 || s.Resources[0].ID != "thing-"+id {
			t.Errorf("%s: %+v", id, s)
		}
	}
}

func TestRunnerRecordsChangesBeforeAFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	it, steps := fakeItinerary(map[string]bool{}, "a", "b", "c")
	steps["b"].fail = errors.New("boom")
	r, evs := newTestRunner(t, it, &PlanFile{}, path)
	_, err := r.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "step 2 (Fake b): boom") {
		t.Fatalf("run: %v", err)
	}
	if steps["c"].applies != 0 {
		t.Error("the runner went on after a failure")
	}
	st, _ := LoadState(path)
	b := st.Get("b")
	if b.Status != StatusFailed || b.Error != "boom" || len(b.Resources) != 1 {
		t.Errorf("failed step state: %+v", b)
	}
	last := (*evs)[len(*evs)-1]
	if last.Kind != EventFailed || last.Step != "b" || last.Index != 2 {
		t.Errorf("last event: %+v", last)
	}

	// Fixed: the re-run retries b (idempotently) and goes on.
	steps["b"].fail = nil
	r, _ = newTestRunner(t, it, &PlanFile{}, path)
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if steps["a"].applies != 1 || steps["b"].applies != 2 || steps["c"].applies != 1 {
		t.Errorf("applies a=%d b=%d c=%d", steps["a"].applies, steps["b"].applies, steps["c"].applies)
	}
}

func TestRunnerSkipPredicates(t *testing.T) {
	world := map[string]bool{}
	it, steps := fakeItinerary(world, "rights", "appliance", "replication")
	it[2].Skip = noVMs
	r, evs := newTestRunner(t, it, &PlanFile{Skip: []string{"rights"}}, "")
	out, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if steps["rights"].applies != 0 || steps["replication"].applies != 0 || steps["appliance"].applies != 1 {
		t.Errorf("applies: %d %d %d", steps["rights"].applies, steps["appliance"].applies, steps["replication"].applies)
	}
	if out.Skipped != 2 || out.Done != 1 {
		t.Errorf("outcome %+v", out)
	}
	st := r.Env.State
	if s := st.Get("rights"); s.Status != StatusSkipped || !strings.Contains(s.Summary, "skip: rights") {
		t.Errorf("rights: %+v", s)
	}
	if s := st.Get("replication"); s.Status != StatusSkipped || !strings.Contains(s.Summary, "no VMs") {
		t.Errorf("replication: %+v", s)
	}
	var skipped int
	for _, e := range *evs {
		if e.Kind == EventSkipped {
			skipped++
		}
	}
	if skipped != 2 {
		t.Errorf("%d skipped events, want 2", skipped)
	}

	// A VM in the plan: replication applies now.
	r, _ = newTestRunner(t, it, &PlanFile{VMs: []VMPlan{{Name: "WebApp2"}}}, "")
	if _, err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if steps["replication"].applies != 1 {
		t.Error("replication skipped with a VM in the plan")
	}
}

func TestRunnerStopsBeforeCutoverUnlessConfirmed(t *testing.T) {
	it, steps := fakeItinerary(map[string]bool{}, "replication", "cutover")
	it[1].Confirm = true
	pf := &PlanFile{VMs: []VMPlan{{Name: "WebApp2"}}}
	r, evs := newTestRunner(t, it, pf, "")
	out, err := r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.StoppedBefore != "cutover" || steps["cutover"].applies != 0 {
		t.Errorf("unconfirmed run: %+v, cutover applied %d", out, steps["cutover"].applies)
	}
	last := (*evs)[len(*evs)-1]
	if last.Kind != EventWarning || !strings.Contains(last.Message, "--confirm-cutover=WebApp2") {
		t.Errorf("last event: %+v", last)
	}
	r.Confirmed = true
	if out, err = r.Run(context.Background()); err != nil || out.StoppedBefore != "" || steps["cutover"].applies != 1 {
		t.Errorf("confirmed run: %+v, %v", out, err)
	}
}

func TestRunnerAbort(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	it, steps := fakeItinerary(map[string]bool{}, "a", "b")
	steps["a"].onApply = cancel
	steps["a"].fail = context.Canceled
	r, _ := newTestRunner(t, it, &PlanFile{}, "")
	_, err := r.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("aborted run: %v", err)
	}
	if steps["b"].applies != 0 {
		t.Error("ran on after the abort")
	}
}

// TestRunnerInterruptedIsNotFailed (QA: ctrl-c during the initial sync
// left step 6 "failed" in ferry status, its error the cancellation): a
// step stopped by the operator is not recorded as failed: the state keeps
// it running (ferry status: interrupted; the next run runs it again), the
// run says it was interrupted, and no failed event is emitted.
func TestRunnerInterruptedIsNotFailed(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	it, steps := fakeItinerary(map[string]bool{}, "a", "b")
	steps["a"].onApply = func() { cancel(errors.New("interrupt signal received")) }
	steps["a"].fail = context.Canceled
	r, _ := newTestRunner(t, it, &PlanFile{}, "")
	var failed, warned []string
	r.Emit = func(ev Event) {
		switch ev.Kind {
		case EventFailed:
			failed = append(failed, ev.Error)
		case EventWarning:
			warned = append(warned, ev.Message)
		}
	}
	_, err := r.Run(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted (interrupt signal received)") || !strings.Contains(err.Error(), "runs it again") {
		t.Errorf("interrupted run: %v", err)
	}
	if st := r.Env.State.Get("a"); st.Status != StatusRunning || st.Error != "" {
		t.Errorf("state of the interrupted step: %s %q, want running (read as interrupted) and no error", st.Status, st.Error)
	}
	if len(failed) > 0 || len(warned) != 1 || !strings.HasPrefix(warned[0], "interrupted (") {
		t.Errorf("events: failed %q, warnings %q; want no failure and one warning saying it was interrupted", failed, warned)
	}
}

func TestRunnerStopsOnConflict(t *testing.T) {
	conflict := &conflictStep{}
	r, _ := newTestRunner(t, Itinerary{{Step: conflict}}, &PlanFile{}, "")
	_, err := r.Run(context.Background())
	if !errors.Is(err, ErrConflict) || conflict.applied {
		t.Errorf("conflict: %v, applied %v", err, conflict.applied)
	}
}

type conflictStep struct{ applied bool }

func (c *conflictStep) ID() string      { return "c" }
func (c *conflictStep) Title() string   { return "C" }
func (c *conflictStep) Fields() []Field { return nil }
func (c *conflictStep) Plan(context.Context, *Env) (Plan, error) {
	return Plan{Items: []Item{{Action: ActionConflict, Kind: "VM", Name: "x", Detail: "differs"}}}, nil
}
func (c *conflictStep) Apply(context.Context, *Env, Emit) (Result, error) {
	c.applied = true
	return Result{}, nil
}
func (c *conflictStep) Verify(context.Context, *Env) error { return nil }

// The whole itinerary against vcsim: the state says steps 1 and 2 are done
// (a previous session), the plan skips the DC extension; the runner
// continues at step 3, which really deploys the appliance, and skips 5-8
// (no VMs).
func TestRunnerResumesAtApplianceAgainstVCSim(t *testing.T) {
	o := newOnPrem(t)
	path := filepath.Join(t.TempDir(), "state.json")
	st := NewState(path)
	if err := st.Finish("rights", Result{}); err != nil {
		t.Fatal(err)
	}
	if err := st.Finish("trunk-network", Result{}); err != nil {
		t.Fatal(err)
	}
	pf := appliancePlan()
	pf.Skip = []string{"dc-extension"}
	it := NewItinerary()
	if err := pf.Validate(it); err == nil {
		t.Fatal("plan without org/vdc validated although steps 1 and 2 are not skipped")
	}
	env := NewEnv(o.cfg, pf, st)
	defer env.Close(context.Background())
	var mu sync.Mutex
	var events []Event
	r := &Runner{Itinerary: it, Env: env, Emit: func(ev Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }}
	out, err := r.Run(context.Background())
	if err != nil {
		t.Fatalf("%v\n%+v", err, events)
	}
	if out.Done != 1 || out.AlreadyDone != 2 || out.Skipped != 5 {
		t.Errorf("outcome %+v\n%+v", out, events)
	}
	for _, want := range []Event{
		{Index: 1, Step: "rights", Kind: EventSkipped, Message: "already done"},
		{Index: 3, Step: "appliance", Kind: EventChange, Message: "+ create port group \"ferry-sink\""},
		{Index: 3, Step: "appliance", Kind: EventDone, Message: "2 changes"},
		{Index: 5, Step: "vm-selection", Kind: EventSkipped, Message: "no VMs"},
	} {
		if !slices.ContainsFunc(events, func(ev Event) bool {
			return ev.Index == want.Index && ev.Step == want.Step && ev.Kind == want.Kind && strings.HasPrefix(ev.Message, want.Message)
		}) {
			t.Errorf("no event %+v among:\n%+v", want, events)
		}
	}
	back, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if a := back.Get("appliance"); a.Status != StatusDone || len(a.Resources) != 2 {
		t.Errorf("appliance state: %+v", a)
	}
}

// TestRedoSteps: --redo takes step ids of the itinerary, not the cutover,
// and an unknown name is refused with the valid ones.
func TestRedoSteps(t *testing.T) {
	it := NewItinerary()
	if got, err := RedoSteps(it, "vm-selection, checks"); err != nil || !slices.Equal(got, []string{"vm-selection", "checks"}) {
		t.Errorf("vm-selection, checks: %v %v", got, err)
	}
	if _, err := RedoSteps(it, "cutover"); err == nil || !strings.Contains(err.Error(), "--confirm-cutover") {
		t.Errorf("cutover: %v, want refused, naming --confirm-cutover", err)
	}
	if _, err := RedoSteps(it, "vm-selecton"); err == nil || !strings.Contains(err.Error(), "vm-selection, replication, checks") {
		t.Errorf("a misspelt step: %v, want refused, listing the steps", err)
	}
	// And naming the step meant, as a misspelt VM is (QA walk hB).
	if _, err := RedoSteps(it, "vm-selction"); err == nil || !strings.Contains(err.Error(), `--redo "vm-selction": not a step (did you mean vm-selection?); want one or more of`) {
		t.Errorf("a misspelt step: %v, want the step meant named", err)
	}
}

// A reason several steps share (one login that fails) is said once, naming
// the steps, not once per step.
func TestPreflightErrorSaysACauseOnce(t *testing.T) {
	login := errors.New("vCenter https://vc: wrong username or password for ferry")
	err := &PreflightError{Errs: []error{
		&stepError{"step 2 (Trunk network)", login},
		&stepError{"step 3 (L2 appliance)", login},
		&stepError{"step 5 (VM selection)", errors.New(`VM "WebApp9" not found`)},
		fmt.Errorf("replication receiver: %w", errors.New("connection refused")),
	}}
	want := "4 steps cannot run; nothing was changed:" +
		"\n  step 2 (Trunk network), step 3 (L2 appliance): vCenter https://vc: wrong username or password for ferry" +
		"\n  step 5 (VM selection): VM \"WebApp9\" not found" +
		"\n  replication receiver: connection refused"
	if got := err.Error(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if !errors.Is(err, login) || !errors.Is(err, ErrPreflight) {
		t.Error("the causes are not in the error's chain")
	}
}
