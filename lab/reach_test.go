package lab_test

import (
	"context"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/stretch"
	"github.com/ferry-migrate/ferry/probe"
	"github.com/ferry-migrate/ferry/vsphere"
)

// eventually waits for cond, failing after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReachabilityFollowsPowerAndStretch(t *testing.T) {
	l := startLab(t, lab.Options{DiskSize: 16 << 20})
	ctx := context.Background()
	plan := l.Reach.Plan()
	if len(plan) != 3 || plan[1].Name != "WebApp2" || plan[1].GuestIP != "172.16.10.12" {
		t.Fatalf("address plan %+v", plan)
	}
	web2 := probe.TCP{Addr: plan[1].Addr, Timeout: time.Second}
	up := func() bool { _, err := web2.Probe(ctx); return err == nil }
	if !up() {
		t.Fatal("WebApp2 does not answer while powered on")
	}

	onprem := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	src, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	auth := vsphere.GuestAuth{Username: lab.GuestUser, Password: lab.GuestPassword}
	web1, _ := onprem.VMByName(ctx, "WebApp1")
	if err := onprem.GuestPing(ctx, web1.Ref, auth, "172.16.10.12"); err != nil {
		t.Fatalf("WebApp1 -> WebApp2 guest ping: %v", err)
	}
	if err := onprem.GuestPing(ctx, web1.Ref, vsphere.GuestAuth{Username: "x", Password: "y"}, "172.16.10.12"); err == nil {
		t.Error("guest ping with a wrong guest login succeeded")
	}

	task, err := object.NewVirtualMachine(onprem.Client.Client, src.Ref).PowerOff(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "WebApp2 to stop answering", func() bool { return !up() })
	if err := onprem.GuestPing(ctx, web1.Ref, auth, "172.16.10.12"); err == nil {
		t.Error("guest ping to a powered-off VM succeeded")
	}

	// A provider VM with WebApp2's MAC, powered on: reachable only with the stretch UP.
	provider := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	createCloudTwin(t, provider, "WebApp2", src.MACs[0])
	time.Sleep(200 * time.Millisecond) // several reachability polls
	if up() {
		t.Fatal("cloud VM answers without the L2 stretch")
	}
	l.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: "pc", Enabled: true, TunnelIDs: []int{1}})
	l.Fabric.PutClient(stretch.ClientSession{ID: "s1", PeerCode: "pc", Enabled: true, TunnelIDs: []int{1}})
	eventually(t, "WebApp2 to answer from the cloud", up)
}

func createCloudTwin(t *testing.T, c *vsphere.Client, name, mac string) {
	t.Helper()
	ctx := context.Background()
	f := c.Finder()
	dc, err := f.Datacenter(ctx, "Provider-DC")
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	pool, err := f.ResourcePool(ctx, "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	folders, _ := dc.Folders(ctx)
	pg, err := f.Network(ctx, "vcd-company-network")
	if err != nil {
		t.Fatal(err)
	}
	backing, _ := pg.EthernetCardBackingInfo(ctx)
	var devices object.VirtualDeviceList
	nic, _ := devices.CreateEthernetCard("vmxnet3", backing)
	nic.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().AddressType = string(types.VirtualEthernetCardMacTypeManual)
	nic.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().MacAddress = mac
	changes, _ := append(devices, nic).ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	task, err := folders.VmFolder.CreateVM(ctx, types.VirtualMachineConfigSpec{
		Name: name, GuestId: "ubuntu64Guest", DeviceChange: changes,
		Files: &types.VirtualMachineFileInfo{VmPathName: "[provider-ds] " + name},
	}, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vm := object.NewVirtualMachine(c.Client.Client, info.Result.(types.ManagedObjectReference))
	if task, err = vm.PowerOn(ctx); err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
}
