package replication

import (
	"context"
	"testing"
	"time"
)

// TestResumedJobTakesItsTurnByItsReplicasAge (QA: six VMs on a saturated
// link, every job overdue and the four slots busy: a job resumed after a
// pause waited minutes behind all of them, its replica the oldest, while
// `ferry resume` said "its next pass runs now"): with one slot, taken,
// and b overdue with a fresher replica than c, c resumed takes the slot
// first when it frees.
func TestResumedJobTakesItsTurnByItsReplicasAge(t *testing.T) {
	h := newSlotHeld(t, "a", "b", "c")
	s, ev, srcs := h.s, h.ev, h.srcs
	release, offset := h.release, &h.offset
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	for _, vm := range []string{"a", "b", "c"} {
		ev.wait(t, 1, func(e Event) bool { return e.Kind == EventCompared && e.VM == vm })
	}
	for _, vm := range []string{"a", "b", "c"} {
		if err := s.WaitIdle(ctx, vm); err != nil {
			t.Fatal(err)
		}
	}
	// c paused; b passes again, so its replica is fresher than c's.
	if err := s.Pause("c"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // b's next snapshot strictly after c's last
	scribble(t, srcs["b"], 7, Extent{0, 64 << 10})
	if err := s.PassNow("b"); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, 3, func(e Event) bool { return e.Kind == EventPassDone && e.VM == "b" })
	if err := s.WaitIdle(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	// a's pass takes the only slot and is held; ten minutes later b is
	// overdue, and c is resumed.
	h.holdAPass(t, "a")
	offset.Store(int64(10 * time.Minute))
	if err := s.Resume("c"); err != nil {
		t.Fatal(err)
	}
	queued := func(vm string) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.jobs[vm].queued.IsZero()
	}
	for deadline := time.Now().Add(10 * time.Second); !queued("b") || !queued("c"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("b's and c's passes never both waited for the slot")
		}
	}
	ev.mu.Lock()
	seen := len(ev.all)
	ev.mu.Unlock()
	close(release)
	started := func(e Event) bool {
		return e.Kind == EventPhase && e.Phase == PhaseSnapshot && (e.VM == "b" || e.VM == "c")
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		ev.mu.Lock()
		all := ev.all[seen:]
		ev.mu.Unlock()
		for _, e := range all {
			if started(e) {
				if e.VM != "c" {
					t.Errorf("the freed slot went to %s, whose replica is fresher than c's (resumed, its replica the oldest)", e.VM)
				}
				return
			}
		}
	}
	t.Fatal("no pass of b or c started once the slot was free")
}
