package replication

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Full compare schedule bounds (Scheduler.SetVerifyEvery).
const (
	DefaultVerifyEvery = 24 * time.Hour
	MinVerifyEvery     = time.Hour
	MaxVerifyEvery     = 30 * 24 * time.Hour
)

// ValidateVerifyEvery checks the interval between full compares.
func ValidateVerifyEvery(d time.Duration) error {
	if d < MinVerifyEvery || d > MaxVerifyEvery {
		return fmt.Errorf("full compare interval %s is out of range: valid range is %s to %s (1 hour to 30 days)", d, MinVerifyEvery, MaxVerifyEvery)
	}
	return nil
}

// ErrPaused is returned for operations on a paused job.
var ErrPaused = errors.New("replication job is paused")

// Scheduler runs an initial sync and then one pass per RPO for each job,
// at most MaxConcurrent passes at a time, reports RPO health, and runs the
// final pass at cutover. A failed pass pauses its job with the error (the
// replica stays at its last committed pass); Resume retries it.
type Scheduler struct {
	maxConcurrent int
	events        func(Event)

	mu sync.Mutex
	// persistMu: one job pause record written at a time (persistPause).
	persistMu sync.Mutex
	jobs      map[string]*schedJob
	running   int
	wake      chan struct{}
	changed   chan struct{} // closed (and replaced) when a job's status changes
	now       func() time.Time
	// waits are the slot waits of recent passes (waitsKept at most): how
	// long each waited past its due time because maxConcurrent passes ran.
	waits []slotWait
}

// slotWait is how long a pass started at at waited for a free slot.
type slotWait struct {
	at time.Time
	d  time.Duration
}

// waitsKept bounds Scheduler.waits.
const waitsKept = 4096

// noteWait records that a pass starting now waited d past its due time.
func (s *Scheduler) noteWait(now time.Time, d time.Duration) {
	if d <= 0 {
		return
	}
	if len(s.waits) >= waitsKept {
		s.waits = append(s.waits[:0], s.waits[len(s.waits)/2:]...)
	}
	s.waits = append(s.waits, slotWait{now, d})
}

// slotWaitWithin is the longest wait for a free slot of the passes started
// in the last within (0: none waited).
func (s *Scheduler) slotWaitWithin(now time.Time, within time.Duration) time.Duration {
	var w time.Duration
	for i := len(s.waits) - 1; i >= 0 && now.Sub(s.waits[i].at) <= within; i-- {
		w = max(w, s.waits[i].d)
	}
	return w
}

type schedJob struct {
	job    *Job
	rpo    time.Duration
	paused bool
	reason error
	// waiting is why the last pass was waited out (VMState.Waiting).
	waiting string
	// failures counts the passes in a row that failed for the network
	// (transient) and were tried again later (0 after a pass completes).
	failures int
	final    bool // cutover started: no more scheduled passes
	due      time.Time

	failed    bool   // paused by a failed pass (not by request)
	differs   bool   // a verify found the replica differs (PauseForMismatch), until a full compare completes
	hold      Hold   // paused because ferry holds it (not by request): what for
	cutOver   bool   // the final pass and its verify succeeded
	passNow   bool   // a pass was asked for (PassNow): due at once, even after a running one
	started   uint64 // passes started
	completed uint64 // the number (started) of the last pass that completed
	asked     uint64 // the number of the pass the last PassNow, VerifyNow or Resume asked for

	running   bool
	passStart time.Time
	queued    time.Time     // due time of a pass waiting for a free slot (zero: none waits)
	cancel    func()        // interrupts the running pass as paused
	done      chan struct{} // closed when the running pass ends
	warned    bool          // RPO warning already sent for the current condition
	// slotWait: the job's pass is due and waits for a free slot (every
	// one of maxConcurrent runs a pass), its initial sync too, whose due
	// time is zero (queued is then zero as well).
	slotWait bool

	lastPass time.Time     // snapshot time of the last complete pass
	lastDur  time.Duration // how long the last complete pass took
	passes   int           // complete passes recorded (VMState.PassCount)

	verifyEvery time.Duration  // between full compares
	lastCompare *CompareResult // the last full compare (nil: none yet)
	compareNow  bool           // a full compare was asked for (VerifyNow)
}

// compareDue says whether the job's next pass should be a full compare:
// right after the initial sync, every verifyEvery, and on demand.
func (sj *schedJob) compareDue(now time.Time) bool {
	if sj.compareNow {
		return true
	}
	if sj.lastPass.IsZero() {
		return false // the initial sync comes first
	}
	return sj.lastCompare == nil || now.Sub(sj.lastCompare.Time) >= sj.verifyEvery
}

