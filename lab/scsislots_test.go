package lab_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestReceiverApplianceManyReplicas: the receiver appliance takes the
// replica disks of more VMs than one SCSI controller holds (15 disks at the
// lab appliance's vmx-13), one VM at a time as step 6 hot-adds them:
// another paravirtual controller is hot-added when one is full, no disk
// gets a unit beyond 15 or the
// controller's own (7), and every disk shows in the appliance by UUID.
// (It used to crash with an index out of range past the first controller.)
func TestReceiverApplianceManyReplicas(t *testing.T) {
	t.Parallel()
	l, c := providerLab(t)
	ctx := context.Background()
	const n = 34
	for i := range n {
		_, dev := hotAdd(t, l, c, newReplica(t, c, fmt.Sprintf("WebApp%d", i+1), 1<<20))
		if _, err := os.Stat(dev); err != nil {
			t.Fatalf("replica %d in the appliance: %v", i+1, err)
		}
	}
	ref, err := c.VMByName(ctx, lab.ApplianceVM)
	if err != nil {
		t.Fatal(err)
	}
	var m mo.VirtualMachine
	if err := object.NewVirtualMachine(c.Client.Client, ref.Ref.Reference()).Properties(ctx, ref.Ref.Reference(), []string{"config.hardware.device"}, &m); err != nil {
		t.Fatal(err)
	}
	devices := object.VirtualDeviceList(m.Config.Hardware.Device)
	ctrls := map[int32]bool{}
	for _, d := range devices {
		if sc, ok := d.(types.BaseVirtualSCSIController); ok {
			ctrls[sc.GetVirtualSCSIController().Key] = true
		}
	}
	slots := map[string]bool{}
	disks := 0
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		v := d.GetVirtualDevice()
		if !ctrls[v.ControllerKey] || v.UnitNumber == nil || *v.UnitNumber < 0 || *v.UnitNumber > 15 || *v.UnitNumber == 7 {
			t.Errorf("disk %d on controller %d unit %v", v.Key, v.ControllerKey, v.UnitNumber)
			continue
		}
		slot := fmt.Sprintf("%d:%d", v.ControllerKey, *v.UnitNumber)
		if slots[slot] {
			t.Errorf("two disks on %s", slot)
		}
		slots[slot] = true
		disks++
	}
	if disks < n || len(ctrls) < 3 {
		t.Fatalf("%d disks on %d SCSI controllers, want %d replicas (and the appliance's own) on 3", disks, len(ctrls), n)
	}
}

// applianceObj is the receiver appliance in the provider vCenter, as a
// govmomi client reaches it, and its devices.
func applianceObj(t *testing.T, c *vsphere.Client) (*object.VirtualMachine, object.VirtualDeviceList) {
	t.Helper()
	ctx := context.Background()
	ref, err := c.VMByName(ctx, lab.ApplianceVM)
	if err != nil {
		t.Fatal(err)
	}
	vm := object.NewVirtualMachine(c.Client.Client, ref.Ref.Reference())
	devices, err := vm.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return vm, devices
}

// reconfigureDevices runs one ReconfigVM_Task on vm with changes and waits
// for it.
func reconfigureDevices(vm *object.VirtualMachine, changes ...types.BaseVirtualDeviceConfigSpec) error {
	ctx := context.Background()
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: changes})
	if err != nil {
		return err
	}
	_, err = task.WaitForResult(ctx)
	return err
}

// upgradeAppliance powers the appliance off, upgrades its virtual hardware
// to version and powers it on again, as a provider's admin would.
func upgradeAppliance(t *testing.T, vm *object.VirtualMachine, version string) {
	t.Helper()
	ctx := context.Background()
	for _, step := range []func() (*object.Task, error){
		func() (*object.Task, error) { return vm.PowerOff(ctx) },
		func() (*object.Task, error) { return vm.UpgradeVM(ctx, version) },
		func() (*object.Task, error) { return vm.PowerOn(ctx) },
	} {
		task, err := step()
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatalf("upgrade the appliance to %s: %v", version, err)
		}
	}
}

