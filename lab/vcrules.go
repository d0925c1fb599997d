package lab

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/ferry-migrate/ferry/lab/simwrap"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// checkPortgroupVersions makes a distributed port group's configVersion
// work as vCenter's does (vcsim ignores it): each reconfiguration must
// carry the version the caller read (DVPortgroupConfigSpec.configVersion:
// "should be set to the same value as the ConfigInfo.configVersion"), is
// refused with ConcurrentAccess otherwise, and moves the version on. A
// spec built from a configuration read before someone else changed the
// port group would otherwise put that change back without a word.
func checkPortgroupVersions(reg *simulator.Registry) {
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			if req, ok := method.Body.(*types.ReconfigureDVPortgroup_Task); ok {
				if pg, ok := ctx.Map.Get(method.This).(*simulator.DistributedVirtualPortgroup); ok {
					var fault types.BaseMethodFault
					ctx.WithLock(pg, func() {
						cur := pg.Config.ConfigVersion
						if req.Spec.ConfigVersion != cur {
							fault = &types.ConcurrentAccess{}
							return
						}
						n, _ := strconv.Atoi(cur)
						pg.Config.ConfigVersion = strconv.Itoa(n + 1)
					})
					if fault != nil {
						return nil, fault
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

// refuseDuplicateVMNames makes a folder refuse a second VM of a name it
// holds, as vCenter does: CreateVM_Task returns a task, which fails with
// DuplicateName (the name, the VM that holds it; a fault message names the
// folder) "if another virtual machine in the same folder already has the
// specified target name" (vcsim made one). A cutover that creates its
// target after the source's shutdown would otherwise pass in the lab where
// a real vCenter stops it. The call is answered by a wrapper of the folder
// in the caller's session (dupFolder) whose CreateVM_Task fails so; the
// handlers before this one, whose wrappers would make the VM, are not
// asked.
func refuseDuplicateVMNames(reg *simulator.Registry) {
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			if req, ok := method.Body.(*types.CreateVM_Task); ok && req.Config.Name != "" {
				if f, ok := ctx.Map.Get(method.This).(*simulator.Folder); ok {
					if dup := nameTaken(ctx, f.Self, req.Config.Name, types.ManagedObjectReference{}, "VirtualMachine"); dup != nil {
						w := &dupFolder{Folder: f, OwnEntity: simwrap.Entity(ctx, f), dup: dup}
						simwrap.Put(ctx, w) // a session's registry wins over the handler
						return w, nil
					}
				}
			}
			if ctx.Session != nil {
				if _, ok := ctx.Session.Registry.Get(method.This).(*dupFolder); ok {
					ctx.Session.Registry.Remove(ctx, method.This)
				}
			}
			if prev != nil {
				return prev(ctx, method)
			}
			return nil, nil
		}
	})
}

// dupFolder answers one CreateVM_Task whose name the folder holds.
type dupFolder struct {
	*simulator.Folder
	dup *types.DuplicateName
	simwrap.OwnEntity
}

func (f *dupFolder) CreateVMTask(ctx *simulator.Context, req *types.CreateVM_Task) soap.HasFault {
	return &methods.CreateVM_TaskBody{Res: &types.CreateVM_TaskResponse{Returnval: failedTask(f.Folder, "createVm", f.dup).Run(ctx)}}
}

// relocateKeepsPoolMembers makes RelocateVM_Task into another resource pool
// move the VM between the pools' VM lists, as vCenter does (each pool's
// `vm` lists the VMs in it; the vSphere client's pool view reads it): vcsim
// changed only the VM's resourcePool, so the old pool went on listing the
// VM and the new one never did. A Cloud Director import moves the VM it
// adopts into the org VDC's pool this way (lab/vcdsim, model.adopt).
//
// The lists change with the VM's resourcePool, which vcsim sets as the
// last step of a relocate that succeeded (poolMembers.UpdateObject): a
// relocate that fails, whatever its fault, leaves both pools' lists as
// they were, as it leaves the VM in its pool. (Moving them before the
// relocate ran, as the lab did, left them moved when it then failed: the
// new pool listed a VM that was not in it.)
func relocateKeepsPoolMembers(reg *simulator.Registry) {
	reg.AddHandler(&poolMembers{self: types.ManagedObjectReference{Type: "FerryLabPoolMembers", Value: "pool-members"}})
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			if req, ok := method.Body.(*types.RelocateVM_Task); ok && req.Spec.Pool != nil {
				// vcsim's relocate takes any pool for a *ResourcePool (it
				// panics on another kind, a vApp's).
				_, ok1 := ctx.Map.Get(method.This).(*simulator.VirtualMachine)
				_, ok2 := ctx.Map.Get(*req.Spec.Pool).(*simulator.ResourcePool)
				if !ok1 || !ok2 {
					return nil, &types.ManagedObjectNotFound{Obj: *req.Spec.Pool}
				}
			}
			if prev != nil {
				return prev(ctx, method)
			}
			return nil, nil
		}
	})
}

