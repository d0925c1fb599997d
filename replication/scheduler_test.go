package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// events collects scheduler events and lets a test wait for one.
type events struct {
	mu  sync.Mutex
	all []Event
	ch  chan struct{}
}

func newEvents() *events { return &events{ch: make(chan struct{}, 1)} }

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	select {
	case e.ch <- struct{}{}:
	default:
	}
}

// wait blocks until n events match f.
func (e *events) wait(t *testing.T, n int, f func(Event) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		e.mu.Lock()
		c := 0
		for _, ev := range e.all {
			if f(ev) {
				c++
			}
		}
		e.mu.Unlock()
		if c >= n {
			return
		}
		select {
		case <-e.ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %d events", n)
		}
	}
}

func TestSchedulerPassesPauseFinal(t *testing.T) {
	dir := t.TempDir()
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	ev := newEvents()
	s := NewScheduler(1, ev.add)
	var active, peak atomic.Int32
	srcs := map[string]string{}
	for _, vm := range []string{"a", "b"} {
		src := filepath.Join(dir, vm+".img")
		randomDisk(t, src, 6<<20, 5, Extent{0, 2 << 20}, Extent{4 << 20, 1 << 20})
		srcs[vm] = src
		hs := &hookSource{Source: NewFileSource(src)}
		hs.hook = func(int64) {
			if n := active.Load(); n > peak.Load() {
				peak.Store(n)
			}
		}
		job := newJob(t, vm, &countingSource{Source: hs, active: &active}, rcv.addr)
		if err := s.Add(job, 30*time.Second); err == nil {
			t.Fatal("RPO of 30s accepted")
		}
		if err := s.Add(job, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	passDone := func(vm string) func(Event) bool {
		return func(e Event) bool { return e.Kind == EventPassDone && e.VM == vm }
	}
	ev.wait(t, 1, passDone("a"))
	ev.wait(t, 1, passDone("b"))
	if peak.Load() > 1 {
		t.Fatalf("%d passes ran at once with MaxConcurrent 1", peak.Load())
	}
	for _, vm := range []string{"a", "b"} {
		sameFiles(t, srcs[vm], replicaPath(rcv, vm, 0))
	}

	// The full compare that follows an initial sync has run, so that the
	// pass a resume starts is an incremental one.
	ev.wait(t, 1, func(e Event) bool { return e.Kind == EventCompared && e.VM == "a" })
	// Counted as a full compare (metrics, the event log), not as an
	// incremental pass (QA: the incremental pass histogram held compares).
	ev.wait(t, 1, func(e Event) bool { return e.Kind == EventPassDone && e.VM == "a" && e.Pass == PassFullCompare })

	// Pause / resume: resume runs a pass at once.
	if err := s.Pause("a"); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); !st[0].Paused || st[0].VM != "a" {
		t.Fatalf("status %+v", st)
	}
	scribble(t, srcs["a"], 3, Extent{1 << 20, 128 << 10})
	if err := s.Resume("a"); err != nil {
		t.Fatal(err)
	}
	// Its third pass (after the initial sync and the full compare), at
	// once: well within the wait, where the next RPO is a minute away (a
	// pause that landed as the compare ended had its end set the next pass
	// an RPO later; CI under -race caught it).
	ev.wait(t, 3, passDone("a"))
	ev.wait(t, 1, func(e Event) bool { return e.Kind == EventPassDone && e.VM == "a" && e.Pass == PassIncremental })

	// Cutover of "a": final pass + verify.
	scribble(t, srcs["a"], 4, Extent{5 << 20, 64 << 10})
	res, err := s.FinalPass(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != PassFinal {
		t.Fatalf("kind %s", res.Kind)
	}
	ev.wait(t, 1, func(e Event) bool { return e.Kind == EventVerified && e.VM == "a" })
	sameFiles(t, srcs["a"], replicaPath(rcv, "a", 0))
}

// countingSource tracks passes in progress (snapshots open).
type countingSource struct {
	Source
	active *atomic.Int32
}

func (c *countingSource) Open(ctx context.Context, resume string, final bool) (Snapshot, error) {
	s, err := c.Source.Open(ctx, resume, final)
	if err == nil {
		c.active.Add(1)
		return &countingSnap{Snapshot: s, active: c.active}, nil
	}
	return nil, err
}

type countingSnap struct {
	Snapshot
	active *atomic.Int32
}

func (c *countingSnap) Release(ctx context.Context) error {
	c.active.Add(-1)
	return c.Snapshot.Release(ctx)
}

// TestSchedulerPausesOnDiskFull: a failing pass pauses its job with the error.
func TestSchedulerPausesOnDiskFull(t *testing.T) {
	src, fs, rcv := setup(t, 4<<20)
	_ = src
	full := func(string, int64, int) error { return &pathError{syscall.ENOSPC} }
	rcv.r.writeErr.Store(&full)
	ev := newEvents()
	s := NewScheduler(1, ev.add)
	if err := s.Add(newJob(t, "vm", fs, rcv.addr), time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	ev.wait(t, 1, func(e Event) bool { return e.Kind == EventPaused && errors.Is(e.Err, ErrNoSpace) })
	st := s.Status()[0]
	if !st.Paused || !strings.Contains(st.Reason, "space") {
		t.Fatalf("status %+v", st)
	}
	if _, err := s.FinalPass(context.Background(), "vm"); !errors.Is(err, ErrPaused) {
		t.Fatalf("final pass on a paused job: %v", err)
	}
}

// refuseFinal fails final passes, as a VM that is still powered on does.
type refuseFinal struct{ Source }

func (r refuseFinal) Open(ctx context.Context, resume string, final bool) (Snapshot, error) {
	if final {
		return nil, errors.New("final pass needs the VM powered off")
	}
	return r.Source.Open(ctx, resume, final)
}

// TestFinalPassFailureContinuesWarm: a failed cutover pass leaves the job
// replicating (not paused).
func TestFinalPassFailureContinuesWarm(t *testing.T) {
	_, fs, rcv := setup(t, 2<<20)
	ev := newEvents()
	s := NewScheduler(1, ev.add)
	if err := s.Add(newJob(t, "vm", refuseFinal{fs}, rcv.addr), time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	ev.wait(t, 1, func(e Event) bool { return e.Kind == EventPassDone })
	if _, err := s.FinalPass(context.Background(), "vm"); err == nil {
		t.Fatal("final pass succeeded")
	}
	if st := s.Status()[0]; st.Paused {
		t.Fatalf("paused after a failed cutover pass: %+v", st)
	}
	ev.wait(t, 2, func(e Event) bool { return e.Kind == EventPassDone })
}

// TestSchedulerComparesAfterInitialSyncAndOnDemand: the scheduler runs a
// full compare right after the initial sync and when asked (VerifyNow); a
// replica block corrupted behind the receiver's back is repaired by it while
// the VM runs, and the status says when the last compare ran and what it found.
func TestSchedulerComparesAfterInitialSyncAndOnDemand(t *testing.T) {
	src, fs, rcv := setup(t, 8<<20)
	ev := newEvents()
	s := NewScheduler(1, ev.add)
	job := newJob(t, "vm", fs, rcv.addr)
	if err := s.Add(job, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.SetVerifyEvery("vm", time.Minute); err == nil || !strings.Contains(err.Error(), "1 hour to 30 days") {
		t.Fatalf("verify interval of 1m: %v", err)
	}
	if err := s.SetVerifyEvery("vm", 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	compared := func(e Event) bool { return e.Kind == EventCompared && e.VM == "vm" }
	ev.wait(t, 1, compared)
	st := idleStatus(t, s)
	if st.LastCompare == nil || st.LastCompare.Blocks != 8 || st.LastCompare.Differing != 0 || st.CompareDue {
		t.Fatalf("status after the first compare: %+v", st)
	}
	if d := st.NextPass.Sub(st.LastPass); d > time.Hour || d < time.Hour/2 {
		t.Fatalf("next pass %s after the last, want within one RPO (early enough to complete before it)", d)
	}
	scribble(t, replicaPath(rcv, "vm", 0), 1, Extent{3<<20 + 9, 3})
	if err := s.VerifyNow("vm"); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, 2, compared)
	if c := idleStatus(t, s).LastCompare; c.Differing != 1 || c.Repaired != 1 {
		t.Fatalf("on-demand compare: %+v", c)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}

// idleStatus waits until the scheduler's only job has no pass running (it
// records a pass's result when the pass returns, after its events).
func idleStatus(t *testing.T, s *Scheduler) JobStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := s.Status()[0]
		if !st.Running {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatal("a pass is still running after 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSchedulerComparesEveryInterval: once verify_every has passed since
// the last full compare, the next pass is due at once and is a compare
// (the clock is the scheduler's, moved forward).
func TestSchedulerComparesEveryInterval(t *testing.T) {
	_, fs, rcv := setup(t, 4<<20)
	ev := newEvents()
	s := NewScheduler(1, ev.add)
	job := newJob(t, "vm", fs, rcv.addr)
	if err := s.Add(job, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.SetVerifyEvery("vm", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	compared := func(e Event) bool { return e.Kind == EventCompared && e.VM == "vm" }
	ev.wait(t, 1, compared)
	st := idleStatus(t, s)
	if want := st.LastCompare.Time.Add(2 * time.Hour); !st.NextPass.Equal(want) {
		t.Fatalf("next pass %s, want the next compare's time %s (before the RPO)", st.NextPass, want)
	}
	s.mu.Lock()
	s.now = func() time.Time { return time.Now().Add(3 * time.Hour) }
	s.mu.Unlock()
	s.poke()
	ev.wait(t, 2, compared)
}

// TestNextDue: the next pass starts early enough to complete before the
// replica is older than the RPO.
func TestNextDue(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct{ dur, wait, rpo, want time.Duration }{
		{time.Second, 0, time.Minute, 54 * time.Second},                // lead RPO/10
		{5 * time.Second, 0, time.Minute, 50 * time.Second},            // lead 2x the pass
		{time.Minute, 0, time.Minute, 30 * time.Second},                // lead at most RPO/2
		{0, 0, time.Hour, 54 * time.Minute},                            // lead RPO/10
		{time.Second, 12 * time.Second, time.Minute, 46 * time.Second}, // 2x the pass + the slot wait
		{time.Second, time.Hour, time.Minute, 30 * time.Second},        // at most RPO/2
	} {
		if got := nextDue(start, c.dur, c.wait, c.rpo).Sub(start); got != c.want {
			t.Errorf("pass of %s, slot wait %s, RPO %s: next after %s, want %s", c.dur, c.wait, c.rpo, got, c.want)
		}
	}
}

// TestFinalVerifyMismatchPausesUntilRepaired: a final verify that finds the
// replica differs from its source pauses the job as failed, with the
// mismatch as its reason, persisted (a scheduler started later finds it
// paused); Resume then runs a full compare, which repairs the replica, and
// the job replicates again. Without a scheduler (headless), a completed
// full compare of the job lifts the pause.
func TestFinalVerifyMismatchPausesUntilRepaired(t *testing.T) {
	src, fs, rcv := setup(t, 4<<20)
	ev := newEvents()
	s := NewScheduler(1, ev.add)
	job := newJob(t, "vm", fs, rcv.addr)
	job.FullVerify = true
	if err := s.Add(job, time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	compared := func(e Event) bool { return e.Kind == EventCompared && e.VM == "vm" }
	ev.wait(t, 1, compared) // right after the initial sync
	idleStatus(t, s)

	// Behind the receiver's back, after the last pass.
	scribble(t, replicaPath(rcv, "vm", 0), 7, Extent{3<<20 + 5, 3})
	if _, err := s.FinalPass(context.Background(), "vm"); !errors.Is(err, ErrVerifyMismatch) {
		t.Fatalf("final pass over a corrupted replica: %v", err)
	}
	st := s.Status()[0]
	if !st.Paused || st.Phase != JobFailed || !strings.Contains(st.Reason, "replica differs from source") || !st.CompareDue || !st.Differs {
		t.Fatalf("status after the mismatch: %+v", st)
	}
	vs, err := job.State.VM("vm")
	if err != nil {
		t.Fatal(err)
	}
	if stored := StoredStatus("vm", RPO(time.Hour), vs, time.Now()); !stored.Paused || stored.Phase != JobFailed || stored.Reason != st.Reason || !stored.CompareDue || !stored.Differs {
		t.Fatalf("persisted status after the mismatch: %+v", stored)
	}
	// A later scheduler (the next wizard) finds the job paused.
	later := NewScheduler(1, nil)
	if err := later.Add(&Job{VM: "vm", Org: testOrg, Kind: KindAppliance, Replicas: job.Replicas, Source: fs, Addr: rcv.addr, TLS: job.TLS, State: job.State}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if ls := later.Status()[0]; !ls.Paused || ls.Phase != JobFailed || !ls.CompareDue || !ls.Differs {
		t.Fatalf("a later scheduler's status: %+v", ls)
	}

	// Resume: the next pass is a full compare that repairs the block.
	if err := s.Resume("vm"); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, 2, compared)
	st = idleStatus(t, s)
	if st.Paused || st.Phase != JobReplicating || st.CompareDue || st.Differs || st.LastCompare == nil || st.LastCompare.Differing != 1 || st.LastCompare.Repaired != 1 {
		t.Fatalf("status after resuming: %+v (last compare %+v)", st, st.LastCompare)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
	if vs, _ := job.State.VM("vm"); vs.Paused || vs.CompareNeeded {
		t.Fatalf("persisted record after the repairing compare: %+v", vs)
	}
	if _, err := s.FinalPass(context.Background(), "vm"); err != nil {
		t.Fatalf("final pass after the repair: %v", err)
	}

	// Headless: the record says paused; a full compare of the job lifts it.
	src2, fs2, rcv2 := setup(t, 2<<20)
	job2 := newJob(t, "vm2", fs2, rcv2.addr)
	if _, err := job2.RunPass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	scribble(t, replicaPath(rcv2, "vm2", 0), 8, Extent{1 << 20, 1})
	if err := job2.State.PauseForMismatch("vm2", fmt.Errorf("vm2: disk 0: %w", ErrVerifyMismatch)); err != nil {
		t.Fatal(err)
	}
	if _, err := job2.RunPassWith(context.Background(), PassOptions{Compare: true}); err != nil {
		t.Fatal(err)
	}
	if vs, _ := job2.State.VM("vm2"); vs.Paused || vs.Failed || vs.PausedReason != "" || vs.CompareNeeded || vs.LastCompare == nil || vs.LastCompare.Repaired != 1 {
		t.Fatalf("record after a headless full compare: %+v", vs)
	}
	sameFiles(t, src2, replicaPath(rcv2, "vm2", 0))
}

// TestHoldIsPersistedAndReleased: a job ferry holds (Hold) reads "held",
// what for and why, in its status and in its persisted record, so that a
// scheduler started after the first one died finds it held, not paused;
// Release ends only a hold for the same thing, never an operator's pause.
// A record an older ferry wrote (a pause with a hold's reason) reads as
// the hold it was.
func TestHoldIsPersistedAndReleased(t *testing.T) {
	job := newJob(t, "vm", nil, "")
	s := NewScheduler(1, nil)
	if err := s.Add(job, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Hold("vm", HoldCutover, "held by its cutover"); err != nil {
		t.Fatal(err)
	}
	if st := s.Status()[0]; st.Phase != JobHeld || st.Held != HoldCutover || !st.Paused || st.Reason != "held by its cutover" {
		t.Errorf("status of a held job: %+v", st)
	}
	// Another process: a new scheduler over the same store.
	ev := newEvents()
	s2 := NewScheduler(1, ev.add)
	if err := s2.Add(&Job{VM: "vm", State: job.State}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st := s2.Status()[0]; st.Phase != JobHeld || st.Held != HoldCutover || st.Reason != "held by its cutover" {
		t.Errorf("status of a held job after a restart: %+v", st)
	}
	vs, err := job.State.VM("vm")
	if err != nil {
		t.Fatal(err)
	}
	if st := StoredStatus("vm", RPO(time.Hour), vs, time.Now()); st.Phase != JobHeld || st.Held != HoldCutover {
		t.Errorf("stored status of a held job: %+v", st)
	}
	if ok, err := s2.Release("vm", HoldTestMigration, ""); ok || err != nil {
		t.Errorf("Release of a hold for something else: %v, %v", ok, err)
	}
	if ok, err := s2.Release("vm", HoldCutover, "its cutover is not in progress"); !ok || err != nil {
		t.Errorf("Release: %v, %v", ok, err)
	}
	ev.wait(t, 1, func(e Event) bool { return e.Kind == EventResumed && e.Msg == "its cutover is not in progress" })
	if vs, _ := job.State.VM("vm"); vs.Paused || vs.Held != "" {
		t.Errorf("record after Release: %+v", vs)
	}
	if err := s2.Pause("vm"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s2.Release("vm", HoldCutover, ""); ok {
		t.Error("Release resumed a job the operator paused")
	}
	if st := s2.Status()[0]; st.Phase != JobPaused || st.Held != "" {
		t.Errorf("status of a paused job: %+v", st)
	}

	for _, tc := range []struct {
		vs   VMState
		want JobPhase
	}{
		{VMState{Paused: true, PausedReason: "held by its cutover"}, JobHeld},
		{VMState{Paused: true, PausedReason: "held while its test migration freezes the replica (a snapshot of the receiver appliance)"}, JobHeld},
		{VMState{Paused: true, PausedReason: PausedByRequest}, JobPaused},
		{VMState{Paused: true, Failed: true, PausedReason: "held by its cutover"}, JobFailed},
	} {
		if err := job.State.PutVM("old", tc.vs); err != nil {
			t.Fatal(err)
		}
		vs, err := job.State.VM("old")
		if err != nil {
			t.Fatal(err)
		}
		if st := StoredStatus("old", RPO(time.Hour), vs, time.Now()); st.Phase != tc.want {
			t.Errorf("record %+v reads %s, want %s", tc.vs, st.Phase, tc.want)
		}
	}
}

// TestJobStatusJSONHasNoZeroTimes (QA: ferry status --json gave a job
// with no pass yet "last_pass": "0001-01-01T00:00:00Z"): times that are
// not known are left out of the JSON.
func TestJobStatusJSONHasNoZeroTimes(t *testing.T) {
	b, err := json.Marshal(JobStatus{VM: "vm"})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(s, "0001-01-01") || strings.Contains(s, "last_pass") || strings.Contains(s, "next_pass") {
		t.Errorf("JSON of a job with no pass: %s", s)
	}
}

// refuseWhile refuses new passes with err, as a VM with someone else's
// snapshot, or without room for a pass snapshot, does, while refuse is set.
type refuseWhile struct {
	Source
	refuse *atomic.Bool
	err    error
}

func (f refuseWhile) Open(ctx context.Context, resume string, final bool) (Snapshot, error) {
	if f.refuse.Load() && !final {
		return nil, f.err
	}
	return f.Source.Open(ctx, resume, final)
}

// TestSchedulerWaitsOutForeignSnapshot: a pass that finds someone else's
// snapshot on its source (a nightly backup's), or too little room on the
// source datastore for its own, does not pause the job: the error is
// reported, the next pass is due soon, and once the cause is gone the job
// goes on.
func TestSchedulerWaitsOutForeignSnapshot(t *testing.T) {
	for _, cause := range []error{
		fmt.Errorf("%w: VM vm has snapshot \"nightly-backup\"", ErrForeignSnapshot),
		fmt.Errorf("%w: datastore ds has 1.0 GiB free", ErrSourceSpace),
	} {
		t.Run(cause.Error(), func(t *testing.T) { waitsOut(t, cause) })
	}
}

func waitsOut(t *testing.T, cause error) {
	_, fs, rcv := setup(t, 2<<20)
	var refuse atomic.Bool
	refuse.Store(true)
	ev := newEvents()
	s := NewScheduler(1, ev.add)
	if err := s.Add(newJob(t, "vm", refuseWhile{fs, &refuse, cause}, rcv.addr), time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	ev.wait(t, 1, func(e Event) bool { return e.Kind == EventError && errors.Is(e.Err, errors.Unwrap(cause)) })
	deadline := time.Now().Add(10 * time.Second)
	var st JobStatus
	for {
		st = s.Status()[0]
		if !st.Running || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.Paused || st.Phase != JobReplicating {
		t.Fatalf("status after a pass was refused: %+v, want the job replicating, not paused", st)
	}
	if wait := time.Until(st.NextPass); wait <= 0 || wait > sourceWaitRetry {
		t.Errorf("next pass in %v, want within %v", wait, sourceWaitRetry)
	}
	// Why, for the dashboard and (stored) for ferry status.
	job := s.jobs["vm"].job
	stored := func() string {
		vs, err := job.State.VM("vm")
		if err != nil {
			t.Fatal(err)
		}
		return vs.Waiting
	}
	want := errors.Unwrap(cause).Error()
	if !strings.Contains(st.Waiting, want) {
		t.Errorf("status says it waits for %q, want %q", st.Waiting, want)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(stored(), want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := StoredStatus("vm", RPO(time.Hour), VMState{Waiting: stored()}, time.Now()); !strings.Contains(got.Waiting, want) {
		t.Errorf("stored status says it waits for %q, want %q", got.Waiting, want)
	}
	refuse.Store(false)
	if err := s.PassNow("vm"); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, 1, func(e Event) bool { return e.Kind == EventPassDone && e.VM == "vm" })
	// The job's pass is done before the scheduler records it.
	if err := s.WaitIdle(ctx, "vm"); err != nil {
		t.Fatal(err)
	}
	if st := s.Status()[0]; st.Paused || st.Waiting != "" {
		t.Fatalf("status once the cause went: %+v", st)
	}
	if w := stored(); w != "" {
		t.Errorf("stored waiting reason after a pass completed: %q", w)
	}
}

// TestSchedulerLeadCountsSlotWait: a pass due while every slot is taken
// waits for the running pass's end without the scheduler spinning (it
// looped on the past due time until then: a core's worth of CPU while many
// VMs' passes queued), and the time it waited for its slot moves every
// job's next pass earlier by as much (`ferry bench rpo --vms 50` missed the
// RPO for the VMs at the tail of the queue). The scheduler's clock is moved
// forward while the pass waits.
func TestSchedulerLeadCountsSlotWait(t *testing.T) {
	h := newSlotHeld(t, "a", "b")
	s, ev, release := h.s, h.ev, h.release
	offset, clockReads := &h.offset, &h.clockReads
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	// The initial syncs and the full compares after them.
	for _, vm := range []string{"a", "b"} {
		ev.wait(t, 1, func(e Event) bool { return e.Kind == EventCompared && e.VM == vm })
	}
	// The compared events come from inside the passes; the scheduler
	// records them once they return.
	for _, vm := range []string{"a", "b"} {
		if err := s.WaitIdle(ctx, vm); err != nil {
			t.Fatal(err)
		}
	}

	// a's pass takes the only slot and is held in its first read; b's
	// pass is due.
	h.holdAPass(t, "a")
	if err := s.PassNow("b"); err != nil {
		t.Fatal(err)
	}
	queued := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.jobs["b"].queued.IsZero()
	}
	for deadline := time.Now().Add(10 * time.Second); !queued(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("b's pass never waited for the slot")
		}
	}
	before := clockReads.Load()
	time.Sleep(300 * time.Millisecond)
	if n := clockReads.Load() - before; n > 20 {
		t.Errorf("the scheduler read its clock %d times in 300ms while a pass waited for the slot: it spins", n)
	}
	offset.Store(int64(20 * time.Second)) // b waits 20 s for its slot
	close(release)
	ev.wait(t, 3, func(e Event) bool { return e.Kind == EventPassDone && e.VM == "b" })
	var st JobStatus
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st = s.Status()[1]; st.VM == "b" && !st.Running && st.NextPass.After(st.LastPass) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b's pass did not end: %+v", st)
		}
	}
	// RPO 1 min, a lead of twice the pass (well under a second here) plus
	// the 20 s wait: due at most 40 s after the pass, not 54 s (RPO/10).
	if after := st.NextPass.Sub(st.LastPass); after > 40*time.Second || after < 30*time.Second {
		t.Fatalf("b's next pass %s after its last, want 30s-40s (RPO 1m less twice the pass and the 20s it waited for a slot)", after)
	}
}

// TestHoldAfterPassLetsTheRunningPassEnd: HoldAfterPass holds the job
// without interrupting the pass that runs: it completes (the replica
// holds the source as of its snapshot, no pass in flight), and no pass
// starts after it until Release. Hold interrupts it, leaving part of it on
// the replica (a test migration froze such a replica; its copy did not
// boot).
func TestHoldAfterPassLetsTheRunningPassEnd(t *testing.T) {
	src, fs, rcv := setup(t, 8<<20)
	mid, goOn := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hs := &hookSource{Source: fs, hook: func(n int64) {
		if n == 3 { // the pass has read (and sent) two blocks
			once.Do(func() { close(mid) })
			<-goOn
		}
	}}
	job := newJob(t, "vm", hs, rcv.addr)
	ev := newEvents()
	s := NewScheduler(1, ev.add)
	if err := s.Add(job, time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	<-mid
	if err := s.HoldAfterPass("vm", HoldTestMigration, "held while its test migration freezes the replica (a snapshot of the receiver appliance)"); err != nil {
		t.Fatal(err)
	}
	close(goOn)
	if err := s.WaitIdle(ctx, "vm"); err != nil {
		t.Fatal(err)
	}
	if st := s.Status()[0]; st.Phase != JobHeld || st.Held != HoldTestMigration || st.Passes != 1 {
		t.Errorf("status after the pass a HoldAfterPass let end: %+v", st)
	}
	if d, _ := job.State.Disk("vm/0"); d.Pass != "" || d.Committed == "" {
		t.Errorf("the pass did not complete: %+v", d)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
	if ok, err := s.Release("vm", HoldTestMigration, ""); !ok || err != nil {
		t.Fatalf("Release: %v, %v", ok, err)
	}
}

// TestPauseAndResumeThatRaceLeaveTheRecordAsTheJob (helper A saw the race
// detector flag Pause reading its reason after unlocking while a Resume
// wrote it): a pause and a resume of one job at once, from two sessions,
// leave the job's persisted record saying what the job is (paused or
// not), never a pause stored last for a job that runs, which a ferry
// started next would take as paused.
func TestPauseAndResumeThatRaceLeaveTheRecordAsTheJob(t *testing.T) {
	_, fs, rcv := setup(t, 1<<20)
	job := newJob(t, "vm", fs, rcv.addr)
	s := NewScheduler(1, nil) // not run: no pass starts
	if err := s.Add(job, time.Hour); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _ = s.PauseBy("vm", "alice (ferry pause)") }()
		go func() { defer wg.Done(); _ = s.Resume("vm") }()
		wg.Wait()
		st := s.Status()[0]
		vs, err := job.State.VM("vm")
		if err != nil {
			t.Fatal(err)
		}
		if vs.Paused != st.Paused {
			t.Fatalf("round %d: the job is paused: %v; its record says paused: %v (%q)", i, st.Paused, vs.Paused, vs.PausedReason)
		}
	}
}

// slotHeld is a scheduler of one pass slot over jobs of 2 MiB file disks,
// one per name given, whose first job's pass can hold its slot: with hold
// set, its next pass sends on holding, then waits until release is closed.
// The scheduler's clock is time.Now plus offset, and counts its reads.
type slotHeld struct {
	s                  *Scheduler
	ev                 *events
	srcs               map[string]string // each job's source disk file
	hold               atomic.Bool
	holding, release   chan struct{}
	offset, clockReads atomic.Int64
}

func newSlotHeld(t *testing.T, vms ...string) *slotHeld {
	t.Helper()
	dir := t.TempDir()
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	h := &slotHeld{ev: newEvents(), srcs: map[string]string{}, holding: make(chan struct{}, 1), release: make(chan struct{})}
	h.s = NewScheduler(1, h.ev.add)
	for i, vm := range vms {
		src := filepath.Join(dir, vm+".img")
		h.srcs[vm] = src
		randomDisk(t, src, 2<<20, 5, Extent{0, 2 << 20})
		hs := &hookSource{Source: NewFileSource(src)}
		if i == 0 {
			hs.hook = func(int64) {
				if h.hold.CompareAndSwap(true, false) {
					h.holding <- struct{}{}
					<-h.release
				}
			}
		}
		if err := h.s.Add(newJob(t, vm, hs, rcv.addr), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	h.s.mu.Lock()
	h.s.now = func() time.Time {
		h.clockReads.Add(1)
		return time.Now().Add(time.Duration(h.offset.Load()))
	}
	h.s.mu.Unlock()
	return h
}

// holdAPass writes into vm's disk (the slot's holder, newSlotHeld's first)
// and has its pass run now and hold the only slot.
func (h *slotHeld) holdAPass(t *testing.T, vm string) {
	t.Helper()
	scribble(t, h.srcs[vm], 3, Extent{0, 64 << 10})
	h.hold.Store(true)
	if err := h.s.PassNow(vm); err != nil {
		t.Fatal(err)
	}
	<-h.holding
}

// TestPausedWithACompareDueIsNotAMismatch (hB, under load: ferry pause while
// the full compare after the initial sync was due read "already paused (its
// replica differs from its source ...)"): a job paused by request whose
// next pass is a full compare by its schedule says CompareDue, not Differs;
// only a verify that found the replica differs does.
func TestPausedWithACompareDueIsNotAMismatch(t *testing.T) {
	_, fs, rcv := setup(t, 4<<20)
	ev := newEvents()
	s := NewScheduler(1, ev.add)
	job := newJob(t, "vm", fs, rcv.addr)
	if err := s.Add(job, time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	ev.wait(t, 1, func(e Event) bool { return e.Kind == EventCompared && e.VM == "vm" })
	idleStatus(t, s)
	if err := s.Pause("vm"); err != nil {
		t.Fatal(err)
	}
	// verify_every (24h) later: the scheduled compare is due.
	s.mu.Lock()
	s.now = func() time.Time { return time.Now().Add(25 * time.Hour) }
	s.mu.Unlock()
	st := s.Status()[0]
	if !st.Paused || !st.CompareDue || st.Differs || st.Phase == JobFailed {
		t.Fatalf("paused by request with its scheduled compare due: %+v, want CompareDue and not Differs", st)
	}
	vs, err := job.State.VM("vm")
	if err != nil {
		t.Fatal(err)
	}
	if stored := StoredStatus("vm", RPO(time.Hour), vs, time.Now()); !stored.Paused || stored.Differs {
		t.Fatalf("persisted status of a job paused by request: %+v", stored)
	}
}