// TestApplianceSCSIUnitsAsVCenter: the provider vCenter refuses a disk on
// a SCSI unit a real vCenter refuses, and leaves the appliance as it was:
// the controller's own unit (7) or a unit a disk holds (InvalidDeviceSpec),
// a unit past the controller's, 16 and on for an LSI Logic controller and
// for a ParaVirtual one below hardware version 14, 64 and on for a
// ParaVirtual one from version 14 (InvalidArgument on unitNumber). It takes
// units 16 to 63 of a ParaVirtual controller from version 14. (Stock vcsim
// took any unit no disk held: 7, 16 on LSI Logic, 70.)
func TestApplianceSCSIUnitsAsVCenter(t *testing.T) {
	t.Parallel()
	_, c := providerLab(t)
	pv := lab.ProviderSpec()
	disks := replicas(t, c, "WebApp1", 4, 1<<20)
	vm, devices := applianceObj(t, c)
	ds, err := find.NewFinder(c.Client.Client, true).Datastore(context.Background(), "/"+pv.Datacenter+"/datastore/"+pv.Datastore)
	if err != nil {
		t.Fatal(err)
	}
	pvscsi := devices.SelectByType((*types.ParaVirtualSCSIController)(nil))
	if len(pvscsi) != 1 {
		t.Fatalf("appliance has %d paravirtual SCSI controllers, want 1", len(pvscsi))
	}
	diskAt := func(ctrl types.BaseVirtualController, unit int32, path string) error {
		_, before := applianceObj(t, c)
		// Not CreateDisk(ctrl, ...): govmomi's unit picking indexes 30
		// units and panics on a controller with a device on unit 30 or on.
		disk := before.CreateDisk(nil, ds.Reference(), path)
		disk.Key, disk.ControllerKey, disk.UnitNumber = before.NewKey(), ctrl.GetVirtualController().Key, &unit
		err := reconfigureDevices(vm, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: disk})
		if err != nil {
			if _, after := applianceObj(t, c); len(after) != len(before) {
				t.Errorf("unit %d refused, yet the appliance went from %d to %d devices", unit, len(before), len(after))
			}
		}
		return err
	}
	refused := func(what string, err error, want types.BaseMethodFault) {
		t.Helper()
		if !fault.Is(err, want) {
			t.Errorf("%s: %v, want %T", what, err, want)
		}
		if a, ok := want.(*types.InvalidArgument); ok {
			var got *types.InvalidArgument
			if _, ok := fault.As(err, &got); ok && got.InvalidProperty != a.InvalidProperty {
				t.Errorf("%s: InvalidArgument on %q, want %q", what, got.InvalidProperty, a.InvalidProperty)
			}
		}
	}
	ctrl := pvscsi[0].(types.BaseVirtualController)
	if v := pvscsi[0].(*types.ParaVirtualSCSIController); v.ScsiCtlrUnitNumber != 7 {
		t.Fatalf("the controller sits on unit %d, want 7", v.ScsiCtlrUnitNumber)
	}
	boot := devices.SelectByType((*types.VirtualDisk)(nil))[0].GetVirtualDevice()
	refused("vmx-13, paravirtual, unit 7", diskAt(ctrl, 7, disks[0].Path), &types.InvalidDeviceSpec{})
	refused("vmx-13, paravirtual, the boot disk's unit", diskAt(ctrl, *boot.UnitNumber, disks[0].Path), &types.InvalidDeviceSpec{})
	refused("vmx-13, paravirtual, unit 16", diskAt(ctrl, 16, disks[0].Path), &types.InvalidArgument{InvalidProperty: "unitNumber"})
	if err := diskAt(ctrl, 15, disks[0].Path); err != nil {
		t.Errorf("vmx-13, paravirtual, unit 15: %v", err)
	}

	upgradeAppliance(t, vm, "vmx-19")
	if err := diskAt(ctrl, 16, disks[1].Path); err != nil {
		t.Errorf("vmx-19, paravirtual, unit 16: %v", err)
	}
	if err := diskAt(ctrl, 63, disks[2].Path); err != nil {
		t.Errorf("vmx-19, paravirtual, unit 63: %v", err)
	}
	refused("vmx-19, paravirtual, unit 64", diskAt(ctrl, 64, disks[3].Path), &types.InvalidArgument{InvalidProperty: "unitNumber"})
	refused("vmx-19, paravirtual, unit 7", diskAt(ctrl, 7, disks[3].Path), &types.InvalidDeviceSpec{})

	// An LSI Logic controller holds 16 units on every hardware version.
	_, devices = applianceObj(t, c)
	lsi, err := devices.CreateSCSIController("lsilogic")
	if err != nil {
		t.Fatal(err)
	}
	if err := reconfigureDevices(vm, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: lsi}); err != nil {
		t.Fatal(err)
	}
	_, devices = applianceObj(t, c)
	lsis := devices.SelectByType((*types.VirtualLsiLogicController)(nil))
	if len(lsis) != 1 {
		t.Fatalf("%d LSI Logic controllers after adding one", len(lsis))
	}
	refused("vmx-19, LSI Logic, unit 16", diskAt(lsis[0].(types.BaseVirtualController), 16, disks[3].Path), &types.InvalidArgument{InvalidProperty: "unitNumber"})
	if err := diskAt(lsis[0].(types.BaseVirtualController), 15, disks[3].Path); err != nil {
		t.Errorf("vmx-19, LSI Logic, unit 15: %v", err)
	}
	_, devices = applianceObj(t, c)
	got := map[string]bool{}
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		v := d.GetVirtualDevice()
		got[fmt.Sprintf("%d:%d", v.ControllerKey, *v.UnitNumber)] = true
	}
	for _, want := range []string{
		fmt.Sprintf("%d:15", ctrl.GetVirtualController().Key), fmt.Sprintf("%d:16", ctrl.GetVirtualController().Key),
		fmt.Sprintf("%d:63", ctrl.GetVirtualController().Key), fmt.Sprintf("%d:15", lsis[0].GetVirtualDevice().Key),
	} {
		if !got[want] {
			t.Errorf("no disk on %s; disks on %v", want, got)
		}
	}
}

