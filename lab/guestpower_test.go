package lab_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/lab/stretch"
	"github.com/ferry-migrate/ferry/probe"
)

// A guest takes time to shut down and to boot, as a real one does: the
// VM powers off GuestShutdown after ShutdownGuest returned, and a VM powered
// on answers (and runs VMware Tools) GuestBoot after its power-on, on-prem
// and at the provider. ShutdownGuest without VMware Tools fails, as vSphere's
// does.
func TestGuestsTakeTimeToShutDownAndBoot(t *testing.T) {
	t.Parallel()
	const shutdown, boot = 700 * time.Millisecond, 900 * time.Millisecond
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, GuestShutdown: shutdown, GuestBoot: boot})
	if l.GuestShutdown != shutdown || l.GuestBoot != boot {
		t.Fatalf("lab guest times %v/%v, want %v/%v", l.GuestShutdown, l.GuestBoot, shutdown, boot)
	}
	ctx := context.Background()
	onprem := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	addr := func(name string) probe.TCP {
		for _, r := range l.Reach.Plan() {
			if r.Name == name {
				return probe.TCP{Addr: r.Addr, Timeout: time.Second}
			}
		}
		t.Fatalf("no %s in the address plan", name)
		return probe.TCP{}
	}
	web2 := addr("WebApp2")
	up := func() bool { _, err := web2.Probe(ctx); return err == nil }
	if !up() {
		t.Fatal("WebApp2 does not answer: the lab's VMs run (and have booted) when it starts")
	}
	src, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	vm := object.NewVirtualMachine(onprem.Client.Client, src.Ref.Reference())
	pc := property.DefaultCollector(onprem.Client.Client)
	waitPower := func(want types.VirtualMachinePowerState) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err := property.Wait(wctx, pc, vm.Reference(), []string{"runtime.powerState"}, func(pcs []types.PropertyChange) bool {
			return len(pcs) > 0 && pcs[0].Val == want
		})
		if err != nil {
			t.Fatalf("waiting for WebApp2 %s: %v", want, err)
		}
	}

	asked := time.Now()
	if err := vm.ShutdownGuest(ctx); err != nil {
		t.Fatal(err)
	}
	waitPower(types.VirtualMachinePowerStatePoweredOff)
	if took := time.Since(asked); took < shutdown {
		t.Errorf("WebApp2 powered off %v after ShutdownGuest; its guest takes %v to shut down", took, shutdown)
	}
	eventually(t, "WebApp2 to stop answering", func() bool { return !up() })

	on := time.Now()
	task, err := vm.PowerOn(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "WebApp2 to answer after its boot", up)
	if took := time.Since(on); took < boot {
		t.Errorf("WebApp2 answered %v after power-on; its guest takes %v to boot", took, boot)
	}

	// Without VMware Tools running the guest cannot be asked to shut down.
	web1, err := onprem.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	vm1 := object.NewVirtualMachine(onprem.Client.Client, web1.Ref.Reference())
	task, err = vm1.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
		&types.OptionValue{Key: "SET.guest.toolsRunningStatus", Value: string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)}}})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := vm1.ShutdownGuest(ctx); err == nil || !strings.Contains(err.Error(), "Tools") {
		t.Errorf("ShutdownGuest without VMware Tools: %v, want a ToolsUnavailable fault", err)
	}
	time.Sleep(shutdown + 200*time.Millisecond)
	if st, err := vm1.PowerState(ctx); err != nil || st != types.VirtualMachinePowerStatePoweredOn {
		t.Errorf("WebApp1 after a refused ShutdownGuest: %s %v, want still powered on", st, err)
	}

	// At the provider, a VM carrying WebApp3's MAC (a cutover's target)
	// answers over the stretch, and runs VMware Tools, once its guest booted.
	l.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: "pc", Enabled: true, TunnelIDs: []int{1}})
	l.Fabric.PutClient(stretch.ClientSession{ID: "s1", PeerCode: "pc", Enabled: true, TunnelIDs: []int{1}})
	web3 := addr("WebApp3")
	provider := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	layout := sourceLayout(t, l, onprem, "WebApp3")
	src3, err := onprem.VMByName(ctx, "WebApp3")
	if err != nil {
		t.Fatal(err)
	}
	if err := onprem.PowerOff(ctx, src3.Ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, "WebApp3 to stop answering", func() bool { _, err := web3.Probe(ctx); return err != nil })
	ref := createCopy(t, l, provider, "WebApp3", layout)
	var copyVM mo.VirtualMachine
	if err := provider.PropertyCollector().RetrieveOne(ctx, ref.Reference(), []string{"summary.runtime.bootTime"}, &copyVM); err != nil || copyVM.Summary.Runtime.BootTime == nil {
		t.Fatalf("the copy's boot time: %v", err)
	}
	powered := *copyVM.Summary.Runtime.BootTime
	eventually(t, "WebApp3's copy to answer", func() bool { _, err := web3.Probe(ctx); return err == nil })
	answered := time.Now()
	if answered.Sub(powered) < boot {
		t.Errorf("WebApp3's copy answered %v after its power-on; its guest takes %v to boot", answered.Sub(powered), boot)
	}
	tools, err := provider.ToolsRunning(ctx, ref)
	if err != nil || !tools {
		t.Errorf("VMware Tools in the booted copy: %v %v", tools, err)
	}
}

func TestGuestTimesAreBounded(t *testing.T) {
	if err := lab.ValidateGuestTimes(0, -1); err != nil {
		t.Errorf("default shutdown, boot at once: %v", err)
	}
	err := lab.ValidateGuestTimes(time.Second, lab.MaxGuestTime+time.Second)
	if err == nil || !strings.Contains(err.Error(), "guest boot") || !strings.Contains(err.Error(), "at most") {
		t.Errorf("a boot longer than MaxGuestTime: %v", err)
	}
	if _, err := lab.Start(context.Background(), lab.Options{GuestShutdown: lab.MaxGuestTime + 1}); err == nil || !strings.Contains(err.Error(), "guest shutdown") {
		t.Errorf("lab.Start with a shutdown longer than MaxGuestTime: %v", err)
	}
}
