package lab

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/dsfile"
	"github.com/ferry-migrate/ferry/lab/simwrap"
)

// DefaultImportLeaseTimeout is how long an OVF import lease lives without
// HttpNfcLeaseProgress: vCenter's (HttpNfcLeaseInfo.leaseTimeout, 300 s).
const DefaultImportLeaseTimeout = 300 * time.Second

// importLeases makes a vCenter's OVF import leases (HttpNfcLease) behave
// as vSphere's do. While a lease is held, operations that alter the VM it
// covers are refused (vSphere API: "PowerOn, Destroy, Migrate, etc."). A
// lease that HttpNfcLeaseProgress does not keep alive within its timeout
// times out and the import fails: vCenter removes the VM it was creating;
// HttpNfcLeaseAbort removes it at once. A lease is the vCenter's managed
// object, not its session's: another session (a ferry started after one
// that was killed mid-upload) may abort it. Stock vcsim keeps the VM in
// every case, lets anything power it on, and keeps the lease in the
// session that made it. The import's task (ResourcePool.ImportVAppLRO)
// runs while the lease is held, in the VM's recentTask too, with the
// lease's progress, and ends with it (vcsim's ended once the VM was made).
type importLeases struct {
	reg     *simulator.Registry
	model   *simulator.Model
	timeout time.Duration
	holds   *holds

	mu      sync.Mutex
	held    map[types.ManagedObjectReference]*heldLease
	expired map[types.ManagedObjectReference]bool // timed out
	closed  bool
	wg      sync.WaitGroup
}

type heldLease struct {
	lease *simulator.HttpNfcLease
	timer *time.Timer
	// task is the import's task (ResourcePool.ImportVAppLRO), running
	// while the lease is held; nil if vcsim's was not found.
	task *simulator.Task
}

// installImportLeases wraps vc's ImportVApp and judges the calls on its
// leases and on the VMs they cover; close stops the lease timers.
func installImportLeases(vc *VCenter, timeout time.Duration) *importLeases {
	if timeout <= 0 {
		timeout = DefaultImportLeaseTimeout
	}
	reg := vc.Model.Map()
	il := &importLeases{reg: reg, model: vc.Model, timeout: timeout, holds: &vc.holds, held: map[types.ManagedObjectReference]*heldLease{}, expired: map[types.ManagedObjectReference]bool{}}
	simwrap.Wrap(reg, "ResourcePool", []string{"ImportVApp"}, func(ctx *simulator.Context, obj mo.Reference) mo.Reference {
		if p, ok := obj.(*simulator.ResourcePool); ok {
			return &importingPool{ResourcePool: p, il: il, OwnEntity: simwrap.Entity(ctx, p)}
		}
		return nil
	})
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			switch method.This.Type {
			case "HttpNfcLease":
				if h, fault, ok := il.leaseCall(method); ok {
					return h, fault
				}
			case "VirtualMachine":
				switch method.Name {
				case "PowerOnVM_Task", "Destroy_Task", "UnregisterVM", "ReconfigVM_Task", "RelocateVM_Task", "MigrateVM_Task",
					"CloneVM_Task", "CreateSnapshot_Task", "MarkAsTemplate":
					if il.covers(method.This) {
						return nil, &types.InvalidState{}
					}
				}
			}
			if prev != nil {
				return prev(ctx, method)
			}
			return nil, nil
		}
	})
	return il
}

type importingPool struct {
	*simulator.ResourcePool
	il *importLeases
	simwrap.OwnEntity
}

