package lab_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// A call the provider vCenter refuses changes nothing, as in vCenter: no
// disk file it would have created is left, none it would have deleted is
// gone, and the same call made again once the cause is gone goes through.

// replicas has the provider vCenter create n replica disks of vm (capacity
// bytes each), as step 6 does.
func replicas(t *testing.T, c *vsphere.Client, vm string, n int, capacity int64) []vsphere.DiskFile {
	t.Helper()
	pv := lab.ProviderSpec()
	var out []vsphere.DiskFile
	for i := range n {
		out = append(out, vsphere.DiskFile{Path: "[" + pv.Datastore + "] " + replication.ReplicaDiskPath(lab.TenantOrg, vm, i), Capacity: capacity})
	}
	if err := c.CreateReplicaDisks(context.Background(), pv.Datacenter, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// filesFound lists which of paths exist on the provider datastore.
func filesFound(t *testing.T, c *vsphere.Client, paths ...string) []string {
	t.Helper()
	return filesFoundIn(t, c, lab.ProviderSpec().Datacenter, paths...)
}

// filesFoundIn lists which of paths exist in datacenter dc.
func filesFoundIn(t *testing.T, c *vsphere.Client, dc string, paths ...string) []string {
	t.Helper()
	found, err := c.DiskFilesFound(context.Background(), dc, paths)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range paths {
		if found[p] {
			out = append(out, p)
		}
	}
	return out
}

// TestRefusedDiskDeletionDeletesNothing: a VM's disks removed with
// fileOperation destroy (Cloud Director deleting a VM, ferry deleting a
// test copy) in one reconfigure, one of which another VM holds (a replica
// still hot-added to the receiver appliance): vCenter refuses the
// reconfigure with FileLocked, and deletes none of them: the VM keeps both
// disks and both files. The lab deleted the disks before the one it
// refused, leaving the VM with a disk whose file was gone.
func TestRefusedDiskDeletionDeletesNothing(t *testing.T) {
	_, c := providerLab(t)
	ctx := context.Background()
	pv := lab.ProviderSpec()
	disks := replicas(t, c, "WebApp2", 2, 8<<20)
	if _, err := c.AttachDisks(ctx, pv.Datacenter, lab.ApplianceVM, disks[1:]); err != nil {
		t.Fatal(err)
	}
	ref, err := c.CreateVMOverDisks(ctx, vsphere.VMOverDisks{Name: "target", Datacenter: pv.Datacenter, Pool: pv.Pool, Datastore: pv.Datastore, Disks: disks})
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{disks[0].Path, disks[1].Path}
	destroyDisks := func() error {
		vm := object.NewVirtualMachine(c.Client.Client, ref.Reference())
		devices, err := vm.Device(ctx)
		if err != nil {
			return err
		}
		var changes []types.BaseVirtualDeviceConfigSpec
		for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
			changes = append(changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationRemove,
				FileOperation: types.VirtualDeviceConfigSpecFileOperationDestroy, Device: d})
		}
		task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: changes})
		if err == nil {
			_, err = vsphere.WaitTask(ctx, task)
		}
		return err
	}
	if err := destroyDisks(); err == nil {
		t.Fatal("deleting a disk the running receiver appliance holds: accepted")
	}
	if got := filesFound(t, c, paths...); !slices.Equal(got, paths) {
		t.Errorf("disk files after the refused deletion: %v, want both: %v", got, paths)
	}
	if got, err := c.DiskFilesOf(ctx, ref); err != nil || !slices.Equal(got, paths) {
		t.Errorf("the VM's disks after the refused deletion: %v (%v), want %v", got, err, paths)
	}

	// The appliance lets go of the disk: the same deletion goes through.
	if err := c.DetachDiskFiles(ctx, pv.Datacenter, lab.ApplianceVM, paths[1:]); err != nil {
		t.Fatal(err)
	}
	if err := destroyDisks(); err != nil {
		t.Fatalf("delete the disks once no other VM holds them: %v", err)
	}
	if got := filesFound(t, c, paths...); len(got) != 0 {
		t.Errorf("disk files after the deletion: %v, want none", got)
	}
}

