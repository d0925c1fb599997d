package lab

import (
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/simwrap"
)

// guestShutdown makes a vCenter's ShutdownGuest behave as vSphere's does:
// the call asks VMware Tools in the guest to shut the OS down and returns at
// once; the VM powers off when the guest OS has finished, after delay (stock
// vcsim powers it off at once). Without VMware Tools running the call fails
// with ToolsUnavailable, as vSphere's does (stock vcsim accepts it).
type guestShutdown struct {
	vc    *VCenter
	delay time.Duration
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// installGuestShutdown wraps vc's ShutdownGuest; close stops the shutdowns
// still under way (the lab is closing).
func installGuestShutdown(vc *VCenter, delay time.Duration) *guestShutdown {
	g := &guestShutdown{vc: vc, delay: delay, done: make(chan struct{})}
	simwrap.Wrap(vc.Model.Map(), "VirtualMachine", []string{"ShutdownGuest"}, func(ctx *simulator.Context, obj mo.Reference) mo.Reference {
		if vm, ok := obj.(*simulator.VirtualMachine); ok {
			return &shutdownVM{VirtualMachine: vm, g: g, OwnEntity: simwrap.Entity(ctx, vm)}
		}
		return nil
	})
	return g
}

func (g *guestShutdown) close() {
	g.once.Do(func() { close(g.done) })
	g.wg.Wait()
}

type shutdownVM struct {
	*simulator.VirtualMachine
	g *guestShutdown
	simwrap.OwnEntity
}

// ShutdownGuest is called with the VM's lock held.
func (w *shutdownVM) ShutdownGuest(ctx *simulator.Context, req *types.ShutdownGuest) (res soap.HasFault) {
	body := &methods.ShutdownGuestBody{}
	defer simwrap.Recovered(&res, body, &body.Fault_)
	vm := w.VirtualMachine
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		body.Fault_ = simulator.Fault("", &types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOn, ExistingState: vm.Runtime.PowerState})
		return body
	}
	if vm.Guest == nil || vm.Guest.ToolsRunningStatus != string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) {
		body.Fault_ = simulator.Fault("VMware Tools is not running in the guest", &types.ToolsUnavailable{})
		return body
	}
	// A test's hold (HoldGuestShutdowns): the guest is stuck in its
	// shutdown until released.
	hold := w.g.vc.holds.shutdown.Load()
	if w.g.delay <= 0 && hold == nil {
		return vm.ShutdownGuest(ctx, req)
	}
	var boot time.Time
	if vm.Summary.Runtime.BootTime != nil {
		boot = *vm.Summary.Runtime.BootTime
	}
	w.g.wg.Add(1)
	if hold != nil {
		hold.works.Add(1)
	}
	go func() {
		defer w.g.wg.Done()
		if hold != nil {
			defer hold.works.Done()
		}
		t := time.NewTimer(w.g.delay)
		defer t.Stop()
		select {
		case <-w.g.done:
			return
		case <-t.C:
		}
		if hold != nil {
			select {
			case <-w.g.done:
				return
			case <-hold.release:
			}
		}
		// The guest OS has shut down: the VM powers off, unless it was
		// powered off (and perhaps on again) meanwhile.
		ctx.WithLock(vm, func() {
			same := vm.Summary.Runtime.BootTime != nil && vm.Summary.Runtime.BootTime.Equal(boot)
			if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn && same {
				vm.ShutdownGuest(ctx, req)
			}
		})
	}()
	if hold != nil {
		hold.heldTask(vm.Self, vm.Name)
	}
	body.Res = new(types.ShutdownGuestResponse)
	return body
}