// ImportVApp is vcsim's, all or nothing as vCenter's import, whose lease
// is then held (timed, and known to every session). A VM name its folder
// holds gets a lease that fails with DuplicateName, nothing made: vCenter
// answers the call and fails the lease ("govc: The name 'x' already
// exists.", a lease's fault as govc prints it, govmomi #1927; ansible's
// vmware_deploy_ovf, which waited only for the ready state, hung there,
// ansible/ansible#59436, or found the failed lease gone, #61762). vcsim
// made a second VM of the name; the lab refused the call. The call returns once the lease is ready or
// failed (vcsim prepares the VM meanwhile; a client waits for either): a
// VM vCenter refuses leaves no file vcsim made for it (its folder, with
// its configuration file and the disks it made before the device it
// refused), removed before a client can see the lease fail. vcsim left
// them, so the same import failed on its disk (FileAlreadyExists) once
// corrected. (An aborted or timed-out import's VM is destroyed with its
// folder: removeEntity.)
func (p *importingPool) ImportVApp(ctx *simulator.Context, req *types.ImportVApp) (res soap.HasFault) {
	body := &methods.ImportVAppBody{}
	defer simwrap.Recovered(&res, body, &body.Fault_)
	spec, ok := req.Spec.(*types.VirtualMachineImportSpec)
	if !ok {
		return p.ResourcePool.ImportVApp(ctx, req) // refused by vcsim
	}
	folder := req.Folder
	if folder == nil {
		folder = vmFolderOf(ctx, p.ResourcePool.Self)
	}
	if folder != nil && ctx.Session != nil {
		if dup := nameTaken(ctx, *folder, spec.ConfigSpec.Name, types.ManagedObjectReference{}, "VirtualMachine"); dup != nil {
			body.Res = &types.ImportVAppResponse{Returnval: p.il.failLease(ctx, &types.LocalizedMethodFault{
				Fault: dup, LocalizedMessage: fmt.Sprintf("The name '%s' already exists.", spec.ConfigSpec.Name)})}
			return body
		}
	}
	local := func(name string) string {
		l, err := dsfile.Local(p.il.model, name)
		if err != nil {
			return ""
		}
		return l
	}
	made := noteVMFiles(&spec.ConfigSpec, local)
	before := p.il.importTasks(p.ResourcePool.Self, nil)
	res = p.ResourcePool.ImportVApp(ctx, req)
	b, ok := res.(*methods.ImportVAppBody)
	if !ok || b.Res == nil || ctx.Session == nil {
		return res
	}
	l, ok := ctx.Session.Get(b.Res.Returnval).(*simulator.HttpNfcLease)
	if !ok {
		return res
	}
	if p.il.settled(l) == types.HttpNfcLeaseStateError {
		made.remove()
		return res
	}
	var task *simulator.Task
	if t := p.il.importTasks(p.ResourcePool.Self, before); len(t) == 1 {
		task = t[0]
	}
	h := p.il.holds.imports.Load()
	if h != nil {
		// Held: the lease reads initializing (vCenter still preparing
		// the import, its VM in the inventory already) until Release.
		p.il.reg.WithLock(p.il.context(), l, func() {
			p.il.context().Update(l, []types.PropertyChange{{Name: "state", Val: types.HttpNfcLeaseStateInitializing}})
		})
		h.heldTask(l.Reference(), spec.ConfigSpec.Name)
	}
	p.il.hold(l, task, h)
	return res
}

// importTasks are the ImportVApp tasks (ResourcePool.ImportVAppLRO) of
// pool that are not in before. ImportVApp calls on a pool are answered one
// at a time (the pool is locked), so the one a call began is the one new.
func (il *importLeases) importTasks(pool types.ManagedObjectReference, before []*simulator.Task) []*simulator.Task {
	var out []*simulator.Task
	for _, o := range il.reg.AllReference("Task") {
		t, ok := o.(*simulator.Task)
		if !ok || slices.Contains(before, t) {
			continue
		}
		var id string
		var entity *types.ManagedObjectReference
		il.reg.WithLock(&simulator.Context{}, t, func() { id, entity = t.Info.DescriptionId, t.Info.Entity })
		if id == "ResourcePool.ImportVAppLRO" && entity != nil && *entity == pool {
			out = append(out, t)
		}
	}
	return out
}

