package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/zeebo/xxh3"
)

// Room for the replicas at the provider. The replica disks are thin: a pass
// grows them by what it writes where they hold nothing yet (all of it in an
// initial sync). On a full datastore ESXi pauses every VM whose thin disk
// must grow, and the receiver appliance is one: it stops with a question
// pending in vCenter, and with it every replication to it, of every VM and
// every tenant, until someone frees space and answers. Other tenants'
// VMs fill the same datastore. So a pass with a Room to ask starts only
// while the datastore keeps ReplicaHeadroom free beyond what the pass may
// still write, and stops when it no longer would (checked every RoomEvery
// while it runs) or when the appliance is paused: the job waits, it does
// not fail, and nothing is written that could pause the appliance.

// ReplicaHeadroom is the free space a pass leaves on the replicas'
// datastore: VMware's threshold at which administrators should act on a
// full VMFS (Broadcom KB 318856: 200 MB; at 100 MB "VMFS stops growing").
const ReplicaHeadroom = 200 << 20

// ReplicaRoom is what a Job's Room reports of the provider side.
type ReplicaRoom struct {
	Datastore      string // the datastore holding the replica disks
	Capacity, Free int64
	// Appliance is the receiver appliance VM ("" for an nfs receiver);
	// Question the question vCenter has pending on it ("": none), which
	// holds it paused; Off that it is not powered on.
	Appliance, Question string
	Off                 bool
	// Others is what the other VMs' passes may still write there
	// (RoomLedger): Free less Others is what this pass may use.
	Others int64
}

// RoomLedger answers a Job's passes about the room for the replicas at
// the provider. Several VMs' passes write the same datastore at once (a
// wave's initial syncs): each may fit what is free, all of them may not,
// so the ledger keeps what each pass may still write and reports to each
// what the others leave.
type RoomLedger interface {
	// Room reports the datastore and the appliance, with Free less what
	// the other VMs' passes may still write there; need is what vm's pass
	// may still write (0: nothing known yet).
	Room(ctx context.Context, vm string, need int64) (ReplicaRoom, error)
	// Release says vm's pass writes no more.
	Release(vm string)
}

// ErrReplicaSpace means the datastore of the replica disks has too little
// free space for what a pass may write: the pass did not start, or
// stopped. It is not retried within the pass; the scheduler waits and
// tries again without pausing the job.
var ErrReplicaSpace = errors.New("too little free space for the replica disks on the provider datastore")

// ErrReceiverPaused means the receiver appliance is paused (a question
// pending in vCenter) or powered off: passes wait, as for ErrReplicaSpace.
var ErrReceiverPaused = errors.New("the receiver appliance is not running")

// defaultRoomEvery is how often a running pass asks Room unless the job
// says.
const defaultRoomEvery = 30 * time.Second

func (j *Job) roomEvery() time.Duration {
	if j.RoomEvery > 0 {
		return j.RoomEvery
	}
	return defaultRoomEvery
}

// checkRoom asks Room whether the pass may go on growing the replicas by
// need bytes: nil when it may, or when Room cannot tell (the next check
// asks again; with warn, a warning says so).
func (j *Job) checkRoom(ctx context.Context, need int64, warn bool) error {
	if j.Room == nil {
		return nil
	}
	r, err := j.Room.Room(ctx, j.VM, need)
	if err != nil {
		if warn && ctx.Err() == nil {
			j.emit(Event{Kind: EventWarning, Err: err, Msg: "the room for the replicas at the provider and the receiver appliance were not checked before this pass (the pass checks again as it runs):"})
		}
		return nil
	}
	if r.Appliance != "" && (r.Question != "" || r.Off) {
		why := "is powered off"
		if r.Question != "" {
			why = fmt.Sprintf("is paused: vCenter asks %q", r.Question)
		}
		return fmt.Errorf("%w: receiver appliance %s %s, and it writes no replica while it is (nor does it for any other VM or tenant). Passes of %s wait: someone must answer in vSphere (for a full datastore: free space on %s first, then answer Retry) or power it on; ferry does not",
			ErrReceiverPaused, r.Appliance, why, j.VM, r.Datastore)
	}
	if r.Free-r.Others-need >= ReplicaHeadroom {
		return nil
	}
	may := ""
	if r.Others > 0 {
		may = fmt.Sprintf(", of which other VMs' passes may still take %s", humanize.IBytes(uint64(r.Others)))
	}
	if need > 0 {
		may += fmt.Sprintf(", and this pass of %s may still grow its thin replica disks by %s (what it writes into their empty blocks)", j.VM, humanize.IBytes(uint64(need)))
	}
	return fmt.Errorf("%w: datastore %s has %s free (of %s)%s: a pass leaves %s free there, because on a full datastore ESXi pauses the VMs whose thin disks must grow, the receiver appliance among them (every replication to it would stop). Passes of %s wait; free space on %s or grow it",
		ErrReplicaSpace, r.Datastore, humanize.IBytes(uint64(max(r.Free, 0))), humanize.IBytes(uint64(r.Capacity)), may, humanize.IBytes(ReplicaHeadroom), j.VM, r.Datastore)
}