// TestRefusedLinkedCloneCreatesNothing: a test copy made over child disks
// of two replicas, one of which the running receiver appliance still
// writes (no snapshot froze it): vCenter refuses the VM and creates no
// child disk; once a snapshot of the appliance froze the replicas, the same
// copy is created. The lab left the first child disk behind, so the second
// attempt failed on it (FileAlreadyExists) where vCenter goes through.
func TestRefusedLinkedCloneCreatesNothing(t *testing.T) {
	t.Parallel()
	_, c := providerLab(t)
	ctx := context.Background()
	pv := lab.ProviderSpec()
	disks := replicas(t, c, "WebApp2", 2, 8<<20)
	if _, err := c.AttachDisks(ctx, pv.Datacenter, lab.ApplianceVM, disks[1:]); err != nil {
		t.Fatal(err)
	}
	spec := vsphere.VMOverDisks{Name: "copy", Datacenter: pv.Datacenter, Pool: pv.Pool, Datastore: pv.Datastore}
	var children []string
	for i, d := range disks {
		child := fmt.Sprintf("[%s] copy/copy_%d.vmdk", pv.Datastore, i)
		children = append(children, child)
		spec.Disks = append(spec.Disks, vsphere.DiskFile{Path: child, Capacity: d.Capacity, Parent: d.Path})
	}
	_, err := c.CreateVMOverDisks(ctx, spec)
	if err == nil {
		t.Fatal("a child of a replica the running appliance writes: created")
	}
	if got := filesFound(t, c, children...); len(got) != 0 {
		t.Errorf("child disks after the refused VM (%v): %v, want none", err, got)
	}
	if err := c.SnapshotVM(ctx, pv.Datacenter, lab.ApplianceVM, "ferry-test", ""); err != nil {
		t.Fatal(err)
	}
	ref, err := c.CreateVMOverDisks(ctx, spec)
	if err != nil {
		t.Fatalf("the copy once a snapshot froze its replicas: %v", err)
	}
	if got, err := c.DiskFilesOf(ctx, ref); err != nil || !slices.Equal(got, children) {
		t.Errorf("the copy's disks: %v (%v), want %v", got, err, children)
	}
}

// TestRefusedCreateVMLeavesNoFiles: a VM vCenter refuses after it began
// making it (here two new disks on one SCSI unit: InvalidDeviceSpec) leaves
// nothing on the datastore: not the disks it created, not the VM's folder
// with its configuration file. The lab left both, so the corrected call
// failed on the disk left behind (FileAlreadyExists).
func TestRefusedCreateVMLeavesNoFiles(t *testing.T) {
	t.Parallel()
	_, c := providerLab(t)
	pv := lab.ProviderSpec()
	refusedCreateLeavesNothing(t, c, pv.Datacenter, pv.Pool, pv.Datastore)
}

// TestRefusedOnPremCreateVMLeavesNoFiles: the same at the source vCenter,
// where an admin makes a VM (CreateVM_Task): the lab left the VM's folder,
// its configuration file and the disk made before the refused one, so the
// corrected call failed on it.
func TestRefusedOnPremCreateVMLeavesNoFiles(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	spec := lab.OnPremSpec(16 << 20)
	refusedCreateLeavesNothing(t, c, spec.Datacenter, "", spec.Datastore)
}

