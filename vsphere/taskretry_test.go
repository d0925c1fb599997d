package vsphere_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestTaskWaitsForAnotherTaskOnTheVM: a backup job's snapshot task runs on
// the VM when ferry powers it off (the cutover's hard power-off, a
// rollback's). vCenter refuses the power-off TaskInProgress ("Another task
// is already in progress."), having done nothing: most often with a task
// that fails at once, or on the call itself. Either way ferry waits for the
// other task and powers the VM off, instead of failing the cutover (or, in
// a pass, its snapshot).
func TestTaskWaitsForAnotherTaskOnTheVM(t *testing.T) {
	t.Parallel()
	for _, form := range []struct {
		name      string
		onTheCall bool
	}{{"a task that fails", false}, {"the call refused", true}} {
		t.Run(form.name, func(t *testing.T) {
			t.Parallel()
			l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
			l.OnPrem.RefuseOnTheCall(form.onTheCall)
			ctx := context.Background()
			c := connectTo(t, l, l.OnPrem)
			vm, err := c.VMByName(ctx, "WebApp2")
			if err != nil {
				t.Fatal(err)
			}
			busyUntilRefused(t, l, "WebApp2")
			var notices []string
			nctx := vsphere.WithBusyNotice(ctx, func(msg string) { notices = append(notices, msg) })
			if err := c.PowerOff(nctx, vm.Ref); err != nil {
				t.Fatalf("a power-off while another task held the VM: %v", err)
			}
			// The wait is said, once, naming the task to look for.
			if len(notices) != 1 || !strings.Contains(notices[0], "another task (task-busy-") || !strings.Contains(notices[0], "ferry waits for it to end") {
				t.Errorf("notices of the wait: %q, want one naming the other task", notices)
			}
			if st, _ := c.PowerState(ctx, vm.Ref); st != vsphere.PoweredOff {
				t.Errorf("after the power-off WebApp2 is %s", st)
			}
			if n := l.OnPrem.TasksRefused(); n == 0 {
				t.Error("vCenter refused no call: the VM was not busy when ferry asked")
			}
		})
	}
}

// busyUntilRefused runs a backup job's task on the VM named name, which
// ends once vCenter refused one of ferry's calls of it.
func busyUntilRefused(t *testing.T, l *lab.Lab, name string) {
	t.Helper()
	end, err := l.OnPrem.BusyVM(name, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for l.OnPrem.TasksRefused() == 0 {
			time.Sleep(50 * time.Millisecond)
		}
		end()
	}()
}

// TestShutdownWaitsForAnotherTaskOnTheVM: the cutover asks the source's
// guest to shut down while another task holds the VM (a backup job's
// snapshot, the removal of a pass's snapshot still consolidating). vCenter
// refuses ShutdownGuest TaskInProgress ("if the virtual machine is busy"),
// having done nothing: ferry waits for the other task and asks again, and
// the guest shuts down cleanly, instead of the VM being powered off hard
// at once (hard power-off allowed) or the cutover failing.
func TestShutdownWaitsForAnotherTaskOnTheVM(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	c := connectTo(t, l, l.OnPrem)
	vm, err := c.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	busyUntilRefused(t, l, "WebApp2")
	hard, err := c.Shutdown(ctx, vm.Ref, 30*time.Second, true)
	if err != nil {
		t.Fatalf("shutdown while another task held the VM: %v", err)
	}
	if hard != "" {
		t.Errorf("the VM was powered off hard (%s): its guest was not asked again once the other task ended", hard)
	}
	if st, _ := c.PowerState(ctx, vm.Ref); st != vsphere.PoweredOff {
		t.Errorf("after the shutdown WebApp2 is %s", st)
	}
	if n := l.OnPrem.TasksRefused(); n == 0 {
		t.Error("vCenter refused no call: the VM was not busy when ferry asked")
	}
}

// TestShutdownWithoutToolsSaysWhy: without VMware Tools running, vCenter
// refuses to ask the guest to shut down (ToolsUnavailable); with hard
// power-off allowed the VM is powered off at once, and Shutdown says so,
// not that the guest "did not stop in time" (it was never asked).
func TestShutdownWithoutToolsSaysWhy(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	c := connectTo(t, l, l.OnPrem)
	vm, err := c.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	o := object.NewVirtualMachine(c.Client.Client, vm.Ref.Reference())
	task, err := o.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
		&types.OptionValue{Key: "SET.guest.toolsRunningStatus", Value: string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)}}})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	hard, err := c.Shutdown(ctx, vm.Ref, 30*time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hard, "could not be asked") || !strings.Contains(hard, "VMware Tools is not running") || strings.Contains(hard, "in time") {
		t.Errorf("powered off hard because %q, want that its guest could not be asked (VMware Tools not running)", hard)
	}
	if st, _ := c.PowerState(ctx, vm.Ref); st != vsphere.PoweredOff {
		t.Errorf("after the shutdown WebApp2 is %s", st)
	}
	// Without hard power-off the shutdown fails, naming the VM and why,
	// and the VM runs on.
	web3, err := c.VMByName(ctx, "WebApp3")
	if err != nil {
		t.Fatal(err)
	}
	o3 := object.NewVirtualMachine(c.Client.Client, web3.Ref.Reference())
	task, err = o3.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
		&types.OptionValue{Key: "SET.guest.toolsRunningStatus", Value: string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)}}})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Shutdown(ctx, web3.Ref, 30*time.Second, false); err == nil || !strings.Contains(err.Error(), "WebApp3") || !strings.Contains(err.Error(), "VMware Tools is not running") {
		t.Errorf("shutdown of WebApp3 without VMware Tools nor hard power-off: %v", err)
	}
	if st, _ := c.PowerState(ctx, web3.Ref); st != vsphere.PoweredOn {
		t.Errorf("after a refused shutdown WebApp3 is %s, want still on", st)
	}
}
