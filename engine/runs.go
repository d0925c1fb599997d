package engine

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/steps"
)

// The step runs of the wizard's sessions, for every session attached: the
// driver plans, applies or cuts over in its own terminal, and each
// watching terminal shows the same run (its plan, its live progress, its
// result or failure, the cutover's phases and report) from the board.

// Phases of a StepRun.
const (
	RunPlanning = "planning" // Plan in flight
	RunPlanned  = "planned"  // the plan is known (or Err says why not)
	RunApplying = "applying" // Apply in flight, events streaming
	RunFinished = "finished" // Outcome and Err are known
	// RunEditing is not a run: the driver filling in a step's form, its
	// Answers and Focus as typed (a guided demo's audience sees them).
	RunEditing = "editing"
)

// MaxRunEvents bounds the events a run keeps for the sessions that watch
// it: beyond it the oldest go (Dropped counts them). Consecutive progress
// events with a fraction (bytes moving in one phase) are kept as their
// latest only.
const MaxRunEvents = 2000

// StepRun is one step run of a wizard session as every session sees it: a
// plan, an apply (the cutover is step 8's), or the dashboard's test
// migration (Test says which).
type StepRun struct {
	ID     uint64 // the board's, increasing
	Origin uint64 // the session that runs it (it shows its own run itself)
	Step   string // the step's ID
	Test   string // "test migration of WebApp2", "test cleanup": the dashboard's, not the step's
	By     string // who runs it, as the sessions see each other
	Phase  string // RunPlanning, RunPlanned, RunApplying, RunFinished
	Plan   steps.Plan
	// Events are the apply's, in order (MaxRunEvents); Dropped the oldest
	// left out.
	Events   []steps.Event
	Dropped  int
	Outcome  steps.Outcome
	Report   string // a test migration's report
	Err      error
	Started  time.Time
	Finished time.Time
	// Answers are a RunEditing record's form values by field key (the
	// plan's answers: no secret is asked in a form); Focus the field
	// the driver is in (-1: it left the fields).
	Answers map[string]string
	Focus   int
}

// key is the record's place on the board: a step's latest run, its
// latest test migration, and its form as the driver fills it in.
func (r *StepRun) key() string {
	if r.Phase == RunEditing {
		return r.Step + "\x00" + RunEditing
	}
	return r.Step + "\x00" + r.Test
}

// RunBoard holds the latest run of each step (and of the dashboard's test
// migration) and tells the watching sessions which changed. It never
// blocks a run: a watcher is a set of changed runs and a one-slot wake
// channel, so a terminal that reads slowly (or not at all) skips the
// intermediate states and gets the latest when it reads again.
type RunBoard struct {
	mu      sync.Mutex
	next    uint64
	runs    map[string]*StepRun // by key: the latest
	byID    map[uint64]*StepRun
	watches map[*RunWatch]struct{}
}

// NewRunBoard returns an empty board.
func NewRunBoard() *RunBoard {
	return &RunBoard{runs: map[string]*StepRun{}, byID: map[uint64]*StepRun{}, watches: map[*RunWatch]struct{}{}}
}

// Start records a new run (r's Phase: RunPlanning or RunApplying) as its
// step's latest and returns its ID.
func (b *RunBoard) Start(r StepRun) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	r.ID = b.next
	r.Events, r.Dropped = nil, 0
	if r.Started.IsZero() {
		r.Started = time.Now()
	}
	if old := b.runs[r.key()]; old != nil {
		delete(b.byID, old.ID)
	}
	b.runs[r.key()] = &r
	b.byID[r.ID] = &r
	b.changed(r.key())
	return r.ID
}

// update changes run id, if it is still its step's latest.
func (b *RunBoard) update(id uint64, f func(*StepRun)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.byID[id]
	if r == nil {
		return
	}
	f(r)
	b.changed(r.key())
}

// Planned records the plan of run id (or why there is none).
func (b *RunBoard) Planned(id uint64, p steps.Plan, err error) {
	b.update(id, func(r *StepRun) {
		r.Phase, r.Plan, r.Err, r.Finished = RunPlanned, p, err, time.Now()
	})
}

// Event records an event of run id.
func (b *RunBoard) Event(id uint64, ev steps.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	b.update(id, func(r *StepRun) {
		if n := len(r.Events); n > 0 && ev.Kind == steps.EventProgress && ev.Fraction >= 0 {
			if last := r.Events[n-1]; last.Kind == steps.EventProgress && last.Fraction >= 0 {
				r.Events[n-1] = ev // bytes moving: the latest says it all
				return
			}
		}
		if len(r.Events) >= MaxRunEvents {
			r.Events = slices.Delete(r.Events, 0, 1)
			r.Dropped++
		}
		r.Events = append(r.Events, ev)
	})
}

