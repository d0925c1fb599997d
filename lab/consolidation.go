package lab

import (
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/simwrap"
)

// A snapshot removal consolidates the snapshot's delta into the disk
// below; while another process holds that disk open (a backup proxy that
// still has it hot-added, the usual cause), the consolidation fails: ESXi
// takes the snapshot out of the VM's snapshot tree but leaves its delta in
// use, so the VM runs on base and delta with no snapshot listed,
// runtime.consolidationNeeded (and summary.runtime.consolidationNeeded) is
// true, vCenter shows "Virtual machine disks consolidation is needed", and
// the removal's task fails FileLocked ("Unable to access file ... since it
// is locked", VMware KB 2003638). ConsolidateVMDisks_Task merges the delta
// once the lock is gone, and fails FileLocked while it holds (backup
// products run it themselves: Veeam's Snapshot Hunter). vcsim implements
// neither; FailConsolidations plays the lock.
//
// The removal's task failing is an assumption: vCenter reports the failed
// consolidation on the removal's task (the snapshot is gone all the same),
// as the admins' reports of "Unable to access file ... since it is locked"
// on Delete Snapshot show; the fault's file is the base disk the lock
// holds.

// consolidations are the VMs whose disks a lock keeps from consolidating.
type consolidations struct {
	mu     sync.Mutex
	locked map[string]int // VM name -> FailConsolidations in force
}

// FailConsolidations holds the base disks of the VM named vmName locked,
// as a backup proxy that still has them hot-added does, until release is
// called: a snapshot removal of that VM that consolidates takes the
// snapshot out of its tree but leaves its delta (the disk chains stay one
// delta deeper than the snapshot depth, the base frozen), sets
// runtime.consolidationNeeded, and fails its task FileLocked naming the
// base disk; ConsolidateVMDisks_Task fails FileLocked too. Once released,
// ConsolidateVMDisks_Task merges the deltas left and clears
// consolidationNeeded.
func (vc *VCenter) FailConsolidations(vmName string) (release func()) {
	c := &vc.consolidations
	c.mu.Lock()
	if c.locked == nil {
		c.locked = map[string]int{}
	}
	c.locked[vmName]++
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.locked[vmName]--; c.locked[vmName] <= 0 {
				delete(c.locked, vmName)
			}
		})
	}
}

func (c *consolidations) held(vmName string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.locked[vmName] > 0
}

// installConsolidations makes vc's snapshot removals fail their
// consolidation while FailConsolidations holds, and gives its VMs
// ConsolidateVMDisks_Task; t keeps the VMs' disk chains and frozen bases.
func installConsolidations(vc *VCenter, t *cbt.Tracker) {
	reg := vc.Model.Map()
	simwrap.Wrap(reg, "VirtualMachineSnapshot", []string{"RemoveSnapshot_Task"}, func(ctx *simulator.Context, obj mo.Reference) mo.Reference {
		s, ok := obj.(*simulator.VirtualMachineSnapshot)
		if !ok {
			return nil
		}
		vm, ok := ctx.Map.Get(s.Vm).(*simulator.VirtualMachine)
		if !ok {
			return nil
		}
		var name string
		ctx.WithLock(vm, func() { name = vm.Name })
		if !vc.consolidations.held(name) {
			return nil
		}
		return &lockedRemoval{VirtualMachineSnapshot: s, vc: vc, t: t}
	})
	simwrap.Wrap(reg, "VirtualMachine", []string{"ConsolidateVMDisks_Task"}, func(ctx *simulator.Context, obj mo.Reference) mo.Reference {
		vm, ok := obj.(*simulator.VirtualMachine)
		if !ok {
			return nil
		}
		return &consolidatingVM{OwnEntity: simwrap.Entity(ctx, vm), VirtualMachine: vm, vc: vc, t: t}
	})
}

