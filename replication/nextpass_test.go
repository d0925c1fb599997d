package replication

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestSchedulerEventsSayWhenTheNextPassIsDue: the scheduler's events say
// its due time for the job's next pass (Event.NextPass), a lead before
// last pass + RPO, so that a dashboard fed by them shows when the pass
// really starts: after a pass (EventScheduled), when a job with a replica
// is added, when its full compare interval is set, on PassNow, and on Resume (EventResumed); each the due time
// its status has.
func TestSchedulerEventsSayWhenTheNextPassIsDue(t *testing.T) {
	const rpo = 10 * time.Minute
	dir := t.TempDir()
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	src := filepath.Join(dir, "a.img")
	randomDisk(t, src, 4<<20, 7, Extent{0, 1 << 20})
	job := newJob(t, "a", NewFileSource(src), rcv.addr)
	// lastDue is the NextPass of the last event that says one.
	lastDue := func(ev *events, kind EventKind) time.Time {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		var due time.Time
		for _, e := range ev.all {
			if e.Kind == kind && !e.NextPass.IsZero() {
				due = e.NextPass
			}
		}
		return due
	}

	// The initial sync and the full compare after it.
	ev1 := newEvents()
	s1 := NewScheduler(1, ev1.add)
	if err := s1.Add(job, rpo); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = s1.Run(ctx) }()
	ev1.wait(t, 2, func(e Event) bool { return e.Kind == EventPassDone })
	if err := s1.WaitIdle(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	stop()
	<-ran // every pass ended, and said so
	// Each pass-done event says how long its pass took (the event log
	// shows it).
	ev1.mu.Lock()
	for _, e := range ev1.all {
		if e.Kind == EventPassDone && (e.Took <= 0 || e.Number < 1) {
			t.Errorf("pass-done event %+v: want its number and how long it took", e)
		}
	}
	ev1.mu.Unlock()
	st := s1.Status()[0]
	if !st.NextPass.Before(st.LastPass.Add(rpo)) {
		t.Fatalf("next pass %s, last pass %s: no lead before last pass + RPO %s", st.NextPass, st.LastPass, rpo)
	}
	if due := lastDue(ev1, EventScheduled); !due.Equal(st.NextPass) {
		t.Errorf("after the passes: scheduled event's next pass %s, status's %s", due, st.NextPass)
	}

	// The job in the next ferry process: no pass runs (no Run).
	again := *job
	again.Events, again.cache = nil, nil
	ev2 := newEvents()
	s2 := NewScheduler(1, ev2.add)
	if err := s2.Add(&again, rpo); err != nil {
		t.Fatal(err)
	}
	if due, st := lastDue(ev2, EventScheduled), s2.Status()[0]; st.NextPass.IsZero() || !due.Equal(st.NextPass) {
		t.Errorf("added with a replica: scheduled event's next pass %s, status's %s", due, st.NextPass)
	}
	if err := s2.SetVerifyEvery("a", MinVerifyEvery); err != nil {
		t.Fatal(err)
	}
	if due, st := lastDue(ev2, EventScheduled), s2.Status()[0]; !due.Equal(st.NextPass) {
		t.Errorf("full compare interval set: scheduled event's next pass %s, status's %s", due, st.NextPass)
	}
	// The same interval again moves nothing, and says nothing (the
	// engine's log had every job's due time twice at its start: Add, then
	// SetVerifyEvery).
	scheduled := func() (n int) {
		ev2.mu.Lock()
		defer ev2.mu.Unlock()
		for _, e := range ev2.all {
			if e.Kind == EventScheduled {
				n++
			}
		}
		return n
	}
	before := scheduled()
	if err := s2.SetVerifyEvery("a", MinVerifyEvery); err != nil {
		t.Fatal(err)
	}
	if n := scheduled(); n != before {
		t.Errorf("the same full compare interval set again: %d scheduled events, want %d (no new due time)", n, before)
	}
	if err := s2.Pause("a"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Resume("a"); err != nil {
		t.Fatal(err)
	}
	if due, st := lastDue(ev2, EventResumed), s2.Status()[0]; due.IsZero() || !due.Equal(st.NextPass) {
		t.Errorf("resumed: resumed event's next pass %s, status's %s", due, st.NextPass)
	}
	if err := s2.PassNow("a"); err != nil {
		t.Fatal(err)
	}
	if due, st := lastDue(ev2, EventScheduled), s2.Status()[0]; !due.Equal(st.NextPass) {
		t.Errorf("pass asked for: scheduled event's next pass %s, status's %s", due, st.NextPass)
	}
}
