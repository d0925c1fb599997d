package vcd_test

import (
	"context"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/vcdsim"
	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestConnectNICsWaitsForABusyNetwork: Cloud Director refuses to give a
// vApp an org VDC network while another task holds the network (another
// vApp being given it: two VMs of a wave cut over at once), with 400
// BUSY_ENTITY. ConnectNICs sends the change again until the other task
// has ended, and connects the VM.
func TestConnectNICsWaitsForABusyNetwork(t *testing.T) {
	t.Parallel()
	l, sys, pv, vc, vdc := importLab(t)
	ctx := context.Background()
	var vapps []*vcd.VApp
	var macs []string
	for _, name := range []string{"BusyA", "BusyB"} {
		ref, err := pv.CreateVMOverDisks(ctx, vsphere.VMOverDisks{Name: name, Datacenter: "Provider-DC", Pool: "Company-VDC", Datastore: "provider-ds", Network: "vcd-company-network"})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := pv.VMConfig(ctx, ref)
		if err != nil || len(cfg.NICs) != 1 {
			t.Fatalf("%s: %v, %d NICs", name, err, len(cfg.NICs))
		}
		vapp, err := sys.ImportVMAsVApp(vc, ref.Value, vdc, name)
		if err != nil {
			t.Fatal(err)
		}
		vapps, macs = append(vapps, vapp), append(macs, cfg.NICs[0].MAC)
	}

	// Someone else gives BusyA the network, with a task that runs for a
	// while (the margin is for a slow machine; nothing measures it).
	gvdc, err := sys.GetOrgByName("Company")
	if err != nil {
		t.Fatal(err)
	}
	v, err := gvdc.GetVDCByName("Company-VDC", true)
	if err != nil {
		t.Fatal(err)
	}
	gapp, err := v.GetVAppByName("BusyA", true)
	if err != nil {
		t.Fatal(err)
	}
	net, err := v.GetOpenApiOrgVdcNetworkByName(lab.BubbleNetwork)
	if err != nil {
		t.Fatal(err)
	}
	org := &types.OrgVDCNetwork{Name: lab.BubbleNetwork, HREF: sys.Client.VCDHREF.String() + "/network/" + net.OpenApiOrgVdcNetwork.ID[len("urn:vcloud:network:"):]}
	l.VCD.SetTaskTime(5 * time.Second)
	task, err := gapp.AddOrgNetworkAsync(&govcd.VappNetworkSettings{}, org, false)
	l.VCD.SetTaskTime(vcdsim.DefaultTaskTime)
	if err != nil {
		t.Fatal(err)
	}
	before := l.VCD.BusyRefusals()
	if err := sys.ConnectNICs(vapps[1], "BusyB", []vcd.NICConnection{{MAC: macs[1], Network: lab.BubbleNetwork, IP: "172.16.10.77"}}); err != nil {
		t.Fatalf("ConnectNICs while another vApp is given the network: %v", err)
	}
	if l.VCD.BusyRefusals() == before {
		t.Fatal("Cloud Director refused nothing busy: the other task ended before ConnectNICs gave the vApp the network, so this test checked nothing")
	}
	if err := task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
