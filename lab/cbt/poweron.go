package cbt

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// A VM powered on again after a shutdown starts from its disks as the guest
// left them: a consistent disk, as consistent as a snapshot's (more: the
// guest flushed and unmounted). A replica a final pass copied from the
// powered-off disk holds the source as of that shutdown, and a copy of it
// boots; once the source runs again its disks move on. The tracker opens an
// image of each of the VM's flat files when the VM is powered on (one
// number for all of them, as a snapshot's), so that the guest model finds
// that state among the source's images (Images): without it, a test copy
// made after a cutover was rolled back (the replica as of the shutdown)
// was judged "caught in the middle of a pass" and did not boot.
type powerOnImages struct {
	t    *Tracker
	self types.ManagedObjectReference
}

func (h *powerOnImages) Reference() types.ManagedObjectReference { return h.self }

func (*powerOnImages) PutObject(*simulator.Context, mo.Reference)                    {}
func (*powerOnImages) RemoveObject(*simulator.Context, types.ManagedObjectReference) {}

// UpdateObject runs inside the update of the VM's power state (its lock
// held by the updater): before the guest boots and writes.
func (h *powerOnImages) UpdateObject(ctx *simulator.Context, obj mo.Reference, changes []types.PropertyChange) {
	if obj.Reference().Type != "VirtualMachine" {
		return
	}
	for _, c := range changes {
		if c.Name == "runtime.powerState" && c.Val == types.VirtualMachinePowerStatePoweredOn {
			if vm, ok := ctx.Map.Get(obj.Reference()).(*simulator.VirtualMachine); ok && vm.Config != nil {
				h.t.image(vm, false, false)
			}
			return
		}
	}
}
