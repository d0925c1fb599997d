package steps

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/internal/nearname"
)

// Runner runs an itinerary without a terminal, resuming from the state: steps
// already done are not run again, a step left running or failed by an
// earlier process runs again (Apply is idempotent).
type Runner struct {
	Itinerary Itinerary
	Env       *Env
	Emit      Emit
	// Confirmed is true when the operator has confirmed the dangerous steps
	// (the cutover) for this plan; see ConfirmedVMs.
	Confirmed bool
	// Redo names steps done already that run again (`ferry run --redo`;
	// RedoSteps checks the names): every step but the cutover is
	// idempotent and plans from what it finds.
	Redo []string
}

// Outcome summarizes a run.
type Outcome struct {
	// Done counts the steps this run applied, AlreadyDone those a run
	// before it had, Skipped those the plan or the situation skips.
	Done, AlreadyDone, Skipped int
	// StoppedBefore is the step the run stopped in front of for want of a
	// confirmation ("" when it ran to the end).
	StoppedBefore string
	// RolledBack: the cutover rolled VMs back as the operator decided
	// (--rollback, ctrl+r) and nothing failed; the run stopped at the
	// cutover, which waits to cut them over anew.
	RolledBack bool `json:",omitempty"`
	// Report is a test migration's report (`ferry run --test-migrate`).
	Report string `json:",omitempty"`
	// AlreadyRolledBack are the VMs --rollback found rolled back already
	// (Env.SettledRollbacks): nothing was done to them.
	AlreadyRolledBack []string `json:",omitempty"`
}

