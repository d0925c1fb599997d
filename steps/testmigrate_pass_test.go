package steps

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
)

// TestTestMigrationLetsTheRunningPassEnd (CI: a test migration run right
// after step 6, under the full suite's load, twice missed its copy's boot,
// "VMware Tools not running 2m0s after power-on"; the guest model's
// reason: the copy's disk held the source as of none of its snapshots):
// its hold of the job interrupted the pass then running (the full compare
// after the initial sync), which had written part of its blocks, and the
// snapshot of the receiver appliance froze that replica, which no guest
// boots from. A pass running when a test migration begins now runs to its
// end before the snapshot, the test says so, and the copy boots. The
// receiver is held once the pass has written to the replica
// (HoldReceiverAfterWrite): the test migration begins inside the pass,
// whatever the machine's load.
func TestTestMigrationLetsTheRunningPassEnd(t *testing.T) {
	t.Parallel()
	j, hold := passWritingReplica(t)
	ctx := context.Background()
	// The replica holds part of the pass. The receiver goes on once the
	// test migration waits for the pass, or (cut short) has frozen it.
	var mu sync.Mutex
	var lines []string
	_, err := j.env.TestMigrate(ctx, []string{"WebApp2"}, func(ev Event) {
		mu.Lock()
		lines = append(lines, ev.Message+ev.Error)
		mu.Unlock()
		if strings.Contains(ev.Message, "its running pass completes before the replica is frozen") || strings.Contains(ev.Message, "freeze replicas done") {
			hold.Release()
		}
	})
	mu.Lock()
	log := strings.Join(lines, "\n")
	mu.Unlock()
	if err != nil {
		t.Fatalf("test migration during a pass: %v\n%s\nguest model: %+v", err, log, j.l.Reach.BootFailures())
	}
	if f := j.l.Reach.BootFailures(); len(f) != 0 {
		t.Fatalf("the copy did not come up: %+v\n%s", f, log)
	}
	if !strings.Contains(log, "WebApp2: its running pass completes before the replica is frozen (cut short, it would leave the replica holding part of it)") {
		t.Errorf("the test migration did not say it waits for the running pass:\n%s", log)
	}
}

// passWritingReplica is a diskChangeJourney (with the lab's isolated
// network for test copies) in the middle of an incremental pass of
// WebApp2 that rewrites its whole disk: the pass has written part of its
// blocks to the replica, and the receiver is held (release it).
func passWritingReplica(t *testing.T) (*diskChangeJourney, *lab.Hold) {
	t.Helper()
	j := startDiskChangeJourneyWith(t, func(env *Env) {
		env.Plan().TestMigration = TestMigrationPlan{Network: lab.BubbleNetwork, BootTimeout: "2m"}
	})
	// The full compare after the initial sync has ended.
	for {
		changed := j.sched.Changed()
		if st, ok := j.env.warmStatus("WebApp2"); ok && st.Passes >= 2 && !st.Running {
			break
		}
		select {
		case <-changed:
		case <-time.After(2 * time.Minute):
			t.Fatalf("no full compare after the initial sync: %+v", j.sched.Status())
		}
	}
	hold := j.l.HoldReceiverAfterWrite()
	t.Cleanup(hold.Release)
	guestWrite(t, j.l, "WebApp2", 0, 16<<20) // every block of its disk
	if err := j.sched.PassNow("WebApp2"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hold.Began():
	case <-time.After(2 * time.Minute):
		t.Fatal("the pass wrote nothing to the replica")
	}
	return j, hold
}

// TestTestMigrationOfAReplicaPartlyWritten: a pass interrupted by a pause
// (or a ferry stopped, a failed pass) leaves the replica holding part of
// it until a pass completes: a test migration of it is refused, saying
// why and what to do, and makes no copy (it would not boot).
func TestTestMigrationOfAReplicaPartlyWritten(t *testing.T) {
	t.Parallel()
	j, hold := passWritingReplica(t)
	ctx := context.Background()
	if err := j.sched.PauseBy("WebApp2", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := j.sched.WaitIdle(ctx, "WebApp2"); err != nil {
		t.Fatal(err)
	}
	hold.Release()
	var lines []string
	_, err := j.env.TestMigrate(ctx, []string{"WebApp2"}, func(ev Event) { lines = append(lines, ev.Message+ev.Error) })
	if err == nil {
		t.Fatalf("a test migration of a replica holding part of a pass ran:\n%s", strings.Join(lines, "\n"))
	}
	for _, want := range []string{"WebApp2: not tested: its replica holds part of a pass that was interrupted (incremental pass, ",
		"which no guest could boot from; resume WebApp2's replication (u on the replication dashboard, or ferry resume WebApp2) and test it again once a pass has completed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if f := j.l.Reach.BootFailures(); len(f) != 0 {
		t.Errorf("a copy was made: %+v", f)
	}
	if left := j.env.TestsLeftRunning(); len(left) != 0 {
		t.Errorf("test left running: %v", left)
	}
}
