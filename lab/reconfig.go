package lab

import (
	"slices"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// reconfigure runs vcsim's ReconfigVM_Task on vm all or nothing, as
// vCenter does: a reconfigure it refuses leaves the VM as it was. vcsim
// edits a device by taking it out of the VM's device list in place (the
// list the VM shows) before it configures the new version, so a change it
// then refuses (an edited disk whose file is gone, say) left the VM without
// that device and with the last one listed twice. The wrapping task runs
// vcsim's with vm's lock held on the same context (vcsim's locks are
// shared by a context), and puts the device list and the disk count back
// when vcsim's fails.
func reconfigure(ctx *simulator.Context, vm *simulator.VirtualMachine, req *types.ReconfigVM_Task) soap.HasFault {
	task := simulator.CreateTask(vm, "reconfigVm", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		devices := slices.Clone(vm.Config.Hardware.Device)
		disks := vm.Summary.Config.NumVirtualDisks
		res := vm.ReconfigVMTask(ctx, req)
		if f := res.Fault(); f != nil {
			return nil, &types.SystemError{Reason: "reconfigure: " + f.String}
		}
		inner, ok := ctx.Map.Get(res.(*methods.ReconfigVM_TaskBody).Res.Returnval).(*simulator.Task)
		if !ok {
			return nil, &types.SystemError{Reason: "reconfigure: vcsim's task is gone"}
		}
		inner.Wait()
		if inner.Info.Error == nil {
			return inner.Info.Result, nil
		}
		ctx.Update(vm, []types.PropertyChange{
			{Name: "config.hardware.device", Val: devices},
			{Name: "summary.config.numVirtualDisks", Val: disks},
		})
		return nil, inner.Info.Error.Fault
	})
	return &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: task.Run(ctx)}}
}
