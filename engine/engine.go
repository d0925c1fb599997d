// Package engine is `ferry serve`: one long-running process that owns a
// plan's itinerary state, its replication scheduler, its probes and its
// cutovers, and keeps replicating whether anyone watches or not. Clients
// (`ferry run`, `ferry status`, wizards attached over SSH) reach it over a
// Unix socket beside the state file, or in-process.
//
// The engine runs the same steps as a foreground ferry, with the same
// confirmation rules: it holds the state file's lock for as long as it runs,
// so no other ferry acts on the plan behind its back.
package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// Options configure an engine.
type Options struct {
	// EventLog is the JSON-lines event log (default: EventLogPath of the
	// state file); EventLogMax the size at which it is rotated (default
	// DefaultEventLogMax), keeping EventLogKeep older files (default 3).
	EventLog     string
	EventLogMax  int64
	EventLogKeep int
	Log          *slog.Logger
	// Warnings, when set, gets a line ("ferry: warning: ...") for each
	// warning of what the engine does by itself when it starts: its
	// rollback of a cutover a killed ferry left with the source down, or
	// the failure of that rollback (ferry serve: its stderr; the event log
	// and Log have them too).
	Warnings io.Writer
}

// Engine owns one plan's env (state, clients, replication store) and its
// scheduler. Step runs are exclusive: one at a time, whoever asks (a
// `ferry run` client or the driver of a wizard).
type Engine struct {
	Env       *steps.Env
	Itinerary steps.Itinerary
	Sched     *replication.Scheduler
	Probes    *steps.ProbeWatch // the plan's probes, followed through edits
	Metrics   *Metrics
	// Runs are the wizard sessions' step runs, for every session attached.
	Runs    *RunBoard
	log     *slog.Logger
	events  *EventLog
	started time.Time
	// recovered is what the automatic rollback at the start emitted
	// (Recovered); written before the engine serves anyone.
	recovered []steps.Event

	mu      sync.Mutex
	subs    map[int]func(replication.Event)
	nextSub int
	busy    string // who runs steps now ("" when nobody)
	cutting map[string]bool
	logged  map[string]int64 // per VM: the tenth of its pass last logged
	// pass is, per VM, the events that tell its last pass as it stands:
	// the latest of each kind in passKinds, in their order (Subscribe).
	pass      map[string][]replication.Event
	attached  map[int]Attachment
	nextAttch int
	wizard    WizardServer // serves attached terminals (nil: none)
	terminals int          // terminals attached over the socket
	ctx       context.Context
	cancel    context.CancelFunc
}

// Attachment is a client attached to the engine's wizard: an SSH session,
// or a local terminal attached over the socket.
type Attachment struct {
	User        string    `json:"user"`
	Fingerprint string    `json:"fingerprint,omitempty"` // an SSH session's key
	Role        string    `json:"role"`                  // "driver" or "viewer"
	Remote      string    `json:"remote"`
	Via         string    `json:"via"`   // "ssh" or "local"
	Since       time.Time `json:"since"` // attached at
}

// String says who the attachment is, as the others see it.
func (a Attachment) String() string {
	if a.Fingerprint == "" {
		return fmt.Sprintf("%s (%s, %s %s)", a.User, a.Role, a.Via, a.Remote)
	}
	return fmt.Sprintf("%s (%s, key %s)", a.User, a.Role, a.Fingerprint)
}

