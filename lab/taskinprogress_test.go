package lab_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestBusyVMRefusesTasks: while someone else's task runs on a VM (a
// backup job's snapshot), ESXi refuses another snapshot, reconfigure or
// power operation of it with TaskInProgress, the removal of one of its
// snapshots and a guest shutdown too ("TaskInProgress: if the virtual
// machine is busy", API reference), and its properties stay readable;
// once the task ended, the same calls go through.
func TestBusyVMRefusesTasks(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	// A plain govmomi client: ferry's (labtest.OnPrem) waits TaskInProgress out.
	u, err := soap.ParseURL(l.OnPrem.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(l.OnPrem.Username, l.OnPrem.Password)
	sc := soap.NewClient(u, false)
	if err := sc.SetRootCAs(l.CAFile); err != nil {
		t.Fatal(err)
	}
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	c := &govmomi.Client{Client: vc, SessionManager: session.NewManager(vc)}
	if err := c.Login(ctx, u.User); err != nil {
		t.Fatal(err)
	}
	defer c.Logout(ctx)
	f := find.NewFinder(vc, true)
	dc, err := f.Datacenter(ctx, l.OnPrem.Spec.Datacenter)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := f.SetDatacenter(dc).VirtualMachine(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	// A snapshot taken before the other task began (an earlier pass's).
	task, err := vm.CreateSnapshot(ctx, "before", "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	before, err := vm.FindSnapshot(ctx, "before")
	if err != nil {
		t.Fatal(err)
	}
	end, err := l.OnPrem.BusyVM("WebApp2", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vm.PowerState(ctx); err != nil {
		t.Errorf("reading a busy VM: %v", err)
	}
	_, err = vm.CreateSnapshot(ctx, "s", "", false, false)
	if !fault.Is(err, &types.TaskInProgress{}) {
		t.Fatalf("a snapshot of a busy VM: %v, want TaskInProgress", err)
	}
	_, err = methods.RemoveSnapshot_Task(ctx, vc, &types.RemoveSnapshot_Task{This: *before, Consolidate: types.NewBool(true)})
	if !fault.Is(err, &types.TaskInProgress{}) {
		t.Errorf("removing a snapshot of a busy VM: %v, want TaskInProgress", err)
	}
	err = vm.ShutdownGuest(ctx)
	if !fault.Is(err, &types.TaskInProgress{}) {
		t.Errorf("a guest shutdown of a busy VM: %v, want TaskInProgress", err)
	}
	if st, err := vm.PowerState(ctx); err != nil || st != types.VirtualMachinePowerStatePoweredOn {
		t.Errorf("a busy VM refused its guest shutdown: it reads %s (%v), want still poweredOn", st, err)
	}
	end()
	task, err = vm.CreateSnapshot(ctx, "s", "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Errorf("a snapshot once the other task ended: %v", err)
	}
	res, err := methods.RemoveSnapshot_Task(ctx, vc, &types.RemoveSnapshot_Task{This: *before, Consolidate: types.NewBool(true)})
	if err == nil {
		err = object.NewTask(vc, res.Returnval).Wait(ctx)
	}
	if err != nil {
		t.Errorf("removing a snapshot once the other task ended: %v", err)
	}
	if err := vm.ShutdownGuest(ctx); err != nil {
		t.Errorf("a guest shutdown once the other task ended: %v", err)
	}
}
