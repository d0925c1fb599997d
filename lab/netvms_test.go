package lab_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// onpremDatacenter starts a lab and connects to its on-prem vCenter's
// datacenter.
func onpremDatacenter(t *testing.T) (*vsphere.Client, *vsphere.Datacenter) {
	t.Helper()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	dc, err := c.Datacenter(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return c, dc
}

// TestPortGroupsListTheirVMs: a port group's vm property names the VMs with
// a NIC on it, as vCenter reports it (vcsim kept only the VM's side): a VM
// moved off a port group or destroyed leaves its list.
func TestPortGroupsListTheirVMs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, dc := onpremDatacenter(t)
	vmsOn := func(name string) []string {
		t.Helper()
		pg, err := c.Portgroup(ctx, dc, name)
		if err != nil {
			t.Fatal(err)
		}
		vms, err := c.VMsOn(ctx, pg)
		if err != nil {
			t.Fatal(err)
		}
		return vms
	}
	if got := vmsOn("company-network"); !slices.Contains(got, "WebApp1") || !slices.Contains(got, "WinSrv1") {
		t.Errorf("company-network lists %v, want WebApp1 and WinSrv1 among them", got)
	}
	if got := vmsOn(lab.SecondPortgroup); !slices.Contains(got, "WinSrv1") || slices.Contains(got, "WebApp1") {
		t.Errorf("%s lists %v, want WinSrv1 and not WebApp1", lab.SecondPortgroup, got)
	}
	if got := vmsOn("uplink-network"); slices.Contains(got, "WebApp1") {
		t.Errorf("uplink-network lists %v, want no WebApp", got)
	}
	ref, err := c.VMByName(ctx, "WinSrv1")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PowerOff(ctx, ref.Ref); err != nil {
		t.Fatal(err)
	}
	if err := c.DestroyKeepDisks(ctx, ref.Ref); err != nil {
		t.Fatal(err)
	}
	if got := vmsOn(lab.SecondPortgroup); slices.Contains(got, "WinSrv1") {
		t.Errorf("%s lists %v after WinSrv1 was destroyed", lab.SecondPortgroup, got)
	}
}

// TestUplinkPortgroupsAreNotVMNetworks: a switch's uplink port group is
// marked as vCenter marks it, so port group lists leave it out (QA: the
// wizard offered onprem-vds-DVUplinks-N as the stretched network).
func TestUplinkPortgroupsAreNotVMNetworks(t *testing.T) {
	ctx := context.Background()
	c, dc := onpremDatacenter(t)
	pgs, err := c.Portgroups(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, pg := range pgs {
		names = append(names, pg.Name)
	}
	if !slices.Contains(names, "company-network") || slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, "DVUplinks") }) {
		t.Errorf("port groups %v: want the VM networks, no uplink port group", names)
	}
}

// TestPortgroupReconfigureNeedsItsVersion: a distributed port group is
// reconfigured only with the configVersion of its current configuration,
// as vCenter requires (vcsim took any): a spec built from a configuration
// read before a change is refused with ConcurrentAccess rather than
// putting the change back.
func TestPortgroupReconfigureNeedsItsVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, dc := onpremDatacenter(t)
	pg, err := c.Portgroup(ctx, dc, "uplink-network")
	if err != nil {
		t.Fatal(err)
	}
	want := vsphere.SinkPolicy{Trunk: vsphere.DefaultSinkTrunk}
	if _, err := c.SecureSinkPortgroup(ctx, dc, pg, want); err != nil {
		t.Fatalf("reconfigure with the version read: %v", err)
	}
	// pg is the configuration as it was before that change.
	if _, err := c.SecureSinkPortgroup(ctx, dc, pg, want); err == nil || !strings.Contains(err.Error(), "ConcurrentAccess") {
		t.Errorf("reconfigure with a stale version: %v, want ConcurrentAccess", err)
	}
}