// Start starts the engine over env (its state locked by the caller, its
// replication store open): the scheduler takes every VM that has a replica
// and passes it every RPO, the probes run, and every event goes to the
// event log and the metrics. Close stops it.
func Start(ctx context.Context, env *steps.Env, it steps.Itinerary, opts Options) (*Engine, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	path := opts.EventLog
	if path == "" {
		path = EventLogPath(env.State.Path())
	}
	elog, err := OpenEventLog(path, opts.EventLogMax, opts.EventLogKeep)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	e := &Engine{Env: env, Itinerary: it, log: opts.Log, events: elog, started: time.Now(),
		subs: map[int]func(replication.Event){}, cutting: map[string]bool{}, logged: map[string]int64{}, pass: map[string][]replication.Event{}, attached: map[int]Attachment{}, ctx: ctx, cancel: cancel}
	e.Metrics = newMetrics(e)
	e.Runs = NewRunBoard()
	// A cutover a killed ferry left after it had shut the source down and
	// before it requested the target's power-on: the service has been down
	// since. Rolled back now, loudly (the replica kept, its hold released
	// before the scheduler takes the job); one whose power-on was
	// requested waits for the operator's decision.
	if err := env.RecoverInterruptedCutovers(ctx, e.logSteps(func(ev steps.Event) {
		e.recovered = append(e.recovered, ev)
		if ev.Kind == steps.EventWarning && opts.Warnings != nil {
			fmt.Fprintf(opts.Warnings, "ferry: warning: %s\n", ev.Message)
		}
	})); err != nil {
		e.log.Warn("engine: automatic rollback of an interrupted cutover failed", "err", err)
	}
	sched, err := env.EnableWarm(ctx, e.replicationEvent)
	if err != nil {
		// Jobs that could not start are logged; the others replicate.
		e.log.Warn("engine: some replication jobs did not start", "err", err)
		e.events.Write(Record{Source: "engine", Kind: "warning", Message: "some replication jobs did not start: " + err.Error()})
	}
	e.Sched = sched
	e.Probes = env.WatchProbes(ctx, time.Second, time.Second)
	if err := e.Probes.Err(); err != nil {
		e.log.Warn("engine: the plan's probes cannot run", "err", err)
	}
	e.events.Write(Record{Source: "engine", Kind: "started", Message: fmt.Sprintf("engine started (pid %d) for state %s", os.Getpid(), env.State.Path())})
	return e, nil
}

// Close stops the scheduler (a running pass resumes at the next start),
// the probes, and the event log. The caller closes the env and releases
// the lock after it.
func (e *Engine) Close(ctx context.Context) {
	e.cancel()
	e.Env.Close(ctx)
	e.events.Write(Record{Source: "engine", Kind: "stopped", Message: "engine stopped"})
	e.events.Close()
}

// Context is the engine's: it ends when the engine stops. Steps a wizard
// session starts run in it, so that they outlive the session.
func (e *Engine) Context() context.Context { return e.ctx }

// EventLogPath is the event log of a state file: plan.state.json ->
// plan.events.jsonl beside it.
func EventLogPath(statePath string) string { return stem(statePath) + ".events.jsonl" }

// SocketPath is the engine's Unix socket for a state file:
// plan.state.json -> plan.sock beside it.
func SocketPath(statePath string) string { return stem(statePath) + ".sock" }

func stem(statePath string) string {
	base := strings.TrimSuffix(statePath, filepath.Ext(statePath))
	return strings.TrimSuffix(base, ".state")
}

// Subscribe receives, first, the events that tell each VM's last pass as it
// stands (its latest phase with the pass's kind, its latest figures, its
// end or pause), then every replication event from now on (a dashboard);
// the returned function ends the subscription. f must not block.
//
// A wizard attaching during a pass needs the events before it attached:
// the scheduler's status says only that a pass runs (QA: an attached
// wizard's row read "running" for the whole initial sync, where ferry
// lab's reads "initial transfer", and had no "pass: planned ..." figures
// until the next progress event, none at all between them).
func (e *Engine) Subscribe(f func(replication.Event)) (cancel func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	vms := make([]string, 0, len(e.pass))
	for vm := range e.pass {
		vms = append(vms, vm)
	}
	slices.Sort(vms)
	for _, vm := range vms {
		for _, ev := range e.pass[vm] {
			f(ev)
		}
	}
	id := e.nextSub
	e.nextSub++
	e.subs[id] = f
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.subs, id)
	}
}

func (e *Engine) replicationEvent(ev replication.Event) {
	if ev.Kind == replication.EventPhase && ev.Phase == replication.PhaseSnapshot {
		e.mu.Lock()
		delete(e.logged, ev.VM) // a new pass
		e.mu.Unlock()
	}
	e.Metrics.replicationEvent(ev)
	if ev.Kind != replication.EventProgress || e.progressStep(ev) {
		e.events.Write(replicationRecord(ev))
	}
	e.mu.Lock()
	e.keepPass(ev)
	subs := make([]func(replication.Event), 0, len(e.subs))
	for _, f := range e.subs {
		subs = append(subs, f)
	}
	e.mu.Unlock()
	for _, f := range subs {
		f(ev)
	}
}

