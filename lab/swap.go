package lab

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/ferry-migrate/ferry/lab/simwrap"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// A powered-on VM takes a swap file (.vswp) for its memory beyond its
// reservation, made in its directory when it powers on and removed when
// it powers off (vSphere Resource Management: swap space is reserved for
// any unreserved virtual machine memory); without room for it the VM does
// not start (Broadcom KB 318856, "Virtual machine startup failure": the
// .vswp file cannot be created). The lab keeps no swap files: both its
// vCenters count the swap of their powered-on VMs as taken on their
// datastores (on-prem, the VMs that run when the lab starts hold theirs
// from the start), and refuse a power-on without room for it: at the
// provider the target VMs and the receiver appliance, on-prem the L2
// appliance ferry deploys and a source powered on again by a rollback.

// swaps keeps the swap of a vCenter's powered-on VMs, by VM: a registry
// handler that follows their power state.
type swaps struct {
	reg *simulator.Registry

	mu   sync.Mutex
	byVM map[types.ManagedObjectReference]swapFile
}

type swapFile struct {
	dir   string // the VM's datastore's directory
	bytes int64
}

// installSwaps makes vc count its powered-on VMs' swap on their datastores
// (storage.used) and refuse a power-on without room for it (esxVM).
func installSwaps(vc *VCenter) {
	reg := vc.Model.Map()
	w := &swaps{reg: reg, byVM: map[types.ManagedObjectReference]swapFile{}}
	ctx := &simulator.Context{Context: context.Background(), Map: reg,
		Session: &simulator.Session{UserSession: types.UserSession{Key: "lab-swaps", UserName: "vpxd"}, Registry: simulator.NewRegistry(), Map: reg}}
	reg.AddHandler(w)
	for _, o := range reg.All("VirtualMachine") {
		vm, ok := o.(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		reg.WithLock(ctx, vm, func() {
			if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
				w.mu.Lock()
				w.byVM[vm.Self] = swapFile{dir: w.dirOf(&vm.VirtualMachine), bytes: swapBytes(&vm.VirtualMachine)}
				w.mu.Unlock()
			}
		})
	}
	vc.storage.swaps.Store(w)
	vc.storage.refresh() // the datastores' free space counts the swap now
}

// refuseSwaplessPowerOn makes vc's VMs fail to power on without room for
// their swap file, as ESXi does (the provider's VMs do it in esxVM).
func refuseSwaplessPowerOn(vc *VCenter) {
	simwrap.Wrap(vc.Model.Map(), "VirtualMachine", []string{"PowerOnVM_Task"}, func(ctx *simulator.Context, obj mo.Reference) mo.Reference {
		if vm, ok := obj.(*simulator.VirtualMachine); ok {
			return &swapVM{VirtualMachine: vm, s: vc.storage, OwnEntity: simwrap.Entity(ctx, vm)}
		}
		return nil
	})
}

type swapVM struct {
	*simulator.VirtualMachine
	s *storage
	simwrap.OwnEntity
}

func (vm *swapVM) PowerOnVMTask(ctx *simulator.Context, req *types.PowerOnVM_Task) soap.HasFault {
	if f := vm.s.roomToPowerOn(vm.VirtualMachine); f != nil {
		return &methods.PowerOnVM_TaskBody{Res: &types.PowerOnVM_TaskResponse{Returnval: failedTask(vm.VirtualMachine, "powerOnVm", f).Run(ctx)}}
	}
	return vm.VirtualMachine.PowerOnVMTask(ctx, req)
}

// Reference implements simulator.RegisterObject.
func (w *swaps) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "FerryLabSwaps", Value: "swaps"}
}

func (w *swaps) PutObject(*simulator.Context, mo.Reference) {}

func (w *swaps) RemoveObject(_ *simulator.Context, ref types.ManagedObjectReference) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.byVM, ref)
}

// UpdateObject is called with the VM's lock held.
func (w *swaps) UpdateObject(_ *simulator.Context, obj mo.Reference, changes []types.PropertyChange) {
	vm, ok := obj.(*mo.VirtualMachine)
	if !ok {
		return
	}
	for _, ch := range changes {
		if ch.Name != "runtime.powerState" {
			continue
		}
		on := ch.Val == types.VirtualMachinePowerStatePoweredOn
		f := swapFile{dir: w.dirOf(vm), bytes: swapBytes(vm)}
		w.mu.Lock()
		if on {
			w.byVM[vm.Self] = f
		} else {
			delete(w.byVM, vm.Self)
		}
		w.mu.Unlock()
	}
}

// dirOf is the directory of the datastore holding vm's files ("" when it
// has none).
func (w *swaps) dirOf(vm *mo.VirtualMachine) string {
	if vm.Config == nil {
		return ""
	}
	name := "" // the datastore of its .vmx, where the swap file goes
	if s := vm.Config.Files.VmPathName; strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "]"); i > 0 {
			name = s[1:i]
		}
	}
	for _, ref := range vm.Datastore {
		// A datastore's name and directory do not change once made.
		if ds, ok := w.reg.Get(ref).(*simulator.Datastore); ok && (name == "" || ds.Name == name) {
			return ds.Info.GetDatastoreInfo().Url
		}
	}
	return ""
}

// swapBytes is the swap file vm takes while powered on: its memory beyond
// its reservation.
func swapBytes(vm *mo.VirtualMachine) int64 {
	if vm.Config == nil {
		return 0
	}
	mem := int64(vm.Config.Hardware.MemoryMB)
	if a := vm.Config.MemoryAllocation; a != nil && a.Reservation != nil {
		mem -= *a.Reservation
	}
	return max(mem, 0) << 20
}

// in is the swap of the powered-on VMs under dir.
func (w *swaps) in(dir string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n int64
	for _, f := range w.byVM {
		if f.dir == dir {
			n += f.bytes
		}
	}
	return n
}

// roomToPowerOn refuses (a fault for the power-on task) to power on vm
// when its datastore has no room for its swap file; nil when it has.
func (s *storage) roomToPowerOn(vm *simulator.VirtualMachine) types.BaseMethodFault {
	w := s.swaps.Load()
	if w == nil || vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
		return nil
	}
	need := swapBytes(&vm.VirtualMachine)
	dir := w.dirOf(&vm.VirtualMachine)
	if need == 0 || dir == "" {
		return nil
	}
	if free := s.capacity.Load() - s.used(dir); free < need {
		return &types.GenericVmConfigFault{VmConfigFault: types.VmConfigFault{VimFault: types.VimFault{MethodFault: types.MethodFault{
			FaultMessage: []types.LocalizableMessage{{Key: "msg.swap.extend.fail", Message: fmt.Sprintf("Failed to extend swap file from 0 KB to %d KB.", need>>10)}}}}},
			Reason: fmt.Sprintf("Could not power on virtual machine: No space left on device for the swap file of %s (its datastore has %d bytes free)", vm.Name, max(free, 0))}
	}
	return nil
}
