package replication

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPassWaitsForRoomAtTheProvider: a pass stops, without retrying, once
// the datastore of the replica disks no longer has room for what it still
// writes and the headroom (another tenant filled it meanwhile); a pass does
// not start while the receiver appliance is paused, saying what vCenter
// asks; with room and the appliance running again, the next pass completes
// the replica.
func TestPassWaitsForRoomAtTheProvider(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	const size = 8 << 20
	randomDisk(t, src, size, 3, Extent{0, size})
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	job := newJob(t, "vm", NewFileSource(src), rcv.addr)
	job.Limiter = NewBandwidth(2<<20, 64<<10) // about 4 s
	var mu sync.Mutex
	room := ReplicaRoom{Datastore: "provider-ds", Capacity: 1 << 40, Free: 1 << 30, Appliance: "ferry-receiver"}
	set := func(f func(*ReplicaRoom)) {
		mu.Lock()
		defer mu.Unlock()
		f(&room)
	}
	job.Room = NewRoomLedger(func(context.Context) (ReplicaRoom, error) {
		mu.Lock()
		defer mu.Unlock()
		return room, nil
	}, 0)
	job.RoomEvery = 50 * time.Millisecond
	attempts := 0
	job.Events = func(ev Event) {
		if ev.Kind == EventProgress && ev.Counters.Acked > 0 {
			set(func(r *ReplicaRoom) { r.Free = ReplicaHeadroom + 1<<20 }) // less than the pass still writes
		}
		if ev.Kind == EventError && strings.Contains(ev.Msg, "reconnecting") {
			attempts++
		}
	}
	ctx := context.Background()
	res, err := job.RunPass(ctx, false)
	if !errors.Is(err, ErrReplicaSpace) {
		t.Fatalf("pass on a datastore filling up: %v, want ErrReplicaSpace", err)
	}
	for _, want := range []string{"provider-ds has 201 MiB free", "this pass of vm may still grow its thin replica disks by", "receiver appliance among them", "Passes of vm wait"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if attempts > 0 || res.Counters.Acked >= size {
		t.Errorf("the pass went on: %d retries, %d of %d bytes acknowledged", attempts, res.Counters.Acked, size)
	}

	// The appliance paused: no pass starts, and it says why.
	job.Events = nil
	const q = "There is no more space for virtual disk vm_0-flat.vmdk. You might be able to continue this session by freeing disk space on the relevant volume, and clicking Retry."
	set(func(r *ReplicaRoom) { r.Free, r.Question = 1<<30, q })
	if _, err := job.RunPass(ctx, false); !errors.Is(err, ErrReceiverPaused) || !strings.Contains(err.Error(), "ferry-receiver is paused: vCenter asks") || !strings.Contains(err.Error(), q) {
		t.Fatalf("pass with the appliance paused: %v, want ErrReceiverPaused naming it and its question", err)
	}

	set(func(r *ReplicaRoom) { r.Question = "" })
	job.Limiter = nil
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatalf("pass with room and the appliance running: %v", err)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))

	// Changes into blocks that hold data allocate nothing: a pass of 4 MiB
	// of them runs with 1 MiB above the headroom free.
	scribble(t, src, 9, Extent{1 << 20, 4 << 20})
	set(func(r *ReplicaRoom) { r.Free = ReplicaHeadroom + 1<<20 })
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatalf("pass overwriting data with 1 MiB above the headroom: %v", err)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))

	// The provider vCenter out of reach: the pass runs, with a warning.
	var warned []string
	job.Events = func(ev Event) {
		if ev.Kind == EventWarning {
			warned = append(warned, ev.Msg+" "+ev.Err.Error())
		}
	}
	job.Room = NewRoomLedger(func(context.Context) (ReplicaRoom, error) {
		return ReplicaRoom{}, errors.New("provider vCenter unreachable")
	}, 0)
	scribble(t, src, 10, Extent{0, 1 << 20})
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatalf("pass without an answer from Room: %v", err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "not checked") || !strings.Contains(warned[0], "unreachable") {
		t.Errorf("warnings %q: want one saying the room was not checked, and why", warned)
	}
	sameFiles(t, src, replicaPath(rcv, "vm", 0))
}

// TestConcurrentPassesShareTheRoom: two VMs' initial syncs each fit what is
// free at the provider, both together do not: the second waits while the
// first may still write what would leave less than the headroom, saying
// so; once the first is done, it runs.
func TestConcurrentPassesShareTheRoom(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const size = 8 << 20
	src1, src2 := filepath.Join(dir, "src1.img"), filepath.Join(dir, "src2.img")
	randomDisk(t, src1, size, 4, Extent{0, size})
	randomDisk(t, src2, size, 5, Extent{0, size})
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	free := int64(ReplicaHeadroom + 12<<20) // room for one disk, not two
	ledger := NewRoomLedger(func(context.Context) (ReplicaRoom, error) {
		return ReplicaRoom{Datastore: "provider-ds", Capacity: 1 << 40, Free: free}, nil
	}, 0)
	first := newJob(t, "vm1", NewFileSource(src1), rcv.addr)
	first.Room = ledger
	first.Limiter = NewBandwidth(2<<20, 64<<10) // about 4 s
	second := newJob(t, "vm2", NewFileSource(src2), rcv.addr)
	second.Room = ledger
	ctx := context.Background()
	started := make(chan struct{})
	var once sync.Once
	first.Events = func(ev Event) {
		if ev.Kind == EventPhase && ev.Phase == PhaseTransfer {
			once.Do(func() { close(started) })
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := first.RunPass(ctx, false)
		done <- err
	}()
	<-started
	_, err := second.RunPass(ctx, false)
	if !errors.Is(err, ErrReplicaSpace) || !strings.Contains(err.Error(), "of which other VMs' passes may still take 8.0 MiB") {
		t.Fatalf("second initial sync while the first runs: %v, want ErrReplicaSpace counting the first's writes", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("first initial sync: %v", err)
	}
	if _, err := second.RunPass(ctx, false); err != nil {
		t.Fatalf("second initial sync after the first: %v", err)
	}
	sameFiles(t, src1, replicaPath(rcv, "vm1", 0))
	sameFiles(t, src2, replicaPath(rcv, "vm2", 0))
}
