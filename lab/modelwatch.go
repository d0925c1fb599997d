package lab

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// The lab's pollers (Reach, the edge appliances) look at their vCenters
// every 50 ms, so that a VM powered off or a port group reconfigured is
// acted on at once, as the real guest or appliance would. Reading a
// vCenter's inventory that often cost an idle lab about a third of a core
// (each read a container view, a property retrieval and its deep copies,
// over TLS), slowing every test that starts one. A poller now reads again
// only when its vCenter changed since its last read (a modelWatch saw it)
// or the read is older than its maxAge; what it decides from the read
// (boot delays, the stretch's state) still runs every 50 ms.

// modelWatch counts the changes a vcsim reports for objects of some kinds:
// property updates, objects added and removed. vcsim reports its tasks'
// progress too, so a change a task makes without reporting it (a port
// group's reconfigure sets its config in place) still moves the count
// when the task ends.
type modelWatch struct {
	reg   *simulator.Registry
	self  types.ManagedObjectReference
	kinds map[string]bool
	gen   atomic.Uint64
}

var watchSeq atomic.Int64

// watchModel starts counting reg's changes to objects of kinds ("Task" is
// always counted).
func watchModel(reg *simulator.Registry, kinds ...string) *modelWatch {
	w := &modelWatch{reg: reg, kinds: map[string]bool{"Task": true},
		self: types.ManagedObjectReference{Type: "FerryLabWatch", Value: fmt.Sprintf("watch-%d", watchSeq.Add(1))}}
	for _, k := range kinds {
		w.kinds[k] = true
	}
	reg.AddHandler(w)
	return w
}

func (w *modelWatch) Reference() types.ManagedObjectReference { return w.self }

func (w *modelWatch) PutObject(_ *simulator.Context, o mo.Reference) { w.touch(o.Reference()) }

func (w *modelWatch) UpdateObject(_ *simulator.Context, o mo.Reference, _ []types.PropertyChange) {
	w.touch(o.Reference())
}

func (w *modelWatch) RemoveObject(_ *simulator.Context, ref types.ManagedObjectReference) {
	w.touch(ref)
}

func (w *modelWatch) touch(ref types.ManagedObjectReference) {
	if w.kinds[ref.Type] {
		w.gen.Add(1)
	}
}

func (w *modelWatch) close() { w.reg.RemoveHandler(w) }

// pollMaxAge is how old a poller's read may get while its watch sees no
// change: a safety net for a change vcsim or the lab makes without
// reporting it, and short enough to keep the poller's API session alive.
func pollMaxAge(sessionIdle time.Duration) time.Duration {
	return min(time.Second, sessionIdle/2)
}

// polled is a poller's last read of one vCenter and what it read.
type polled[T any] struct {
	watch  *modelWatch
	maxAge time.Duration
	gen    uint64
	at     time.Time
	val    T
	ok     bool
}

// get returns the last read's value while the watch saw no change since it
// and it is younger than maxAge (unless force), otherwise reads again.
// read's complete false keeps what it read from being reused (a VM it
// could not read this time).
func (p *polled[T]) get(force bool, read func() (v T, complete bool, err error)) (T, error) {
	gen := p.watch.gen.Load() // before the read: a change during it is read next time
	if p.ok && !force && gen == p.gen && time.Since(p.at) < p.maxAge {
		return p.val, nil
	}
	v, complete, err := read()
	if err != nil {
		p.ok = false
		return v, err
	}
	p.val, p.gen, p.at, p.ok = v, gen, time.Now(), complete
	return v, nil
}