// runTask makes the import's task run again once vcsim ended it (vcsim's
// ends once the VM is made: "keep this task running until lease timeout
// or marked completed by the client" is a TODO of its), as vCenter's runs
// until the lease is done, aborted or timed out, and lists it in the VM's
// recentTask too.
func (il *importLeases) runTask(t *simulator.Task, vm types.ManagedObjectReference) {
	t.Wait()
	ctx := il.context()
	il.reg.WithLock(ctx, t, func() {
		ctx.Update(t, []types.PropertyChange{
			{Name: "info.state", Val: types.TaskInfoStateRunning},
			{Name: "info.completeTime", Val: nil},
			{Name: "info.progress", Val: int32(0)},
		})
	})
	if v, ok := il.reg.Get(vm).(*simulator.VirtualMachine); ok {
		il.reg.WithLock(ctx, v, func() {
			if !slices.Contains(v.RecentTask, t.Self) {
				ctx.Update(v, []types.PropertyChange{{Name: "recentTask", Val: append(slices.Clone(v.RecentTask), t.Self)}})
			}
		})
	}
}

// endTask ends the import's task: success when fault is nil, else failed
// with it.
func (il *importLeases) endTask(t *simulator.Task, fault *types.LocalizedMethodFault) {
	if t == nil {
		return
	}
	ctx := il.context()
	state := types.TaskInfoStateSuccess
	if fault != nil {
		state = types.TaskInfoStateError
	}
	changes := []types.PropertyChange{
		{Name: "info.completeTime", Val: time.Now()},
		{Name: "info.state", Val: state},
	}
	if fault != nil {
		changes = append(changes, types.PropertyChange{Name: "info.error", Val: fault})
	} else {
		changes = append(changes, types.PropertyChange{Name: "info.progress", Val: int32(100)})
	}
	il.reg.WithLock(ctx, t, func() { ctx.Update(t, changes) })
}

// taskProgress reports the lease's progress on the import's task, as
// vCenter's HttpNfcLeaseProgress does.
func (il *importLeases) taskProgress(t *simulator.Task, percent int32) {
	if t == nil {
		return
	}
	ctx := il.context()
	il.reg.WithLock(ctx, t, func() { ctx.Update(t, []types.PropertyChange{{Name: "info.progress", Val: percent}}) })
}

// failLease is a new import lease of the caller's session, returned
// initializing, that then fails with fault (state error, the fault in its
// error) having made nothing: vCenter's answer to an import it refuses
// once the call has returned, such as one of a name the folder holds.
func (il *importLeases) failLease(ctx *simulator.Context, fault *types.LocalizedMethodFault) types.ManagedObjectReference {
	l := &simulator.HttpNfcLease{HttpNfcLease: mo.HttpNfcLease{State: types.HttpNfcLeaseStateInitializing}}
	ctx.Session.Put(l)
	ref := l.Reference()
	il.mu.Lock()
	defer il.mu.Unlock()
	if il.closed {
		return ref
	}
	il.wg.Add(1)
	go func() {
		defer il.wg.Done()
		lc := il.context()
		il.reg.WithLock(lc, l, func() {
			lc.Update(l, []types.PropertyChange{
				{Name: "state", Val: types.HttpNfcLeaseStateError},
				{Name: "error", Val: fault},
			})
		})
	}()
	return ref
}

// vmFolderOf is the VM folder of the datacenter holding ref.
func vmFolderOf(ctx *simulator.Context, ref types.ManagedObjectReference) *types.ManagedObjectReference {
	for range 64 {
		switch o := ctx.Map.Get(ref).(type) {
		case *simulator.Datacenter:
			f := o.VmFolder
			return &f
		case mo.Entity:
			p := o.Entity().Parent
			if p == nil {
				return nil
			}
			ref = *p
		default:
			return nil
		}
	}
	return nil
}