// poolMembers keeps the resource pools' vm lists in step with the VMs'
// resourcePool property when it changes (a relocate that succeeded);
// vcsim itself lists a VM in its pool when it makes it and takes it out
// when it destroys it.
type poolMembers struct {
	self types.ManagedObjectReference
}

func (p *poolMembers) Reference() types.ManagedObjectReference { return p.self }

func (p *poolMembers) PutObject(*simulator.Context, mo.Reference) {}

func (p *poolMembers) RemoveObject(*simulator.Context, types.ManagedObjectReference) {}

// UpdateObject is called with the VM's lock held (vcsim locks a VM before
// its pool, as its relocate and destroy do).
func (p *poolMembers) UpdateObject(ctx *simulator.Context, o mo.Reference, changes []types.PropertyChange) {
	vm, ok := o.(*mo.VirtualMachine)
	if !ok {
		return
	}
	for _, c := range changes {
		if c.Name != "resourcePool" {
			continue
		}
		for _, obj := range ctx.Map.All("ResourcePool") {
			pool, ok := obj.(*simulator.ResourcePool)
			if !ok {
				continue
			}
			want := vm.ResourcePool != nil && *vm.ResourcePool == pool.Self
			ctx.WithLock(pool, func() {
				if slices.Contains(pool.Vm, vm.Self) == want {
					return
				}
				next := slices.DeleteFunc(slices.Clone(pool.Vm), func(r types.ManagedObjectReference) bool { return r == vm.Self })
				if want {
					next = append(next, vm.Self)
				}
				ctx.Map.Update(ctx, pool, []types.PropertyChange{{Name: "vm", Val: next}})
			})
		}
		return
	}
}

// nameMethods are the calls that give a VM a name in a folder, or bring a
// VM into a folder, besides CreateVM_Task (refuseDuplicateVMNames).
var nameMethods = map[string][]string{
	"VirtualMachine": {"Rename_Task", "RelocateVM_Task", "CloneVM_Task"},
	"Folder":         {"MoveIntoFolder_Task"},
}

// refuseDuplicateNames makes vCenter refuse, as it does, a name a folder
// already holds (DuplicateName, with the name and the object that holds
// it, the task failing) when a VM is renamed (Rename_Task: "If another
// object in the same folder has the target name"), moved into the folder
// (MoveIntoFolder_Task: "if this folder already contains an object with
// the specified name"; the entities move one at a time and the move stops
// at the first refused, the rest staying where they were), relocated into
// it (RelocateVM_Task with a folder: a move into that folder) or cloned
// into it (CloneVM_Task). vcsim renamed into a taken name with
// InvalidArgument and moved and relocated without a check. The check
// comes before the call's own: a relocate refused so changes nothing.
//
// Its wrappers see the call after the handlers before it (they may refuse
// it, or drop a wrapper of theirs from the session); none of those takes
// these methods over.
func refuseDuplicateNames(reg *simulator.Registry) {
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			var h mo.Reference
			if prev != nil {
				var fault types.BaseMethodFault
				if h, fault = prev(ctx, method); fault != nil {
					return h, fault
				}
			}
			var w mo.Reference
			if slices.Contains(nameMethods[method.This.Type], method.Name) && h == nil {
				switch o := ctx.Map.Get(method.This).(type) {
				case *simulator.VirtualMachine:
					w = &namedVM{VirtualMachine: o, OwnEntity: simwrap.Entity(ctx, o)}
				case *simulator.Folder:
					w = &namedFolder{Folder: o, OwnEntity: simwrap.Entity(ctx, o)}
				}
			}
			if w != nil {
				// A logged-in session's registry wins over the handler.
				simwrap.Put(ctx, w)
				return w, nil
			}
			if ctx.Session != nil {
				switch ctx.Session.Registry.Get(method.This).(type) {
				case *namedVM, *namedFolder:
					ctx.Session.Registry.Remove(ctx, method.This)
				}
			}
			return h, nil
		}
	})
}