// turn orders the due jobs for the free slots: by due time, but a pass
// asked for now (a job resumed, PassNow) whose replica is older than its
// schedule allows takes its turn as its schedule set it, not from the
// moment it was asked for (QA: with every slot busy and the other jobs
// overdue, a job resumed after a pause waited behind all of them, its
// replica minutes older than theirs, although `ferry resume` said "its
// next pass runs now"). Only the order: its due time, and so the time it
// counts as waited for a slot, stays the request's.
func (sj *schedJob) turn() time.Time {
	if !sj.passNow || sj.lastPass.IsZero() {
		return sj.due
	}
	if d := nextDue(sj.lastPass, sj.lastDur, 0, sj.rpo); d.Before(sj.due) {
		return d
	}
	return sj.due
}

// nextDue is when the job's next pass is due after a pass that started at
// start and took dur: early enough to complete within the RPO, after waiting
// up to wait for a free slot (nextDue), or earlier when a full compare is
// due.
func (sj *schedJob) nextDue(start time.Time, dur, wait time.Duration, now time.Time) time.Time {
	due := nextDue(start, dur, wait, sj.rpo)
	if sj.compareDue(now) {
		return now
	}
	if sj.lastCompare != nil {
		if at := sj.lastCompare.Time.Add(sj.verifyEvery); at.Before(due) {
			due = at
		}
	}
	return due
}

