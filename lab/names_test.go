package lab_test

import (
	"context"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestVCenterRefusesANameTheFolderHolds: a folder holds one object of a
// name, whichever call would bring a second in: renaming a VM (Rename_Task),
// moving one into the folder (MoveIntoFolder_Task, one entity at a time:
// those before the refused one move, it and the rest stay), relocating one
// into it (RelocateVM_Task with a folder, which then changes nothing: no
// pool either) and cloning into it (CloneVM_Task) fail with DuplicateName
// naming the name and the object that holds it, as vCenter does (vSphere
// API reference). vcsim renamed with InvalidArgument and moved and
// relocated without a check, so two VMs of a name could share a folder.
func TestVCenterRefusesANameTheFolderHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	vc, f, dc := onpremFinder(t)
	folders, err := dc.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root := folders.VmFolder
	vmNamed := func(name string) *object.VirtualMachine {
		t.Helper()
		vm, err := f.VirtualMachine(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return vm
	}
	web1, web2, web3 := vmNamed("WebApp1"), vmNamed("WebApp2"), vmNamed("WebApp3")
	type where struct {
		name   string
		parent types.ManagedObjectReference
		pool   types.ManagedObjectReference
	}
	at := func(vm *object.VirtualMachine) where {
		t.Helper()
		var o mo.VirtualMachine
		if err := vm.Properties(ctx, vm.Reference(), []string{"name", "parent", "resourcePool"}, &o); err != nil || o.Parent == nil || o.ResourcePool == nil {
			t.Fatalf("%s: %v", vm.Reference(), err)
		}
		return where{o.Name, *o.Parent, *o.ResourcePool}
	}
	run := func(task *object.Task, err error) error {
		if err == nil {
			err = task.Wait(ctx)
		}
		return err
	}
	// refused checks err is DuplicateName for name held by holder.
	refused := func(what string, err error, name string, holder types.ManagedObjectReference) {
		t.Helper()
		var dup *types.DuplicateName
		if _, ok := fault.As(err, &dup); !ok {
			t.Fatalf("%s: got %v, want DuplicateName", what, err)
		}
		if dup.Name != name || dup.Object != holder {
			t.Errorf("%s: DuplicateName for %q held by %s, want %q held by %s", what, dup.Name, dup.Object, name, holder)
		}
	}

	// Rename into a name the VM's folder holds.
	err = run(web1.Rename(ctx, "WebApp2"))
	refused("rename WebApp1 to WebApp2", err, "WebApp2", web2.Reference())
	if got := at(web1).name; got != "WebApp1" {
		t.Errorf("after the refused rename WebApp1 is named %q", got)
	}

	// A folder of its own for WebApp3, then named WebApp1 there (another
	// folder: allowed).
	sub, err := root.CreateFolder(ctx, "Sub")
	if err != nil {
		t.Fatal(err)
	}
	if err := run(sub.MoveInto(ctx, []types.ManagedObjectReference{web3.Reference()})); err != nil {
		t.Fatalf("move WebApp3 into an empty folder: %v", err)
	}
	if err := run(web3.Rename(ctx, "WebApp1")); err != nil {
		t.Fatalf("rename WebApp3 to WebApp1 in another folder than WebApp1's: %v", err)
	}

	// Move into a folder holding the name: the list moves up to the
	// refused entity.
	err = run(sub.MoveInto(ctx, []types.ManagedObjectReference{web2.Reference(), web1.Reference()}))
	refused("move WebApp2 and WebApp1 into Sub", err, "WebApp1", web3.Reference())
	if got := at(web2).parent; got != sub.Reference() {
		t.Errorf("WebApp2, before the refused entity in the list, is in %s, want Sub (%s)", got, sub.Reference())
	}
	if got := at(web1).parent; got != root.Reference() {
		t.Errorf("after the refused move WebApp1 is in %s, want the VM folder (%s)", got, root.Reference())
	}
	err = run(root.MoveInto(ctx, []types.ManagedObjectReference{web3.Reference()}))
	refused("move WebApp3 (named WebApp1) into WebApp1's folder", err, "WebApp1", web1.Reference())

	// Relocate into a folder holding the name, with another pool: nothing
	// changes, neither the folder nor the pool nor the pools' lists.
	before := at(web1)
	pool, err := object.NewResourcePool(vc, before.pool).Create(ctx, "Elsewhere", types.DefaultResourceConfigSpec())
	if err != nil {
		t.Fatal(err)
	}
	members := func(ref types.ManagedObjectReference) []types.ManagedObjectReference {
		t.Helper()
		var rp mo.ResourcePool
		if err := object.NewResourcePool(vc, ref).Properties(ctx, ref, []string{"vm"}, &rp); err != nil {
			t.Fatal(err)
		}
		return rp.Vm
	}
	fromBefore, toBefore := members(before.pool), members(pool.Reference())
	subRef, poolRef := sub.Reference(), pool.Reference()
	err = run(web1.Relocate(ctx, types.VirtualMachineRelocateSpec{Folder: &subRef, Pool: &poolRef}, types.VirtualMachineMovePriorityDefaultPriority))
	refused("relocate WebApp1 into Sub", err, "WebApp1", web3.Reference())
	if got := at(web1); got != before {
		t.Errorf("after the refused relocate WebApp1 is %+v, was %+v", got, before)
	}
	if got := members(before.pool); !slices.Equal(got, fromBefore) {
		t.Errorf("after the refused relocate WebApp1's pool lists %v, it listed %v", got, fromBefore)
	}
	if got := members(poolRef); !slices.Equal(got, toBefore) {
		t.Errorf("after the refused relocate the other pool lists %v, it listed %v", got, toBefore)
	}

	// Clone into a folder holding the name.
	err = run(web1.Clone(ctx, sub, "WebApp2", types.VirtualMachineCloneSpec{Location: types.VirtualMachineRelocateSpec{Pool: &before.pool}}))
	refused("clone WebApp1 into Sub as WebApp2", err, "WebApp2", web2.Reference())

	// What no name blocks goes through: a relocate into a folder without
	// the name, a rename to a free one.
	if err := run(web1.Relocate(ctx, types.VirtualMachineRelocateSpec{Folder: &subRef}, types.VirtualMachineMovePriorityDefaultPriority)); err == nil {
		t.Fatal("relocate WebApp1 into Sub, which holds another WebApp1, succeeded")
	}
	if err := run(web3.Rename(ctx, "WebApp3")); err != nil {
		t.Fatalf("rename back to a free name: %v", err)
	}
	if err := run(web1.Relocate(ctx, types.VirtualMachineRelocateSpec{Folder: &subRef}, types.VirtualMachineMovePriorityDefaultPriority)); err != nil {
		t.Fatalf("relocate WebApp1 into Sub, where no other object has its name: %v", err)
	}
	if got := at(web1).parent; got != subRef {
		t.Errorf("after its relocate WebApp1 is in %s, want Sub (%s)", got, subRef)
	}
}

// TestCreateVMWithATakenNameFailsItsTask: CreateVM_Task with a name a VM
// of the folder holds returns a task, as vCenter does, and the task fails
// with DuplicateName naming the name and the VM that holds it, a fault
// message naming the folder; no second VM is made. The lab refused the
// call itself with a SOAP fault, which no real vCenter answers (a client
// that looked for the fault only in the task would have passed in the lab
// alone). Another folder takes the name.
func TestCreateVMWithATakenNameFailsItsTask(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	prov := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	f, dc, pool := providerPlace(t, prov)
	folders, err := dc.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root := folders.VmFolder
	spec := types.VirtualMachineConfigSpec{Name: "Taken", GuestId: "otherLinux64Guest", NumCPUs: 1, MemoryMB: 64,
		Files: &types.VirtualMachineFileInfo{VmPathName: "[provider-ds] "}}
	create := func(in *object.Folder) (types.ManagedObjectReference, error) {
		t.Helper()
		task, err := in.CreateVM(ctx, spec, pool, nil)
		if err != nil {
			t.Fatalf("CreateVM_Task %s in %s: the call was refused (%v); vCenter returns a task", spec.Name, in.Reference(), err)
		}
		info, err := task.WaitForResult(ctx)
		if err != nil {
			return types.ManagedObjectReference{}, err
		}
		return info.Result.(types.ManagedObjectReference), nil
	}
	first, err := create(root)
	if err != nil {
		t.Fatal(err)
	}
	_, err = create(root)
	var dup *types.DuplicateName
	if _, ok := fault.As(err, &dup); !ok {
		t.Fatalf("a second VM named Taken in the VM folder: %v, want its task failed with DuplicateName", err)
	}
	if dup.Name != "Taken" || dup.Object != first {
		t.Errorf("DuplicateName for %q held by %s, want %q held by %s", dup.Name, dup.Object, "Taken", first)
	}
	if msg := faultText(err); !strings.Contains(msg, "Taken") || !strings.Contains(msg, root.Reference().Value) {
		t.Errorf("the fault's message %q does not name the name and the folder (%s)", msg, root.Reference().Value)
	}
	vms, err := f.VirtualMachineList(ctx, "Taken")
	if err != nil || len(vms) != 1 {
		t.Errorf("VMs named Taken after the refused create: %v (%v), want the first alone", vms, err)
	}
	sub, err := root.CreateFolder(ctx, "Sub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := create(sub); err != nil {
		t.Errorf("a VM named Taken in another folder: %v", err)
	}
}

// TestFailedRelocateLeavesTheVMWhereItWas: a relocate into another folder
// and pool whose device change vCenter refuses (the VM has no device of
// that key) fails and leaves the VM in its folder and pool, the inventory
// as it was: vCenter's relocate is all or nothing. vcsim moved the VM
// into the new folder before it applied the device change, so the failed
// relocate left it there. The same relocate without the bad change moves
// it.
func TestFailedRelocateLeavesTheVMWhereItWas(t *testing.T) {
	ctx := context.Background()
	vc, f, dc := onpremFinder(t)
	vm, err := f.VirtualMachine(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := folders.VmFolder.CreateFolder(ctx, "Sub")
	if err != nil {
		t.Fatal(err)
	}
	where := func() (folder, pool types.ManagedObjectReference) {
		t.Helper()
		var o mo.VirtualMachine
		if err := vm.Properties(ctx, vm.Reference(), []string{"parent", "resourcePool"}, &o); err != nil || o.Parent == nil || o.ResourcePool == nil {
			t.Fatalf("WebApp1's folder and pool: %v", err)
		}
		return *o.Parent, *o.ResourcePool
	}
	folderBefore, poolBefore := where()
	pool, err := object.NewResourcePool(vc, poolBefore).Create(ctx, "Elsewhere", types.DefaultResourceConfigSpec())
	if err != nil {
		t.Fatal(err)
	}
	subRef, poolRef := sub.Reference(), pool.Reference()
	relocate := func(spec types.VirtualMachineRelocateSpec) error {
		task, err := vm.Relocate(ctx, spec, types.VirtualMachineMovePriorityDefaultPriority)
		if err == nil {
			err = task.Wait(ctx)
		}
		return err
	}
	err = relocate(types.VirtualMachineRelocateSpec{Folder: &subRef, Pool: &poolRef, DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit,
			Device: &types.VirtualE1000{VirtualEthernetCard: types.VirtualEthernetCard{VirtualDevice: types.VirtualDevice{Key: 987654}}}},
	}})
	if err == nil {
		t.Fatal("a relocate editing a device WebApp1 does not have succeeded")
	}
	if folder, pool := where(); folder != folderBefore || pool != poolBefore {
		t.Errorf("after the failed relocate WebApp1 is in folder %s and pool %s, want %s and %s as before", folder, pool, folderBefore, poolBefore)
	}
	var in mo.Folder
	if err := sub.Properties(ctx, subRef, []string{"childEntity"}, &in); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(in.ChildEntity, vm.Reference()) {
		t.Errorf("after the failed relocate folder Sub lists WebApp1")
	}
	if err := relocate(types.VirtualMachineRelocateSpec{Folder: &subRef, Pool: &poolRef}); err != nil {
		t.Fatalf("relocate WebApp1 into Sub and pool Elsewhere: %v", err)
	}
	if folder, pool := where(); folder != subRef || pool != poolRef {
		t.Errorf("after its relocate WebApp1 is in folder %s and pool %s, want Sub (%s) and Elsewhere (%s)", folder, pool, subRef, poolRef)
	}
}