// baseDisk is the file of vm's first disk's base (vm locked), the file a
// lock on its chain names.
func baseDisk(vm *simulator.VirtualMachine) string {
	if vm.Config == nil {
		return ""
	}
	for _, d := range vm.Config.Hardware.Device {
		if vd, ok := d.(*types.VirtualDisk); ok {
			if f := cbt.BaseFile(vd.Backing); f != "" {
				return f
			}
		}
	}
	return ""
}

// consolidationNeeded is the change of vm's runtime that says whether its
// disks need consolidating.
func consolidationNeeded(needed bool) []types.PropertyChange {
	return []types.PropertyChange{
		{Name: "runtime.consolidationNeeded", Val: needed},
		{Name: "summary.runtime.consolidationNeeded", Val: needed},
	}
}

// lockedRemoval is a snapshot whose removal cannot consolidate.
type lockedRemoval struct {
	*simulator.VirtualMachineSnapshot
	vc *VCenter
	t  *cbt.Tracker
	simwrap.Own
}

// RemoveSnapshotTask removes the snapshot as vcsim does (a step of this
// task), leaving its delta, and fails FileLocked; a removal that does not
// consolidate (consolidate false) is vcsim's.
func (s *lockedRemoval) RemoveSnapshotTask(ctx *simulator.Context, req *types.RemoveSnapshot_Task) soap.HasFault {
	if req.Consolidate != nil && !*req.Consolidate {
		return s.VirtualMachineSnapshot.RemoveSnapshotTask(ctx, req)
	}
	vmRef := s.Vm
	task := simulator.CreateTask(vmRef, "removeSnapshot", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vm, ok := ctx.Map.Get(vmRef).(*simulator.VirtualMachine)
		if !ok {
			return nil, &types.ManagedObjectNotFound{Obj: vmRef}
		}
		var base string
		ctx.WithLock(vm, func() { base = baseDisk(vm) })
		s.t.LeaveDelta(vmRef)
		body, ok := s.VirtualMachineSnapshot.RemoveSnapshotTask(ctx, req).(*methods.RemoveSnapshot_TaskBody)
		if !ok || body.Res == nil {
			return nil, &types.SystemError{Reason: "snapshot removal failed"}
		}
		if f := waitSimTask(ctx, body.Res.Returnval); f != nil {
			return nil, f
		}
		ctx.WithLock(vm, func() { ctx.Update(vm, consolidationNeeded(true)) })
		return nil, &types.FileLocked{FileFault: types.FileFault{File: base}}
	})
	return &methods.RemoveSnapshot_TaskBody{Res: &types.RemoveSnapshot_TaskResponse{Returnval: task.Run(ctx)}}
}

// consolidatingVM gives a VM ConsolidateVMDisks_Task.
type consolidatingVM struct {
	*simulator.VirtualMachine // first: vcsim's property collector reads it
	vc                        *VCenter
	t                         *cbt.Tracker
	simwrap.OwnEntity
}

// ConsolidateVMDisksTask merges the deltas failed consolidations left
// under the VM's disks and clears consolidationNeeded, or fails FileLocked
// naming the base disk while FailConsolidations holds. A VM with nothing
// to consolidate succeeds, as vCenter's does.
func (v *consolidatingVM) ConsolidateVMDisksTask(ctx *simulator.Context, _ *types.ConsolidateVMDisks_Task) soap.HasFault {
	vm := v.VirtualMachine
	task := simulator.CreateTask(vm, "consolidateDisks", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		var name, base string
		ctx.WithLock(vm, func() { name, base = vm.Name, baseDisk(vm) })
		if v.vc.consolidations.held(name) {
			return nil, &types.FileLocked{FileFault: types.FileFault{File: base}}
		}
		ctx.WithLock(vm, func() {
			v.t.Consolidate(ctx, vm)
			if vm.Runtime.ConsolidationNeeded {
				ctx.Update(vm, consolidationNeeded(false))
			}
		})
		return nil, nil
	})
	return &methods.ConsolidateVMDisks_TaskBody{Res: &types.ConsolidateVMDisks_TaskResponse{Returnval: task.Run(ctx)}}
}