// passKinds are the events Subscribe replays of a VM's last pass.
var passKinds = []replication.EventKind{replication.EventPhase, replication.EventProgress, replication.EventPassDone, replication.EventPaused}

// keepPass notes ev in e.pass (e.mu held): a pass's first phase starts
// its VM's events again; of each kind the latest is kept, in the order
// they came.
func (e *Engine) keepPass(ev replication.Event) {
	if ev.Kind == replication.EventResumed {
		// The pause it ended is no news to replay.
		e.pass[ev.VM] = slices.DeleteFunc(e.pass[ev.VM], func(k replication.Event) bool { return k.Kind == replication.EventPaused })
		return
	}
	if !slices.Contains(passKinds, ev.Kind) {
		return
	}
	if ev.Kind == replication.EventPhase && ev.Phase == replication.PhaseSnapshot {
		e.pass[ev.VM] = nil
	}
	kept := slices.DeleteFunc(e.pass[ev.VM], func(k replication.Event) bool { return k.Kind == ev.Kind })
	e.pass[ev.VM] = append(kept, ev)
}

// progressStep says whether a progress event goes to the event log: the
// first one of a pass and then one per tenth of the pass acknowledged
// (screens get them all; the log gets enough to follow a long pass).
func (e *Engine) progressStep(ev replication.Event) bool {
	if ev.Planned <= 0 {
		return false
	}
	tenth := ev.Acked * 10 / ev.Planned
	e.mu.Lock()
	defer e.mu.Unlock()
	last, ok := e.logged[ev.VM]
	if ok && tenth <= last && ev.Acked > 0 {
		return false
	}
	e.logged[ev.VM] = tenth
	return true
}

// ErrBusy is wrapped by the error of a step run asked for while another
// one runs.
var ErrBusy = errors.New("the engine is running steps")

// Exclusive takes the engine's step lock for who (a step run, a wizard's
// step); release gives it back. It does not wait: a second caller gets an
// error wrapping ErrBusy that names the first.
func (e *Engine) Exclusive(who string) (release func(), err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.busy != "" {
		return nil, fmt.Errorf("%w for %s; wait for it to finish (ferry status --follow shows its progress)", ErrBusy, e.busy)
	}
	e.busy = who
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.busy = ""
	}, nil
}

// Busy says who holds the engine's step lock now ("" when nobody).
func (e *Engine) Busy() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.busy
}

// RunRequest is what `ferry run` asks of the engine: its flags.
type RunRequest struct {
	Confirm  string `json:"confirm,omitempty"`
	Finish   bool   `json:"finish,omitempty"`
	Rollback bool   `json:"rollback,omitempty"`
	Verify   string `json:"verify,omitempty"`
	// Redo names steps done already that run again (comma-separated ids).
	Redo string `json:"redo,omitempty"`
	// TestMigrate names the VMs of a test migration (nothing else runs);
	// TestCleanup removes what a test left.
	TestMigrate string `json:"test_migrate,omitempty"`
	TestCleanup bool   `json:"test_cleanup,omitempty"`
	Client      string `json:"client,omitempty"` // who asks, for the log and ErrBusy
}

// UsageError marks a request the engine refused before doing anything
// because of bad input (the client exits 2).
type UsageError struct{ Err error }

func (u UsageError) Error() string { return u.Err.Error() }
func (u UsageError) Unwrap() error { return u.Err }

