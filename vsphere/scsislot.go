package vsphere

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// A VM has at most maxSCSIControllers SCSI controllers. Each takes devices
// on units 0 to 15 but its own (7): 15 disks; a ParaVirtual SCSI controller
// of a VM of virtual hardware version 14 (vSphere 6.7) or later on units 0
// to 63 but its own: 63 disks. Sources: community.vmware's
// vmware_guest_disk (https://github.com/ansible-collections/community.vmware,
// plugins/modules/vmware_guest_disk.py: "the Paravirtual SCSI Controller
// Supports up to 64 disks in vSphere 6.7. Using hardware version 14 or
// higher", units range(0, 64) but 7 for paravirtual on hw >= 14,
// range(0, 16) but 7 otherwise), VMware's configuration maximums (64
// targets per PVSCSI adapter from 6.7) as cited in terraform-provider-vsphere
// #1427 and #1757 and ansible #63730. vCenter refuses a unit past the
// controller's with InvalidArgument on unitNumber (ansible #22808).
const (
	maxSCSIControllers = 4
	scsiUnits          = 16
	pvscsiUnits        = 64 // ParaVirtual, hardware version pvscsiWideHW or later
	pvscsiWideHW       = 14
)

// hwVersionNumber is the number of a virtual hardware version ("vmx-19":
// 19), 0 when it has none.
func hwVersionNumber(v string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(v, "vmx-"))
	if err != nil {
		return 0
	}
	return n
}

// unitsOf is how many units controller c has (its own included) in a VM of
// hardware version hw ("vmx-19").
func unitsOf(c types.BaseVirtualController, hw string) int32 {
	if _, ok := c.(*types.ParaVirtualSCSIController); ok && hwVersionNumber(hw) >= pvscsiWideHW {
		return pvscsiUnits
	}
	return scsiUnits
}

// freeSCSISlot finds a SCSI controller with a free unit among devices of a
// VM of hardware version hw ("vmx-19"), the lowest bus first, and that
// unit. ok is false when every controller is full (or there is none). It
// counts the units from the devices themselves: a controller's own device
// list is not always filled in.
func freeSCSISlot(devices object.VirtualDeviceList, hw string) (ctrl types.BaseVirtualController, unit int32, ok bool) {
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
		for u := int32(0); u < unitsOf(c, hw); u++ {
			if !used[u] {
				return c, u, true
			}
		}
	}
	return nil, 0, false
}

// scsiFull is the error for a VM (the receiver appliance vmName, of
// hardware version hw) whose SCSI controllers have no free unit left for
// disk: how many disks it holds on how many controllers, and what to do.
func scsiFull(vmName, hw string, devices object.VirtualDeviceList, disk string) error {
	ctrls := scsiControllers(devices)
	keys := map[int32]bool{}
	capacity := 0
	narrow := false // a controller that would hold more as ParaVirtual at vmx-14+
	for _, c := range ctrls {
		keys[c.GetVirtualController().Key] = true
		n := int(unitsOf(c, hw)) - 1
		capacity += n
		if n < pvscsiUnits-1 {
			narrow = true
		}
	}
	held := 0
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		if keys[d.GetVirtualDevice().ControllerKey] {
			held++
		}
	}
	if len(ctrls) == 0 {
		return fmt.Errorf("receiver appliance %s has no SCSI controller to hot-add %s on: give it a paravirtual SCSI controller", vmName, disk)
	}
	msg := fmt.Sprintf("receiver appliance %s is full: it holds %d disks on its %d SCSI controllers (%d at most at %s), no unit is free to hot-add %s: cut over the VMs it replicates (their replicas are detached then) or use another receiver appliance for more VMs", vmName, held, len(ctrls), capacity, hw, disk)
	if narrow {
		msg += fmt.Sprintf("; a paravirtual SCSI controller holds %d disks on virtual hardware vmx-%d or later (this one: %s)", pvscsiUnits-1, pvscsiWideHW, hw)
	}
	return errors.New(msg)
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
	_, err = RunTask(ctx, func() (*object.Task, error) {
		return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
			&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: c}}})
	})
	if err != nil {
		return nil, err
	}
	return vm.Device(ctx)
}
