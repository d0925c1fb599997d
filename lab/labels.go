package lab

import (
	"fmt"

	"github.com/ferry-migrate/ferry/lab/simwrap"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// installDeviceLabels makes the vCenter label the disks, NICs and SCSI
// controllers a VM is created or reconfigured with as vCenter does ("Hard
// disk 1", "Network adapter 1", "SCSI controller 0"), where vcsim names
// them after their keys ("disk-202-0"): what ferry says of a disk names it
// as the vSphere Client does. A label the client gave is replaced too, as
// vCenter assigns labels itself. A handler installed later that wraps
// these methods calls labelRequest itself (installESXDisks).
func installDeviceLabels(vc *VCenter) {
	reg := vc.Model.Map()
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			labelRequest(ctx, method)
			if prev != nil {
				return prev(ctx, method)
			}
			return nil, nil
		}
	})
}

// labelRequest labels the devices a CreateVM_Task or ReconfigVM_Task adds
// (idempotent: a request labelled twice keeps its labels).
func labelRequest(ctx *simulator.Context, method *simulator.Method) {
	switch req := method.Body.(type) {
	case *types.CreateVM_Task:
		labelDevices(nil, req.Config.DeviceChange)
	case *types.ReconfigVM_Task:
		if vm, ok := ctx.Map.Get(method.This).(*simulator.VirtualMachine); ok {
			var have []types.BaseVirtualDevice
			ctx.WithLock(vm, func() {
				if vm.Config != nil {
					have = vm.Config.Hardware.Device
				}
			})
			labelDevices(have, req.Spec.DeviceChange)
		}
	}
}

// labelDevices labels the devices changes adds, numbered after those of
// the VM (have) and of the changes' other devices: the lowest number no
// other disk (NIC) has, from 1; a SCSI controller by its bus number.
func labelDevices(have []types.BaseVirtualDevice, changes []types.BaseVirtualDeviceConfigSpec) {
	used := map[string]bool{}
	removed := map[int32]bool{}
	for _, ch := range changes {
		if s := ch.GetVirtualDeviceConfigSpec(); s.Operation == types.VirtualDeviceConfigSpecOperationRemove && s.Device != nil {
			removed[s.Device.GetVirtualDevice().Key] = true
		}
	}
	for _, d := range have {
		if info := d.GetVirtualDevice().DeviceInfo; info != nil && !removed[d.GetVirtualDevice().Key] {
			used[info.GetDescription().Label] = true
		}
	}
	next := func(kind string) string {
		for n := 1; ; n++ {
			if l := fmt.Sprintf("%s %d", kind, n); !used[l] {
				used[l] = true
				return l
			}
		}
	}
	for _, ch := range changes {
		s := ch.GetVirtualDeviceConfigSpec()
		if s.Operation != types.VirtualDeviceConfigSpecOperationAdd || s.Device == nil {
			continue
		}
		var label string
		switch d := s.Device.(type) {
		case *types.VirtualDisk:
			label = next("Hard disk")
		case types.BaseVirtualEthernetCard:
			label = next("Network adapter")
		case types.BaseVirtualSCSIController:
			label = fmt.Sprintf("SCSI controller %d", d.GetVirtualSCSIController().BusNumber)
		default:
			continue
		}
		dev := s.Device.GetVirtualDevice()
		if dev.DeviceInfo == nil {
			dev.DeviceInfo = &types.Description{}
		}
		dev.DeviceInfo.GetDescription().Label = label
	}
}
