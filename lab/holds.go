package lab

import (
	"sync"
	"sync/atomic"

	"github.com/ferry-migrate/ferry/lab/simwrap"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Hold is a test's grip on vCenter work that takes its time in production
// and goes on whatever the caller does meanwhile: a guest OS shutting down
// after ShutdownGuest returned, a CreateVM_Task running after the call
// returned its task. While a Hold is in place, each such work that begins is
// announced on Began (its VM's name) and does not end until Release, so
// that a test stops ferry inside that window without a sleep. Nothing holds
// anything unless a test asks.
type Hold struct {
	began   chan string
	release chan struct{}
	once    sync.Once
	works   sync.WaitGroup

	mu    sync.Mutex
	tasks map[types.ManagedObjectReference]string // held tasks not announced yet: their VM's name
}

func newHold() *Hold {
	return &Hold{began: make(chan string, 64), release: make(chan struct{})}
}

// Began receives the name of the VM of each work begun while held.
func (h *Hold) Began() <-chan string { return h.began }

// Release lets the work held (and any begun later under this Hold) go on.
func (h *Hold) Release() { h.once.Do(func() { close(h.release) }) }

// Ended waits, after Release, until each work begun under the Hold has
// ended: the VM made (or the task failed), the guest's VM powered off (or
// found off, or powered on again, since).
func (h *Hold) Ended() { h.works.Wait() }

// heldTask records a task (or a VM whose shutdown is) held: announced once a client waits for it
// (waitedFor), so that a test stopping the client then stops it while it
// waits for the task, which it knows.
func (h *Hold) heldTask(task types.ManagedObjectReference, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tasks == nil {
		h.tasks = map[types.ManagedObjectReference]string{}
	}
	h.tasks[task] = name
}

// waitedFor announces a held task a client now waits for (a property
// filter on it: govmomi's task wait makes one).
func (h *Hold) waitedFor(obj types.ManagedObjectReference) {
	h.mu.Lock()
	name, ok := h.tasks[obj]
	delete(h.tasks, obj)
	h.mu.Unlock()
	if ok {
		h.announce(name)
	}
}

func (h *Hold) announce(name string) {
	select {
	case h.began <- name:
	default:
	}
}

// holds are a vCenter's Holds in place (nil: none).
type holds struct {
	shutdown, create, createAnswer, imports, removals atomic.Pointer[Hold]
}

// HoldGuestShutdowns holds the guest shutdowns this vCenter accepts from
// now on (ShutdownGuest returned), each announced once a client waits for
// its VM (a property filter on it, as govmomi's wait for a power state
// makes): each VM powers off only once the Hold is released (and its guest's shutdown time, Options.GuestShutdown, has
// passed), reading powered on until then, as a real guest still shutting
// down does. The VM does not power off at all if it was powered off (and
// perhaps on again) meanwhile.
func (vc *VCenter) HoldGuestShutdowns() *Hold {
	h := newHold()
	vc.holds.shutdown.Store(h)
	return h
}

// HoldCreateVMs holds the CreateVM_Task tasks of the provider vCenter's
// folders that begin from now on: each task is running, and makes its VM
// (or fails) only once the Hold is released; it is announced once a client
// waits for it (a property filter on the task). The folder stays readable
// meanwhile, as vCenter's does while a task creates a VM in it.
func (vc *VCenter) HoldCreateVMs() *Hold {
	h := newHold()
	vc.holds.create.Store(h)
	return h
}

// HoldCreateVMAnswers holds, from now on, the provider vCenter's answers
// to CreateVM_Task calls on its folders, and their tasks: vCenter takes
// each request and begins its task (in its task history, as vCenter's
// tasks are), then the answer naming the task is not sent until the Hold
// is released, nor does the task make its VM (or fail) until then. Each is
// announced once its task has begun, so that a test stops the caller while
// its call waits for the answer: the call is cut off, and the caller does
// not know the task, as when a client's request reached vCenter and the
// client gave up before the answer came. The folder stays readable
// meanwhile.
func (vc *VCenter) HoldCreateVMAnswers() *Hold {
	h := newHold()
	vc.holds.createAnswer.Store(h)
	return h
}

// HoldImports holds the OVF imports this vCenter accepts from now on
// (ImportVApp answered with its lease): each lease reads initializing, as
// while vCenter prepares the import, its VM already in the inventory and
// its task (ResourcePool.ImportVAppLRO) running, until the Hold is
// released; it then turns ready and its timeout starts. Each is announced
// (its VM's name) once a client waits for its lease (a property filter on
// it, as govmomi's lease wait makes), so that a test stops the client
// there: after vCenter accepted the import, before the client knew its VM.
func (vc *VCenter) HoldImports() *Hold {
	h := newHold()
	vc.holds.imports.Store(h)
	return h
}

// releaseHolds lets whatever is held go on (the lab is closing).
func (vc *VCenter) releaseHolds() {
	for _, h := range []*Hold{vc.holds.shutdown.Load(), vc.holds.create.Load(), vc.holds.createAnswer.Load(), vc.holds.imports.Load(), vc.holds.removals.Load()} {
		if h != nil {
			h.Release()
		}
	}
}

// installHoldWatch announces a held task, or a VM whose guest shutdown is
// held, as a client begins to wait for it (a property filter on it).
func installHoldWatch(vc *VCenter) {
	reg := vc.Model.Map()
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			if req, ok := method.Body.(*types.CreateFilter); ok {
				for _, h := range []*Hold{vc.holds.create.Load(), vc.holds.shutdown.Load(), vc.holds.imports.Load(), vc.holds.removals.Load()} {
					if h == nil {
						continue
					}
					for _, o := range req.Spec.ObjectSet {
						h.waitedFor(o.Obj)
					}
				}
			}
			if prev != nil {
				return prev(ctx, method)
			}
			return nil, nil
		}
	})
}
