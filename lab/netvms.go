package lab

import (
	"reflect"
	"slices"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// networkVMs keeps each network's vm property (Network.vm: the VMs with a
// NIC on it, as vCenter reports for a port group) in step with the VMs'
// network property. vcsim keeps only the VM's side, so a port group read
// from the lab looked unused with VMs on it, and a check that refuses to
// reconfigure a port group other VMs use passed where vCenter would stop it.
type networkVMs struct {
	self types.ManagedObjectReference
}

// trackNetworkVMs registers the tracker with reg; VMs made afterwards, and
// every change to a VM's networks, keep the networks' vm lists.
func trackNetworkVMs(reg *simulator.Registry) {
	reg.AddHandler(&networkVMs{self: types.ManagedObjectReference{Type: "FerryLabNetworkVMs", Value: "network-vms"}})
}

func (n *networkVMs) Reference() types.ManagedObjectReference { return n.self }

func (n *networkVMs) PutObject(ctx *simulator.Context, o mo.Reference) {
	if vm, ok := o.(*simulator.VirtualMachine); ok {
		n.set(ctx, vm.Self, vm.Network)
	}
}

func (n *networkVMs) UpdateObject(ctx *simulator.Context, o mo.Reference, changes []types.PropertyChange) {
	vm, ok := o.(*mo.VirtualMachine)
	if !ok {
		return
	}
	for _, c := range changes {
		if c.Name == "network" {
			n.set(ctx, vm.Self, vm.Network)
			return
		}
	}
}

func (n *networkVMs) RemoveObject(ctx *simulator.Context, ref types.ManagedObjectReference) {
	if ref.Type == "VirtualMachine" {
		n.set(ctx, ref, nil)
	}
}

// set makes vm one of the VMs of exactly the networks nets.
func (n *networkVMs) set(ctx *simulator.Context, vm types.ManagedObjectReference, nets []types.ManagedObjectReference) {
	for _, kind := range []string{"Network", "DistributedVirtualPortgroup", "OpaqueNetwork"} {
		for _, obj := range ctx.Map.All(kind) {
			f := reflect.ValueOf(obj).Elem().FieldByName("Vm")
			if !f.IsValid() {
				continue
			}
			want := slices.Contains(nets, obj.Reference())
			ctx.WithLock(obj, func() {
				have := f.Interface().([]types.ManagedObjectReference)
				if slices.Contains(have, vm) == want {
					return
				}
				next := slices.DeleteFunc(slices.Clone(have), func(r types.ManagedObjectReference) bool { return r == vm })
				if want {
					next = append(next, vm)
				}
				ctx.Map.Update(ctx, obj, []types.PropertyChange{{Name: "vm", Val: next}})
			})
		}
	}
}
