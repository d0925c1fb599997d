package lab_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// webApp3Tracked connects to the lab's on-prem vCenter, turns changed block
// tracking on for WebApp3 and takes a snapshot s1 of it: the VM, its first
// disk as of s1, and that disk's changeId then.
func webApp3Tracked(ctx context.Context, t *testing.T, l *lab.Lab) (*vsphere.Client, *object.VirtualMachine, *types.VirtualDisk, string) {
	t.Helper()
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	ref, ok, err := c.FindVM(ctx, "WebApp3")
	if err != nil || !ok {
		t.Fatal(err)
	}
	vm := object.NewVirtualMachine(c.Client.Client, ref.Reference())
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(true)})
	if err == nil {
		_, err = vsphere.WaitTask(ctx, task)
	}
	if err != nil {
		t.Fatal(err)
	}
	s1 := snapshot(ctx, t, vm, "s1")
	var snap mo.VirtualMachineSnapshot
	if err := vm.Properties(ctx, s1, []string{"config.hardware"}, &snap); err != nil {
		t.Fatal(err)
	}
	disk := object.VirtualDeviceList(snap.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
	changeID := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).ChangeId
	return c, vm, disk, changeID
}

// extendFirstDisk reconfigures vm's first disk to capacity bytes.
func extendFirstDisk(ctx context.Context, vm *object.VirtualMachine, capacity int64) error {
	devices, err := vm.Device(ctx)
	if err != nil {
		return err
	}
	disk := devices.SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
	disk.CapacityInBytes, disk.CapacityInKB = capacity, capacity/1024
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: disk},
	}})
	if err == nil {
		_, err = vsphere.WaitTask(ctx, task)
	}
	return err
}

// addDataDisk adds to vm a thin disk of capacity bytes that vCenter makes
// at file (a file operation create), at unit 1 of its first disk's
// controller.
func addDataDisk(ctx context.Context, vm *object.VirtualMachine, file string, capacity int64) error {
	devices, err := vm.Device(ctx)
	if err != nil {
		return err
	}
	first := devices.SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
	unit := int32(1)
	data := &types.VirtualDisk{
		VirtualDevice: types.VirtualDevice{Key: -1, ControllerKey: first.ControllerKey, UnitNumber: &unit,
			Backing: &types.VirtualDiskFlatVer2BackingInfo{DiskMode: string(types.VirtualDiskModePersistent), ThinProvisioned: types.NewBool(true),
				VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: file, Datastore: first.Backing.(*types.VirtualDiskFlatVer2BackingInfo).Datastore}}},
		CapacityInKB: capacity / 1024, CapacityInBytes: capacity,
	}
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate, Device: data},
	}})
	if err == nil {
		_, err = vsphere.WaitTask(ctx, task)
	}
	return err
}

