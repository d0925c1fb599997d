package lab_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

func connect(t *testing.T, url, user, pass, ca string) *vsphere.Client {
	t.Helper()
	c, err := vsphere.Connect(context.Background(), vsphere.Config{URL: url, Username: user, Password: pass, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestOnPremInventory(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 32 << 20})
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	vms, err := c.VMs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"WebApp1": "172.16.10.11", "WebApp2": "172.16.10.12", "WebApp3": "172.16.10.13"}
	refused := map[string]lab.VMSpec{}
	for _, vm := range lab.RefusedVMs {
		refused[vm.Name] = vm
	}
	listed := map[string]bool{}
	for _, vm := range vms {
		listed[vm.Name] = true
	}
	for _, vm := range lab.OnPremSpec(32 << 20).VMs {
		if !listed[vm.Name] {
			t.Errorf("VM %s is not listed", vm.Name)
		}
	}
	for _, vm := range vms {
		if r, ok := refused[vm.Name]; ok {
			// A VM whose disks ferry cannot read: the inventory says why.
			switch {
			case !vm.PoweredOn() || vm.GuestIP != r.IP:
				t.Errorf("%s: %s, IP %s, want running with %s", vm.Name, vm.PowerState, vm.GuestIP, r.IP)
			case r.Disk == lab.DiskSnapshot && (len(vm.SnapshotNames) != 1 || len(vm.Unreadable) != 0):
				t.Errorf("%s: snapshots %v, unreadable %v: want one snapshot and readable disks", vm.Name, vm.SnapshotNames, vm.Unreadable)
			case r.Disk != lab.DiskSnapshot && len(vm.Unreadable) != 1:
				t.Errorf("%s (%s): unreadable %v, want one reason", vm.Name, r.Disk, vm.Unreadable)
			}
			continue
		}
		if len(vm.Unreadable) != 0 || len(vm.SnapshotNames) != 0 {
			t.Errorf("%s: unreadable %v, snapshots %v", vm.Name, vm.Unreadable, vm.SnapshotNames)
		}
		if _, ok := want[vm.Name]; !ok {
			continue // the guest model's VMs (TestGuestModel)
		}
		if want[vm.Name] != vm.GuestIP {
			t.Errorf("%s: guest IP %q, want %q", vm.Name, vm.GuestIP, want[vm.Name])
		}
		if !vm.PoweredOn() {
			t.Errorf("%s: %s, want poweredOn", vm.Name, vm.PowerState)
		}
		if len(vm.Disks) != 1 || vm.Disks[0].Capacity != 32<<20 {
			t.Fatalf("%s: disks %+v, want one of 32 MiB", vm.Name, vm.Disks)
		}
		if !strings.HasPrefix(vm.Disks[0].File, "[onprem-ds] "+vm.Name+"/") {
			t.Errorf("%s: disk file %q", vm.Name, vm.Disks[0].File)
		}
		if len(vm.Networks) != 1 || vm.Networks[0] != "company-network" {
			t.Errorf("%s: networks %v, want [company-network]", vm.Name, vm.Networks)
		}
		st, err := os.Stat(l.OnPrem.FlatFile(vm.Name))
		if err != nil || st.Size() != 32<<20 {
			t.Errorf("%s: flat file %v %v", vm.Name, st, err)
		}
	}
}

func TestConnectErrors(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	ctx := context.Background()
	_, err := vsphere.Connect(ctx, vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: "wrong", CAFile: l.CAFile})
	// It names the endpoint and the user, as Cloud Director's does, and
	// never the password.
	if want := "vCenter " + l.OnPrem.URL + ": wrong username or password for " + l.OnPrem.Username + " (the config's onprem.username and onprem.password, or GOVC_USERNAME and GOVC_PASSWORD)"; !errors.Is(err, vsphere.ErrLogin) || err.Error() != want {
		t.Errorf("wrong password: %v, want %q", err, want)
	}
	t.Log(err)
	_, err = vsphere.Connect(ctx, vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password})
	if !errors.Is(err, vsphere.ErrUntrusted) {
		t.Errorf("no CA: %v", err)
	}
	t.Log(err)
	_, err = vsphere.Connect(ctx, vsphere.Config{URL: "https://127.0.0.1:1/sdk", Username: "u", Password: "p", CAFile: l.CAFile})
	if !errors.Is(err, vsphere.ErrUnreachable) {
		t.Errorf("unreachable: %v", err)
	}
	// A wrong address says where it is set, as a wrong password does
	// (QA walk hB).
	if err == nil || !strings.HasSuffix(err.Error(), "(check the address: GOVC_URL or onprem.url in the --config file)") {
		t.Errorf("unreachable: %v, want it to say where the address is set", err)
	}
	t.Log(err)
}

func TestInventoryShowsCBTAndSnapshots(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	ctx := context.Background()
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	vm, err := c.VMByName(ctx, "WebApp3")
	if err != nil {
		t.Fatal(err)
	}
	if vm.CBT || vm.Snapshots != 0 {
		t.Fatalf("fresh VM: CBT=%v snapshots=%d", vm.CBT, vm.Snapshots)
	}
	obj := object.NewVirtualMachine(c.Client.Client, vm.Ref.Reference())
	task, err := obj.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if task, err = obj.CreateSnapshot(ctx, "before", "", false, false); err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	vm, err = c.VMByName(ctx, "WebApp3")
	if err != nil {
		t.Fatal(err)
	}
	if !vm.CBT || vm.Snapshots != 1 {
		t.Errorf("after enabling CBT and a snapshot: CBT=%v snapshots=%d", vm.CBT, vm.Snapshots)
	}
	if _, err := c.VMByName(ctx, "WebApp9"); err == nil || !strings.Contains(err.Error(), "WebApp1, WebApp2, WebApp3") {
		t.Errorf("unknown VM: %v", err)
	}
}