// scsiLayout reads the appliance's disks as govmomi does: how many SCSI
// controllers it has, and each disk's controller and unit.
func scsiLayout(t *testing.T, c *vsphere.Client) (ctrls int, units map[int32][]int32) {
	t.Helper()
	_, devices := applianceObj(t, c)
	units = map[int32][]int32{}
	for _, d := range devices {
		if _, ok := d.(types.BaseVirtualSCSIController); ok {
			ctrls++
		}
	}
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		v := d.GetVirtualDevice()
		units[v.ControllerKey] = append(units[v.ControllerKey], *v.UnitNumber)
	}
	return ctrls, units
}

// TestReceiverApplianceWideParavirtual: on a receiver appliance of virtual
// hardware version 14 or later, ferry hot-adds replicas onto units 16 to
// 63 of its paravirtual SCSI controller before it adds another controller;
// 40 replicas (and the boot disk) take the one controller.
func TestReceiverApplianceWideParavirtual(t *testing.T) {
	t.Parallel()
	_, c := providerLab(t)
	vm, _ := applianceObj(t, c)
	upgradeAppliance(t, vm, "vmx-19")
	disks := replicas(t, c, "DB1", 40, 1<<20)
	if _, err := c.AttachDisks(context.Background(), lab.ProviderSpec().Datacenter, lab.ApplianceVM, disks); err != nil {
		t.Fatal(err)
	}
	ctrls, units := scsiLayout(t, c)
	if ctrls != 1 || len(units) != 1 {
		t.Fatalf("41 disks on %d SCSI controllers (disks on %d), want 1: %v", ctrls, len(units), units)
	}
	for _, us := range units {
		if len(us) != 41 || slices.Max(us) != 41 || slices.Contains(us, 7) {
			t.Errorf("units %v, want 0 to 41 but 7", us)
		}
	}
}

// TestReceiverApplianceFullSaysWhatToDo: an appliance whose four SCSI
// controllers are full (vmx-13: 15 disks each, the boot disk and 59
// replicas) refuses the next replica with an error that says how many
// disks it holds, and what to do.
func TestReceiverApplianceFullSaysWhatToDo(t *testing.T) {
	t.Parallel()
	_, c := providerLab(t)
	dc := lab.ProviderSpec().Datacenter
	if _, err := c.AttachDisks(context.Background(), dc, lab.ApplianceVM, replicas(t, c, "DB1", 59, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if ctrls, _ := scsiLayout(t, c); ctrls != 4 {
		t.Fatalf("60 disks on %d SCSI controllers, want 4", ctrls)
	}
	_, err := c.AttachDisks(context.Background(), dc, lab.ApplianceVM, replicas(t, c, "DB2", 1, 1<<20))
	if err == nil {
		t.Fatal("a 61st disk hot-added to an appliance of four 15-disk controllers")
	}
	for _, want := range []string{"holds 60 disks", "4 SCSI controllers", "60 at most at vmx-13", "another receiver appliance", "63 disks on virtual hardware vmx-14 or later"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, units := scsiLayout(t, c); len(units) != 4 {
		t.Errorf("disks on %d controllers after the refusal", len(units))
	}
}
