package lab

import (
	"strconv"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
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
	prev := reg.Handler
	reg.Handler = func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
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
}

// refuseDuplicateVMNames makes a folder refuse a second VM of a name it
// holds, as vCenter does (DuplicateName; vcsim made one): a cutover that
// creates its target after the source's shutdown would otherwise pass in
// the lab where a real vCenter stops it.
func refuseDuplicateVMNames(reg *simulator.Registry) {
	prev := reg.Handler
	reg.Handler = func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
		if req, ok := method.Body.(*types.CreateVM_Task); ok {
			if f, ok := ctx.Map.Get(method.This).(*simulator.Folder); ok {
				var dup *types.DuplicateName
				ctx.WithLock(f, func() {
					for _, c := range f.ChildEntity {
						if vm, ok := ctx.Map.Get(c).(*simulator.VirtualMachine); ok && vm.Name == req.Config.Name {
							dup = &types.DuplicateName{Name: req.Config.Name, Object: c}
							return
						}
					}
				})
				if dup != nil {
					return nil, dup
				}
			}
		}
		if prev != nil {
			return prev(ctx, method)
		}
		return nil, nil
	}
}

// relocateKeepsPoolMembers makes RelocateVM_Task into another resource pool
// move the VM between the pools' VM lists, as vCenter does (each pool's
// `vm` lists the VMs in it; the vSphere client's pool view reads it): vcsim
// changed only the VM's resourcePool, so the old pool went on listing the
// VM and the new one never did. A Cloud Director import moves the VM it
// adopts into the org VDC's pool this way (lab/vcdsim, model.adopt).
func relocateKeepsPoolMembers(reg *simulator.Registry) {
	prev := reg.Handler
	reg.Handler = func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
		if req, ok := method.Body.(*types.RelocateVM_Task); ok && req.Spec.Pool != nil {
			vm, ok1 := ctx.Map.Get(method.This).(*simulator.VirtualMachine)
			to, ok2 := ctx.Map.Get(*req.Spec.Pool).(*simulator.ResourcePool)
			if !ok1 || !ok2 {
				return nil, &types.ManagedObjectNotFound{Obj: *req.Spec.Pool}
			}
			if from := vm.ResourcePool; from != nil && *from != to.Self {
				if old, ok := ctx.Map.Get(*from).(*simulator.ResourcePool); ok {
					ctx.WithLock(old, func() { ctx.Map.RemoveReference(ctx, old, &old.Vm, vm.Self) })
				}
				ctx.WithLock(to, func() { ctx.Map.AddReference(ctx, to, &to.Vm, vm.Self) })
			}
		}
		if prev != nil {
			return prev(ctx, method)
		}
		return nil, nil
	}
}
