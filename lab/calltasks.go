package lab

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-migrate/ferry/lab/simwrap"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// One task per call, as vCenter records a task method's call: one task in
// its task history (TaskManager.CreateCollectorForTasks), in the
// TaskManager's and the entity's recentTask. The lab runs some calls
// through a task of its own that runs vcsim's method, which begins a task
// of its own (CreateVM_Task and ReconfigVM_Task, all or nothing:
// createVMAtomic, reconfigure; MoveIntoFolder_Task and RelocateVM_Task,
// names checked: vcrules.go), and vcsim's own methods run others' the
// same way (Destroy_Task deletes the VM's disks and files with
// DeleteVirtualDisk_Task and DeleteDatastoreFile_Task, CloneVM_Task
// creates with CreateVM_Task, ResetVM_Task powers off then on): each such
// call was listed as two tasks or more. The steps are the tasks begun on
// the call's context while a task it began still runs; vCenter's records
// list the call's task alone. (Datacenter.PowerOnMultiVM begins its VMs'
// tasks on contexts of their own: vCenter lists them too.)

// vCenterTaskIDs are the descriptionIds vCenter gives the tasks of the
// methods vcsim (and the lab after it) names otherwise: the keys of its
// TaskManager's description (methodInfo), which vcsim's copies.
var vCenterTaskIDs = map[string]string{
	"VirtualMachine.reconfigVm":         "VirtualMachine.reconfigure",
	"VirtualMachine.relocateVm":         "VirtualMachine.relocate",
	"VirtualMachine.cloneVm":            "VirtualMachine.clone",
	"VirtualMachine.upgradeVm":          "VirtualMachine.upgradeVirtualHardware",
	"VirtualMachine.customizeVm":        "VirtualMachine.customize",
	"VirtualMachine.RemoveAllSnapshots": "VirtualMachine.removeAllSnapshots",
	"Folder.moveIntoFolder":             "Folder.moveInto",
	"FileManager.deleteDatastoreFile":   "FileManager.deleteFile",
	"FileManager.copyDatastoreFile":     "FileManager.copyFile",
	"FileManager.moveDatastoreFile":     "FileManager.moveFile",
}

// oneTaskPerCall makes reg's TaskManager record a call's task alone: the
// tasks its task begins on the call's context stay out of the task
// history and the recentTask lists. Tasks are named by vCenter's
// descriptionIds (vCenterTaskIDs).
func oneTaskPerCall(reg *simulator.Registry) *callTasks {
	for _, o := range reg.AllReference("TaskManager") {
		if tm, ok := o.(*simulator.TaskManager); ok {
			// In the TaskManager's place among the registry's
			// handlers (they are keyed by reference).
			c := &callTasks{tm: tm, self: tm.Reference(), reg: reg,
				pending:  map[types.ManagedObjectReference]*simulator.Task{},
				visible:  map[types.ManagedObjectReference]*simulator.Context{},
				running:  map[*simulator.Context]int{},
				steps:    map[types.ManagedObjectReference]bool{},
				entityOf: map[types.ManagedObjectReference]types.ManagedObjectReference{}}
			reg.AddHandler(c)
			return c
		}
	}
	return nil
}

// callTasks stands in for vcsim's TaskManager among the registry's
// handlers. A task vcsim runs (Task.Run) is put in the registry, then
// starts running on the context of the call that began it: the
// TaskManager records it once it starts, unless a task begun on that
// context still runs (the task is a step of it).
type callTasks struct {
	tm   *simulator.TaskManager
	self types.ManagedObjectReference
	reg  *simulator.Registry

	mu      sync.Mutex
	pending map[types.ManagedObjectReference]*simulator.Task    // put, not started
	visible map[types.ManagedObjectReference]*simulator.Context // recorded, running: its context
	running map[*simulator.Context]int                          // recorded tasks running, by context
	steps   map[types.ManagedObjectReference]bool               // not recorded, running
	// entityOf is the entity of each recorded running task (visible).
	entityOf map[types.ManagedObjectReference]types.ManagedObjectReference
	refused  atomic.Int64 // calls refused TaskInProgress
	// onTheCall: busy VMs' task methods are refused with the call's fault
	// (RefuseOnTheCall), not with a task that fails.
	onTheCall atomic.Bool
	// refusedTasks numbers the failed tasks of refusals.
	refusedTasks atomic.Int64
}