// nameTaken is the DuplicateName fault for giving name to an entity (self;
// zero for a new one) in folder, nil when no other child of the folder
// (of type kind, any when empty) has that name (or folder is not a folder:
// the call's own checks answer).
func nameTaken(ctx *simulator.Context, folder types.ManagedObjectReference, name string, self types.ManagedObjectReference, kind string) *types.DuplicateName {
	f, ok := ctx.Map.Get(folder).(*simulator.Folder)
	if !ok {
		return nil
	}
	var children []types.ManagedObjectReference
	var folderName string
	ctx.WithLock(f, func() {
		children = slices.Clone(f.ChildEntity)
		folderName = f.Name
	})
	for _, c := range children {
		if c == self || kind != "" && c.Type != kind {
			continue
		}
		// Read as vcsim reads names to find a child (Registry.FindByName).
		if e, ok := ctx.Map.Get(c).(mo.Entity); ok && e.Entity().Name == name {
			return &types.DuplicateName{Name: name, Object: c, VimFault: types.VimFault{MethodFault: types.MethodFault{
				FaultMessage: []types.LocalizableMessage{{
					Key:     "vim.fault.DuplicateName",
					Arg:     []types.KeyAnyValue{{Key: "name", Value: name}, {Key: "folder", Value: folder.Value}},
					Message: fmt.Sprintf("The name '%s' already exists in folder %s (%s).", name, folderName, folder.Value),
				}},
			}}}
		}
	}
	return nil
}

type namedVM struct {
	*simulator.VirtualMachine
	simwrap.OwnEntity
}

func (vm *namedVM) RenameTask(ctx *simulator.Context, req *types.Rename_Task) soap.HasFault {
	if p := vm.VirtualMachine.Parent; p != nil {
		if f := nameTaken(ctx, *p, req.NewName, vm.VirtualMachine.Self, ""); f != nil {
			return &methods.Rename_TaskBody{Res: &types.Rename_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "rename", f).Run(ctx)}}
		}
	}
	return vm.VirtualMachine.RenameTask(ctx, req)
}

// RelocateVMTask relocates into another folder as vCenter does, all or
// nothing for the inventory: vcsim's relocate moved the VM into the folder
// first and then applied the device changes, so a relocate whose device
// change failed left the VM in the new folder (its pool and datastore
// stayed: vcsim sets them last). Here the folder is checked first (a name
// it holds, a folder that takes no VM: NotSupported, as vcsim's move
// answers), vcsim's relocate runs without it, and the VM moves into the
// folder only when that succeeded.
func (vm *namedVM) RelocateVMTask(ctx *simulator.Context, req *types.RelocateVM_Task) soap.HasFault {
	to, p := req.Spec.Folder, vm.VirtualMachine.Parent
	if to == nil || p != nil && *p == *to {
		return vm.VirtualMachine.RelocateVMTask(ctx, req)
	}
	failed := func(f types.BaseMethodFault) soap.HasFault {
		return &methods.RelocateVM_TaskBody{Res: &types.RelocateVM_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "relocateVm", f).Run(ctx)}}
	}
	if f := nameTaken(ctx, *to, vm.VirtualMachine.Name, vm.VirtualMachine.Self, ""); f != nil {
		return failed(f)
	}
	folder, ok := ctx.Map.Get(*to).(*simulator.Folder)
	if !ok {
		// vcsim's relocate would panic on another kind.
		return failed(&types.ManagedObjectNotFound{Obj: *to})
	}
	var takesVMs bool
	ctx.WithLock(folder, func() { takesVMs = slices.Contains(folder.ChildType, "VirtualMachine") })
	if _, inFolder := ctx.Map.Get(*p).(*simulator.Folder); !takesVMs || !inFolder {
		return failed(&types.NotSupported{})
	}
	rest := *req
	rest.Spec.Folder = nil
	task := simulator.CreateTask(vm.VirtualMachine, "relocateVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		if fault := runTask(ctx, vm.VirtualMachine.RelocateVMTask(ctx, &rest)); fault != nil {
			return nil, fault
		}
		// As vcsim's relocate moves it: the folder locked while its move runs.
		var fault types.BaseMethodFault
		ctx.WithLock(folder, func() {
			fault = runTask(ctx, folder.MoveIntoFolderTask(ctx, &types.MoveIntoFolder_Task{This: folder.Self, List: []types.ManagedObjectReference{vm.VirtualMachine.Self}}))
		})
		return nil, fault
	})
	return &methods.RelocateVM_TaskBody{Res: &types.RelocateVM_TaskResponse{Returnval: task.Run(ctx)}}
}

