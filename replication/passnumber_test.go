package replication

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestPassNumbersGoOnAcrossSchedulers (QA: after a restart the dashboard
// showed "idle #1" for a VM two passes in): a VM's passes are numbered by
// its record in the store, so a later ferry process (a new scheduler on the
// same store) goes on from the earlier one's count, in its status, in its
// pass-done events and in what ferry status reads from the store.
func TestPassNumbersGoOnAcrossSchedulers(t *testing.T) {
	dir := t.TempDir()
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	src := filepath.Join(dir, "a.img")
	randomDisk(t, src, 4<<20, 7, Extent{0, 1 << 20})
	job := newJob(t, "a", NewFileSource(src), rcv.addr)
	numbers := func(ev *events) []int {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		var out []int
		for _, e := range ev.all {
			if e.Kind == EventPassDone {
				out = append(out, e.Number)
			}
		}
		return out
	}
	passDone := func(e Event) bool { return e.Kind == EventPassDone }

	// The first process: the initial sync and the full compare after it.
	ev1 := newEvents()
	s1 := NewScheduler(1, ev1.add)
	if err := s1.Add(job, time.Minute); err != nil {
		t.Fatal(err)
	}
	ctx1, stop1 := context.WithCancel(context.Background())
	ran1 := make(chan struct{})
	go func() { defer close(ran1); s1.Run(ctx1) }()
	ev1.wait(t, 2, passDone)
	stop1()
	<-ran1
	if got := numbers(ev1); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("first process: pass-done numbers %v, want [1 2]", got)
	}

	// The next process, on the same store.
	again := *job
	again.Events, again.cache = nil, nil // a new process's job
	ev2 := newEvents()
	s2 := NewScheduler(1, ev2.add)
	if err := s2.Add(&again, time.Minute); err != nil {
		t.Fatal(err)
	}
	if st := s2.Status(); len(st) != 1 || st[0].Passes != 2 {
		t.Fatalf("restarted scheduler's status before a pass: %+v, want Passes 2 (the record's)", st)
	}
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	go s2.Run(ctx2)
	if err := s2.PassNow("a"); err != nil {
		t.Fatal(err)
	}
	ev2.wait(t, 1, passDone)
	// The pass-done event comes from inside the pass; the scheduler
	// records the pass once it returns.
	if err := s2.WaitIdle(ctx2, "a"); err != nil {
		t.Fatal(err)
	}
	if got := numbers(ev2); got[0] != 3 {
		t.Errorf("restarted scheduler's first pass-done number %d, want 3 (the record had 2)", got[0])
	}
	if st := s2.Status(); st[0].Passes < 3 {
		t.Errorf("restarted scheduler's status after its pass: Passes %d, want 3", st[0].Passes)
	}
	vs, err := job.State.VM("a")
	if err != nil {
		t.Fatal(err)
	}
	if st := StoredStatus("a", RPO(time.Minute), vs, time.Now()); st.Passes < 3 {
		t.Errorf("status read from the store: Passes %d, want 3", st.Passes)
	}
}