// refusedCreateLeavesNothing has vCenter create VM newvm with two new
// disks in datastore dsName (pool: "" for the default one) on one SCSI
// unit, refused, then on two: the refused call leaves nothing, the
// corrected one makes the VM in its own folder.
func refusedCreateLeavesNothing(t *testing.T, c *vsphere.Client, dcName, poolName, dsName string) {
	t.Helper()
	ctx := context.Background()
	f := c.Finder()
	dc, err := f.Datacenter(ctx, dcName)
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	folders, err := dc.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pool *object.ResourcePool
	if poolName == "" {
		pool, err = f.DefaultResourcePool(ctx)
	} else {
		pool, err = f.ResourcePool(ctx, poolName)
	}
	if err != nil {
		t.Fatal(err)
	}
	ds, err := f.Datastore(ctx, dsName)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"[" + dsName + "] newvm-disks/a.vmdk", "[" + dsName + "] newvm-disks/b.vmdk"}
	create := func(units ...int32) error {
		var devices object.VirtualDeviceList
		scsi, err := devices.CreateSCSIController("pvscsi")
		if err != nil {
			return err
		}
		scsi.GetVirtualDevice().Key = -100
		devices = append(devices, scsi)
		for i, file := range files {
			disk := devices.CreateDisk(scsi.(types.BaseVirtualController), ds.Reference(), file)
			disk.Key = int32(-200 - i)
			disk.UnitNumber = &units[i]
			disk.CapacityInKB = 4 << 10
			disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).ThinProvisioned = types.NewBool(true)
			devices = append(devices, disk)
		}
		changes, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
		if err != nil {
			return err
		}
		for _, ch := range changes {
			if _, ok := ch.GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk); ok {
				ch.GetVirtualDeviceConfigSpec().FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
			}
		}
		task, err := folders.VmFolder.CreateVM(ctx, types.VirtualMachineConfigSpec{Name: "newvm", GuestId: string(types.VirtualMachineGuestOsIdentifierOtherGuest64),
			Files: &types.VirtualMachineFileInfo{VmPathName: "[" + dsName + "]"}, DeviceChange: changes}, pool, nil)
		if err == nil {
			_, err = vsphere.WaitTask(ctx, task)
		}
		return err
	}
	err = create(0, 0)
	if err == nil {
		t.Fatal("two disks on one SCSI unit: accepted")
	}
	if got := filesFoundIn(t, c, dcName, files...); len(got) != 0 {
		t.Errorf("disk files after the refused VM (%v): %v, want none", err, got)
	}
	var left []string
	for _, p := range []string{"newvm", "newvm/newvm.vmx", "newvm-disks"} {
		if _, err := ds.Stat(ctx, p); err == nil {
			left = append(left, p)
		}
	}
	if len(left) > 0 {
		t.Errorf("left on the datastore after the refused VM: %s", strings.Join(left, ", "))
	}
	if _, ok, err := c.FindVM(ctx, "newvm"); err != nil || ok {
		t.Errorf("VM newvm after the refused create: found %v (%v)", ok, err)
	}
	if err := create(0, 1); err != nil {
		t.Fatalf("the corrected VM: %v", err)
	}
	if got := filesFoundIn(t, c, dcName, files...); !slices.Equal(got, files) {
		t.Errorf("disk files of the VM made: %v, want %v", got, files)
	}
	if _, err := ds.Stat(ctx, "newvm/newvm.vmx"); err != nil {
		t.Errorf("the VM's configuration file: %v, want it in its own folder newvm", err)
	}
}

// addTwoDisks reconfigures vm to add one disk per file (fileOperation
// create, 4 MiB) on its first SCSI controller at the given units.
func addTwoDisks(ctx context.Context, vm *object.VirtualMachine, files []string, units ...int32) error {
	devices, err := vm.Device(ctx)
	if err != nil {
		return err
	}
	ctrl, err := devices.FindDiskController("scsi")
	if err != nil {
		return err
	}
	var changes []types.BaseVirtualDeviceConfigSpec
	for i, file := range files {
		disk := devices.CreateDisk(ctrl, types.ManagedObjectReference{}, file)
		disk.Key = int32(-200 - i)
		disk.UnitNumber = &units[i]
		disk.CapacityInKB = 4 << 10
		changes = append(changes, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd,
			FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate, Device: disk})
	}
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: changes})
	if err == nil {
		_, err = vsphere.WaitTask(ctx, task)
	}
	return err
}