// RedoSteps checks a --redo list (comma-separated step ids of it) and
// returns the ids. The cutover is not one: it runs for the VMs
// --confirm-cutover names.
func RedoSteps(it Itinerary, list string) ([]string, error) {
	var ids, all []string
	for _, st := range it {
		if id := st.Step.ID(); id != "cutover" {
			all = append(all, id)
		}
	}
	for _, id := range strings.Split(list, ",") {
		id = strings.TrimSpace(id)
		switch {
		case id == "cutover":
			return nil, errors.New("--redo cutover: the cutover runs for the VMs --confirm-cutover names (a VM cut over is not cut over again)")
		case !slices.Contains(all, id):
			return nil, fmt.Errorf("--redo %q: not a step%s; want one or more of %s (comma-separated)", id, nearname.Hint(id, all), strings.Join(all, ", "))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// ErrWaiting is returned by a step that did what it was allowed to and
// waits for the operator for the rest (VMs not yet confirmed for cutover):
// the step stays pending and the run stops without failing.
var ErrWaiting = errors.New("waiting for the operator")

// ErrConflict is returned when a step finds objects that differ from the
// plan in a way it will not change on its own.
var ErrConflict = errors.New("conflict with what exists")

// Run runs every step that is not done, in order, and stops at the first
// failure: later steps build on earlier ones. A cancelled ctx stops it with
// an error wrapping context.Canceled (exit 130).
func (r *Runner) Run(ctx context.Context) (Outcome, error) {
	var out Outcome
	ctx = withRedo(ctx, r.Redo)
	pf, state := r.Env.Plan(), r.Env.State
	for i, st := range r.Itinerary {
		id := st.Step.ID()
		emit := r.bind(i, id)
		prev := state.Get(id)
		if why := r.Env.Stale(id); why != "" {
			// A second wave: the step runs again for the VMs added.
			emit(Event{Kind: EventProgress, Message: "runs again: " + why, Fraction: -1})
		} else if why := r.lost(id); why != "" {
			emit(Warning("runs again: " + why))
		} else if prev.Status == StatusDone && slices.Contains(r.Redo, id) {
			emit(Event{Kind: EventProgress, Message: "runs again: asked for (--redo)", Fraction: -1})
		} else if prev.Status == StatusDone {
			msg := "already done"
			if prev.Finished != nil {
				msg += " at " + prev.Finished.Format(time.RFC3339)
			}
			emit(Event{Kind: EventSkipped, Message: msg})
			out.AlreadyDone++
			if changed := r.Env.AnswersChanged(st.Step); changed != "" && st.SkipReason(pf) == "" {
				emit(Warning(fmt.Sprintf("done with other answers than the plan's now (%s): `ferry plan --redo=%s` shows what applying them would change (one that cannot change in place is a conflict), `ferry run --redo=%s` applies them; or put them back", changed, id, id)))
			}
			if d, ok := st.Step.(drifter); ok && st.SkipReason(pf) == "" {
				if drift, redo := d.drift(ctx, r.Env); drift != "" {
					emit(Warning(fmt.Sprintf("done before, but now %s; `ferry run --redo=%s` applies it again", drift, cmp.Or(redo, id))))
				}
			}
			continue
		}
		if reason := st.SkipReason(pf); reason != "" {
			if err := state.Skip(id, reason); err != nil {
				return out, err
			}
			emit(Event{Kind: EventSkipped, Message: reason})
			out.Skipped++
			continue
		}
		if st.Confirm && !r.Confirmed {
			why := fmt.Sprintf("it needs a typed confirmation (ferry run --confirm-cutover=%s)", vmNames(r.Env.Migrating()))
			if id == "cutover" {
				// VMs whose cutover was rolled back (QA: this line said
				// nothing of it): when, and how to cut over again, as
				// ferry status says it.
				why = cmp.Or(r.Env.rolledBackText(), why)
			}
			emit(Warning(fmt.Sprintf("stopped before %s: %s", st.Step.Title(), why)))
			if id == "cutover" {
				// A cutover left interrupted is not for later: its VM's
				// replication is held and its service may be down.
				for _, vm := range r.Env.Migrating() {
					if note := r.Env.CutoverNote(vm.Name); note != "" {
						emit(Warning(vm.Name + ": " + note))
					}
				}
				// What would refuse it as things stand, said now rather
				// than when it is confirmed (the plan checks again then).
				if items, err := r.Env.CutoverReadiness(ctx); err == nil {
					for _, it := range items {
						emit(Warning(fmt.Sprintf("the cutover would refuse as things stand: %s %s: %s", it.Kind, it.Name, it.Detail)))
					}
				}
			}
			out.StoppedBefore = id
			return out, nil
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		err := r.runStep(ctx, i, st, emit)
		ranAgain(ctx, id)
		if err != nil {
			if errors.Is(err, ErrWaiting) {
				out.StoppedBefore, out.RolledBack = id, OnlyRolledBackAsDecided(err)
				return out, nil
			}
			return out, fmt.Errorf("step %d (%s): %w", i+1, st.Step.Title(), err)
		}
		out.Done++
	}
	return out, nil
}

func vmNames(vms []VMPlan) string {
	var n []string
	for _, vm := range vms {
		n = append(n, vm.Name)
	}
	return strings.Join(n, ",")
}

func (r *Runner) runStep(ctx context.Context, i int, st Stage, emit Emit) (err error) {
	id, state := st.Step.ID(), r.Env.State
	if err := state.Begin(id); err != nil {
		return err
	}
	emit(Event{Kind: EventStarted, Message: st.Step.Title()})
	defer func() {
		if err == nil {
			return
		}
		if errors.Is(err, ErrWaiting) {
			if serr := state.Pend(id, err.Error()); serr != nil {
				err = serr
				return
			}
			if OnlyRolledBackAsDecided(err) {
				// What the operator asked for, not a warning.
				emit(Progress(err.Error(), -1))
				return
			}
			emit(Warning(err.Error()))
			return
		}
		if ctx.Err() != nil && id != "cutover" {
			// Stopped by the operator (a signal, the wizard quit), not
			// failed: the step stays running in the state, which ferry
			// status reads as interrupted, and runs again next time. The
			// cutover records its own outcome (rolled back, or a
			// decision) and its report, below.
			err = interruptedErr{cause: context.Cause(ctx), err: ctx.Err()}
			emit(Warning(err.Error()))
			return
		}
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		if serr := state.Fail(id, err); serr != nil {
			err = errors.Join(err, serr)
		}
		emit(Event{Kind: EventFailed, Error: err.Error()})
	}()

	plan, err := st.Step.Plan(ctx, r.Env)
	if err != nil {
		return err
	}
	for _, it := range plan.Items {
		emit(Event{Kind: EventPlanItem, Message: it.String(), Item: &it})
	}
	if len(plan.Conflicts()) > 0 {
		return fmt.Errorf("%w, nothing changed: %s", ErrConflict, plan.conflictText())
	}

	// Persist every change as it is reported, so a crash in the middle of
	// the step still leaves a record of what was created.
	var saveErr error
	record := func(ev Event) {
		if ev.Kind == EventChange && ev.Item != nil && ev.Item.Resource != nil {
			res := *ev.Item.Resource
			res.Created = res.Created || ev.Item.Action == ActionCreate
			if err := state.Record(id, res); err != nil && saveErr == nil {
				saveErr = err
			}
		}
		emit(ev)
	}
	res, err := st.Step.Apply(ctx, r.Env, record)
	if err != nil {
		return err
	}
	if saveErr != nil {
		return saveErr
	}
	if err := st.Step.Verify(ctx, r.Env); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if err := state.FinishWith(id, res, stepAnswers(st.Step, r.Env.Plan())); err != nil {
		return err
	}
	emit(Event{Kind: EventDone, Message: res.Summary()})
	return nil
}

// bind fills in the step, index and time of events.
func (r *Runner) bind(i int, id string) Emit {
	return func(ev Event) {
		ev.Step, ev.Index = id, i+1
		if ev.Time.IsZero() {
			ev.Time = time.Now().UTC()
		}
		r.log(ev)
		if r.Emit != nil {
			r.Emit(ev)
		}
	}
}

// log writes the event to the Env's structured log (progress at debug
// level, failures at error level).
func (r *Runner) log(ev Event) { r.Env.LogEvent(ev) }

// LogEvent writes ev to the Env's structured log (ferry.log while the
// wizard runs), as a step run's events are: progress at debug level,
// warnings at warn, failures at error. Nothing without a log.
func (e *Env) LogEvent(ev Event) {
	if e.Log == nil {
		return
	}
	level := slog.LevelInfo
	switch ev.Kind {
	case EventProgress, EventPlanItem:
		level = slog.LevelDebug
	case EventWarning:
		level = slog.LevelWarn
	case EventFailed:
		level = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("step", ev.Step), slog.String("kind", string(ev.Kind))}
	if ev.Kind == EventProgress && ev.Fraction >= 0 {
		attrs = append(attrs, slog.Float64("fraction", ev.Fraction))
	}
	if ev.Item != nil && ev.Item.Resource != nil {
		attrs = append(attrs, slog.String("resource", ev.Item.Resource.ID))
	}
	msg := ev.Message
	if ev.Error != "" {
		msg = ev.Error
	}
	e.Log.LogAttrs(context.Background(), level, msg, attrs...)
}

// StagePlan is one step's answer to `ferry plan`.
type StagePlan struct {
	Index   int    // 1-based
	Of      int    // the itinerary's length (an interrupted PlanAll returns fewer plans)
	Step    Step   //
	Status  Status // from the state file
	Skipped string // why it does not run; empty when it does
	// Redo: a step done before that the run would run again (--redo); the
	// plans of the steps after it count it pending.
	Redo bool
	// AnswersChanged: done with answers the plan has changed since
	// (Env.AnswersChanged), and not asked to run again.
	AnswersChanged string
	Plan           Plan
	Err            error
}

// PlanDoc is a StagePlan as JSON: `ferry plan --json` prints these, and
// the engine's socket carries them (the step by its ID, the error as text).
type PlanDoc struct {
	Index   int    `json:"index"`
	Step    string `json:"step"`
	Title   string `json:"title"`
	Status  Status `json:"status"`
	Skipped string `json:"skipped,omitempty"`
	Redo    bool   `json:"redo,omitempty"`
	// AnswersChanged: see StagePlan.
	AnswersChanged string `json:"answers_changed,omitempty"`
	Items          []Item `json:"items,omitempty"`
	Changes        int    `json:"changes"`
	Error          string `json:"error,omitempty"`
}

// PlanDocs is plans as PlanDocs.
func PlanDocs(plans []StagePlan) []PlanDoc {
	out := make([]PlanDoc, 0, len(plans))
	for _, sp := range plans {
		d := PlanDoc{Index: sp.Index, Step: sp.Step.ID(), Title: sp.Step.Title(), Status: sp.Status,
			Skipped: sp.Skipped, Redo: sp.Redo, AnswersChanged: sp.AnswersChanged, Items: sp.Plan.Items, Changes: sp.Plan.Changes()}
		if sp.Err != nil {
			d.Error = sp.Err.Error()
		}
		out = append(out, d)
	}
	return out
}

// PlanAll asks every step that would run what it would change. It changes
// nothing (not even the state file). The error reports the steps whose plan
// failed; the others are still in the list. With Redo (`ferry plan
// --redo`) the steps after those named plan as the run with that --redo
// would: the named steps count as pending for them.
func (r *Runner) PlanAll(ctx context.Context) ([]StagePlan, error) {
	ctx = withRedo(ctx, r.Redo)
	var out []StagePlan
	var errs []error
	for i, st := range r.Itinerary {
		sp := StagePlan{Index: i + 1, Of: len(r.Itinerary), Step: st.Step, Status: r.Env.State.Status(st.Step.ID()), Skipped: st.SkipReason(r.Env.Plan()),
			Redo: slices.Contains(r.Redo, st.Step.ID())}
		if sp.Skipped == "" && !sp.Redo {
			sp.AnswersChanged = r.Env.AnswersChanged(st.Step)
		}
		if sp.Skipped == "" {
			sp.Plan, sp.Err = st.Step.Plan(ctx, r.Env)
			if sp.Err != nil {
				errs = append(errs, fmt.Errorf("step %d (%s): %w", i+1, st.Step.Title(), sp.Err))
			}
		}
		out = append(out, sp)
		if err := ctx.Err(); err != nil {
			return out, err
		}
	}
	return out, errors.Join(errs...)
}

// WritePlans prints plans for people.
func WritePlans(w io.Writer, plans []StagePlan) {
	for _, sp := range plans {
		// Numbered as of the itinerary, not of the plans made: an
		// interrupted ferry plan numbered its first step [1/2] (QA h3).
		n := cmp.Or(sp.Of, len(plans))
		fmt.Fprintf(w, "[%d/%d] %s", sp.Index, n, sp.Step.Title())
		switch {
		case sp.Redo && sp.Status != StatusPending:
			fmt.Fprintf(w, " (state: %s; runs again: --redo)", sp.Status)
		case sp.Redo:
			fmt.Fprint(w, " (runs: --redo)")
		case sp.Status != StatusPending:
			fmt.Fprintf(w, " (state: %s)", sp.Status)
		}
		fmt.Fprintln(w)
		if sp.AnswersChanged != "" {
			fmt.Fprintf(w, "    ! done with other answers than the plan's now (%s): a run does not apply them on its own; `ferry plan --redo=%s` shows what applying them would change, `ferry run --redo=%s` applies them\n",
				sp.AnswersChanged, sp.Step.ID(), sp.Step.ID())
		}
		switch {
		case sp.Skipped != "":
			fmt.Fprintf(w, "    skip: %s\n", sp.Skipped)
		case errors.Is(sp.Err, context.Canceled):
			fmt.Fprintln(w, "    interrupted: not planned to its end")
		case sp.Err != nil:
			fmt.Fprintf(w, "    error: %v\n", sp.Err)
		default:
			for _, line := range strings.Split(strings.TrimSuffix(sp.Plan.String(), "\n"), "\n") {
				fmt.Fprintf(w, "    %s\n", line)
			}
		}
	}
}

// interruptedErr is a step stopped by the operator: it says so, and is
// the context's error (errors.Is context.Canceled) without repeating it.
type interruptedErr struct{ cause, err error }

func (e interruptedErr) Error() string {
	return fmt.Sprintf("interrupted (%v): the step did not finish; the next ferry run, or the wizard, runs it again", e.cause)
}

func (e interruptedErr) Unwrap() error { return e.err }

// lost is Env.ReplicasLost for the replication step ("" for the others).
func (r *Runner) lost(id string) string {
	if id != "replication" {
		return ""
	}
	return r.Env.ReplicasLost()
}

// drifter is a step done before whose effect can be undone behind ferry's
// back in a way that breaks what follows (the L2 appliance powered off: the
// stretch is down): drift says how, in words ("" when it holds or cannot be
// read). A run says so for a step it finds done, rather than end as if all
// were well. redo is what to run again for it ("": the step alone).
type drifter interface {
	drift(ctx context.Context, env *Env) (drift, redo string)
}