// TestRefusedCreateVMOfATakenNameLeavesNoFiles: a CreateVM_Task refused
// for a name the folder holds (DuplicateName) leaves nothing on the
// datastore, as vCenter's refusal does: neither a folder, a configuration
// file nor the disk whose file the create would have named itself
// ("[datastore]" and fileOperation create). Checked by browsing the whole
// datastore before and after (HostDatastoreBrowser), so a file of any name
// vcsim would have picked (it names a second VM of a name "Taken (1)")
// shows.
func TestRefusedCreateVMOfATakenNameLeavesNoFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	prov := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	f, dc, pool := providerPlace(t, prov)
	pv := lab.ProviderSpec()
	ds, err := f.Datastore(ctx, pv.Datastore)
	if err != nil {
		t.Fatal(err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	create := func() error {
		t.Helper()
		var devices object.VirtualDeviceList
		scsi, err := devices.CreateSCSIController("pvscsi")
		if err != nil {
			t.Fatal(err)
		}
		scsi.GetVirtualDevice().Key = -100
		devices = append(devices, scsi)
		disk := devices.CreateDisk(scsi.(types.BaseVirtualController), ds.Reference(), "["+pv.Datastore+"]")
		disk.Key, disk.CapacityInKB = -200, 4<<10
		devices = append(devices, disk)
		changes, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range changes {
			if _, ok := ch.GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk); ok {
				ch.GetVirtualDeviceConfigSpec().FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
			}
		}
		task, err := folders.VmFolder.CreateVM(ctx, types.VirtualMachineConfigSpec{Name: "Taken", GuestId: "otherLinux64Guest", NumCPUs: 1, MemoryMB: 64,
			Files: &types.VirtualMachineFileInfo{VmPathName: "[" + pv.Datastore + "]"}, DeviceChange: changes}, pool, nil)
		if err != nil {
			t.Fatalf("CreateVM_Task: the call was refused (%v); vCenter returns a task", err)
		}
		return task.Wait(ctx)
	}
	if err := create(); err != nil {
		t.Fatal(err)
	}
	before := datastoreFiles(t, ds)
	if !slices.ContainsFunc(before, func(p string) bool { return strings.HasSuffix(p, ".vmdk") }) {
		t.Fatalf("the first VM's disk is not on the datastore: %v", before)
	}
	err = create()
	if !fault.Is(err, &types.DuplicateName{}) {
		t.Fatalf("a second VM named Taken in the VM folder: %v, want DuplicateName", err)
	}
	if after := datastoreFiles(t, ds); !slices.Equal(after, before) {
		t.Errorf("the datastore after the refused create:\n%v\nwant as before it:\n%v", after, before)
	}
}

// datastoreFiles lists every file and folder of ds (paths relative to
// its root, sorted), as the datastore browser finds them.
func datastoreFiles(t *testing.T, ds *object.Datastore) []string {
	t.Helper()
	ctx := context.Background()
	b, err := ds.Browser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	task, err := b.SearchDatastoreSubFolders(ctx, ds.Path(""), &types.HostDatastoreBrowserSearchSpec{MatchPattern: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range info.Result.(types.ArrayOfHostDatastoreBrowserSearchResults).HostDatastoreBrowserSearchResults {
		var dir object.DatastorePath
		dir.FromString(r.FolderPath)
		for _, f := range r.File {
			out = append(out, strings.TrimPrefix(path.Join(dir.Path, f.GetFileInfo().Path), "/"))
		}
	}
	slices.Sort(out)
	return out
}