// TestRefusedDiskAddCreatesNothing: an admin adds two new disks to a source
// VM in one reconfigure, both on one SCSI unit: vCenter refuses it
// (InvalidDeviceSpec) and creates neither disk file; the corrected call
// creates both. The lab left the disks it had created, so the corrected
// call failed on them (FileAlreadyExists).
func TestRefusedDiskAddCreatesNothing(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	ref, ok, err := c.FindVM(ctx, "WebApp3")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	vm := object.NewVirtualMachine(c.Client.Client, ref.Reference())
	ds := lab.OnPremSpec(16 << 20).Datastore
	files := []string{"[" + ds + "] WebApp3/added_a.vmdk", "[" + ds + "] WebApp3/added_b.vmdk"}
	found := func() []string { return filesFoundIn(t, c, lab.OnPremSpec(16<<20).Datacenter, files...) }
	err = addTwoDisks(ctx, vm, files, 5, 5)
	if err == nil {
		t.Fatal("two new disks on one SCSI unit: accepted")
	}
	if got := found(); len(got) != 0 {
		t.Errorf("disk files after the refused reconfigure (%v): %v, want none", err, got)
	}
	if err := addTwoDisks(ctx, vm, files, 5, 6); err != nil {
		t.Fatalf("the corrected reconfigure: %v", err)
	}
	if got := found(); !slices.Equal(got, files) {
		t.Errorf("disk files after the reconfigure: %v, want %v", got, files)
	}
}

// TestRefusedDiskExtendKeepsSize: a reconfigure that extends a provider
// VM's disk and adds another disk on a unit taken is refused
// (InvalidDeviceSpec), and the disk keeps its size, in its descriptor as
// on the VM. The lab had grown the disk's files before vcsim refused.
func TestRefusedDiskExtendKeepsSize(t *testing.T) {
	t.Parallel()
	_, c := providerLab(t)
	ctx := context.Background()
	pv := lab.ProviderSpec()
	disks := replicas(t, c, "WebApp2", 2, 8<<20)
	ref, err := c.CreateVMOverDisks(ctx, vsphere.VMOverDisks{Name: "target", Datacenter: pv.Datacenter, Pool: pv.Pool, Datastore: pv.Datastore, Disks: disks[:1]})
	if err != nil {
		t.Fatal(err)
	}
	vm := object.NewVirtualMachine(c.Client.Client, ref.Reference())
	devices, err := vm.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	disk := devices.SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
	grown := *disk
	grown.CapacityInBytes, grown.CapacityInKB = 16<<20, 16<<10
	other := devices.CreateDisk(devices.FindByKey(disk.ControllerKey).(types.BaseVirtualController), *disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).Datastore, disks[1].Path)
	other.Key, other.UnitNumber, other.CapacityInBytes = -200, disk.UnitNumber, disks[1].Capacity
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: &grown},
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: other},
	}})
	if err == nil {
		_, err = vsphere.WaitTask(ctx, task)
	}
	if err == nil {
		t.Fatal("a second disk on a unit taken: accepted")
	}
	if n, cerr := c.DiskCapacity(ctx, pv.Datacenter, disks[0].Path); cerr != nil || n != disks[0].Capacity {
		t.Errorf("the disk's capacity in its descriptor after the refused extension (%v): %d (%v), want %d", err, n, cerr, disks[0].Capacity)
	}
	after, err := vm.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := after.SelectByType((*types.VirtualDisk)(nil)); len(d) != 1 || d[0].(*types.VirtualDisk).CapacityInBytes != disks[0].Capacity {
		t.Errorf("the VM's disks after the refused extension: %d, want one of %d bytes", len(d), disks[0].Capacity)
	}
}