// TasksRefused is how many VM calls this vCenter refused TaskInProgress.
func (vc *VCenter) TasksRefused() int64 { return vc.tasks.refused.Load() }

// runningOn is a recorded task running on entity (nil: none).
func (c *callTasks) runningOn(entity types.ManagedObjectReference) *types.ManagedObjectReference {
	c.mu.Lock()
	defer c.mu.Unlock()
	for task, e := range c.entityOf {
		if e == entity {
			return &task
		}
	}
	return nil
}

// Reference implements simulator.RegisterObject: the TaskManager's.
func (c *callTasks) Reference() types.ManagedObjectReference { return c.self }

// PutObject holds back a task vcsim runs until it starts (UpdateObject);
// any other (TaskManager.CreateTask's, an extension's) is recorded now.
func (c *callTasks) PutObject(ctx *simulator.Context, obj mo.Reference) {
	if t, ok := obj.(*simulator.Task); ok && t.Execute != nil {
		// Nobody knows the task yet (its call answers once it runs).
		if id, ok := vCenterTaskIDs[t.Info.DescriptionId]; ok {
			t.Info.DescriptionId = id
		}
		c.mu.Lock()
		c.pending[t.Self] = t
		c.mu.Unlock()
		return
	}
	c.tm.PutObject(ctx, obj)
}

func (c *callTasks) RemoveObject(ctx *simulator.Context, ref types.ManagedObjectReference) {
	c.mu.Lock()
	delete(c.pending, ref)
	delete(c.steps, ref)
	c.mu.Unlock()
	c.tm.RemoveObject(ctx, ref)
}

// UpdateObject records a task as it starts (ctx is its call's), unless it
// is a step of a task of the same call; a step's changes are not
// recorded.
func (c *callTasks) UpdateObject(ctx *simulator.Context, obj mo.Reference, changes []types.PropertyChange) {
	task, ok := obj.(*mo.Task)
	if !ok {
		c.tm.UpdateObject(ctx, obj, changes)
		return
	}
	var state any
	for _, ch := range changes {
		if ch.Name == "info.state" {
			state = ch.Val
		}
	}
	ref := task.Self
	c.mu.Lock()
	if t := c.pending[ref]; t != nil && state != nil {
		delete(c.pending, ref)
		if ctx != nil && c.running[ctx] > 0 {
			c.steps[ref] = true
			c.mu.Unlock()
			return
		}
		c.visible[ref] = ctx
		if t.Info.Entity != nil {
			c.entityOf[ref] = *t.Info.Entity
		}
		if ctx != nil {
			c.running[ctx]++
		}
		c.mu.Unlock()
		c.tm.PutObject(&simulator.Context{Map: c.reg}, t)
		c.tm.UpdateObject(ctx, obj, changes)
		return
	}
	if c.steps[ref] {
		if ended(state) {
			delete(c.steps, ref)
		}
		c.mu.Unlock()
		return
	}
	if call, ok := c.visible[ref]; ok && ended(state) {
		delete(c.visible, ref)
		delete(c.entityOf, ref)
		if call != nil {
			if c.running[call]--; c.running[call] <= 0 {
				delete(c.running, call)
			}
		}
	}
	c.mu.Unlock()
	c.tm.UpdateObject(ctx, obj, changes)
}

func ended(state any) bool {
	return state == types.TaskInfoStateSuccess || state == types.TaskInfoStateError
}