func snapshot(ctx context.Context, t *testing.T, vm *object.VirtualMachine, name string) types.ManagedObjectReference {
	t.Helper()
	task, err := vm.CreateSnapshot(ctx, name, "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := vsphere.WaitTask(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	return res.Result.(types.ManagedObjectReference)
}

// TestDiskExtendAsESXi: extending a running VM's disk grows its descriptor
// and flat extent as ESXi does, is refused while the VM has a snapshot, and
// keeps changed block tracking valid: the new area is not a change, a
// guest write into it is. A disk added with a file operation create gets
// ESXi's descriptor, not vcsim's. At the provider, VirtualDiskManager refuses to
// extend a disk the running receiver appliance holds and extends it, in
// ESXi's descriptor format, once detached.
func TestDiskExtendAsESXi(t *testing.T) {
	t.Parallel()
	// No guest workload: the only write is the test's.
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	c, vm, disk, changeID := webApp3Tracked(ctx, t, l)
	var task *object.Task
	var err error

	err = extendFirstDisk(ctx, vm, 24<<20)
	if !fault.Is(err, &types.InvalidDeviceOperation{}) {
		t.Fatalf("extend with a snapshot: %v, want InvalidDeviceOperation", err)
	}
	if task, err = vm.RemoveAllSnapshot(ctx, nil); err == nil {
		_, err = vsphere.WaitTask(ctx, task)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := extendFirstDisk(ctx, vm, 24<<20); err != nil {
		t.Fatalf("extend: %v", err)
	}
	if err := extendFirstDisk(ctx, vm, 20<<20); !fault.Is(err, &types.InvalidDeviceOperation{}) {
		t.Errorf("shrink: %v, want InvalidDeviceOperation", err)
	}
	flat := l.OnPrem.FlatFile("WebApp3")
	if fi, err := os.Stat(flat); err != nil || fi.Size() != 24<<20 {
		t.Errorf("flat extent after the extension: %v %v, want 24 MiB", fi, err)
	}
	desc, err := os.ReadFile(filepath.Join(filepath.Dir(flat), "WebApp3.vmdk"))
	if err != nil || !strings.Contains(string(desc), "RW 49152 VMFS ") {
		t.Errorf("descriptor after the extension (%v):\n%s", err, desc)
	}

	// Changed block tracking: only what the guest writes into the new area.
	if err := l.CBT.WriteAt(flat, make([]byte, 64<<10), 20<<20); err != nil {
		t.Fatal(err)
	}
	s2 := snapshot(ctx, t, vm, "s2")
	res, err := methods.QueryChangedDiskAreas(ctx, c.Client.Client, &types.QueryChangedDiskAreas{This: vm.Reference(), Snapshot: &s2, DeviceKey: disk.Key, ChangeId: changeID})
	if err != nil {
		t.Fatalf("QueryChangedDiskAreas since before the extension: %v", err)
	}
	var changed int64
	for _, a := range res.Returnval.ChangedArea {
		changed += a.Length
		if a.Start < 20<<20 || a.Start+a.Length > 20<<20+64<<10 {
			t.Errorf("changed area %d+%d: want only the guest's write at 20 MiB", a.Start, a.Length)
		}
	}
	if changed == 0 {
		t.Error("the guest's write into the new area is not a change")
	}

	// A disk added with a file operation create is made as ESXi makes it.
	if task, err = vm.RemoveAllSnapshot(ctx, nil); err == nil {
		_, err = vsphere.WaitTask(ctx, task)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := addDataDisk(ctx, vm, "[onprem-ds] WebApp3/data.vmdk", 4<<20); err != nil {
		t.Fatalf("add a disk: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(flat), "data.vmdk"))
	if err != nil || !strings.Contains(string(raw), "parentCID=ffffffff") || !strings.Contains(string(raw), "ddb.uuid") || !strings.Contains(string(raw), `RW 8192 VMFS "data-flat.vmdk"`) {
		t.Errorf("descriptor of the added disk is not ESXi's (%v):\n%s", err, raw)
	}

	// The provider: a replica disk the running appliance holds is locked.
	pc := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	file := vsphere.DiskFile{Path: "[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp3", 0), Capacity: 16 << 20}
	if err := pc.CreateReplicaDisks(ctx, "Provider-DC", []vsphere.DiskFile{file}); err != nil {
		t.Fatal(err)
	}
	uuids, err := pc.AttachDisks(ctx, "Provider-DC", lab.ApplianceVM, []vsphere.DiskFile{file})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.ExtendDisk(ctx, "Provider-DC", file.Path, 24<<20); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("extend a disk the running appliance holds: %v, want it locked", err)
	}
	if err := pc.DetachDiskFiles(ctx, "Provider-DC", lab.ApplianceVM, []string{file.Path}); err != nil {
		t.Fatal(err)
	}
	if err := pc.ExtendDisk(ctx, "Provider-DC", file.Path, 24<<20); err != nil {
		t.Fatalf("extend a detached disk: %v", err)
	}
	if n, err := pc.DiskCapacity(ctx, "Provider-DC", file.Path); err != nil || n != 24<<20 {
		t.Errorf("replica disk after the extension: %d bytes (%v), want 24 MiB", n, err)
	}
	// Still a disk ESXi opens: the appliance takes it, at its new size.
	file.Capacity = 24 << 20
	if _, err := pc.AttachDisks(ctx, "Provider-DC", lab.ApplianceVM, []vsphere.DiskFile{file}); err != nil {
		t.Fatalf("hot-add the extended disk: %v", err)
	}
	names, _ := replication.DeviceNames(uuids[file.Path])
	if fi, err := os.Stat(filepath.Join(l.Appliance.ByID, names[0])); err != nil || fi.Size() != 24<<20 {
		t.Errorf("the appliance's device of the extended disk: %v %v, want 24 MiB", fi, err)
	}
}

// TestRefusedReconfigureChangesNothing: a reconfigure vCenter refuses
// leaves the VM as it was. Here an admin edits WebApp3's disk from a device
// list read while a snapshot was open (its backing names the snapshot's
// delta, gone once the snapshot is removed): refused with FileNotFound, and
// the VM still has its disk, once, on its base file.
func TestRefusedReconfigureChangesNothing(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	ref, ok, err := c.FindVM(ctx, "WebApp3")
	if err != nil || !ok {
		t.Fatal(err)
	}
	vm := object.NewVirtualMachine(c.Client.Client, ref.Reference())
	before, err := vm.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snapshot(ctx, t, vm, "s1")
	during, err := vm.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	task, err := vm.RemoveAllSnapshot(ctx, nil)
	if err == nil {
		_, err = vsphere.WaitTask(ctx, task)
	}
	if err != nil {
		t.Fatal(err)
	}
	disk := during.SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
	if f := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).FileName; !strings.Contains(f, "-000001") {
		t.Fatalf("disk backing with a snapshot open: %s, want its delta", f)
	}
	task, err = vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: disk},
	}})
	if err == nil {
		_, err = vsphere.WaitTask(ctx, task)
	}
	if err == nil {
		t.Fatal("edit of a disk on a delta that is gone: accepted")
	}
	after, err := vm.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := func(l object.VirtualDeviceList) []string {
		var out []string
		for _, d := range l {
			out = append(out, l.Name(d))
		}
		return out
	}
	if got, want := names(after), names(before); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("devices after the refused reconfigure (%v):\n%v\nwant as before:\n%v", err, got, want)
	}
	var m mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"summary.config.numVirtualDisks"}, &m); err != nil || m.Summary.Config.NumVirtualDisks != 1 {
		t.Errorf("summary.config.numVirtualDisks after the refused reconfigure: %d (%v), want 1", m.Summary.Config.NumVirtualDisks, err)
	}
}
