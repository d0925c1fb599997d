package replication

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// RPO bounds accepted by the scheduler.
const (
	MinRPO = time.Minute
	MaxRPO = 24 * time.Hour
)

// ValidateRPO checks an RPO against the valid range.
func ValidateRPO(rpo time.Duration) error {
	if rpo < MinRPO || rpo > MaxRPO {
		return fmt.Errorf("RPO %s is out of range: valid range is %s to %s (1 minute to 24 hours)", rpo, MinRPO, MaxRPO)
	}
	return nil
}

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

	mu      sync.Mutex
	jobs    map[string]*schedJob
	running int
	wake    chan struct{}
	now     func() time.Time
}

type schedJob struct {
	job    *Job
	rpo    time.Duration
	paused bool
	reason error
	final  bool // cutover started: no more scheduled passes
	due    time.Time

	running   bool
	passStart time.Time
	cancel    func()        // interrupts the running pass as paused
	done      chan struct{} // closed when the running pass ends
	warned    bool          // RPO warning already sent for the current condition

	lastPass time.Time     // snapshot time of the last complete pass
	lastDur  time.Duration // how long the last complete pass took

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

// nextDue is when the job's next pass is due after a pass that started at
// start and took dur: early enough to complete within the RPO (nextDue), or
// earlier when a full compare is due.
func (sj *schedJob) nextDue(start time.Time, dur time.Duration, now time.Time) time.Time {
	due := nextDue(start, dur, sj.rpo)
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

// JobStatus is a snapshot of a job for `ferry status` and the dashboard.
type JobStatus struct {
	VM          string
	RPO         time.Duration
	Running     bool
	Paused      bool
	Reason      string
	LastPass    time.Time
	LastPassAge time.Duration
	NextPass    time.Time
	// LastCompare is the last full compare (nil: none yet); CompareDue
	// says the next pass is one.
	LastCompare *CompareResult
	CompareDue  bool
}

// NewScheduler returns a scheduler running at most maxConcurrent passes at
// a time (default 2); events receives every job's events (may be nil).
func NewScheduler(maxConcurrent int, events func(Event)) *Scheduler {
	if maxConcurrent <= 0 {
		maxConcurrent = 2
	}
	return &Scheduler{maxConcurrent: maxConcurrent, events: events, jobs: map[string]*schedJob{}, wake: make(chan struct{}, 1), now: time.Now}
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[job.VM]; ok {
		return fmt.Errorf("job %s already scheduled", job.VM)
	}
	sj := &schedJob{job: job, rpo: rpo, lastPass: vs.LastPass, lastDur: vs.LastDuration, paused: vs.Paused, verifyEvery: DefaultVerifyEvery, lastCompare: vs.LastCompare}
	if vs.Paused {
		sj.reason = errors.New(vs.PausedReason)
	}
	if !vs.LastPass.IsZero() {
		sj.due = sj.nextDue(vs.LastPass, vs.LastDuration, s.now())
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
	s.poke()
	return nil
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
// last pass's duration (passes vary, and may wait for a free slot), at least
// RPO/10 and at most RPO/2 (a pass longer than that is warned about anyway).
func nextDue(start time.Time, dur, rpo time.Duration) time.Time {
	lead := min(max(2*dur, rpo/10), rpo/2)
	return start.Add(rpo - lead)
}

// rpoHealth says what is wrong with a job's RPO now, if anything.
func rpoHealth(now, lastPass, passStart time.Time, running bool, rpo time.Duration) string {
	if running && now.Sub(passStart) > rpo/2 {
		return fmt.Sprintf("pass running for %s, longer than RPO/2 (%s)", now.Sub(passStart).Round(time.Second), rpo/2)
	}
	if !lastPass.IsZero() && now.Sub(lastPass) > rpo {
		return fmt.Sprintf("RPO missed: last complete pass is %s old (RPO %s)", now.Sub(lastPass).Round(time.Second), rpo)
	}
	return ""
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
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var jobs []*schedJob
	for _, sj := range s.jobs {
		jobs = append(jobs, sj)
	}
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].due.Before(jobs[j].due) })
	var next time.Time
	for _, sj := range jobs {
		if sj.paused || sj.final || sj.running {
			continue
		}
		if sj.due.After(now) || s.running >= s.maxConcurrent {
			if next.IsZero() || sj.due.Before(next) {
				next = sj.due
			}
			continue
		}
		s.running++
		sj.running, sj.passStart, sj.warned = true, now, false
		sj.done = make(chan struct{})
		pctx, cancel := context.WithCancelCause(ctx)
		sj.cancel = func() { cancel(ErrPaused) }
		compare := sj.compareDue(now)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runPass(pctx, sj, compare)
			cancel(nil)
		}()
	}
	return next
}