// TestRefusedOnPremDiskExtendKeepsSize: at the source vCenter, a
// reconfigure that extends WebApp3's disk and adds a new disk on a unit
// taken is refused (InvalidDeviceSpec): the disk keeps its size, in its
// descriptor, its flat extent and on the VM, and changed block tracking
// stays valid across the refused call (a changeId from before it is still
// answered). The lab grew the disk's files before vcsim refused, and left
// them grown.
func TestRefusedOnPremDiskExtendKeepsSize(t *testing.T) {
	t.Parallel()
	const size = 16 << 20
	l := labtest.Start(t, lab.Options{DiskSize: size, WorkloadRate: -1})
	ctx := context.Background()
	spec := lab.OnPremSpec(size)
	c, vm, disk, changeID := webApp3Tracked(ctx, t, l)
	var task *object.Task
	var err error
	if task, err = vm.RemoveAllSnapshot(ctx, nil); err == nil {
		_, err = vsphere.WaitTask(ctx, task)
	}
	if err != nil {
		t.Fatal(err)
	}

	devices, err := vm.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	disk = devices.SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
	file := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).FileName
	grown := *disk
	grown.CapacityInBytes, grown.CapacityInKB = 24<<20, 24<<10
	added := devices.CreateDisk(devices.FindByKey(disk.ControllerKey).(types.BaseVirtualController), types.ManagedObjectReference{}, "["+spec.Datastore+"] WebApp3/added.vmdk")
	added.Key, added.UnitNumber, added.CapacityInKB = -200, disk.UnitNumber, 4<<10
	task, err = vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: &grown},
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate, Device: added},
	}})
	if err == nil {
		_, err = vsphere.WaitTask(ctx, task)
	}
	if err == nil {
		t.Fatal("a new disk on a unit taken: accepted")
	}
	if n, cerr := c.DiskCapacity(ctx, spec.Datacenter, file); cerr != nil || n != size {
		t.Errorf("the disk's capacity in its descriptor after the refused extension (%v): %d (%v), want %d", err, n, cerr, size)
	}
	// The flat extent's length (the datastore browser reports the blocks a
	// thin disk holds; /folder refuses a running VM's locked disk).
	if fi, serr := os.Stat(l.OnPrem.FlatFile("WebApp3")); serr != nil || fi.Size() != size {
		t.Errorf("the flat extent after the refused extension: %v (%v), want %d bytes", fi, serr, size)
	}
	if after, derr := vm.Device(ctx); derr != nil {
		t.Fatal(derr)
	} else if d := after.SelectByType((*types.VirtualDisk)(nil)); len(d) != 1 || d[0].(*types.VirtualDisk).CapacityInBytes != size {
		t.Errorf("the VM's disks after the refused extension: %d, want one of %d bytes", len(d), size)
	}
	if got := filesFoundIn(t, c, spec.Datacenter, "["+spec.Datastore+"] WebApp3/added.vmdk"); len(got) != 0 {
		t.Errorf("the refused new disk: %v, want none", got)
	}
	s2 := snapshot(ctx, t, vm, "s2")
	if _, err := methods.QueryChangedDiskAreas(ctx, c.Client.Client, &types.QueryChangedDiskAreas{This: vm.Reference(), Snapshot: &s2, DeviceKey: disk.Key, ChangeId: changeID}); err != nil {
		t.Errorf("QueryChangedDiskAreas since before the refused extension: %v, want an answer (tracking still valid)", err)
	}
}

// errImportCall marks an ImportVApp refused on the call itself.
var errImportCall = errors.New("the ImportVApp call was refused")