// JobStatus is a snapshot of a job: the one model of a replication job's
// state for the dashboard, `ferry status` (its JSON names are the ones
// below) and the report. Scheduler.Status gives it for live jobs,
// StoredStatus for a job's persisted record.
type JobStatus struct {
	VM      string   `json:"vm"`
	RPO     RPO      `json:"rpo"`
	Phase   JobPhase `json:"phase"`
	Health  Health   `json:"rpo_health"`
	Running bool     `json:"running,omitempty"`
	Paused  bool     `json:"paused,omitempty"`
	// Held says what ferry holds the paused job for ("": not held; the
	// operator paused it, or a failure did).
	Held   Hold   `json:"held,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Waiting says why passes are not running although the job is not
	// paused (VMState.Waiting).
	Waiting     string        `json:"waiting,omitempty"`
	LastPass    time.Time     `json:"last_pass,omitzero"`
	LastPassAge time.Duration `json:"age_ns,omitempty"`
	// Passes counts the job's complete passes (VMState.PassCount).
	Passes int `json:"passes,omitempty"`
	// PassAge is how long the running pass has run (0: none runs).
	PassAge  time.Duration `json:"pass_age_ns,omitempty"`
	NextPass time.Time     `json:"next_pass,omitzero"`
	// Queued says the job's next pass (its initial sync too) is due and
	// waits for a pass slot: every one of the scheduler's concurrent
	// passes (Slots) runs another job's.
	Queued bool `json:"queued,omitempty"`
	// Slots is how many passes the scheduler runs at once (0: no
	// scheduler said, a stored record).
	Slots int `json:"pass_slots,omitempty"`
	// LastCompare is the last full compare (nil: none yet); CompareDue
	// says the next pass is one.
	LastCompare *CompareResult `json:"last_compare,omitempty"`
	CompareDue  bool           `json:"compare_due,omitempty"`
	// Differs says a verify found the replica differs from its source
	// (PauseForMismatch): the job was paused, and the full compare due
	// next repairs it. A compare due by its schedule, or one a pause
	// interrupted, is CompareDue alone.
	Differs bool `json:"replica_differs,omitempty"`
}

// NewScheduler returns a scheduler running at most maxConcurrent passes at
// a time (default 2); events receives every job's events (may be nil).
func NewScheduler(maxConcurrent int, events func(Event)) *Scheduler {
	if maxConcurrent <= 0 {
		maxConcurrent = 2
	}
	return &Scheduler{maxConcurrent: maxConcurrent, events: events, jobs: map[string]*schedJob{}, wake: make(chan struct{}, 1), changed: make(chan struct{}), now: time.Now}
}

// Add registers a job with its RPO; its first pass (initial sync, or the
// next incremental pass for a job with state) starts as soon as Run runs.
func (s *Scheduler) Add(job *Job, rpo time.Duration) error {
	if err := ValidateRPO(rpo); err != nil {
		return fmt.Errorf("%s: %w", job.VM, err)
	}
	vs, err := job.State.VM(job.VM)
	if err != nil {
		return err
	}
	// A compare interrupted by a kill goes on as a compare (from where it
	// got to), whatever the schedule says.
	inflight, err := job.State.CompareInFlight(job.VM)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if _, ok := s.jobs[job.VM]; ok {
		s.mu.Unlock()
		return fmt.Errorf("job %s already scheduled", job.VM)
	}
	sj := &schedJob{job: job, rpo: rpo, lastPass: vs.LastPass, lastDur: vs.LastDuration, passes: vs.PassCount, paused: vs.Paused, failed: vs.Paused && vs.Failed, verifyEvery: DefaultVerifyEvery, lastCompare: vs.LastCompare,
		compareNow: vs.CompareNeeded || inflight, differs: vs.CompareNeeded, waiting: vs.Waiting}
	if vs.Paused {
		sj.reason = errors.New(vs.PausedReason)
		if !vs.Failed {
			sj.hold = vs.Held
		}
	}
	if !vs.LastPass.IsZero() {
		now := s.now()
		sj.due = sj.nextDue(vs.LastPass, vs.LastDuration, s.slotWaitWithin(now, rpo), now)
	}
	// Events go to the job's own callback (if any) and to the scheduler's.
	prev := job.Events
	job.Events = func(e Event) {
		if prev != nil {
			prev(e)
		}
		if s.events != nil {
			s.events(e)
		}
	}
	job.loadCache()
	s.jobs[job.VM] = sj
	s.changedLocked()
	ev, ok := dueEvent(sj)
	s.mu.Unlock()
	if ok {
		s.emit(sj, ev)
	}
	s.poke()
	return nil
}

// dueEvent is the EventScheduled that says when sj's next pass is due, for
// a job waiting for it (ok false when a pass of it runs, whose end says it,
// when it is paused or the cutover's, and before its initial sync, due at
// once); s.mu is held.
func dueEvent(sj *schedJob) (ev Event, ok bool) {
	if sj.running || sj.paused || sj.final || sj.due.IsZero() {
		return Event{}, false
	}
	return Event{Kind: EventScheduled, NextPass: sj.due, Msg: "next pass due at " + sj.due.Format("15:04:05")}, true
}

// slotEvent is the EventScheduled that says sj's pass is due and waits
// for a free pass slot (Event.Queued).
func (s *Scheduler) slotEvent(sj *schedJob) Event {
	s.mu.Lock()
	due := sj.due
	s.mu.Unlock()
	return Event{Kind: EventScheduled, Queued: true, NextPass: due, Msg: fmt.Sprintf("pass due, waiting for a free pass slot (%d run at once)", s.maxConcurrent)}
}

// changedLocked wakes everyone waiting for a status change (Changed,
// WaitPass, WaitIdle); s.mu is held.
func (s *Scheduler) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Changed returns a channel that is closed at the next change of any job's
// status (a pass starts or ends, a job is added, paused, resumed or cut
// over): read Status, then wait on a new Changed channel. It never blocks
// the scheduler, and nothing needs to be released.
func (s *Scheduler) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// WaitPass waits until the pass the last PassNow, VerifyNow or Resume of
// vm asked for completes, or, when that one has completed already, the
// next pass to start (not one running at the call). It fails when the job
// is or gets paused (the error wraps ErrPaused and says why), when the
// cutover takes the job over, or when ctx ends.
func (s *Scheduler) WaitPass(ctx context.Context, vm string) error {
	s.mu.Lock()
	sj, err := s.get(vm)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	want := sj.started + 1
	if sj.asked > sj.completed {
		want = sj.asked
	}
	s.mu.Unlock()
	return s.wait(ctx, vm, func(sj *schedJob) (bool, error) {
		switch {
		case sj.completed >= want:
			return true, nil
		case sj.paused:
			return true, fmt.Errorf("%s: %w: %v", vm, ErrPaused, sj.reason)
		case sj.final:
			return true, fmt.Errorf("%s: the cutover owns the job: no more scheduled passes", vm)
		}
		return false, nil
	})
}

// WaitFirstPass waits until vm's job has a complete pass, or no pass of it
// runs (its first pass failed, or was paused), or ctx ends. Unlike WaitIdle
// it does not wait for a moment with no pass running: the full compare
// right after the initial sync starts at once, and passes longer than the
// RPO allows follow each other (a shared bandwidth cap), so a job may have
// none for minutes (QA: step 6 resumed after a kill -9 waited for its
// initial syncs through four more passes, its bar going back from 96%).
func (s *Scheduler) WaitFirstPass(ctx context.Context, vm string) error {
	return s.wait(ctx, vm, func(sj *schedJob) (bool, error) { return !sj.lastPass.IsZero() || !sj.running, nil })
}

// WaitIdle waits until no pass of vm runs (e.g. after Pause, whose running
// pass ends at its next checkpoint), or ctx ends.
func (s *Scheduler) WaitIdle(ctx context.Context, vm string) error {
	return s.wait(ctx, vm, func(sj *schedJob) (bool, error) { return !sj.running, nil })
}

// wait waits until done says so for vm's job, checking it at every status
// change.
func (s *Scheduler) wait(ctx context.Context, vm string, done func(*schedJob) (bool, error)) error {
	for {
		s.mu.Lock()
		sj, err := s.get(vm)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		ok, err := done(sj)
		changed := s.changed
		s.mu.Unlock()
		if ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// emit sends a scheduler event through the job (which adds the age of the
// last pass and the projected final-pass time).
func (s *Scheduler) emit(sj *schedJob, e Event) { sj.job.emit(e) }

// nextDue is when the pass after one that started at start and took dur
// must start so that it completes, and the replica is never older than the
// RPO, before start+rpo: a pass starting at start+rpo would leave the
// replica older than the RPO for as long as it runs. The lead is twice the
// last pass's duration (passes vary) plus wait, the longest any pass waited
// for a free slot in the last RPO (with many jobs due together the passes
// queue behind the concurrency bound; the same margin for every job keeps
// their order, so a queue spreads out instead of re-forming), at least
// RPO/10 and at most RPO/2 (a pass longer than that is warned about anyway).
func nextDue(start time.Time, dur, wait, rpo time.Duration) time.Time {
	lead := min(max(2*dur+wait, rpo/10), rpo/2)
	return start.Add(rpo - lead)
}

// Run schedules passes until ctx ends; running passes are cancelled (and
// resume on the next Run).
func (s *Scheduler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := s.startDue(ctx, &wg)
		s.checkRPO()
		wait := time.Until(next)
		if next.IsZero() || wait > 10*time.Second {
			wait = 10 * time.Second // RPO health is rechecked regularly
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// startDue starts every due pass the concurrency bound allows and returns
// the next due time.
func (s *Scheduler) startDue(ctx context.Context, wg *sync.WaitGroup) time.Time {
	// The jobs that began to wait for a slot are told after s.mu is
	// released (deferred before it).
	var waits []*schedJob
	defer func() {
		for _, sj := range waits {
			s.emit(sj, s.slotEvent(sj))
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var jobs []*schedJob
	for _, sj := range s.jobs {
		jobs = append(jobs, sj)
	}
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].turn().Before(jobs[j].turn()) })
	var next time.Time
	for _, sj := range jobs {
		if sj.paused || sj.final || sj.running || sj.due.After(now) {
			sj.queued = time.Time{} // not waiting for a slot
			sj.slotWait = false
		}
		if sj.paused || sj.final || sj.running {
			continue
		}
		if sj.due.After(now) {
			if next.IsZero() || sj.due.Before(next) {
				next = sj.due
			}
			continue
		}
		if s.running >= s.maxConcurrent {
			// Due, and every slot taken: the end of a running pass
			// wakes the scheduler (a due time in the past would have
			// Run spin until then).
			if sj.queued.IsZero() {
				sj.queued = sj.due
			}
			if !sj.slotWait {
				// Its status and its dashboard row say so (QA: a job
				// waiting for a slot read "idle · last — · next —",
				// and ferry status NEXT PASS "-").
				sj.slotWait = true
				waits = append(waits, sj)
				s.changedLocked()
			}
			continue
		}
		s.running++
		sj.running, sj.passStart, sj.warned, sj.slotWait = true, now, false, false
		if !sj.queued.IsZero() {
			s.noteWait(now, now.Sub(sj.queued))
			sj.queued = time.Time{}
		}
		sj.started++
		sj.passNow = false
		sj.done = make(chan struct{})
		pctx, cancel := context.WithCancelCause(ctx)
		sj.cancel = func() { cancel(ErrPaused) }
		compare := sj.compareDue(now)
		n := sj.started
		s.changedLocked()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runPass(pctx, sj, n, compare)
			cancel(nil)
		}()
	}
	return next
}

// sourceWaitRetry is how soon a pass is tried again that found a snapshot
// ferry did not take on its source, or too little room for its own.
const sourceWaitRetry = 30 * time.Second

// transientRetryFirst is how soon a pass that failed for the network is
// tried again; each failure in a row doubles it, up to transientRetryMax.
const (
	transientRetryFirst = 30 * time.Second
	transientRetryMax   = 5 * time.Minute
)

// transientRetry is the wait before the next try after failures passes in
// a row failed for the network.
func transientRetry(failures int) time.Duration {
	d := transientRetryFirst
	for i := 1; i < failures && d < transientRetryMax; i++ {
		d *= 2
	}
	return min(d, transientRetryMax)
}

// runPass runs pass number n of sj.
func (s *Scheduler) runPass(ctx context.Context, sj *schedJob, n uint64, compare bool) {
	res, err := sj.job.RunPassWith(ctx, PassOptions{Compare: compare})
	s.mu.Lock()
	s.running--
	sj.running = false
	close(sj.done)
	now := s.now()
	switch {
	case err == nil:
		sj.lastPass, sj.completed, sj.waiting, sj.failures = res.Start, n, "", 0
		sj.passes = max(sj.passes, res.Number)
		if res.Compare != nil {
			sj.lastCompare, sj.differs = res.Compare, false
			// A compare that started before a VerifyNow does not answer it.
			sj.compareNow = sj.compareNow && n < sj.asked
		}
		sj.lastDur = res.Duration
		sj.due = sj.nextDue(res.Start, res.Duration, s.slotWaitWithin(now, sj.rpo), now)
		if sj.passNow {
			sj.due = now
		}
		if ev, ok := dueEvent(sj); ok {
			defer s.emit(sj, ev)
		}
		if res.Duration > sj.rpo/2 {
			what := "pass"
			if res.Compare != nil {
				what = "full compare" // reads every block: plan verify_every accordingly
			}
			defer s.emit(sj, Event{Kind: EventRPOWarning, Health: HealthLagging, Msg: fmt.Sprintf("%s took %s, longer than RPO/2 (%s)", what, res.Duration.Round(time.Second), sj.rpo/2)})
		}
	case ctx.Err() != nil:
		// Paused or shutting down: the pass resumes later.
		sj.due = now
	case waitsOutside(err):
		// Not a failure to pause for: the pass is tried again soon (it
		// checks again), and the RPO health says when the wait costs the
		// RPO.
		sj.due = now.Add(min(sourceWaitRetry, sj.rpo))
		sj.waiting = err.Error()
		defer s.persistWaiting(sj, sj.waiting)
		defer s.emit(sj, Event{Kind: EventError, Err: err, Msg: fmt.Sprintf("next try at %s:", sj.due.Format("15:04:05")), NextPass: sj.due})
	case transient(err):
		// The network between ferry and the receiver (or the source) is
		// down for longer than the pass's own retries: tried again later,
		// less and less often, not paused for a person to resume (a
		// receiver appliance rebooting, a WAN link down for minutes). The
		// next pass keeps what this one made durable (DiskState.Carry).
		sj.failures++
		sj.due = now.Add(transientRetry(sj.failures))
		sj.waiting = fmt.Sprintf("a network error, %d pass(es) in a row: %v", sj.failures, err)
		defer s.persistWaiting(sj, sj.waiting)
		defer s.emit(sj, Event{Kind: EventError, Err: err, Msg: fmt.Sprintf("pass failed for the network (%d in a row; tried again until it answers), next try at %s:", sj.failures, sj.due.Format("15:04:05")), NextPass: sj.due})
	default:
		sj.paused, sj.reason, sj.failed, sj.hold = true, err, true, ""
		defer s.persistPause(sj)
		defer s.emit(sj, Event{Kind: EventPaused, Err: err, Msg: "job paused after a failed pass; the replica is at its last committed pass"})
	}
	s.changedLocked()
	s.mu.Unlock()
	s.poke()
}

// persistWaiting records why sj's passes are waited out.
func (s *Scheduler) persistWaiting(sj *schedJob, why string) {
	_ = sj.job.State.UpdateVM(sj.job.VM, func(vs *VMState) error {
		vs.Waiting = why
		return nil
	})
}

// persistPause records whether sj is paused, why (its reason), whether by
// a failed pass and for which hold, as it is when the record is written:
// a pause and a resume that race (one session pauses while another
// resumes) leave the record as the job ends up, never a pause stored last
// for a job that runs. persistMu keeps one such write at a time; the
// store's UpdateVM keeps a pass's commit from writing back a record read
// before the pause.
func (s *Scheduler) persistPause(sj *schedJob) {
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	s.mu.Lock()
	paused, reason, failed, hold := sj.paused, sj.reason, sj.failed, sj.hold
	s.mu.Unlock()
	_ = sj.job.State.UpdateVM(sj.job.VM, func(vs *VMState) error {
		vs.Paused, vs.Failed, vs.Held, vs.PausedReason = paused, paused && failed, "", ""
		if paused {
			vs.Held = hold
			if reason != nil {
				vs.PausedReason = reason.Error()
			}
		}
		return nil
	})
}

func (s *Scheduler) checkRPO() {
	s.mu.Lock()
	var warn []*schedJob
	var sts []JobStatus
	now := s.now()
	for _, sj := range s.jobs {
		if sj.final {
			continue
		}
		st := s.statusLocked(sj, now)
		bad := st.Health == HealthLagging || st.Health == HealthMissed
		if bad && !sj.warned {
			sj.warned = true
			warn, sts = append(warn, sj), append(sts, st)
		}
		if !bad {
			sj.warned = false
		}
	}
	s.mu.Unlock()
	for i, sj := range warn {
		s.emit(sj, Event{Kind: EventRPOWarning, Health: sts[i].Health, Msg: sts[i].HealthText()})
	}
}

func (s *Scheduler) get(vm string) (*schedJob, error) {
	sj, ok := s.jobs[vm]
	if !ok {
		return nil, fmt.Errorf("no replication job for VM %q", vm)
	}
	return sj, nil
}

// Pause stops scheduling passes for vm and interrupts a running pass (it
// resumes from its durable watermark after Resume).
func (s *Scheduler) Pause(vm string) error { return s.pause(vm, "", PausedByRequest) }

// PauseBy is Pause by someone named (a session of ferry serve): the job's
// reason says who ("paused by request of ..."), so that what waits for the
// job (the replication step) and ferry status can say it.
func (s *Scheduler) PauseBy(vm, by string) error {
	if by == "" {
		return s.Pause(vm)
	}
	return s.pause(vm, "", PausedBy(by))
}

// PausedBy is the reason of a job paused by the operator by ("": who is
// not known): "paused by request of alice (ferry pause)".
func PausedBy(by string) string {
	if by == "" {
		return PausedByRequest
	}
	return PausedByRequest + " of " + by
}

// PausedByRequest is the reason of a job paused by the operator (Pause).
const PausedByRequest = "paused by request"

// Hold is Pause for ferry's own work h (its cutover, a test migration):
// the job's status says "held", what for (Held) and why (Reason), not
// "paused", and so does its persisted record (VMState.Held), so that a
// ferry started after this one was killed knows it was a hold. Release
// ends it.
func (s *Scheduler) Hold(vm string, h Hold, why string) error {
	if h == "" {
		return fmt.Errorf("%s: hold for what? (no Hold given)", vm)
	}
	return s.pauseWith(vm, h, why, true)
}

// HoldAfterPass is Hold, except that a pass running now is not
// interrupted: it runs to its end (WaitIdle waits for it), and no pass
// starts after it until Release. For work that needs the replica as of a
// completed pass (a test migration's snapshot of it): a pass Hold
// interrupts has written part of its blocks, and the replica holds the
// source as of no moment at all (a disk no guest boots from) until a later
// pass completes.
func (s *Scheduler) HoldAfterPass(vm string, h Hold, why string) error {
	if h == "" {
		return fmt.Errorf("%s: hold for what? (no Hold given)", vm)
	}
	return s.pauseWith(vm, h, why, false)
}

func (s *Scheduler) pause(vm string, h Hold, why string) error {
	return s.pauseWith(vm, h, why, true)
}

// pauseWith pauses (h "") or holds vm's job; interrupt: a running pass is
// interrupted (it resumes from its durable watermark), otherwise it runs
// to its end.
func (s *Scheduler) pauseWith(vm string, h Hold, why string, interrupt bool) error {
	s.mu.Lock()
	sj, err := s.get(vm)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	sj.paused, sj.reason, sj.failed, sj.hold = true, errors.New(why), false, h
	// No longer waiting for a slot: resumed, and due while every slot is
	// taken, it is told again.
	sj.slotWait = false
	if sj.running && interrupt {
		sj.cancel()
	}
	s.changedLocked()
	s.mu.Unlock()
	s.persistPause(sj)
	s.emit(sj, Event{Kind: EventPaused, Msg: why, Hold: h})
	return nil
}

// Release ends a hold of vm's job for h (Hold), as Resume does, and reports
// whether there was one: a job paused otherwise (by the operator, after a
// failure) or held for something else stays as it is. why, when not "",
// says why in the resumed event (a hold a previous process left).
func (s *Scheduler) Release(vm string, h Hold, why string) (bool, error) {
	s.mu.Lock()
	sj, err := s.get(vm)
	if err != nil {
		s.mu.Unlock()
		return false, err
	}
	if !sj.paused || sj.hold != h || h == "" {
		s.mu.Unlock()
		return false, nil
	}
	due := s.resumeLocked(sj)
	s.mu.Unlock()
	s.resumed(sj, why, due)
	return true, nil
}

// PauseForMismatch pauses vm's job as failed because a verify found its
// replica differs from its source (err says where; the cutover's verify,
// which runs the job's passes itself, reports it here): the job stays
// paused until Resume, and its next pass is then a full compare, which
// repairs what differs. The pause is persisted (StateStore.PauseForMismatch).
func (s *Scheduler) PauseForMismatch(vm string, err error) error {
	s.mu.Lock()
	sj, gerr := s.get(vm)
	if gerr != nil {
		s.mu.Unlock()
		return gerr
	}
	sj.paused, sj.reason, sj.failed, sj.compareNow, sj.differs, sj.hold = true, err, true, true, true, ""
	if sj.running {
		sj.cancel()
	}
	s.changedLocked()
	s.mu.Unlock()
	perr := sj.job.State.PauseForMismatch(vm, err)
	s.emit(sj, Event{Kind: EventPaused, Err: err, Msg: "the replica differs from its source: paused; resuming runs a full compare that repairs it"})
	return perr
}

// Resume schedules passes for vm again, starting with one now.
func (s *Scheduler) Resume(vm string) error {
	s.mu.Lock()
	sj, err := s.get(vm)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	due := s.resumeLocked(sj)
	s.mu.Unlock()
	s.resumed(sj, "", due)
	return nil
}

// resumeLocked schedules sj's passes again, starting with one now (due,
// returned); s.mu is held.
func (s *Scheduler) resumeLocked(sj *schedJob) (due time.Time) {
	sj.paused, sj.reason, sj.failed, sj.hold, sj.due = false, nil, false, "", s.now()
	// Due at once even after a pass still finishing (a pause that landed
	// as it ended): its end would set the next pass an RPO later.
	sj.passNow = true
	sj.asked = sj.started + 1
	s.changedLocked()
	return sj.due
}

// resumed records and reports that sj resumed (why: "" or what ended a
// hold), its next pass due at due; s.mu is not held.
func (s *Scheduler) resumed(sj *schedJob, why string, due time.Time) {
	s.persistPause(sj)
	s.emit(sj, Event{Kind: EventResumed, Msg: why, NextPass: due})
	s.poke()
}

// SetVerifyEvery sets the interval between vm's full compares (default
// DefaultVerifyEvery).
func (s *Scheduler) SetVerifyEvery(vm string, every time.Duration) error {
	if err := ValidateVerifyEvery(every); err != nil {
		return fmt.Errorf("%s: %w", vm, err)
	}
	s.mu.Lock()
	sj, err := s.get(vm)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	sj.verifyEvery = every
	was := sj.due
	if !sj.lastPass.IsZero() && !sj.running {
		now := s.now()
		sj.due = sj.nextDue(sj.lastPass, sj.lastDur, s.slotWaitWithin(now, sj.rpo), now)
	}
	if sj.due.Equal(was) { // nothing new to say (Add just said it)
		s.mu.Unlock()
		s.poke()
		return nil
	}
	s.dueChanged(sj)
	return nil
}

// dueChanged wakes Run for sj's new due time and reports it (dueEvent);
// s.mu is held, and released.
func (s *Scheduler) dueChanged(sj *schedJob) {
	ev, ok := dueEvent(sj)
	s.mu.Unlock()
	if ok {
		s.emit(sj, ev)
	}
	s.poke()
}

// VerifyNow makes vm's next pass a full compare, due immediately (after a
// running pass ends).
func (s *Scheduler) VerifyNow(vm string) error {
	s.mu.Lock()
	sj, err := s.get(vm)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if sj.final {
		s.mu.Unlock()
		return fmt.Errorf("%s: the cutover owns the job: no full compare now", vm)
	}
	sj.compareNow = true
	sj.due, sj.asked = s.now(), sj.started+1
	s.dueChanged(sj)
	return nil
}

// PassNow makes vm's next pass due immediately (e.g. the last precopy
// before a cutover).
func (s *Scheduler) PassNow(vm string) error {
	s.mu.Lock()
	sj, err := s.get(vm)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	sj.due, sj.passNow, sj.asked = s.now(), true, sj.started+1
	s.dueChanged(sj)
	return nil
}

// FinalPass is the cutover pass: call it with the source VM powered off. It
// stops the job's scheduled passes, waits for a running one, runs a pass
// without snapshot, then verifies what that pass touched plus the digest
// maps' roots (VerifyFinal; whole disks with Job.FullVerify or when no
// complete digest map exists).
// After a success the job runs no more passes; after a failure warm
// replication resumes (paused instead if the verify found a difference).
func (s *Scheduler) FinalPass(ctx context.Context, vm string) (PassResult, error) {
	s.mu.Lock()
	sj, err := s.get(vm)
	if err != nil {
		s.mu.Unlock()
		return PassResult{}, err
	}
	if sj.paused {
		s.mu.Unlock()
		return PassResult{}, fmt.Errorf("%s: %w (%v): resume it first", vm, ErrPaused, sj.reason)
	}
	sj.final = true
	done := sj.done
	running := sj.running
	s.changedLocked()
	s.mu.Unlock()
	if running {
		select {
		case <-done:
		case <-ctx.Done():
			return PassResult{}, ctx.Err()
		}
	}
	res, err := sj.job.RunPass(ctx, true)
	if err == nil && !sj.job.FullVerify {
		_, err = sj.job.VerifyFinal(ctx)
		if errors.Is(err, ErrNoDigestMap) {
			s.emit(sj, Event{Kind: EventWarning, Err: err, Msg: "no complete digest map: verifying whole disks"})
			err = sj.job.Verify(ctx)
		}
	} else if err == nil {
		err = sj.job.Verify(ctx)
	}
	// On failure the cutover rolls back (the VM is powered on again) and warm
	// replication continues; only a replica that differs from its source
	// after a complete final pass pauses the job for attention.
	mismatch := errors.Is(err, ErrVerifyMismatch)
	s.mu.Lock()
	var due time.Time // of the pass after a failure: warm replication goes on
	if err != nil {
		sj.final = false
		sj.due = s.now()
		due = sj.due
	} else {
		sj.lastPass, sj.cutOver = res.Start, true
		sj.passes = max(sj.passes, res.Number)
	}
	s.changedLocked()
	s.mu.Unlock()
	switch {
	case mismatch:
		_ = s.PauseForMismatch(vm, err)
	case err != nil:
		s.emit(sj, Event{Kind: EventError, Err: err, Msg: "final pass failed; warm replication continues", NextPass: due})
		s.poke()
	}
	return res, err
}

// Status lists the jobs.
func (s *Scheduler) Status() []JobStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []JobStatus
	for _, sj := range s.jobs {
		out = append(out, s.statusLocked(sj, now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VM < out[j].VM })
	return out
}

// statusLocked is sj's status at now; s.mu is held.
func (s *Scheduler) statusLocked(sj *schedJob, now time.Time) JobStatus {
	st := JobStatus{VM: sj.job.VM, RPO: RPO(sj.rpo), Running: sj.running, Paused: sj.paused, Held: sj.hold, LastPass: sj.lastPass, NextPass: sj.due, Passes: sj.passes,
		LastCompare: sj.lastCompare, CompareDue: !sj.final && sj.compareDue(now), Differs: sj.differs}
	if sj.reason != nil {
		st.Reason = sj.reason.Error()
	}
	st.Waiting = sj.waiting
	st.Slots = s.maxConcurrent
	st.Queued = sj.slotWait && !sj.running && !sj.paused && !sj.final
	if !sj.lastPass.IsZero() {
		st.LastPassAge = now.Sub(sj.lastPass)
	}
	if sj.running {
		st.PassAge = now.Sub(sj.passStart)
	}
	st.Phase = jobPhase(sj.paused, sj.failed, sj.hold, sj.final, sj.cutOver)
	st.Health = st.assess()
	return st
}