// settled waits until vcsim's import made the VM lease l covers (ready)
// or failed (error), and says which. vcsim's import task updates the
// lease under its lock; read it as vcsim's Task.Wait reads a task.
func (il *importLeases) settled(l *simulator.HttpNfcLease) types.HttpNfcLeaseState {
	for {
		var state types.HttpNfcLeaseState
		il.reg.WithLock(&simulator.Context{}, l, func() { state = l.State })
		if state != types.HttpNfcLeaseStateInitializing {
			return state
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hold holds lease l, whose import's task is task: its timer runs from
// now, or, under a Hold h of the test's, from h's release (the lease
// ready then).
func (il *importLeases) hold(l *simulator.HttpNfcLease, task *simulator.Task, h *Hold) {
	ref := l.Reference()
	if task != nil {
		if vm, ok := il.entity(l); ok {
			il.runTask(task, vm)
		}
	}
	il.mu.Lock()
	defer il.mu.Unlock()
	if il.closed {
		return
	}
	hl := &heldLease{lease: l, task: task, timer: time.AfterFunc(il.timeout, func() { il.expire(ref, "the lease timed out: no HttpNfcLeaseProgress within its timeout") })}
	il.held[ref] = hl
	if h == nil {
		return
	}
	hl.timer.Stop()
	h.works.Add(1)
	il.wg.Add(1)
	go func() {
		defer il.wg.Done()
		defer h.works.Done()
		<-h.release
		ctx := il.context()
		il.reg.WithLock(ctx, l, func() {
			if l.State == types.HttpNfcLeaseStateInitializing {
				ctx.Update(l, []types.PropertyChange{{Name: "state", Val: types.HttpNfcLeaseStateReady}})
			}
		})
		il.mu.Lock()
		if il.held[ref] == hl {
			hl.timer.Reset(il.timeout)
		}
		il.mu.Unlock()
	}()
}

// leaseCall answers a call on a held lease (ok): Progress keeps it alive,
// Complete and Abort release it, Abort removing the VM. A call on a lease
// that timed out fails as vCenter's does.
func (il *importLeases) leaseCall(method *simulator.Method) (mo.Reference, types.BaseMethodFault, bool) {
	il.mu.Lock()
	if il.expired[method.This] {
		il.mu.Unlock()
		if method.Name == "HttpNfcLeaseAbort" {
			return nil, &types.InvalidState{}, true // already in the error state
		}
		return nil, &types.Timedout{}, true
	}
	h := il.held[method.This]
	if h != nil {
		switch method.Name {
		case "HttpNfcLeaseProgress":
			h.timer.Reset(il.timeout)
			if req, ok := method.Body.(*types.HttpNfcLeaseProgress); ok {
				defer il.taskProgress(h.task, req.Percent)
			}
		case "HttpNfcLeaseComplete":
			h.timer.Stop()
			delete(il.held, method.This)
		case "HttpNfcLeaseAbort":
			h.timer.Stop()
			delete(il.held, method.This)
		}
	}
	il.mu.Unlock()
	if h == nil {
		return nil, nil, false
	}
	switch method.Name {
	case "HttpNfcLeaseAbort":
		// The import fails: vCenter removes what it was creating.
		fault := &types.LocalizedMethodFault{Fault: &types.RequestCanceled{}, LocalizedMessage: "The import was aborted."}
		if req, ok := method.Body.(*types.HttpNfcLeaseAbort); ok && req.Fault != nil {
			fault = req.Fault
		}
		il.endTask(h.task, fault)
		il.removeEntity(h.lease)
	case "HttpNfcLeaseComplete":
		il.endTask(h.task, nil)
	}
	// Answered by the lease itself, whichever session made it.
	return h.lease, nil, true
}

// expire times a lease out: it enters the error state, its import's task
// fails, and the VM it was importing is removed.
func (il *importLeases) expire(ref types.ManagedObjectReference, why string) {
	il.mu.Lock()
	h := il.held[ref]
	if h == nil || il.closed {
		il.mu.Unlock()
		return
	}
	delete(il.held, ref)
	il.expired[ref] = true
	il.wg.Add(1)
	il.mu.Unlock()
	defer il.wg.Done()
	ctx := il.context()
	il.reg.WithLock(ctx, h.lease, func() {
		h.lease.State = types.HttpNfcLeaseStateError
		h.lease.Error = &types.LocalizedMethodFault{Fault: &types.Timedout{}, LocalizedMessage: why}
	})
	il.endTask(h.task, &types.LocalizedMethodFault{Fault: &types.Timedout{}, LocalizedMessage: why})
	il.removeEntity(h.lease)
}

// covers says whether a held lease covers the VM ref.
func (il *importLeases) covers(ref types.ManagedObjectReference) bool {
	il.mu.Lock()
	var leases []*simulator.HttpNfcLease
	for _, h := range il.held {
		leases = append(leases, h.lease)
	}
	il.mu.Unlock()
	for _, l := range leases {
		if e, ok := il.entity(l); ok && e == ref {
			return true
		}
	}
	return false
}

// entity is the VM a lease covers, once its import made it.
func (il *importLeases) entity(l *simulator.HttpNfcLease) (ref types.ManagedObjectReference, ok bool) {
	il.reg.WithLock(il.context(), l, func() {
		if l.Info != nil {
			ref, ok = l.Info.Entity, true
		}
	})
	return ref, ok
}

// removeEntity destroys the VM the lease was importing, with its files.
func (il *importLeases) removeEntity(l *simulator.HttpNfcLease) {
	ref, ok := il.entity(l)
	if !ok {
		return
	}
	vm, ok := il.reg.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	ctx := il.context()
	var res soap.HasFault
	il.reg.WithLock(ctx, vm, func() {
		if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
			return // cannot be: PowerOn was refused while the lease was held
		}
		res = vm.DestroyTask(ctx, &types.Destroy_Task{This: ref})
	})
	if b, ok := res.(*methods.Destroy_TaskBody); ok && b.Res != nil {
		if t, ok := il.reg.Get(b.Res.Returnval).(*simulator.Task); ok {
			t.Wait()
		}
	}
}

// context is the lab's own context for vCenter's internal work.
func (il *importLeases) context() *simulator.Context {
	return &simulator.Context{Context: context.Background(), Map: il.reg,
		Session: &simulator.Session{UserSession: types.UserSession{Key: "lab-import-leases", UserName: "vpxd"}, Registry: simulator.NewRegistry(), Map: il.reg}}
}

// close stops the leases' timers (the lab is closing).
func (il *importLeases) close() {
	il.mu.Lock()
	il.closed = true
	for _, h := range il.held {
		h.timer.Stop()
	}
	il.mu.Unlock()
	il.wg.Wait()
}

// ImportHeld says whether an OVF import lease still held (neither
// completed, aborted nor timed out) covers a VM named name.
func (vc *VCenter) ImportHeld(name string) bool {
	il := vc.leases
	if il == nil {
		return false
	}
	for _, o := range il.reg.All("VirtualMachine") {
		if vm, ok := o.(*simulator.VirtualMachine); ok && il.nameOf(vm) == name && il.covers(vm.Self) {
			return true
		}
	}
	return false
}

// ExpireImportLeases times out, now, every OVF import lease held (not
// under a Hold): as when its timeout passed without HttpNfcLeaseProgress,
// it fails, its import's task fails, and the VM it imported is removed. A
// test's way to the end of a lease's timeout without waiting for it.
func (vc *VCenter) ExpireImportLeases() {
	il := vc.leases
	if il == nil {
		return
	}
	il.mu.Lock()
	var refs []types.ManagedObjectReference
	for ref, h := range il.held {
		if h.timer.Stop() {
			refs = append(refs, ref)
		}
	}
	il.mu.Unlock()
	for _, ref := range refs {
		il.expire(ref, "the lease timed out: no HttpNfcLeaseProgress within its timeout")
	}
}

// nameOf reads vm's name under its lock.
func (il *importLeases) nameOf(vm *simulator.VirtualMachine) (name string) {
	il.reg.WithLock(il.context(), vm, func() { name = vm.Name })
	return name
}
