package lab_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// OVF import leases behave as vCenter's: while one is held the VM it
// imports cannot be powered on nor destroyed; a lease aborted, from
// another session too (a ferry started after one killed mid-upload), or
// timed out without HttpNfcLeaseProgress, fails the import and the VM is
// removed; a lease kept alive past its timeout and completed leaves a VM
// that powers on.
func TestImportLeasesAsVCenters(t *testing.T) {
	t.Parallel()
	const timeout = 1500 * time.Millisecond
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, ImportLeaseTimeout: timeout})
	ctx := context.Background()
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	other := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)

	finder := find.NewFinder(c.Client.Client, false)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	finder.SetDatacenter(dc)
	pool, err := finder.DefaultResourcePool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := finder.Datastore(ctx, l.OnPrem.Spec.Datastore)
	if err != nil {
		t.Fatal(err)
	}
	start := func(name string) (*nfc.Lease, *nfc.LeaseInfo) {
		t.Helper()
		spec := &types.VirtualMachineImportSpec{ConfigSpec: types.VirtualMachineConfigSpec{
			Name: name, GuestId: "otherGuest64", NumCPUs: 1, MemoryMB: 64,
			Files: &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s]", ds.Name())},
		}}
		lease, err := pool.ImportVApp(ctx, spec, folders.VmFolder, nil)
		if err != nil {
			t.Fatal(err)
		}
		info, err := lease.Wait(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return lease, info
	}
	exists := func(name string) bool {
		t.Helper()
		_, err := c.VMByName(ctx, name)
		return err == nil
	}
	// importTask is the running import task (ResourcePool.ImportVAppLRO)
	// in the recentTask of VM vm, as a client reads it.
	importTask := func(vm types.ManagedObjectReference) types.ManagedObjectReference {
		t.Helper()
		var v mo.VirtualMachine
		pc := property.DefaultCollector(c.Client.Client)
		if err := pc.RetrieveOne(ctx, vm, []string{"recentTask"}, &v); err != nil {
			t.Fatal(err)
		}
		var tasks []mo.Task
		if len(v.RecentTask) > 0 {
			if err := pc.Retrieve(ctx, v.RecentTask, []string{"info"}, &tasks); err != nil {
				t.Fatal(err)
			}
		}
		for _, task := range tasks {
			if task.Info.DescriptionId == "ResourcePool.ImportVAppLRO" && task.Info.State == types.TaskInfoStateRunning {
				return task.Self
			}
		}
		t.Fatalf("VM %s, whose import lease is held, lists no running import task (ResourcePool.ImportVAppLRO) in its recentTask (tasks: %v)", vm.Value, v.RecentTask)
		return types.ManagedObjectReference{}
	}
	taskInfo := func(ref types.ManagedObjectReference) types.TaskInfo {
		t.Helper()
		var task mo.Task
		if err := property.DefaultCollector(c.Client.Client).RetrieveOne(ctx, ref, []string{"info"}, &task); err != nil {
			t.Fatal(err)
		}
		return task.Info
	}
	gone := func(name string, within time.Duration) bool {
		t.Helper()
		for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if !exists(name) {
				return true
			}
		}
		return false
	}

	// Held: the VM is there, and neither powers on nor is destroyed; its
	// import's task runs, and shows the lease's progress.
	lease, info := start("importing")
	vm := object.NewVirtualMachine(c.Client.Client, info.Entity)
	task := importTask(info.Entity)
	if err := lease.Progress(ctx, 40); err != nil {
		t.Fatal(err)
	}
	if ti := taskInfo(task); ti.State != types.TaskInfoStateRunning || ti.Progress != 40 {
		t.Errorf("the import task of a held lease, after HttpNfcLeaseProgress(40): %s, progress %d; want running, 40", ti.State, ti.Progress)
	}
	if !exists("importing") {
		t.Fatal("the VM an import lease covers is not in the inventory")
	}
	if task, err := vm.PowerOn(ctx); err == nil {
		if err = task.Wait(ctx); err == nil {
			t.Error("a VM whose import lease is held powered on")
		}
	}
	if task, err := vm.Destroy(ctx); err == nil {
		if err = task.Wait(ctx); err == nil {
			t.Error("a VM whose import lease is held was destroyed")
		}
	}
	// Aborted by another session: the import fails, the VM is removed.
	if err := nfc.NewLease(other.Client.Client, info.Lease).Abort(ctx, nil); err != nil {
		t.Fatalf("another session's abort of the lease: %v", err)
	}
	if !gone("importing", 10*time.Second) {
		t.Error("the VM of an aborted import is still in the inventory")
	}
	if ti := taskInfo(task); ti.State != types.TaskInfoStateError {
		t.Errorf("the import task of an aborted lease: %s; want error", ti.State)
	}

	// Not kept alive: it times out and the VM is removed.
	lease, info = start("abandoned")
	task = importTask(info.Entity)
	if !gone("abandoned", 10*timeout) {
		t.Error("the VM of an import whose lease timed out is still in the inventory")
	}
	if ti := taskInfo(task); ti.State != types.TaskInfoStateError || ti.Error == nil || !fault.Is(ti.Error.Fault, &types.Timedout{}) {
		t.Errorf("the import task of a lease that timed out: %s (%#v); want error, Timedout", ti.State, ti.Error)
	}
	if err := lease.Complete(ctx); err == nil {
		t.Error("a lease that timed out was completed")
	}

	// Kept alive past its timeout and completed: the VM stays and powers on.
	lease, info = start("imported")
	task = importTask(info.Entity)
	for end := time.Now().Add(2 * timeout); time.Now().Before(end); time.Sleep(timeout / 4) {
		if err := lease.Progress(ctx, 50); err != nil {
			t.Fatal(err)
		}
	}
	if err := lease.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	if !exists("imported") {
		t.Fatal("the VM of a completed import is gone")
	}
	if ti := taskInfo(task); ti.State != types.TaskInfoStateSuccess {
		t.Errorf("the import task of a completed lease: %s; want success", ti.State)
	}
	if err := c.EnsurePoweredOn(ctx, vsphere.Ref{Type: info.Entity.Type, Value: info.Entity.Value}); err != nil {
		t.Errorf("the VM of a completed import does not power on: %v", err)
	}
}
