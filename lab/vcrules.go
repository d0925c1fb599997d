package lab

import (
	"slices"
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
//
// The lists change with the VM's resourcePool, which vcsim sets as the
// last step of a relocate that succeeded (poolMembers.UpdateObject): a
// relocate that fails, whatever its fault, leaves both pools' lists as
// they were, as it leaves the VM in its pool. (Moving them before the
// relocate ran, as the lab did, left them moved when it then failed: the
// new pool listed a VM that was not in it.)
func relocateKeepsPoolMembers(reg *simulator.Registry) {
	reg.AddHandler(&poolMembers{self: types.ManagedObjectReference{Type: "FerryLabPoolMembers", Value: "pool-members"}})
	prev := reg.Handler
	reg.Handler = func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
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
