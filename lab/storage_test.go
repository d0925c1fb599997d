package lab_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestStorageAsVCenterReports: a datastore's free space is its capacity
// less what its files take, and shrinks as a thin disk is written, in
// VMFS's 1 MiB file blocks (stock vcsim: 1 TiB per host, all free,
// always); a VM's storage layout lists a thin disk's extent at the 1 MiB
// blocks it takes, not at its capacity.
func TestStorageAsVCenterReports(t *testing.T) {
	t.Parallel()
	const capacity = 512 << 20
	l := labtest.Start(t, lab.Options{DiskSize: 64 << 20, WorkloadRate: -1, ProviderDatastoreCapacity: capacity})
	ctx := context.Background()

	prov := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	dc, err := prov.Finder().Datacenter(ctx, "Provider-DC")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := prov.Finder().SetDatacenter(dc).Datastore(ctx, "provider-ds")
	if err != nil {
		t.Fatal(err)
	}
	space := func() (capacity, free int64) {
		t.Helper()
		if _, err := methods.RefreshDatastore(ctx, prov.Client.Client, &types.RefreshDatastore{This: ds.Reference()}); err != nil {
			t.Fatal(err)
		}
		var m mo.Datastore
		if err := property.DefaultCollector(prov.Client.Client).RetrieveOne(ctx, ds.Reference(), []string{"summary"}, &m); err != nil {
			t.Fatal(err)
		}
		return m.Summary.Capacity, m.Summary.FreeSpace
	}
	gotCap, free := space()
	if gotCap != capacity || free <= 0 || free >= capacity {
		t.Fatalf("provider-ds: capacity %d, free %d: want %d, less its files", gotCap, free, capacity)
	}
	// A thin disk takes next to nothing until it is written.
	name := "[provider-ds] space-test/space.vmdk"
	if err := object.NewFileManager(prov.Client.Client).MakeDirectory(ctx, "[provider-ds] space-test", dc, true); err != nil {
		t.Fatal(err)
	}
	task, err := object.NewVirtualDiskManager(prov.Client.Client).CreateVirtualDisk(ctx, name, dc, &types.FileBackedVirtualDiskSpec{
		VirtualDiskSpec: types.VirtualDiskSpec{DiskType: string(types.VirtualDiskTypeThin), AdapterType: string(types.VirtualDiskAdapterTypeLsiLogic)},
		CapacityKb:      128 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	_, afterCreate := space()
	if free-afterCreate > 1<<20 {
		t.Errorf("a new thin 128 MiB disk took %d bytes of free space, want next to none", free-afterCreate)
	}
	// Written (as the appliance writes its hot-added disk), it takes what
	// was written.
	flat := l.Provider.DatastoreDir + "/space-test/space-flat.vmdk"
	f, err := os.OpenFile(flat, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for i := range 32 {
		if _, err := f.WriteAt(buf, int64(i)<<20); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	_, afterWrite := space()
	if took := afterCreate - afterWrite; took < 32<<20 || took > 33<<20 {
		t.Errorf("writing 32 MiB into the thin disk took %d bytes of free space, want 32 MiB", took)
	}
	// 4 KiB into each of 8 blocks that held nothing: VMFS allocates a
	// whole 1 MiB file block for each, 8 MiB (not 32 KiB).
	f, err = os.OpenFile(flat, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if _, err := f.WriteAt(buf[:4<<10], int64(40+3*i)<<20+300<<10); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	_, afterScattered := space()
	if took := afterWrite - afterScattered; took != 8<<20 {
		t.Errorf("4 KiB written into each of 8 empty 1 MiB blocks took %d bytes of free space, want 8 MiB (VMFS's 1 MiB file blocks)", took)
	}

	// On-prem: WebApp1's thin disk extent at what it takes.
	onprem := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	odc, err := onprem.Finder().Datacenter(ctx, l.OnPrem.Spec.Datacenter)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := onprem.Finder().SetDatacenter(odc).VirtualMachine(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.RefreshStorageInfo(ctx); err != nil {
		t.Fatal(err)
	}
	var mvm mo.VirtualMachine
	if err := property.DefaultCollector(onprem.Client.Client).RetrieveOne(ctx, vm.Reference(), []string{"layoutEx"}, &mvm); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(l.OnPrem.FlatFile("WebApp1"), &st); err != nil {
		t.Fatal(err)
	}
	var extents []int64
	for _, f := range mvm.LayoutEx.File {
		if f.Type == string(types.VirtualMachineFileLayoutExFileTypeDiskExtent) {
			extents = append(extents, f.Size)
		}
	}
	// In whole 1 MiB blocks, as VMFS allocates a thin disk.
	if len(extents) != 1 || extents[0]%(1<<20) != 0 || extents[0] < st.Blocks*512 || extents[0] >= 64<<20 {
		t.Errorf("WebApp1's disk extents in its layout %v: want one, of the 1 MiB blocks that hold the %d bytes its flat file takes (less than its 64 MiB capacity)", extents, st.Blocks*512)
	}
}

// TestPowerOnNeedsRoomForItsSwap: a provider VM powered on takes a swap
// file of its unreserved memory on its datastore, and does not power on
// without room for it (stock vcsim: any VM powers on anywhere); powered
// off, it gives the room back.
func TestPowerOnNeedsRoomForItsSwap(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	prov := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	f, dc, pool := providerPlace(t, prov)
	ds, err := f.Datastore(ctx, "provider-ds")
	if err != nil {
		t.Fatal(err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := folders.VmFolder.CreateVM(ctx, types.VirtualMachineConfigSpec{Name: "swaptest", GuestId: "otherLinux64Guest", NumCPUs: 1, MemoryMB: 1024,
		Files: &types.VirtualMachineFileInfo{VmPathName: "[provider-ds] swaptest"}}, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ct.WaitForResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vm := object.NewVirtualMachine(prov.Client.Client, info.Result.(types.ManagedObjectReference))
	free := func() int64 { return freeSpace(t, prov, ds) }
	before := free()
	l.Provider.SetDatastoreCapacity(lab.DefaultDatastoreCapacity - before + 512<<20) // 512 MiB free
	refusedForSwap(t, vm, "power-on of a 1 GiB VM with 512 MiB free")
	l.Provider.SetDatastoreCapacity(lab.DefaultDatastoreCapacity)
	if err := power(vm.PowerOn); err != nil {
		t.Fatal(err)
	}
	if got := free(); got != before-1<<30 {
		t.Errorf("free space with the VM on: %d, want %d (its 1 GiB swap file)", got, before-1<<30)
	}
	if err := power(vm.PowerOff); err != nil {
		t.Fatal(err)
	}
	if got := free(); got != before {
		t.Errorf("free space with the VM off again: %d, want %d", got, before)
	}
}

// TestOnPremPowerOnNeedsRoomForItsSwap: on-prem too, the VMs that run when
// the lab starts hold their swap files, and a VM powered off (a source shut
// down by a cutover, the L2 appliance ferry deploys) does not power on
// again without room for its swap (stock vcsim, and the lab before: the
// on-prem VMs powered on anywhere).
func TestOnPremPowerOnNeedsRoomForItsSwap(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	f := c.Finder()
	dc, err := f.Datacenter(ctx, "OnPrem-DC")
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	ds, err := f.Datastore(ctx, "onprem-ds")
	if err != nil {
		t.Fatal(err)
	}
	vm, err := f.VirtualMachine(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	running := freeSpace(t, c, ds)
	if err := power(vm.PowerOff); err != nil {
		t.Fatal(err)
	}
	off := freeSpace(t, c, ds)
	if off != running+1<<30 {
		t.Fatalf("free space of onprem-ds with WebApp1 (1 GiB of memory) running: %d, off: %d; want its swap file counted while it runs", running, off)
	}
	l.OnPrem.SetDatastoreCapacity(lab.DefaultDatastoreCapacity - off + 512<<20) // 512 MiB free
	refusedForSwap(t, vm, "on-prem power-on of a 1 GiB VM with 512 MiB free")
	l.OnPrem.SetDatastoreCapacity(lab.DefaultDatastoreCapacity)
	if err := power(vm.PowerOn); err != nil {
		t.Fatal(err)
	}
	if got := freeSpace(t, c, ds); got != running {
		t.Errorf("free space with WebApp1 on again: %d, want %d", got, running)
	}
}

// freeSpace is ds's free space after a RefreshDatastore.
func freeSpace(t *testing.T, c *vsphere.Client, ds *object.Datastore) int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := methods.RefreshDatastore(ctx, c.Client.Client, &types.RefreshDatastore{This: ds.Reference()}); err != nil {
		t.Fatal(err)
	}
	var m mo.Datastore
	if err := property.DefaultCollector(c.Client.Client).RetrieveOne(ctx, ds.Reference(), []string{"summary"}, &m); err != nil {
		t.Fatal(err)
	}
	return m.Summary.FreeSpace
}

// power runs a power operation's task to its end.
func power(f func(context.Context) (*object.Task, error)) error {
	pt, err := f(context.Background())
	if err == nil {
		err = pt.Wait(context.Background())
	}
	return err
}

// refusedForSwap powers vm on and wants the task refused for want of room
// for its swap file.
func refusedForSwap(t *testing.T, vm *object.VirtualMachine, what string) {
	t.Helper()
	err := power(vm.PowerOn)
	var te task.Error
	if !errors.As(err, &te) {
		t.Fatalf("%s: %v, want a refusal for its swap file", what, err)
	}
	if f, ok := te.Fault().(*types.GenericVmConfigFault); !ok || !strings.Contains(f.Reason, "swap file") {
		t.Fatalf("%s: %#v, want a refusal for its swap file", what, te.Fault())
	}
}
