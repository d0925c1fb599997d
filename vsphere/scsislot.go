package vsphere

import (
	"context"
	"sort"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// A VM has at most maxSCSIControllers SCSI controllers; each takes disks on
// units 0 to scsiUnits-1 but its own (7). 15 disks per controller is what
// every SCSI controller type holds on every hardware version (pvscsi holds
// more on newer ones; counting 15 stays valid everywhere).
const (
	maxSCSIControllers = 4
	scsiUnits          = 16
)

// freeSCSISlot finds a SCSI controller with a free unit among devices, the
// lowest bus first, and that unit. ok is false when every controller is
// full (or there is none). It counts the units from the devices themselves:
// a controller's own device list is not always filled in.
func freeSCSISlot(devices object.VirtualDeviceList) (ctrl types.BaseVirtualController, unit int32, ok bool) {
	ctrls := scsiControllers(devices)
	for _, c := range ctrls {
		sc := c.(types.BaseVirtualSCSIController).GetVirtualSCSIController()
		used := map[int32]bool{sc.ScsiCtlrUnitNumber: true}
		if sc.ScsiCtlrUnitNumber == 0 {
			used[7] = true
		}
		for _, d := range devices {
			v := d.GetVirtualDevice()
			if v.ControllerKey == sc.Key && v.UnitNumber != nil {
				used[*v.UnitNumber] = true
			}
		}
		for u := int32(0); u < scsiUnits; u++ {
			if !used[u] {
				return c, u, true
			}
		}
	}
	return nil, 0, false
}

// scsiControllers lists the SCSI controllers, by bus number.
func scsiControllers(devices object.VirtualDeviceList) []types.BaseVirtualController {
	var out []types.BaseVirtualController
	for _, d := range devices {
		if c, ok := d.(types.BaseVirtualSCSIController); ok {
			out = append(out, c.(types.BaseVirtualController))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].GetVirtualController().BusNumber < out[j].GetVirtualController().BusNumber
	})
	return out
}

// addSCSIController hot-adds a paravirtual SCSI controller on the next bus
// and returns the VM's devices after it.
func addSCSIController(ctx context.Context, vm *object.VirtualMachine, devices object.VirtualDeviceList) (object.VirtualDeviceList, error) {
	c, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return nil, err
	}
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: c}}})
	if err == nil {
		_, err = WaitTask(ctx, task)
	}
	if err != nil {
		return nil, err
	}
	return vm.Device(ctx)
}