// Run runs the itinerary as `ferry run` does, in the engine: the steps go
// on if the client goes away (a cutover is never left halfway because a
// terminal closed). emit receives every step event.
func (e *Engine) Run(ctx context.Context, req RunRequest, emit steps.Emit) (steps.Outcome, error) {
	var out steps.Outcome
	env := e.Env
	var cutover []string
	if req.Confirm != "" {
		vms, err := steps.ConfirmedVMs(env.Plan(), req.Confirm)
		if err != nil {
			return out, UsageError{err}
		}
		cutover = vms
	}
	decision := ""
	switch {
	case req.Finish && req.Rollback:
		return out, UsageError{errors.New("--finish and --rollback exclude each other")}
	case (req.Finish || req.Rollback) && req.Confirm == "":
		return out, UsageError{errors.New("--finish and --rollback decide for the VMs named by --confirm-cutover")}
	case req.Finish:
		decision = steps.CutoverFinish
	case req.Rollback:
		decision = steps.CutoverRollback
	}
	if err := e.checkPlanFile(); err != nil {
		return out, UsageError{err}
	}
	if req.TestMigrate != "" || req.TestCleanup {
		return e.runTest(ctx, req, emit)
	}
	var verify, redo []string
	if req.Verify != "" {
		var err error
		if verify, err = steps.VerifyNames(env.Plan(), req.Verify); err != nil {
			return out, UsageError{err}
		}
	}
	if req.Redo != "" {
		var err error
		if redo, err = steps.RedoSteps(e.Itinerary, req.Redo); err != nil {
			return out, UsageError{err}
		}
	}
	who, release, err := e.exclusiveFor(req)
	if err != nil {
		return out, err
	}
	defer release()
	// --rollback run again for VMs rolled back already: nothing to do for
	// them (not a refusal); nothing at all when it names only those.
	cutover, settled, settledLines := env.SettledRollbacks(cutover, decision)
	// --verify or --redo beside them: such a run would ignore them.
	var flags []string
	if req.Verify != "" {
		flags = append(flags, "--verify="+req.Verify)
	}
	if req.Redo != "" {
		flags = append(flags, "--redo="+req.Redo)
	}
	if err := env.RefuseIgnoredBySettled(settled, cutover, flags); err != nil {
		return out, UsageError{err}
	}
	for _, ev := range e.Itinerary.SettledEvents(settledLines) {
		e.logSteps(emit)(ev)
	}
	if len(settled) > 0 && len(cutover) == 0 {
		env.SettleEndedCutoverStep() // a killed --rollback's step: ended
		return steps.Outcome{AlreadyRolledBack: settled}, nil
	}
	if err := env.CheckDecision(cutover, decision); err != nil {
		return out, UsageError{err}
	}
	if err := env.CheckTestLeft(cutover, decision); err != nil {
		return out, UsageError{err}
	}
	// --verify of a VM cut over or with no replica yet, as ferry run
	// refuses it standalone (after the refusals above).
	if err := usageIfRefused(env.CheckVerifyNames(verify)); err != nil {
		return out, err
	}
	env.CutoverVMs, env.CutoverDecision = cutover, decision
	defer func() { env.CutoverVMs, env.CutoverDecision = nil, "" }()
	e.setCutting(cutover, true)
	defer e.setCutting(cutover, false)

	e.events.Write(Record{Source: "engine", Kind: "run", Message: "steps run for " + who})
	emit, ended := e.Runs.share(e.logSteps(emit), who)
	r := &steps.Runner{Itinerary: e.Itinerary, Env: env, Emit: emit, Confirmed: req.Confirm != "", Redo: redo}
	if err := r.Preflight(ctx); err != nil {
		return out, err
	}
	if len(verify) > 0 {
		if err := env.VerifyReplicas(ctx, verify, emit); err != nil {
			ended(out, err)
			return out, err
		}
	}
	out, err = r.Run(ctx)
	out.AlreadyRolledBack = settled
	ended(out, err)
	return out, err
}

// Plan plans every step of the engine's itinerary with the engine's env
// (ferry plan while the engine runs: the replication store is the
// engine's). It changes nothing and takes no step lock, as a wizard's plan
// screen does not.
//
// With redo (`ferry plan --redo`), the steps after those it names plan as
// if those ran again (the plan's own view: a run or another plan beside it
// does not see it).
func (e *Engine) Plan(ctx context.Context, redo string) ([]steps.StagePlan, error) {
	if err := e.checkPlanFile(); err != nil {
		return nil, UsageError{err}
	}
	r := &steps.Runner{Itinerary: e.Itinerary, Env: e.Env}
	if redo != "" {
		ids, err := steps.RedoSteps(e.Itinerary, redo)
		if err != nil {
			return nil, UsageError{err}
		}
		r.Redo = ids
	}
	return r.PlanAll(ctx)
}

