package lab

import (
	"fmt"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/simwrap"
)

// A snapshot's removal takes its time on ESXi: it consolidates the
// snapshot's delta into the disk below, for seconds to hours on a VM that
// writes (VMware KB 2039754), and meanwhile the snapshot is still listed
// in the VM's snapshot tree and its task holds the VM (other VM-locking
// calls are refused TaskInProgress). Stock vcsim removes a snapshot at
// once. HoldSnapshotRemovals lets a test keep removals running.

// installSnapshotRemovals wraps vc's RemoveSnapshot_Task for the removals
// HoldSnapshotRemovals holds.
func installSnapshotRemovals(vc *VCenter) {
	simwrap.Wrap(vc.Model.Map(), "VirtualMachineSnapshot", []string{"RemoveSnapshot_Task"}, func(ctx *simulator.Context, obj mo.Reference) mo.Reference {
		if s, ok := obj.(*simulator.VirtualMachineSnapshot); ok && vc.holds.removals.Load() != nil {
			return &heldRemoval{VirtualMachineSnapshot: s, vc: vc}
		}
		return nil
	})
}

type heldRemoval struct {
	*simulator.VirtualMachineSnapshot
	vc *VCenter
	simwrap.Own
}

// RemoveSnapshotTask begins the removal's task and answers with it; the
// task runs (the snapshot listed, the VM held) until the Hold is released,
// then removes the snapshot as vcsim does.
func (s *heldRemoval) RemoveSnapshotTask(ctx *simulator.Context, req *types.RemoveSnapshot_Task) soap.HasFault {
	h := s.vc.holds.removals.Load()
	if h == nil {
		return s.VirtualMachineSnapshot.RemoveSnapshotTask(ctx, req)
	}
	reg := s.vc.Model.Map()
	vmRef := s.Vm
	name := vmRef.Value
	if vm, ok := reg.Get(vmRef).(*simulator.VirtualMachine); ok {
		ctx.WithLock(vm, func() { name = vm.Name })
	}
	// Begun as Task.Run begins one, without holding the VM's lock while it
	// runs: vCenter reads a VM whose snapshot consolidates.
	tctx := &simulator.Context{Map: reg}
	task := simulator.CreateTask(vmRef, "removeSnapshot", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) { return nil, nil })
	task.Self = types.ManagedObjectReference{Type: "Task", Value: fmt.Sprintf("task-removal-%d", s.vc.busyTasks.Add(1))}
	task.Info.Key, task.Info.Task = task.Self.Value, task.Self
	reg.Put(task)
	reg.AtomicUpdate(tctx, task, []types.PropertyChange{{Name: "info.startTime", Val: time.Now()}, {Name: "info.state", Val: types.TaskInfoStateRunning}})
	h.works.Add(1)
	h.heldTask(task.Self, name)
	snapshot := s.VirtualMachineSnapshot
	go func() {
		defer h.works.Done()
		<-h.release
		var f types.BaseMethodFault
		func() {
			defer func() {
				if r := recover(); r != nil {
					f = &types.SystemError{Reason: fmt.Sprint(r)}
				}
			}()
			// vcsim's removal, a step of this task (same context).
			body, ok := snapshot.RemoveSnapshotTask(tctx, req).(*methods.RemoveSnapshot_TaskBody)
			if !ok || body.Res == nil {
				f = &types.SystemError{Reason: "snapshot removal failed"}
				return
			}
			f = waitSimTask(tctx, body.Res.Returnval)
		}()
		changes := []types.PropertyChange{{Name: "info.completeTime", Val: time.Now()}, {Name: "info.state", Val: types.TaskInfoStateSuccess}}
		if f != nil {
			changes[1].Val = types.TaskInfoStateError
			changes = append(changes, types.PropertyChange{Name: "info.error", Val: &types.LocalizedMethodFault{Fault: f, LocalizedMessage: fmt.Sprintf("%T", f)}})
		}
		reg.AtomicUpdate(tctx, task, changes)
	}()
	return &methods.RemoveSnapshot_TaskBody{Res: &types.RemoveSnapshot_TaskResponse{Returnval: task.Self}}
}

// waitSimTask waits for a vcsim task to end and returns its fault.
func waitSimTask(ctx *simulator.Context, ref types.ManagedObjectReference) types.BaseMethodFault {
	for {
		t, ok := ctx.Map.Get(ref).(*simulator.Task)
		if !ok {
			return nil // ended and removed
		}
		var state types.TaskInfoState
		var f *types.LocalizedMethodFault
		ctx.WithLock(t, func() { state, f = t.Info.State, t.Info.Error })
		switch state {
		case types.TaskInfoStateSuccess:
			return nil
		case types.TaskInfoStateError:
			if f != nil {
				return f.Fault
			}
			return &types.SystemError{Reason: "task failed"}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// HoldSnapshotRemovals holds the snapshot removals this vCenter is asked
// for from now on (RemoveSnapshot_Task answered with its task): each task
// runs, its snapshot still listed in the VM's snapshot tree and the VM
// held (its other VM-locking calls refused TaskInProgress), as while ESXi
// consolidates, until the Hold is released; then the snapshot is removed
// and the task ends. Each is announced (its VM's name) once a client waits
// for its task (a property filter on it).
func (vc *VCenter) HoldSnapshotRemovals() *Hold {
	h := newHold()
	vc.holds.removals.Store(h)
	return h
}
