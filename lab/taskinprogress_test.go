package lab_test

import (
	"context"
	"testing"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestBusyVMRefusesTasks: while someone else's task runs on a VM (a
// backup job's snapshot), ESXi refuses another snapshot, reconfigure or
// power operation of it with TaskInProgress, and its properties stay
// readable; once the task ended, the same call goes through.
func TestBusyVMRefusesTasks(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	_, f := labtest.OnPrem(t, l)
	vm, err := f.VirtualMachine(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.OnPrem.BusyVM("WebApp2", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := vm.PowerState(ctx); err != nil {
		t.Errorf("reading a busy VM: %v", err)
	}
	_, err = vm.CreateSnapshot(ctx, "s", "", false, false)
	if !fault.Is(err, &types.TaskInProgress{}) {
		t.Fatalf("a snapshot of a busy VM: %v, want TaskInProgress", err)
	}
	time.Sleep(2500 * time.Millisecond)
	task, err := vm.CreateSnapshot(ctx, "s", "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Errorf("a snapshot once the other task ended: %v", err)
	}
}