// vmLockingTasks are the VirtualMachine methods whose task holds the VM:
// while one runs, ESXi refuses another of them on the same VM with
// TaskInProgress ("Another task is already in progress."): govmomi issue
// 953 (a CD-ROM insert during another task), Forklift MTV-1753 (a
// snapshot created while the previous one's removal still consolidated),
// vic's reconfigure lock for disk attach and detach (vmware/vic 2772).
// The guest power calls are no tasks, but the API reference gives them the
// same refusal ("TaskInProgress: if the virtual machine is busy", vSphere
// API VirtualMachine.ShutdownGuest, RebootGuest, StandbyGuest): a guest
// shutdown asked while a snapshot's removal still consolidates is refused.
var vmLockingTasks = map[string]bool{
	"CreateSnapshot_Task": true, "CreateSnapshotEx_Task": true, "RemoveSnapshot_Task": true,
	"RemoveAllSnapshots_Task": true, "RevertToSnapshot_Task": true, "RevertToCurrentSnapshot_Task": true,
	"ConsolidateVMDisks_Task": true, "ReconfigVM_Task": true, "PowerOnVM_Task": true,
	"PowerOffVM_Task": true, "SuspendVM_Task": true, "ResetVM_Task": true, "RelocateVM_Task": true,
	"MigrateVM_Task": true, "Destroy_Task": true, "UpgradeVM_Task": true,
	"ShutdownGuest": true, "RebootGuest": true, "StandbyGuest": true,
}

// snapshotLockingTasks are the VirtualMachineSnapshot methods that hold
// the snapshot's VM (their task's entity is the VM, vcsim's too): refused
// while another task runs on the VM, as the VM's own are (the API
// reference lists TaskInProgress for RemoveSnapshot_Task,
// RevertToSnapshot_Task and RenameSnapshot).
var snapshotLockingTasks = map[string]bool{
	"RemoveSnapshot_Task": true, "RevertToSnapshot_Task": true, "RenameSnapshot": true,
}

// lockedVM is the VM a call on this would hold (false: none).
func lockedVM(ctx *simulator.Context, method *simulator.Method) (types.ManagedObjectReference, bool) {
	switch {
	case method.This.Type == "VirtualMachine" && vmLockingTasks[method.Name]:
		return method.This, true
	case method.This.Type == "VirtualMachineSnapshot" && snapshotLockingTasks[method.Name]:
		if s, ok := ctx.Map.Get(method.This).(*simulator.VirtualMachineSnapshot); ok {
			return s.Vm, true
		}
	}
	return types.ManagedObjectReference{}, false
}

// refuseTasksInProgress makes reg's vCenter refuse a VM-locking call on a
// VM that has a recorded task of another call running, as vCenter does.
// A task method's refusal is a task of its own that fails TaskInProgress
// at once: vCenter accepts the call, lists the task in the VM's recent
// tasks and fails it with "Another task is already in progress." (vic's
// task waiter, pkg/vsphere/tasks/waiter.go isTaskInProgress, waits out
// this form, a task.Error, besides the fault of the call). The guest power
// calls and RenameSnapshot, which are no tasks, are refused on the call; so
// are the task methods while the vCenter refuses on the call
// (RefuseOnTheCall), as a server may before it makes a task.
func refuseTasksInProgress(reg *simulator.Registry, c *callTasks) {
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			if vm, ok := lockedVM(ctx, method); ok {
				if task := c.runningOn(vm); task != nil {
					c.refused.Add(1)
					r := &busyRefusal{vm: vm, holder: *task, c: c}
					if w := r.wrapper(ctx, method); w != nil {
						// Through the caller's session (simwrap.Put);
						// the method takes it out again.
						simwrap.Put(ctx, w)
						return w, nil
					}
					return nil, r.fault()
				}
			}
			if prev != nil {
				return prev(ctx, method)
			}
			return nil, nil
		}
	})
}

// RefuseOnTheCall makes this vCenter refuse a busy VM's task methods with
// the call's fault (true) rather than with a task that fails (false, the
// default).
func (vc *VCenter) RefuseOnTheCall(on bool) { vc.tasks.onTheCall.Store(on) }

// busyRefusal refuses a call on a busy VM, naming holder, the task that
// holds the VM.
type busyRefusal struct {
	vm     types.ManagedObjectReference
	holder types.ManagedObjectReference
	c      *callTasks
}

func (r *busyRefusal) fault() *types.TaskInProgress {
	return &types.TaskInProgress{VimFault: types.VimFault{MethodFault: types.MethodFault{FaultMessage: []types.LocalizableMessage{{Key: "msg.taskInProgress", Message: anotherTask}}}}, Task: r.holder}
}