// runTask waits for the vcsim task a call's response body returns and
// answers its fault (nil when it succeeded).
func runTask(ctx *simulator.Context, body soap.HasFault) types.BaseMethodFault {
	if f := body.Fault(); f != nil {
		if mf, ok := f.Detail.Fault.(types.BaseMethodFault); ok {
			return mf
		}
		return &types.SystemError{Reason: f.String}
	}
	ref, ok := taskOf(body)
	if !ok {
		return &types.SystemError{Reason: "no task"}
	}
	t, ok := ctx.Map.Get(ref).(*simulator.Task)
	if !ok {
		return &types.SystemError{Reason: "task lost"}
	}
	t.Wait()
	var fault types.BaseMethodFault
	ctx.Map.WithLock(&simulator.Context{}, t, func() { // as Task.Wait reads it
		if t.Info.Error != nil {
			fault = t.Info.Error.Fault
		}
	})
	return fault
}

// taskOf is the task a task method's response body returns.
func taskOf(body soap.HasFault) (types.ManagedObjectReference, bool) {
	switch b := body.(type) {
	case *methods.RelocateVM_TaskBody:
		if b.Res != nil {
			return b.Res.Returnval, true
		}
	case *methods.MoveIntoFolder_TaskBody:
		if b.Res != nil {
			return b.Res.Returnval, true
		}
	}
	return types.ManagedObjectReference{}, false
}

func (vm *namedVM) CloneVMTask(ctx *simulator.Context, req *types.CloneVM_Task) soap.HasFault {
	if f := nameTaken(ctx, req.Folder, req.Name, types.ManagedObjectReference{}, ""); f != nil {
		return &methods.CloneVM_TaskBody{Res: &types.CloneVM_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "cloneVm", f).Run(ctx)}}
	}
	return vm.VirtualMachine.CloneVMTask(ctx, req)
}

type namedFolder struct {
	*simulator.Folder
	simwrap.OwnEntity
}

// MoveIntoFolderTask moves the entities one at a time, in order, with
// vcsim's move; the first whose name the folder holds stops the task with
// DuplicateName, the ones before it moved, it and the rest where they were.
func (f *namedFolder) MoveIntoFolderTask(ctx *simulator.Context, req *types.MoveIntoFolder_Task) soap.HasFault {
	task := simulator.CreateTask(f.Folder, "moveIntoFolder", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		for _, ref := range req.List {
			e, ok := ctx.Map.Get(ref).(mo.Entity)
			if !ok {
				return nil, &types.ManagedObjectNotFound{Obj: ref}
			}
			if dup := nameTaken(ctx, f.Folder.Self, e.Entity().Name, ref, ""); dup != nil {
				return nil, dup
			}
			res, ok := f.Folder.MoveIntoFolderTask(ctx, &types.MoveIntoFolder_Task{This: f.Folder.Self, List: []types.ManagedObjectReference{ref}}).(*methods.MoveIntoFolder_TaskBody)
			if !ok || res.Res == nil {
				return nil, &types.SystemError{Reason: "move into folder: no task"}
			}
			t, ok := ctx.Map.Get(res.Res.Returnval).(*simulator.Task)
			if !ok {
				return nil, &types.SystemError{Reason: "move into folder: task lost"}
			}
			t.Wait()
			var fault types.BaseMethodFault
			ctx.Map.WithLock(&simulator.Context{}, t, func() { // as Task.Wait reads it
				if t.Info.Error != nil {
					fault = t.Info.Error.Fault
				}
			})
			if fault != nil {
				return nil, fault
			}
		}
		return nil, nil
	})
	return &methods.MoveIntoFolder_TaskBody{Res: &types.MoveIntoFolder_TaskResponse{Returnval: task.Run(ctx)}}
}
