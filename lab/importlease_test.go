package lab_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/object"
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
	gone := func(name string, within time.Duration) bool {
		t.Helper()
		for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if !exists(name) {
				return true
			}
		}
		return false
	}

	// Held: the VM is there, and neither powers on nor is destroyed.
	_, info := start("importing")
	vm := object.NewVirtualMachine(c.Client.Client, info.Entity)
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

	// Not kept alive: it times out and the VM is removed.
	lease, _ := start("abandoned")
	if !gone("abandoned", 10*timeout) {
		t.Error("the VM of an import whose lease timed out is still in the inventory")
	}
	if err := lease.Complete(ctx); err == nil {
		t.Error("a lease that timed out was completed")
	}

	// Kept alive past its timeout and completed: the VM stays and powers on.
	lease, info = start("imported")
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
	if err := c.EnsurePoweredOn(ctx, vsphere.Ref{Type: info.Entity.Type, Value: info.Entity.Value}); err != nil {
		t.Errorf("the VM of a completed import does not power on: %v", err)
	}
}