// toWrite is what the pass may still add to the thin replicas: what its
// writes into empty blocks may allocate (growth), in proportion to what it
// planned to send and the receiver has not acknowledged yet.
func (p *pass) toWrite() int64 {
	planned, grow := p.sendPlanned.Load(), p.growPlanned.Load()
	left := max(planned-p.ackedBytes.Load(), 0)
	if planned <= 0 || grow <= 0 {
		return 0
	}
	return int64(float64(grow) * float64(left) / float64(planned))
}

// zeroBlockDigest is the digest of a whole HashBlock of zeros.
var zeroBlockDigest = xxh3.Hash(make([]byte, HashBlock))

// zeroDigest is the digest of n bytes of zeros (a disk's last block may be
// short).
func zeroDigest(n int64) uint64 {
	if n == HashBlock {
		return zeroBlockDigest
	}
	return xxh3.Hash(make([]byte, n))
}

// growth is what writing units may allocate in a thin replica disk of
// capacity bytes whose blocks held what dmap says: a whole block (VMFS
// allocates a thin disk's 1 MiB file blocks as they are first written,
// the size of HashBlock) for each unit written into a block that holds
// zeros there (never written, or zeros written and their space unmapped)
// or whose digest is not known; nothing for a block that holds data.
func growth(units []readUnit, dmap []uint64, capacity int64) int64 {
	var n int64
	for _, u := range units {
		if len(u.parts) == 0 {
			continue // written by an earlier attempt
		}
		b := u.parts[0].Offset / HashBlock
		size := min(HashBlock, capacity-b*HashBlock)
		if b < int64(len(dmap)) && dmap[b] != 0 && dmap[b] != zeroDigest(size) {
			continue // holds data: allocated
		}
		n += size
	}
	return n
}

// watchRoom asks Room every RoomEvery while the pass runs, and cancels it
// with the reason once it must stop.
func (p *pass) watchRoom(ctx context.Context, cancel context.CancelCauseFunc) {
	if p.job.Room == nil {
		return
	}
	t := time.NewTicker(p.job.roomEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.stop:
			return
		case <-t.C:
		}
		if err := p.job.checkRoom(ctx, p.toWrite(), false); err != nil {
			cancel(err)
			return
		}
	}
}

// NewRoomLedger is a RoomLedger over read, which reads the datastore and
// the appliance (through the provider vCenter): one read at a time, and
// not again within maxAge (every VM's passes ask it, and each read
// refreshes the datastore, which a real vCenter asks its hosts to do).
func NewRoomLedger(read func(context.Context) (ReplicaRoom, error), maxAge time.Duration) RoomLedger {
	return &roomLedger{read: read, maxAge: maxAge, needs: map[string]int64{}}
}

type roomLedger struct {
	read   func(context.Context) (ReplicaRoom, error)
	maxAge time.Duration

	mu    sync.Mutex
	last  ReplicaRoom
	at    time.Time
	needs map[string]int64 // what each VM's pass may still write
}

func (l *roomLedger) Room(ctx context.Context, vm string, need int64) (ReplicaRoom, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.needs[vm] = need
	if l.at.IsZero() || time.Since(l.at) >= l.maxAge {
		r, err := l.read(ctx)
		if err != nil {
			return r, err
		}
		l.last, l.at = r, time.Now()
	}
	r := l.last
	for v, n := range l.needs {
		if v != vm {
			r.Others += n
		}
	}
	return r, nil
}

func (l *roomLedger) Release(vm string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.needs, vm)
}