// anotherTask is vCenter's message of TaskInProgress.
const anotherTask = "Another task is already in progress."

// wrapper is the object that answers method in place of the VM or
// snapshot it is called on (answer); nil when the handler's fault refuses
// it (no session to put it in, a method it does not answer).
func (r *busyRefusal) wrapper(ctx *simulator.Context, method *simulator.Method) mo.Reference {
	if ctx.Session == nil {
		return nil
	}
	var w mo.Reference
	switch o := ctx.Map.Get(method.This).(type) {
	case *simulator.VirtualMachine:
		w = &refusedVM{VirtualMachine: o, r: r, OwnEntity: simwrap.Entity(ctx, o)}
	case *simulator.VirtualMachineSnapshot:
		w = &refusedSnapshot{VirtualMachineSnapshot: o, r: r, Own: simwrap.Own{Self: o.Self}}
	default:
		return nil
	}
	name := method.Name // vcsim's Go name of Foo_Task is FooTask
	if base, ok := strings.CutSuffix(name, "_Task"); ok {
		name = base + "Task"
	}
	if !reflect.ValueOf(w).MethodByName(name).IsValid() {
		return nil
	}
	return w
}

// answer takes the wrapper self out of the caller's session and refuses
// the task method named name: with a task that failed (failed), or on the
// call (RefuseOnTheCall), the fault with vCenter's message (the handler's
// fault would have none).
func (r *busyRefusal) answer(ctx *simulator.Context, self types.ManagedObjectReference, name string) (types.ManagedObjectReference, *soap.Fault) {
	if r.c.onTheCall.Load() {
		return types.ManagedObjectReference{}, r.refuse(ctx, self)
	}
	ctx.Session.Registry.Remove(ctx, self)
	return r.failed(ctx, name), nil
}

// refuse takes the wrapper self out of the caller's session and returns
// the fault that refuses the call.
func (r *busyRefusal) refuse(ctx *simulator.Context, self types.ManagedObjectReference) *soap.Fault {
	ctx.Session.Registry.Remove(ctx, self)
	return simulator.Fault(anotherTask, r.fault())
}

// failed records a task of the call named name on the VM, failed
// TaskInProgress, and returns it. Like BusyVM's, it is no vcsim task run:
// that would wait for the VM's lock, which the holder's may keep.
func (r *busyRefusal) failed(ctx *simulator.Context, name string) types.ManagedObjectReference {
	reg := ctx.Map
	if reg.Path != vim25.Path {
		reg = ctx.For(vim25.Path).Map
	}
	task := simulator.CreateTask(r.vm, name, func(*simulator.Task) (types.AnyType, types.BaseMethodFault) { return nil, nil })
	task.Execute = nil
	task.Info.Reason = &types.TaskReasonUser{UserName: ctx.Session.UserName}
	task.Self = types.ManagedObjectReference{Type: "Task", Value: fmt.Sprintf("task-refused-%d", r.c.refusedTasks.Add(1))}
	task.Info.Key, task.Info.Task = task.Self.Value, task.Self
	if id, ok := vCenterTaskIDs[task.Info.DescriptionId]; ok {
		task.Info.DescriptionId = id
	}
	reg.Put(task)
	now := time.Now()
	tctx := &simulator.Context{Map: reg}
	reg.AtomicUpdate(tctx, task, []types.PropertyChange{{Name: "info.startTime", Val: now}, {Name: "info.state", Val: types.TaskInfoStateRunning}})
	reg.AtomicUpdate(tctx, task, []types.PropertyChange{{Name: "info.completeTime", Val: now}, {Name: "info.state", Val: types.TaskInfoStateError},
		{Name: "info.error", Val: &types.LocalizedMethodFault{Fault: r.fault(), LocalizedMessage: anotherTask}}})
	return task.Self
}

// refusedVM answers the VM-locking methods of a busy VM: a task method
// with a failed task (method names and task names as vcsim's), a guest
// power call with the fault.
type refusedVM struct {
	*simulator.VirtualMachine
	r *busyRefusal
	simwrap.OwnEntity
}