// checkPlanFile refuses a step run when the plan file no longer holds the
// plan the engine runs (loaded at its start, or saved since by its wizard):
// an operator who edited it (a second wave's VMs, say) would otherwise see
// the engine run the old plan and report every step already done.
func (e *Engine) checkPlanFile() error {
	path := e.Env.State.Plan
	if path == "" {
		return nil
	}
	restart := "the engine runs the plan it loaded at its start; restart ferry serve to run the plan file as it is now (nothing was run)"
	pf, err := steps.LoadPlanFile(path)
	if err == nil {
		err = pf.Locate(pf.Validate(e.Itinerary))
	}
	if err != nil {
		return fmt.Errorf("%w\n%s", err, restart)
	}
	pf.ApplyDefaults(e.Itinerary)
	file, err1 := yaml.Marshal(pf)
	running, err2 := yaml.Marshal(e.Env.Plan())
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if bytes.Equal(file, running) {
		return nil
	}
	var a, b map[string]any
	_ = yaml.Unmarshal(file, &a)
	_ = yaml.Unmarshal(running, &b)
	var keys []string
	for k := range a {
		if !reflect.DeepEqual(a[k], b[k]) {
			keys = append(keys, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return fmt.Errorf("plan file %s has changed since the engine loaded it (%s): %s", path, strings.Join(keys, ", "), restart)
}

// exclusiveFor takes the engine's step lock for req's client, named for
// the log and for ErrBusy.
func (e *Engine) exclusiveFor(req RunRequest) (string, func(), error) {
	who := req.Client
	if who == "" {
		who = "a ferry run client"
	}
	release, err := e.Exclusive(who)
	return who, release, err
}

// runTest runs a test migration or its cleanup (RunRequest.TestMigrate,
// TestCleanup) while the scheduler goes on replicating.
func (e *Engine) runTest(ctx context.Context, req RunRequest, emit steps.Emit) (steps.Outcome, error) {
	var out steps.Outcome
	var names []string
	if req.TestMigrate != "" {
		if req.TestCleanup || req.Confirm != "" || req.Verify != "" || req.Finish || req.Rollback {
			return out, UsageError{errors.New("--test-migrate runs alone: without --test-cleanup, --confirm-cutover, --finish, --rollback or --verify")}
		}
		var err error
		if names, err = steps.TestNames(e.Env.Plan(), req.TestMigrate); err != nil {
			return out, UsageError{err}
		}
		// A plan no test runs with (test_migration.network not named, not
		// ISOLATED...), as ferry run refuses it standalone: before the
		// step lock, the event log and the dashboards' board.
		if err := usageIfRefused(e.Env.CheckTestPlan(ctx)); err != nil {
			return out, err
		}
		// A VM no test takes in its state (cut over, no replica yet).
		if err := usageIfRefused(e.Env.CheckTestNames(names)); err != nil {
			return out, err
		}
	} else if req.Confirm != "" || req.Verify != "" || req.Finish || req.Rollback {
		return out, UsageError{errors.New("--test-cleanup runs alone: without --confirm-cutover, --finish, --rollback or --verify")}
	}
	who, release, err := e.exclusiveFor(req)
	if err != nil {
		return out, err
	}
	defer release()
	emit = e.logSteps(emit)
	// The wizard's sessions see it on the dashboard, as a driver's.
	what := "test cleanup"
	if !req.TestCleanup {
		what = "test migration of " + strings.Join(names, ", ")
	}
	share, finish := e.Runs.shareTest(e.replicationStep(), what, who)
	emit = share(emit)
	if req.TestCleanup {
		e.events.Write(Record{Source: "engine", Kind: "run", Message: "test migration cleanup for " + who})
		err = e.Env.TestCleanup(ctx, emit)
		finish("", err)
		return out, err
	}
	e.events.Write(Record{Source: "engine", Kind: "run", Message: "test migration of " + strings.Join(names, ", ") + " for " + who})
	out.Report, err = e.Env.TestMigrate(ctx, names, emit)
	finish(out.Report, err)
	if out.Report == "" {
		err = usageIfRefused(err)
	}
	return out, err
}

// usageIfRefused is err, a UsageError when it is a *steps.NamesRefused (a
// VM named in a state the flag does not take) or a *steps.FieldError (a
// plan answer missing or not valid): bad input, nothing run, as ferry run
// standalone exits 2 for them.
func usageIfRefused(err error) error {
	if _, ok := errors.AsType[*steps.NamesRefused](err); ok {
		return UsageError{err}
	}
	if _, ok := errors.AsType[*steps.FieldError](err); ok {
		return UsageError{err}
	}
	return err
}

// replicationStep is the ID of the itinerary's replication step (whose
// dashboard shows test migrations).
func (e *Engine) replicationStep() string {
	for _, st := range e.Itinerary {
		if st.Kind == steps.KindReplication {
			return st.Step.ID()
		}
	}
	return "replication"
}

// logSteps also writes every step event to the event log.
func (e *Engine) logSteps(emit steps.Emit) steps.Emit {
	return func(ev steps.Event) {
		if ev.Kind != steps.EventProgress || ev.Fraction < 0 || ev.Fraction >= 1 {
			e.events.Write(stepRecord(ev))
		}
		emit(ev)
	}
}

// Recovered is what the engine's automatic rollback at its start emitted
// (steps.Env.RecoverInterruptedCutovers), for the wizards attached to it
// (tui.Deps.Recovered: they say what it did while it still holds).
func (e *Engine) Recovered() []steps.Event { return slices.Clone(e.recovered) }

// StepEmit is what a wizard's step run passes to its steps so the event log
// records them as it does the engine's runs.
func (e *Engine) StepEmit(emit steps.Emit) steps.Emit { return e.logSteps(emit) }

func (e *Engine) setCutting(vms []string, on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, vm := range vms {
		if on {
			e.cutting[vm] = true
		} else {
			delete(e.cutting, vm)
		}
	}
}

// phase is vm's migration phase, with "cutting over" while a confirmed
// cutover of it runs.
func (e *Engine) phase(vm string) string {
	e.mu.Lock()
	cutting := e.cutting[vm]
	e.mu.Unlock()
	p := e.Env.VMPhase(vm)
	if cutting && p != steps.VMCutOver && e.Env.State.Status("cutover") == steps.StatusRunning {
		return "cutting over"
	}
	return string(p)
}

// Attach records a client attached to the engine's wizard; detach removes it.
func (e *Engine) Attach(a Attachment) (detach func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := e.nextAttch
	e.nextAttch++
	a.Since = time.Now()
	if a.Via == "" {
		a.Via = "ssh"
	}
	e.attached[id] = a
	from := fmt.Sprintf("from %s (key %s)", a.Remote, a.Fingerprint)
	if a.Fingerprint == "" {
		from = "from a " + a.Via + " terminal, " + a.Remote
	}
	e.events.Write(Record{Source: a.Via, Kind: "attached", Message: fmt.Sprintf("%s attached as %s %s", a.User, a.Role, from)})
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.attached, id)
		e.events.Write(Record{Source: a.Via, Kind: "detached", Message: a.String() + " detached"})
	}
}

// Attached lists the attached clients, oldest first.
func (e *Engine) Attached() []Attachment {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Attachment, 0, len(e.attached))
	for _, a := range e.attached {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Attachment) int { return a.Since.Compare(b.Since) })
	return out
}

