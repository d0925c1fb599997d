package lab

import (
	"strconv"
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

// A SCSI controller takes devices on units 0 to 15 but its own (7); a
// ParaVirtual SCSI controller of a VM of virtual hardware version 14 or
// later (vSphere 6.7) on units 0 to 63 but its own. Sources:
// community.vmware's vmware_guest_disk (plugins/modules/vmware_guest_disk.py,
// https://github.com/ansible-collections/community.vmware: "the Paravirtual
// SCSI Controller Supports up to 64 disks in vSphere 6.7. Using hardware
// version 14 or higher", unit numbers range(0, 64) but 7, else range(0, 16)
// but 7), VMware's configuration maximums as cited in
// terraform-provider-vsphere #1427 and #1757 and ansible #63730 (64 targets
// per PVSCSI adapter from 6.7). vCenter refuses a unit beyond the
// controller's with InvalidArgument on unitNumber ("A specified parameter
// was not correct: unitNumber", ansible #22808, a 16th disk on a
// controller), and a unit another device or the controller itself holds
// with InvalidDeviceSpec ("Invalid configuration for device 'N'",
// govmomi #2539: "Device label 'scsi0:7' is invalid"). Stock vcsim took
// any unit not taken by a device of the same type: unit 7, unit 16 of an
// LSI Logic controller, unit 70.
const (
	scsiUnits     = 16
	pvscsiUnits   = 64
	pvscsiWideHW  = 14
	scsiOwnUnit   = 7
	unitNumberArg = "unitNumber"
)

// hwVersion is the number of a virtual hardware version ("vmx-19": 19),
// 0 if it has none.
func hwVersion(v string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(v, "vmx-"))
	if err != nil {
		return 0
	}
	return n
}

// scsiUnitFault is the fault vCenter answers a device change of a VM of
// hardware version version (devices: its devices before the call) with
// when an added or edited device asks for a unit of a SCSI controller it
// cannot have: beyond the controller's units (InvalidArgument), the
// controller's own unit or one another device holds (InvalidDeviceSpec).
// nil when every unit asked for is free. The changes are taken in order, as
// vCenter does: a device removed earlier in the call frees its unit, a
// controller added earlier takes devices.
func scsiUnitFault(version string, devices []types.BaseVirtualDevice, changes []types.BaseVirtualDeviceConfigSpec) types.BaseMethodFault {
	cur := append([]types.BaseVirtualDevice(nil), devices...)
	without := func(key int32) {
		out := cur[:0]
		for _, d := range cur {
			if d.GetVirtualDevice().Key != key {
				out = append(out, d)
			}
		}
		cur = out
	}
	for i, ch := range changes {
		spec := ch.GetVirtualDeviceConfigSpec()
		if spec.Device == nil {
			continue
		}
		dev := spec.Device.GetVirtualDevice()
		switch spec.Operation {
		case types.VirtualDeviceConfigSpecOperationRemove:
			without(dev.Key)
			continue
		case types.VirtualDeviceConfigSpecOperationEdit:
			without(dev.Key)
		case types.VirtualDeviceConfigSpecOperationAdd:
		default:
			continue
		}
		if dev.UnitNumber != nil {
			if f := unitTaken(version, cur, i, dev); f != nil {
				return f
			}
		}
		cur = append(cur, spec.Device)
	}
	return nil
}

// unitTaken checks the unit of dev (change index i of the call) against
// its controller among devices, when that is a SCSI controller.
func unitTaken(version string, devices []types.BaseVirtualDevice, i int, dev *types.VirtualDevice) types.BaseMethodFault {
	var ctrl *types.VirtualSCSIController
	pv := false
	for _, d := range devices {
		if d.GetVirtualDevice().Key != dev.ControllerKey {
			continue
		}
		if sc, ok := d.(types.BaseVirtualSCSIController); ok {
			ctrl = sc.GetVirtualSCSIController()
			_, pv = d.(*types.ParaVirtualSCSIController)
		}
		break
	}
	if ctrl == nil {
		return nil
	}
	limit := int32(scsiUnits)
	if pv && hwVersion(version) >= pvscsiWideHW {
		limit = pvscsiUnits
	}
	unit := *dev.UnitNumber
	if unit < 0 || unit >= limit {
		return &types.InvalidArgument{InvalidProperty: unitNumberArg}
	}
	own := ctrl.ScsiCtlrUnitNumber
	if own == 0 {
		own = scsiOwnUnit
	}
	taken := unit == own
	for _, d := range devices {
		v := d.GetVirtualDevice()
		if v.ControllerKey == dev.ControllerKey && v.UnitNumber != nil && *v.UnitNumber == unit {
			taken = true
		}
	}
	if taken {
		return &types.InvalidDeviceSpec{InvalidVmConfig: types.InvalidVmConfig{Property: "virtualDeviceSpec.device.unitNumber"}, DeviceIndex: int32(i)}
	}
	return nil
}