func (v *refusedVM) CreateSnapshotTask(ctx *simulator.Context, _ *types.CreateSnapshot_Task) soap.HasFault {
	task, f := v.r.answer(ctx, v.Self, "createSnapshot")
	return &methods.CreateSnapshot_TaskBody{Res: &types.CreateSnapshot_TaskResponse{Returnval: task}, Fault_: f}
}

func (v *refusedVM) CreateSnapshotExTask(ctx *simulator.Context, _ *types.CreateSnapshotEx_Task) soap.HasFault {
	task, f := v.r.answer(ctx, v.Self, "createSnapshotEx")
	return &methods.CreateSnapshotEx_TaskBody{Res: &types.CreateSnapshotEx_TaskResponse{Returnval: task}, Fault_: f}
}

func (v *refusedVM) RemoveAllSnapshotsTask(ctx *simulator.Context, _ *types.RemoveAllSnapshots_Task) soap.HasFault {
	task, f := v.r.answer(ctx, v.Self, "RemoveAllSnapshots")
	return &methods.RemoveAllSnapshots_TaskBody{Res: &types.RemoveAllSnapshots_TaskResponse{Returnval: task}, Fault_: f}
}

func (v *refusedVM) RevertToCurrentSnapshotTask(ctx *simulator.Context, _ *types.RevertToCurrentSnapshot_Task) soap.HasFault {
	task, f := v.r.answer(ctx, v.Self, "revertToCurrentSnapshot")
	return &methods.RevertToCurrentSnapshot_TaskBody{Res: &types.RevertToCurrentSnapshot_TaskResponse{Returnval: task}, Fault_: f}
}

func (v *refusedVM) ConsolidateVMDisksTask(ctx *simulator.Context, _ *types.ConsolidateVMDisks_Task) soap.HasFault {
	task, f := v.r.answer(ctx, v.Self, "consolidateDisks")
	return &methods.ConsolidateVMDisks_TaskBody{Res: &types.ConsolidateVMDisks_TaskResponse{Returnval: task}, Fault_: f}
}

func (v *refusedVM) ReconfigVMTask(ctx *simulator.Context, _ *types.ReconfigVM_Task) soap.HasFault {
	task, f := v.r.answer(ctx, v.Self, "reconfigVm")
	return &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: task}, Fault_: f}
}

func (v *refusedVM) PowerOnVMTask(ctx *simulator.Context, _ *types.PowerOnVM_Task) soap.HasFault {
	task, f := v.r.answer(ctx, v.Self, "powerOn")
	return &methods.PowerOnVM_TaskBody{Res: &types.PowerOnVM_TaskResponse{Returnval: task}, Fault_: f}
}

func (v *refusedVM) PowerOffVMTask(ctx *simulator.Context, _ *types.PowerOffVM_Task) soap.HasFault {
	task, f := v.r.answer(ctx, v.Self, "powerOff")
	return &methods.PowerOffVM_TaskBody{Res: &types.PowerOffVM_TaskResponse{Returnval: task}, Fault_: f}
}

func (v *refusedVM) SuspendVMTask(ctx *simulator.Context, _ *types.SuspendVM_Task) soap.HasFault {
	task, f := v.r.answer(ctx, v.Self, "suspend")
	return &methods.SuspendVM_TaskBody{Res: &types.SuspendVM_TaskResponse{Returnval: task}, Fault_: f}
}

func (v *refusedVM) ResetVMTask(ctx *simulator.Context, _ *types.ResetVM_Task) soap.HasFault {
	task, f := v.r.answer(ctx, v.Self, "reset")
	return &methods.ResetVM_TaskBody{Res: &types.ResetVM_TaskResponse{Returnval: task}, Fault_: f}
}

func (v *refusedVM) RelocateVMTask(ctx *simulator.Context, _ *types.RelocateVM_Task) soap.HasFault {
	task, f := v.r.answer(ctx, v.Self, "relocateVm")
	return &methods.RelocateVM_TaskBody{Res: &types.RelocateVM_TaskResponse{Returnval: task}, Fault_: f}
}