// Control pauses (or resumes) the replication of vms (ferry pause or
// resume; steps.ControlNames against the engine's plan) in the engine's
// scheduler, as a wizard session's p (or u) does: the dashboards of the
// attached sessions show it at once, and a pause says who asked (by).
// Bad input (a VM not in the plan, a job ferry holds) is a UsageError, and
// nothing is changed.
func (e *Engine) Control(pause bool, vms []string, by string) ([]string, error) {
	verb := "resume"
	if pause {
		verb = "pause"
	}
	names, err := steps.ControlNames(e.Env.Plan(), verb, vms)
	if err != nil {
		return nil, UsageError{err}
	}
	var lines []string
	if pause {
		lines, err = e.Env.PauseReplication(names, by)
	} else {
		lines, err = e.Env.ResumeReplication(names)
	}
	if _, ok := errors.AsType[*steps.ControlRefused](err); ok {
		err = UsageError{err}
	}
	if err == nil {
		e.log.Info("engine: replication "+verb+"d", "vms", names, "by", by)
	}
	return lines, err
}

// StepStatus is one step's line of `ferry status`.
type StepStatus struct {
	Step    string `json:"step"`
	Status  string `json:"status"`
	Summary string `json:"summary,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Info says which engine answered a status.
type Info struct {
	PID      int          `json:"pid"`
	Socket   string       `json:"socket"`
	Since    time.Time    `json:"since"`
	Busy     string       `json:"busy,omitempty"`
	Attached []Attachment `json:"attached,omitempty"`
}

// Status is `ferry status --json`'s document.
type Status struct {
	Steps     []StepStatus     `json:"steps"`
	Jobs      []steps.VMStatus `json:"jobs"`
	Endpoints []config.Origin  `json:"endpoints"`
	JobsError string           `json:"jobs_error,omitempty"`
	// Tests are the VMs whose test migration is left running (its copy
	// and the receiver appliance's snapshot may be at the provider).
	Tests []string `json:"tests_left_running,omitempty"`
	// Dropped says of each VM the plan no longer lists whose cutover was
	// left unfinished what is wrong and what to do (Env.DroppedCutovers).
	Dropped []string `json:"dropped_cutovers,omitempty"`
	Engine  *Info    `json:"engine,omitempty"`
}

// StatusOf reads env's status: the steps from its state, the jobs from its
// replication store (jobsErr when that cannot be read).
func StatusOf(env *steps.Env, it steps.Itinerary, now time.Time) (Status, error) {
	st := Status{Endpoints: env.Config.Origins(), Tests: env.TestsLeftRunning(), Dropped: env.DroppedCutovers()}
	for _, s := range it {
		id := s.Step.ID()
		ss := env.State.Get(id)
		if note := env.StaleNote(id); note != "" {
			// Done before VMs were added (a second wave): pending again,
			// as the wizard and the next run have it.
			ss.Status, ss.Summary = steps.StatusPending, note+" (done before: "+ss.Summary+")"
		}
		if id == "cutover" {
			// Rolled back VMs: when, and how to cut over again.
			ss.Summary = env.RolledBackSummary(ss.Summary)
		}
		st.Steps = append(st.Steps, StepStatus{id, string(ss.Status), ss.Summary, ss.Error})
	}
	jobs, err := env.ReplicationStatus(now)
	st.Jobs = jobs
	if err != nil {
		st.JobsError = err.Error()
	}
	return st, err
}

// EndedCutover gives the cutover step of st, recorded running, the summary
// of its ended VMs' cutovers (steps.Env.EndedCutoverSummary) when nothing
// runs it (idle): ferry status shows it interrupted, and says what ended.
func EndedCutover(env *steps.Env, st *Status, idle bool) {
	if !idle {
		return
	}
	for i, s := range st.Steps {
		if s.Step == "cutover" && s.Status == string(steps.StatusRunning) {
			st.Steps[i].Summary = env.EndedCutoverSummary()
		}
	}
}

// liveJobs completes jobs, read from the replication store, with what only
// the engine's scheduler knows: whether a pass runs now, and when the next
// one is due (its lead before last pass + RPO included) for a job waiting
// for it.
func (e *Engine) liveJobs(jobs []steps.VMStatus) {
	if e.Sched == nil {
		return
	}
	live := map[string]replication.JobStatus{}
	for _, j := range e.Sched.Status() {
		live[j.VM] = j
	}
	for i := range jobs {
		j, ok := live[jobs[i].VM]
		if !ok || jobs[i].Phase == replication.JobCutOver || jobs[i].Phase == replication.JobCuttingOver {
			continue
		}
		jobs[i].Running, jobs[i].PassAge = j.Running, j.PassAge
		jobs[i].Queued, jobs[i].Slots = j.Queued, j.Slots
		jobs[i].Passes = max(jobs[i].Passes, j.Passes)
		if !j.Running && !j.Paused && !j.NextPass.IsZero() {
			jobs[i].NextPass = j.NextPass
		}
	}
}

// Status is the engine's status document.
func (e *Engine) Status(now time.Time) (Status, error) {
	st, err := StatusOf(e.Env, e.Itinerary, now)
	e.mu.Lock()
	busy := e.busy
	e.mu.Unlock()
	EndedCutover(e.Env, &st, busy == "")
	e.liveJobs(st.Jobs)
	st.Engine = &Info{PID: os.Getpid(), Socket: SocketPath(e.Env.State.Path()), Since: e.started, Busy: busy, Attached: e.Attached()}
	return st, err
}
