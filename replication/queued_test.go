package replication

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestQueuedJobSaysItWaitsForASlot (QA: a VM whose initial sync waited for
// a pass slot read "idle · last — · next —" on the dashboard, and ferry
// status NEXT PASS "-"): with one pass slot and two new jobs, the one whose
// initial sync waits behind the other's says so in its status (Queued) and
// in an EventScheduled, and no longer once its pass runs.
func TestQueuedJobSaysItWaitsForASlot(t *testing.T) {
	dir := t.TempDir()
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	ev := newEvents()
	s := NewScheduler(1, ev.add)
	// Whichever initial sync runs first holds the only slot until
	// released.
	var held atomic.Bool
	holding, release := make(chan string, 1), make(chan struct{})
	vms := []string{"vm1", "vm2"}
	for _, vm := range vms {
		src := filepath.Join(dir, vm+".img")
		randomDisk(t, src, 2<<20, 5, Extent{0, 2 << 20})
		hs := &hookSource{Source: NewFileSource(src)}
		hs.hook = func(int64) {
			if held.CompareAndSwap(false, true) {
				holding <- vm
				<-release
			}
		}
		if err := s.Add(newJob(t, vm, hs, rcv.addr), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Run(ctx) }()
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(func() { unblock(); cancel(); wg.Wait() })

	running := <-holding
	other := vms[0]
	if other == running {
		other = vms[1]
	}
	status := func(vm string) JobStatus {
		for _, st := range s.Status() {
			if st.VM == vm {
				return st
			}
		}
		t.Fatalf("no status of %s", vm)
		return JobStatus{}
	}
	// The scheduler finds the other job due while the slot is taken.
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := s.wait(wctx, other, func(sj *schedJob) (bool, error) { return sj.slotWait, nil }); err != nil {
		t.Fatalf("%s never waited for the slot %s holds: %v", other, running, err)
	}
	if st := status(other); !st.Queued || st.Running || st.Slots != 1 {
		t.Errorf("%s waits for the only pass slot: status %+v, want queued, not running, 1 slot", other, st)
	}
	if st := status(running); st.Queued || !st.Running {
		t.Errorf("%s holds the slot: status %+v, want running, not queued", running, st)
	}
	ev.wait(t, 1, func(e Event) bool { return e.VM == other && e.Kind == EventScheduled && e.Queued })
	unblock()
	// Its pass starts once the slot is free: its status says running,
	// not queued (read as the pass starts: after it, the full compare of
	// the other job's new replica may take the slot, and this job waits
	// for it again).
	var st JobStatus
	if err := s.wait(wctx, other, func(sj *schedJob) (bool, error) {
		st = s.statusLocked(sj, s.now())
		return sj.running, nil
	}); err != nil {
		t.Fatal(err)
	}
	if st.Queued || !st.Running {
		t.Errorf("%s's pass runs: status %+v, want running, not queued", other, st)
	}
}
