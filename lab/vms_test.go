package lab_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// TestLabVMs: a lab with 5 web VMs shows WebApp1..5 through the vSphere
// API, shaped like the walkthrough's (running, one disk, company-network),
// with distinct guest IPs and MACs clear of the lab's other addresses; the
// plan and the address plan list them with their probe addresses; the guest
// workload writes into every one of them and the lab's CBT tracks it without
// reading a disk.
func TestLabVMs(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, VMs: 5})
	ctx := context.Background()
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	vms, err := c.VMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"WebApp1": "172.16.10.11", "WebApp2": "172.16.10.12", "WebApp3": "172.16.10.13",
		"WebApp4": "172.16.10.104", "WebApp5": "172.16.10.105"}
	ips, macs := map[string]string{}, map[string]string{}
	seen := 0
	for _, vm := range vms {
		if vm.GuestIP != "" {
			if other, dup := ips[vm.GuestIP]; dup {
				t.Errorf("%s and %s share guest IP %s", vm.Name, other, vm.GuestIP)
			}
			ips[vm.GuestIP] = vm.Name
		}
		for _, mac := range vm.MACs {
			if other, dup := macs[mac]; dup {
				t.Errorf("%s and %s share MAC %s", vm.Name, other, mac)
			}
			macs[mac] = vm.Name
		}
		ip, ok := want[vm.Name]
		if !ok {
			if strings.HasPrefix(vm.Name, "WebApp") {
				t.Errorf("unexpected VM %s", vm.Name)
			}
			continue
		}
		seen++
		switch {
		case vm.GuestIP != ip:
			t.Errorf("%s: guest IP %q, want %q", vm.Name, vm.GuestIP, ip)
		case !vm.PoweredOn():
			t.Errorf("%s: %s, want poweredOn", vm.Name, vm.PowerState)
		case len(vm.Disks) != 1 || vm.Disks[0].Capacity != 16<<20 || len(vm.Unreadable) != 0:
			t.Errorf("%s: disks %+v unreadable %v, want one readable 16 MiB disk", vm.Name, vm.Disks, vm.Unreadable)
		case len(vm.Networks) != 1 || vm.Networks[0] != "company-network" || len(vm.MACs) != 1:
			t.Errorf("%s: networks %v MACs %v, want one NIC on company-network", vm.Name, vm.Networks, vm.MACs)
		}
	}
	if seen != len(want) {
		t.Fatalf("%d of the %d web VMs listed", seen, len(want))
	}

	// The address plan and the lab's plan list them, with probe addresses.
	probeAddr := map[string]string{}
	for _, tg := range l.Reach.Plan() {
		probeAddr[tg.Name] = tg.Addr
	}
	pf, err := steps.LoadPlanFile(l.PlanPath())
	if err != nil {
		t.Fatal(err)
	}
	planned := map[string]string{}
	for _, p := range pf.Probes {
		planned[p.VM] = p.TCP
	}
	// The VMs preflight refuses get no probe in the plan: they would only
	// crowd the wizard's probe panel (QA: 10 of its 16 probes were theirs).
	for _, vm := range lab.RefusedVMs {
		if _, ok := planned[vm.Name]; ok {
			t.Errorf("the lab plan probes %s, which preflight refuses", vm.Name)
		}
	}
	text, _ := os.ReadFile(l.PlanPath())
	for name, ip := range want {
		lo := "127" + strings.TrimPrefix(ip, "172")
		if !strings.HasPrefix(probeAddr[name], lo+":") {
			t.Errorf("%s: probe address %q, want on %s", name, probeAddr[name], lo)
		}
		if planned[name] != probeAddr[name] {
			t.Errorf("%s: plan probes %q, address plan %q", name, planned[name], probeAddr[name])
		}
		if !strings.Contains(string(text), name+" ") || !strings.Contains(string(text), ip) {
			t.Errorf("the lab plan does not list %s %s", name, ip)
		}
	}

	// Every web VM gets the guest workload.
	deadline := time.Now().Add(30 * time.Second)
	for _, vm := range lab.WebAppVMs(5) {
		for l.Workload.Written(vm.Name) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if l.Workload.Written(vm.Name) == 0 {
			t.Errorf("the guest workload never wrote into %s", vm.Name)
		}
	}
	// CBT on the new VM: the workload's writes after a snapshot are
	// tracked as they happen, with no disk read by the tracker.
	ref, err := c.VMByName(ctx, "WebApp5")
	if err != nil {
		t.Fatal(err)
	}
	obj := object.NewVirtualMachine(c.Client.Client, ref.Ref.Reference())
	task, err := obj.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(true)})
	if err == nil {
		err = task.Wait(ctx)
	}
	for i := 0; i < 2 && err == nil; i++ {
		if task, err = obj.CreateSnapshot(ctx, "s", "", false, false); err == nil {
			err = task.Wait(ctx)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if st := l.CBT.Stats(); st.Epochs != 2 || st.BytesRead != 0 || st.Writes == 0 || st.Untracked != 0 {
		t.Errorf("tracker stats %+v: want 2 epochs, guest writes tracked, no disk read, nothing untracked", st)
	}
}

// TestLabVMsRange: the web VM count is checked before anything starts.
func TestLabVMsRange(t *testing.T) {
	for _, n := range []int{-1, 101} {
		dir := filepath.Join(t.TempDir(), "lab")
		_, err := lab.Start(context.Background(), lab.Options{Dir: dir, VMs: n})
		if err == nil || !strings.Contains(err.Error(), "1 to 100") {
			t.Errorf("VMs %d: %v, want a refusal naming the range", n, err)
		}
		if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
			t.Errorf("VMs %d: the lab directory was created", n)
		}
	}
	if got := len(lab.OnPremSpecVMs(16<<20, lab.MaxVMs).VMs); got != lab.MaxVMs+len(lab.RefusedVMs)+len(lab.ColdVMs) {
		t.Errorf("100 web VMs: spec has %d VMs", got)
	}
	if err := lab.OnPremSpecVMs(16<<20, lab.MaxVMs).Validate(); err != nil {
		t.Error(err)
	}
	// 100 web VMs fit the /24 beside everything else on it.
	used := map[string]string{"172.16.10.1": "the gateway"}
	for _, g := range lab.GuestVMs() {
		used[g.IP] = g.Name
	}
	for _, vm := range lab.OnPremSpecVMs(16<<20, lab.MaxVMs).VMs {
		if other, dup := used[vm.IP]; dup || !strings.HasPrefix(vm.IP, "172.16.10.") {
			t.Errorf("%s: IP %s (also %s)", vm.Name, vm.IP, other)
		}
		used[vm.IP] = vm.Name
	}
}
