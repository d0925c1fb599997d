package lab_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
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
	vc, vm := plainClient(t, l, "WebApp2")
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
	// vCenter accepts a task call and fails its task.
	refused, err := vm.CreateSnapshot(ctx, "s", "", false, false)
	if err != nil {
		t.Fatalf("a snapshot of a busy VM: the call failed (%v), want a task that fails TaskInProgress", err)
	}
	if err := refused.Wait(ctx); !fault.Is(err, &types.TaskInProgress{}) || !strings.Contains(fmt.Sprint(err), "Another task is already in progress") {
		t.Fatalf("the task of a snapshot of a busy VM: %v, want TaskInProgress (\"Another task is already in progress.\")", err)
	}
	var rt mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"recentTask"}, &rt); err != nil || !slices.Contains(rt.RecentTask, refused.Reference()) {
		t.Errorf("the VM's recent tasks %v (%v): want the refused snapshot's task %s among them", rt.RecentTask, err, refused.Reference().Value)
	}
	res, err := methods.RemoveSnapshot_Task(ctx, vc, &types.RemoveSnapshot_Task{This: *before, Consolidate: types.NewBool(true)})
	if err == nil {
		err = object.NewTask(vc, res.Returnval).Wait(ctx)
	}
	if !fault.Is(err, &types.TaskInProgress{}) {
		t.Errorf("removing a snapshot of a busy VM: %v, want TaskInProgress", err)
	}
	// Refused on the call instead (as a server may before it makes a task).
	l.OnPrem.RefuseOnTheCall(true)
	if _, err = vm.PowerOff(ctx); !fault.Is(err, &types.TaskInProgress{}) || !strings.Contains(fmt.Sprint(err), "Another task is already in progress") {
		t.Errorf("a power-off of a busy VM refused on the call: %v, want TaskInProgress (\"Another task is already in progress.\")", err)
	}
	l.OnPrem.RefuseOnTheCall(false)
	err = vm.ShutdownGuest(ctx)
	if !fault.Is(err, &types.TaskInProgress{}) || !strings.Contains(fmt.Sprint(err), "Another task is already in progress") {
		t.Errorf("a guest shutdown of a busy VM: %v, want TaskInProgress (\"Another task is already in progress.\")", err)
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
	res, err = methods.RemoveSnapshot_Task(ctx, vc, &types.RemoveSnapshot_Task{This: *before, Consolidate: types.NewBool(true)})
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

// TestSnapshotRemovalTakesItsTime: a snapshot's removal consolidates for a
// while on ESXi; meanwhile its task runs, the snapshot is still listed,
// and the VM is held (another snapshot is refused TaskInProgress). Once
// the removal ends the snapshot is gone.
func TestSnapshotRemovalTakesItsTime(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	vc, vm := plainClient(t, l, "WebApp2")
	task, err := vm.CreateSnapshot(ctx, "pass", "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	snap, err := vm.FindSnapshot(ctx, "pass")
	if err != nil {
		t.Fatal(err)
	}
	hold := l.OnPrem.HoldSnapshotRemovals()
	res, err := methods.RemoveSnapshot_Task(ctx, vc, &types.RemoveSnapshot_Task{This: *snap, Consolidate: types.NewBool(true)})
	if err != nil {
		t.Fatal(err)
	}
	removal := object.NewTask(vc, res.Returnval)
	var info mo.Task
	if err := removal.Properties(ctx, removal.Reference(), []string{"info"}, &info); err != nil {
		t.Fatal(err)
	}
	if info.Info.State != types.TaskInfoStateRunning || info.Info.Entity == nil || *info.Info.Entity != vm.Reference() {
		t.Fatalf("the removal's task: %s on %v, want running on the VM", info.Info.State, info.Info.Entity)
	}
	if _, err := vm.FindSnapshot(ctx, "pass"); err != nil {
		t.Errorf("the snapshot while its removal runs: %v, want still listed", err)
	}
	next, err := vm.CreateSnapshot(ctx, "next", "", false, false)
	if err == nil {
		err = next.Wait(ctx)
	}
	if !fault.Is(err, &types.TaskInProgress{}) {
		t.Errorf("a snapshot while another's removal runs: %v, want TaskInProgress", err)
	}
	hold.Release()
	if err := removal.Wait(ctx); err != nil {
		t.Fatalf("the removal once released: %v", err)
	}
	hold.Ended()
	if _, err := vm.FindSnapshot(ctx, "pass"); err == nil {
		t.Error("the snapshot is still listed after its removal ended")
	}
}

// plainClient logs in to the lab's on-prem vCenter with a plain govmomi
// client (ferry's, labtest.OnPrem, waits TaskInProgress out) and finds the
// VM named name.
func plainClient(t *testing.T, l *lab.Lab, name string) (*vim25.Client, *object.VirtualMachine) {
	t.Helper()
	ctx := context.Background()
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
	t.Cleanup(func() { c.Logout(context.Background()) })
	f := find.NewFinder(vc, true)
	dc, err := f.Datacenter(ctx, l.OnPrem.Spec.Datacenter)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := f.SetDatacenter(dc).VirtualMachine(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return vc, vm
}