// TestRefusedImportLeavesNothing: an OVF import (ImportVApp, as ferry
// deploys the L2 appliance) is all or nothing, as in vCenter. One whose
// VM vCenter refuses (two disks on one SCSI unit) fails its lease and
// leaves neither VM nor files; one named as a VM of its folder returns its
// lease, which fails with DuplicateName ("The name '...' already exists.",
// govmomi #1927; the lab refused the call itself, where vCenter fails the
// lease: docs/real-world.md) and makes nothing; the corrected import makes the VM in its own folder; and
// aborting that import removes the VM with its folder. The lab left the
// refused VM's folder, configuration file and first disk, so the corrected
// import failed on the disk (FileAlreadyExists), and made a second VM of a
// taken name.
func TestRefusedImportLeavesNothing(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	spec := lab.OnPremSpec(16 << 20)
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	_, f, dc := onpremFinder(t)
	pool, err := f.DefaultResourcePool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := f.Datastore(ctx, spec.Datastore)
	if err != nil {
		t.Fatal(err)
	}
	// importVM imports VM name with two disks at the given units in folder
	// dir (CreateImportSpec names them in the VM's: name); its lease, ready.
	importVM := func(name, dir string, units ...int32) (*nfc.Lease, *nfc.LeaseInfo, error) {
		var devices object.VirtualDeviceList
		scsi, err := devices.CreateSCSIController("pvscsi")
		if err != nil {
			return nil, nil, err
		}
		scsi.GetVirtualDevice().Key = -100
		devices = append(devices, scsi)
		for i, u := range units {
			disk := devices.CreateDisk(scsi.(types.BaseVirtualController), ds.Reference(), fmt.Sprintf("[%s] %s/disk-%d.vmdk", spec.Datastore, dir, i))
			disk.Key, disk.UnitNumber, disk.CapacityInKB = int32(-200-i), &u, 4<<10
			devices = append(devices, disk)
		}
		changes, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
		if err != nil {
			return nil, nil, err
		}
		for _, ch := range changes {
			if _, ok := ch.GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk); ok {
				ch.GetVirtualDeviceConfigSpec().FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
			}
		}
		lease, err := pool.ImportVApp(ctx, &types.VirtualMachineImportSpec{ConfigSpec: types.VirtualMachineConfigSpec{
			Name: name, GuestId: "otherGuest64", NumCPUs: 1, MemoryMB: 64, DeviceChange: changes,
			Files: &types.VirtualMachineFileInfo{VmPathName: "[" + spec.Datastore + "]"},
		}}, folders.VmFolder, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errImportCall, err)
		}
		info, err := lease.Wait(ctx, nil)
		return lease, info, err
	}
	left := func(paths ...string) []string {
		var out []string
		for _, p := range paths {
			if _, err := ds.Stat(ctx, p); err == nil {
				out = append(out, p)
			}
		}
		return out
	}

	_, _, err = importVM("imported", "imported", 0, 0)
	if err == nil {
		t.Fatal("an import of two disks on one SCSI unit: accepted")
	}
	if got := left("imported", "imported/imported.vmx", "imported/disk-0.vmdk"); len(got) > 0 {
		t.Errorf("left on the datastore after the refused import (%v): %s", err, strings.Join(got, ", "))
	}
	if _, ok, ferr := c.FindVM(ctx, "imported"); ferr != nil || ok {
		t.Errorf("VM imported after the refused import: found %v (%v)", ok, ferr)
	}

	_, _, err = importVM("WebApp3", "WebApp3", 0, 1)
	var te *task.Error
	switch {
	case errors.Is(err, errImportCall):
		t.Errorf("an import named as a VM of its folder: %v; vCenter returns the lease and fails it", err)
	case !fault.Is(err, &types.DuplicateName{}) || !errors.As(err, &te):
		t.Errorf("an import named as a VM of its folder: %v, want its lease failed with DuplicateName", err)
	case te.LocalizedMessage != "The name 'WebApp3' already exists.":
		t.Errorf("the failed lease's message: %q, want vCenter's %q", te.LocalizedMessage, "The name 'WebApp3' already exists.")
	}
	if got := left("WebApp3 (1)"); len(got) > 0 {
		t.Errorf("left on the datastore after the import of a taken name: %s", strings.Join(got, ", "))
	}
	if vms, ferr := f.VirtualMachineList(ctx, "WebApp3"); ferr != nil || len(vms) != 1 {
		t.Errorf("VMs named WebApp3 after the import of that name: %d (%v), want 1", len(vms), ferr)
	}

	lease, info, err := importVM("imported", "imported", 0, 1)
	if err != nil {
		t.Fatalf("the corrected import: %v", err)
	}
	if got := left("imported/imported.vmx", "imported/disk-0.vmdk", "imported/disk-1.vmdk"); len(got) != 3 {
		t.Errorf("the imported VM's files: %v, want its configuration file and both disks in its own folder", got)
	}
	if err := lease.Abort(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, ferr := c.VMByRef(ctx, vsphere.Ref{Type: info.Entity.Type, Value: info.Entity.Value}); ferr != nil || ok {
		t.Errorf("the VM of the aborted import: found %v (%v), want it removed", ok, ferr)
	}
	if got := left("imported"); len(got) > 0 {
		t.Errorf("left on the datastore after the aborted import: %s", strings.Join(got, ", "))
	}
}