func (s *Scheduler) runPass(ctx context.Context, sj *schedJob, compare bool) {
	res, err := sj.job.RunPassWith(ctx, PassOptions{Compare: compare})
	s.mu.Lock()
	s.running--
	sj.running = false
	close(sj.done)
	now := s.now()
	switch {
	case err == nil:
		sj.lastPass = res.Start
		if res.Compare != nil {
			sj.lastCompare, sj.compareNow = res.Compare, false
		}
		sj.lastDur = res.Duration
		sj.due = sj.nextDue(res.Start, res.Duration, now)
		if res.Duration > sj.rpo/2 {
			what := "pass"
			if res.Compare != nil {
				what = "full compare" // reads every block: plan verify_every accordingly
			}
			defer s.emit(sj, Event{Kind: EventRPOWarning, Msg: fmt.Sprintf("%s took %s, longer than RPO/2 (%s)", what, res.Duration.Round(time.Second), sj.rpo/2)})
		}
	case ctx.Err() != nil:
		// Paused or shutting down: the pass resumes later.
		sj.due = now
	default:
		sj.paused, sj.reason = true, err
		defer s.persistPause(sj, err)
		defer s.emit(sj, Event{Kind: EventPaused, Err: err, Msg: "job paused after a failed pass; the replica is at its last committed pass"})
	}
	s.mu.Unlock()
	s.poke()
}

func (s *Scheduler) persistPause(sj *schedJob, err error) {
	vs, _ := sj.job.State.VM(sj.job.VM)
	vs.Paused = err != nil
	vs.PausedReason = ""
	if err != nil {
		vs.PausedReason = err.Error()
	}
	_ = sj.job.State.PutVM(sj.job.VM, vs)
}

func (s *Scheduler) checkRPO() {
	s.mu.Lock()
	var warn []*schedJob
	var msgs []string
	now := s.now()
	for _, sj := range s.jobs {
		if sj.final {
			continue
		}
		msg := rpoHealth(now, sj.lastPass, sj.passStart, sj.running, sj.rpo)
		if msg != "" && !sj.warned {
			sj.warned = true
			warn, msgs = append(warn, sj), append(msgs, msg)
		}
		if msg == "" {
			sj.warned = false
		}
	}
	s.mu.Unlock()
	for i, sj := range warn {
		s.emit(sj, Event{Kind: EventRPOWarning, Msg: msgs[i]})
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
// resumes, without re-sending acknowledged data, after Resume).
func (s *Scheduler) Pause(vm string) error {
	s.mu.Lock()
	sj, err := s.get(vm)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	sj.paused, sj.reason = true, errors.New("paused by request")
	if sj.running {
		sj.cancel()
	}
	s.mu.Unlock()
	s.persistPause(sj, sj.reason)
	s.emit(sj, Event{Kind: EventPaused, Msg: "paused by request"})
	return nil
}

// Resume schedules passes for vm again, starting with one now.
func (s *Scheduler) Resume(vm string) error {
	s.mu.Lock()
	sj, err := s.get(vm)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	sj.paused, sj.reason, sj.due = false, nil, s.now()
	s.mu.Unlock()
	s.persistPause(sj, nil)
	s.emit(sj, Event{Kind: EventResumed})
	s.poke()
	return nil
}

// SetVerifyEvery sets the interval between vm's full compares (default
// DefaultVerifyEvery).
func (s *Scheduler) SetVerifyEvery(vm string, every time.Duration) error {
	if err := ValidateVerifyEvery(every); err != nil {
		return fmt.Errorf("%s: %w", vm, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sj, err := s.get(vm)
	if err != nil {
		return err
	}
	sj.verifyEvery = every
	if !sj.lastPass.IsZero() && !sj.running {
		sj.due = sj.nextDue(sj.lastPass, sj.lastDur, s.now())
	}
	s.poke()
	return nil
}

// VerifyNow makes vm's next pass a full compare, due immediately (after a
// running pass ends).
func (s *Scheduler) VerifyNow(vm string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sj, err := s.get(vm)
	if err != nil {
		return err
	}
	if sj.final {
		return fmt.Errorf("%s: the cutover owns the job: no full compare now", vm)
	}
	sj.compareNow = true
	sj.due = s.now()
	s.poke()
	return nil
}

// PassNow makes vm's next pass due immediately (e.g. the last precopy
// before a cutover).
func (s *Scheduler) PassNow(vm string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sj, err := s.get(vm)
	if err != nil {
		return err
	}
	sj.due = s.now()
	s.poke()
	return nil
}

// FinalPass is the cutover pass: call it with the source VM powered off. It
// stops the job's scheduled passes, waits for a running one, runs a pass
// without snapshot, then verifies whole-disk hashes of replica and source.
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
	if err != nil {
		sj.final = false
		sj.due = s.now()
		sj.paused = mismatch
		if mismatch {
			sj.reason = err
		}
	} else {
		sj.lastPass = res.Start
	}
	s.mu.Unlock()
	switch {
	case mismatch:
		s.persistPause(sj, err)
		s.emit(sj, Event{Kind: EventPaused, Err: err, Msg: "final verify failed"})
	case err != nil:
		s.emit(sj, Event{Kind: EventError, Err: err, Msg: "final pass failed; warm replication continues"})
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
		st := JobStatus{VM: sj.job.VM, RPO: sj.rpo, Running: sj.running, Paused: sj.paused, LastPass: sj.lastPass, NextPass: sj.due,
			LastCompare: sj.lastCompare, CompareDue: !sj.final && sj.compareDue(now)}
		if sj.reason != nil {
			st.Reason = sj.reason.Error()
		}
		if !sj.lastPass.IsZero() {
			st.LastPassAge = now.Sub(sj.lastPass)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VM < out[j].VM })
	return out
}
