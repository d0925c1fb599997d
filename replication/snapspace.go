package replication

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/ferry-migrate/ferry/vsphere"
)

// Room for a pass snapshot on the source. A pass snapshot's delta disks go
// in the VM's working directory on the source datastore and grow by every
// block the guest writes while the pass runs (an initial sync of a large
// disk holds its snapshot for hours). On a full datastore ESXi stops the VM
// until someone frees space and answers its question: the source VM, which
// ferry must never harm. So a pass takes its snapshot only when that
// datastore has the reserve free, and a pass whose snapshot is open stops,
// removing the snapshot (which merges the delta back and frees its space),
// when the free space falls below half the reserve.

// DefaultSnapshotReserve is the free space a pass snapshot needs on the
// datastore of the source VM's snapshot deltas unless the source says.
const DefaultSnapshotReserve = 4 << 30

// MinSnapshotReserve and MaxSnapshotReserve bound a configured reserve:
// half the smallest is still well above the 100 MB at which VMFS stops
// growing files (Broadcom KB 318856).
const (
	MinSnapshotReserve = 1 << 30
	MaxSnapshotReserve = 1 << 40
)

// ValidateSnapshotReserve accepts a reserve within the bounds.
func ValidateSnapshotReserve(n int64) error {
	if n < MinSnapshotReserve || n > MaxSnapshotReserve {
		return fmt.Errorf("%s: want %s to %s of free space on the source datastore before a pass snapshot (default %s)",
			humanize.IBytes(uint64(max(n, 0))), humanize.IBytes(MinSnapshotReserve), humanize.IBytes(MaxSnapshotReserve), humanize.IBytes(DefaultSnapshotReserve))
	}
	return nil
}

// ErrSourceSpace means the datastore that receives the source VM's
// snapshot deltas has too little free space: a pass did not take its
// snapshot, or stopped and removed it. The pass fails (not retried within
// it); the scheduler tries again later without pausing the job.
var ErrSourceSpace = errors.New("too little free space for a pass snapshot on the source datastore")

// defaultSpaceEvery is how often an open pass snapshot's datastore is
// checked unless the source says.
const defaultSpaceEvery = 30 * time.Second

func (s *VSphereSource) reserve() int64 {
	if s.SnapshotReserve > 0 {
		return s.SnapshotReserve
	}
	return DefaultSnapshotReserve
}

func (s *VSphereSource) spaceEvery() time.Duration {
	if s.SpaceEvery > 0 {
		return s.SpaceEvery
	}
	return defaultSpaceEvery
}

// roomForSnapshot refuses a new pass snapshot of VM name when its
// datastore has less than the reserve free.
func (s *VSphereSource) roomForSnapshot(ctx context.Context, name string) error {
	room, err := vsphere.SnapshotRoomOf(ctx, s.Client, s.VM)
	if err != nil {
		return fmt.Errorf("free space for a pass snapshot: %w", err)
	}
	if room.Free >= s.reserve() {
		return nil
	}
	return fmt.Errorf("%w: datastore %s, where VM %s's snapshot deltas go, has %s free (of %s), and a pass takes its snapshot only with %s free there: a delta grows by every block the guest writes during the pass, and ESXi stops a VM whose delta cannot grow. No snapshot was taken; free space on %s (or move the VM's working directory) before the next pass",
		ErrSourceSpace, room.Datastore, name, humanize.IBytes(uint64(room.Free)), humanize.IBytes(uint64(room.Capacity)), humanize.IBytes(uint64(s.reserve())), room.Datastore)
}

// lowRoom reports (as an ErrSourceSpace error) when the datastore of an
// open pass snapshot has fallen below half the reserve; nil while it has
// not, and when its space cannot be read (the next check tries again).
func (s *VSphereSource) lowRoom(ctx context.Context, name string) error {
	room, err := vsphere.SnapshotRoomOf(ctx, s.Client, s.VM)
	if err != nil || room.Free >= s.reserve()/2 {
		return nil
	}
	return fmt.Errorf("%w: datastore %s, where the deltas of VM %s's pass snapshot go, fell to %s free (of %s), below %s (half the %s a pass snapshot needs): the pass stopped and its snapshot is removed before the delta can fill the datastore and ESXi stops the VM. Free space on %s: the next pass goes on from what the receiver holds",
		ErrSourceSpace, room.Datastore, name, humanize.IBytes(uint64(room.Free)), humanize.IBytes(uint64(room.Capacity)), humanize.IBytes(uint64(s.reserve()/2)), humanize.IBytes(uint64(s.reserve())), room.Datastore)
}

// spaceWatch checks an open pass snapshot's datastore every interval
// until stopped; once it is low, every read of the pass fails with why.
type spaceWatch struct {
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	mu       sync.Mutex
	err      error
}

// watchSpace starts the checks of v's datastore for the life of its
// snapshot (until Release or ctx ends).
func (v *vsSnapshot) watchSpace(ctx context.Context) {
	w := &spaceWatch{stop: make(chan struct{}), done: make(chan struct{})}
	v.space = w
	go func() {
		defer close(w.done)
		t := time.NewTicker(v.s.spaceEvery())
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.stop:
				return
			case <-t.C:
			}
			if err := v.s.lowRoom(ctx, v.vmName); err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				return
			}
		}
	}()
}

// spaceErr is why the pass must stop (nil: it need not).
func (v *vsSnapshot) spaceErr() error {
	if v.space == nil {
		return nil
	}
	v.space.mu.Lock()
	defer v.space.mu.Unlock()
	return v.space.err
}

// stopWatch ends the checks and waits for them.
func (v *vsSnapshot) stopWatch() {
	if v.space == nil {
		return
	}
	v.space.stopOnce.Do(func() { close(v.space.stop) })
	<-v.space.done
}

// ErrForeignSnapshot means the source VM has a snapshot ferry did not take
// (a backup job's, an admin's): a pass takes no snapshot of its own on top
// of it and is tried again later (the scheduler does not pause the job).
// Both are waited out: sourceWaitRetry.
var ErrForeignSnapshot = errors.New("the source VM has a snapshot ferry did not take")

// ForeignSnapshots are the names among a VM's snapshot names that are not
// ferry's pass snapshots (SnapshotPrefix): someone else's.
func ForeignSnapshots(names []string) []string {
	var out []string
	for _, n := range names {
		if !strings.HasPrefix(n, SnapshotPrefix) {
			out = append(out, n)
		}
	}
	return out
}

// foreignSnapshot refuses a new pass while VM name has a snapshot among
// names that is not one of ferry's pass snapshots.
func foreignSnapshot(name string, names []string) error {
	other := ForeignSnapshots(names)
	if len(other) == 0 {
		return nil
	}
	for i, n := range other {
		other[i] = strconv.Quote(n)
	}
	return fmt.Errorf("%w: VM %s has %s, e.g. a backup job's: while a snapshot exists ESXi writes the guest's changes into its delta, and the base disk a pass reads is not current. No snapshot was taken; the pass is tried again once it is removed",
		ErrForeignSnapshot, name, "snapshot "+strings.Join(other, ", "))
}
