package vsphere_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vmdk"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

func TestShutdownAndVMOverExistingDisks(t *testing.T) {
	ctx := context.Background()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	onprem := connectTo(t, l, l.OnPrem)
	src, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	hard, err := onprem.Shutdown(ctx, src.Ref, 10*time.Second, false)
	if err != nil || hard != "" {
		t.Fatalf("shutdown: hard=%q err=%v", hard, err)
	}
	if st, _ := onprem.PowerState(ctx, src.Ref); st != vsphere.PoweredOff {
		t.Fatalf("after shutdown: %s", st)
	}

	// A replica on the provider datastore, made by the provider vCenter (as
	// ESXi on VMFS: the lab refuses a descriptor vCenter did not write),
	// holding bytes the receiver would have written.
	provider, err := vsphere.Connect(ctx, vsphere.Config{URL: l.Provider.URL, Username: l.Provider.Username, Password: l.Provider.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	pdc, err := provider.Finder().Datacenter(ctx, "Provider-DC")
	if err != nil {
		t.Fatal(err)
	}
	if err := object.NewFileManager(provider.Client.Client).MakeDirectory(ctx, "[provider-ds] WebApp2", pdc, true); err != nil {
		t.Fatal(err)
	}
	task, err := object.NewVirtualDiskManager(provider.Client.Client).CreateVirtualDisk(ctx, "[provider-ds] WebApp2/WebApp2.vmdk", pdc,
		&types.FileBackedVirtualDiskSpec{VirtualDiskSpec: types.VirtualDiskSpec{DiskType: string(types.VirtualDiskTypeThin), AdapterType: string(types.VirtualDiskAdapterTypeLsiLogic)}, CapacityKb: (16 << 20) / 1024})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(l.Provider.DatastoreDir, "WebApp2")
	fd, err := os.Open(filepath.Join(dir, "WebApp2.vmdk"))
	if err != nil {
		t.Fatal(err)
	}
	desc, err := vmdk.ParseDescriptor(fd)
	fd.Close()
	if err != nil || len(desc.Extent) != 1 {
		t.Fatalf("descriptor the provider vCenter wrote: %v %+v", err, desc)
	}
	data := []byte("replica bytes")
	flat := filepath.Join(dir, desc.Extent[0].Info)
	f, err := os.OpenFile(flat, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()

	ref, err := provider.CreateVMOverDisks(ctx, vsphere.VMOverDisks{
		Name: "WebApp2", Datacenter: "Provider-DC", Pool: "Company-VDC", Datastore: "provider-ds",
		Network: "vcd-company-network", MAC: src.MACs[0],
		Disks: []vsphere.DiskFile{{Path: "[provider-ds] WebApp2/WebApp2.vmdk", Capacity: 16 << 20}},
	})
	if err != nil {
		t.Fatal(err)
	}
	vm, err := provider.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	if vm.Ref != ref || len(vm.Disks) != 1 || vm.Disks[0].File != "[provider-ds] WebApp2/WebApp2.vmdk" || vm.MACs[0] != src.MACs[0] {
		t.Fatalf("VM over replica: %+v", vm)
	}
	got, _ := os.ReadFile(flat)
	if len(got) != 16<<20 || string(got[:len(data)]) != string(data) {
		t.Fatalf("creating the VM changed the replica: %d bytes, starts %q", len(got), got[:len(data)])
	}
	if err := provider.DestroyKeepDisks(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(flat); err != nil {
		t.Errorf("replica gone after DestroyKeepDisks: %v", err)
	}
	if _, ok, _ := provider.FindVM(ctx, "WebApp2"); ok {
		t.Error("VM still exists")
	}
}

// TestTaskWaitEndedByContextIsAnError (CI: ferry panicked on a nil task
// result when SIGHUP ended a replication pass's snapshot wait; govmomi's
// Task.WaitForResult returns no info and no error when the context is
// cancelled while it waits): a power-on whose wait is cancelled is an
// error naming the cancellation, not a success.
func TestTaskWaitEndedByContextIsAnError(t *testing.T) {
	c := vcsimClient(t)
	ctx := context.Background()
	vms, err := c.VMs(ctx)
	if err != nil || len(vms) == 0 {
		t.Fatalf("vcsim VMs: %v %v", vms, err)
	}
	ref := vms[0].Ref
	if err := c.PowerOff(ctx, ref); err != nil {
		t.Fatal(err)
	}
	// The power-on task runs for 2 s; the wait is cancelled after 200 ms.
	simulator.TaskDelay.MethodDelay = map[string]int{"PowerOn": 2000, "LockHandoff": 0} // the task's Info.Name
	defer func() { simulator.TaskDelay.MethodDelay = nil }()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	if err := c.EnsurePoweredOn(cctx, ref); !errors.Is(err, context.Canceled) {
		t.Errorf("power on whose wait was cancelled: %v, want the cancellation", err)
	}
}

// TestCreateVMOverDisksNameTaken: vCenter refuses a second VM of a name in
// a folder, failing CreateVM_Task's task with DuplicateName (its message,
// "The name 'x' already exists.", names neither the folder nor the VM
// holding the name). ferry says which folder holds the name, what holds
// it and what to do; the fault is still there for a caller to match.
func TestCreateVMOverDisksNameTaken(t *testing.T) {
	ctx := context.Background()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	provider := connectTo(t, l, l.Provider)
	spec := vsphere.VMOverDisks{Name: "Legacy", Datacenter: "Provider-DC", Pool: "Company-VDC", Datastore: "provider-ds", Network: "vcd-company-network"}
	first, err := provider.CreateVMOverDisks(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	_, err = provider.CreateVMOverDisks(ctx, spec)
	want := "create VM Legacy: the VM folder of datacenter Provider-DC holds an object named Legacy already (VirtualMachine " + first.Value + "), and vCenter makes no second of a name in a folder: rename or remove that one"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a second VM named Legacy: %v\nwant it refused with %q", err, want)
	}
	var dup *types.DuplicateName
	if _, ok := fault.As(err, &dup); !ok || dup.Object != first.Reference() {
		t.Errorf("the refusal's fault: %v, want DuplicateName held by %s", dup, first.Value)
	}
}