// Finish records how run id ended.
func (b *RunBoard) Finish(id uint64, out steps.Outcome, report string, err error) {
	b.FinishAt(id, time.Now(), out, report, err)
}

// FinishAt is Finish at a time the runner read by the clock its Started
// was read from (a wizard session's): a run's Finished less its Started
// is its duration.
func (b *RunBoard) FinishAt(id uint64, at time.Time, out steps.Outcome, report string, err error) {
	b.update(id, func(r *StepRun) {
		r.Phase, r.Outcome, r.Report, r.Err, r.Finished = RunFinished, out, report, err, at
	})
}

// changed marks key changed for every watcher and wakes them; b.mu held.
func (b *RunBoard) changed(key string) {
	for w := range b.watches {
		w.mark(key)
	}
}

// Watch returns a watcher whose first Next returns every run the board
// holds (a session attaching mid-run sees it from there), then the runs
// changed since the previous Next. Close it when the session goes.
func (b *RunBoard) Watch() *RunWatch {
	w := &RunWatch{b: b, dirty: map[string]bool{}, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.watches[w] = struct{}{}
	for k := range b.runs {
		w.mark(k)
	}
	return w
}

// RunWatch is one session's view of the board.
type RunWatch struct {
	b     *RunBoard
	mu    sync.Mutex
	dirty map[string]bool
	wake  chan struct{}
}

func (w *RunWatch) mark(key string) {
	w.mu.Lock()
	w.dirty[key] = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // already woken: the reader gets this change with the others
	}
}

// Next waits until runs changed, or ctx ends, and returns a copy of each
// changed run as it is now, oldest first.
func (w *RunWatch) Next(ctx context.Context) ([]StepRun, error) {
	for {
		w.mu.Lock()
		keys := w.dirty
		w.dirty = map[string]bool{}
		w.mu.Unlock()
		if len(keys) > 0 {
			var out []StepRun
			w.b.mu.Lock()
			for k := range keys {
				if r := w.b.runs[k]; r != nil {
					c := *r
					c.Events = slices.Clone(r.Events)
					out = append(out, c)
				}
			}
			w.b.mu.Unlock()
			slices.SortFunc(out, func(a, b StepRun) int { return cmp.Compare(a.ID, b.ID) })
			if len(out) > 0 {
				return out, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.wake:
		}
	}
}

// Close ends the watch.
func (w *RunWatch) Close() {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	delete(w.b.watches, w)
}

// share also publishes the steps of a run the engine runs itself (a
// `ferry run` client's) on the board, one StepRun per step started, so the
// wizard's sessions see them as they see a driver's.
func (b *RunBoard) share(emit steps.Emit, who string) (steps.Emit, func(steps.Outcome, error)) {
	if b == nil { // an engine not made by Start
		return emit, func(steps.Outcome, error) {}
	}
	var mu sync.Mutex
	ids := map[string]uint64{}
	shared := func(ev steps.Event) {
		emit(ev)
		mu.Lock()
		defer mu.Unlock()
		switch id := ids[ev.Step]; {
		case ev.Step == "":
		case ev.Kind == steps.EventStarted:
			ids[ev.Step] = b.Start(StepRun{Step: ev.Step, By: who, Phase: RunApplying})
		case id == 0:
		case ev.Kind == steps.EventDone || ev.Kind == steps.EventSkipped:
			b.Finish(id, steps.Outcome{}, "", nil)
			delete(ids, ev.Step)
		case ev.Kind == steps.EventFailed:
			b.Finish(id, steps.Outcome{}, "", errors.New(ev.Error))
			delete(ids, ev.Step)
		default:
			b.Event(id, ev)
		}
	}
	// ended finishes, with the run's outcome, a step that stopped without
	// a done or failed event: one that waits for the operator (VMs not
	// confirmed, or rolled back as decided), or a run stopped midway.
	ended := func(out steps.Outcome, err error) {
		mu.Lock()
		defer mu.Unlock()
		for step, id := range ids {
			b.Finish(id, out, "", err)
			delete(ids, step)
		}
	}
	return shared, ended
}

// shareTest publishes a test migration (or its cleanup) the engine runs for
// a `ferry run` client on the board, as the dashboard's.
func (b *RunBoard) shareTest(step, what, who string) (emit func(steps.Emit) steps.Emit, finish func(report string, err error)) {
	if b == nil {
		return func(e steps.Emit) steps.Emit { return e }, func(string, error) {}
	}
	id := b.Start(StepRun{Step: step, Test: what, By: who, Phase: RunApplying})
	return func(inner steps.Emit) steps.Emit {
			return func(ev steps.Event) {
				inner(ev)
				b.Event(id, ev)
			}
		}, func(report string, err error) {
			b.Finish(id, steps.Outcome{}, report, err)
		}
}