func (v *refusedVM) DestroyTask(ctx *simulator.Context, _ *types.Destroy_Task) soap.HasFault {
	task, f := v.r.answer(ctx, v.Self, "destroy")
	return &methods.Destroy_TaskBody{Res: &types.Destroy_TaskResponse{Returnval: task}, Fault_: f}
}

func (v *refusedVM) ShutdownGuest(ctx *simulator.Context, _ *types.ShutdownGuest) soap.HasFault {
	return &methods.ShutdownGuestBody{Fault_: v.r.refuse(ctx, v.Self)}
}

func (v *refusedVM) RebootGuest(ctx *simulator.Context, _ *types.RebootGuest) soap.HasFault {
	return &methods.RebootGuestBody{Fault_: v.r.refuse(ctx, v.Self)}
}

func (v *refusedVM) StandbyGuest(ctx *simulator.Context, _ *types.StandbyGuest) soap.HasFault {
	return &methods.StandbyGuestBody{Fault_: v.r.refuse(ctx, v.Self)}
}

// refusedSnapshot answers the VM-locking methods of a busy VM's snapshot:
// a task method with a failed task, whose entity is the VM; RenameSnapshot
// with the fault.
type refusedSnapshot struct {
	*simulator.VirtualMachineSnapshot
	r *busyRefusal
	simwrap.Own
}

func (s *refusedSnapshot) RemoveSnapshotTask(ctx *simulator.Context, _ *types.RemoveSnapshot_Task) soap.HasFault {
	task, f := s.r.answer(ctx, s.Self, "removeSnapshot")
	return &methods.RemoveSnapshot_TaskBody{Res: &types.RemoveSnapshot_TaskResponse{Returnval: task}, Fault_: f}
}

func (s *refusedSnapshot) RevertToSnapshotTask(ctx *simulator.Context, _ *types.RevertToSnapshot_Task) soap.HasFault {
	task, f := s.r.answer(ctx, s.Self, "revertToSnapshot")
	return &methods.RevertToSnapshot_TaskBody{Res: &types.RevertToSnapshot_TaskResponse{Returnval: task}, Fault_: f}
}

func (s *refusedSnapshot) RenameSnapshot(ctx *simulator.Context, _ *types.RenameSnapshot) soap.HasFault {
	return &methods.RenameSnapshotBody{Fault_: s.r.refuse(ctx, s.Self)}
}

// BusyVM runs a task of someone else's on the VM named name for d, or
// until end is called (a backup job's snapshot, an admin's reconfigure):
// meanwhile its VM-locking calls are refused TaskInProgress, as ESXi
// refuses them, while its properties stay readable. It returns once the
// task runs.
func (vc *VCenter) BusyVM(name string, d time.Duration) (end func(), err error) {
	reg := vc.Model.Map()
	var ref *types.ManagedObjectReference
	for _, o := range reg.All("VirtualMachine") {
		if vm, ok := o.(*simulator.VirtualMachine); ok && vm.Name == name {
			ref = &vm.Self
		}
	}
	if ref == nil {
		return nil, fmt.Errorf("lab: no VM %q", name)
	}
	ctx := &simulator.Context{Map: reg}
	task := simulator.CreateTask(*ref, "CreateSnapshot_Task", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) { return nil, nil })
	task.Info.Reason = &types.TaskReasonUser{UserName: "backup@vsphere.local"}
	// As Task.Run begins a task, without holding the VM's lock: vCenter
	// reads a busy VM's properties.
	task.Self = types.ManagedObjectReference{Type: "Task", Value: fmt.Sprintf("task-busy-%d", vc.busyTasks.Add(1))}
	task.Info.Key, task.Info.Task = task.Self.Value, task.Self
	reg.Put(task)
	reg.AtomicUpdate(ctx, task, []types.PropertyChange{{Name: "info.startTime", Val: time.Now()}, {Name: "info.state", Val: types.TaskInfoStateRunning}})
	var once sync.Once
	end = func() {
		once.Do(func() {
			reg.AtomicUpdate(ctx, task, []types.PropertyChange{{Name: "info.completeTime", Val: time.Now()}, {Name: "info.state", Val: types.TaskInfoStateSuccess}})
		})
	}
	time.AfterFunc(d, end)
	return end, nil
}
