package vsphere_test

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vmdk"

	"github.com/ferry-migrate/ferry/vsphere"
)

// ReconfigureDVPortgroup replaces the whole config: securing a port group
// must keep everything else it had.
func TestSecureSinkPortgroupKeepsTheRestOfTheConfig(t *testing.T) {
	ctx := context.Background()
	c := vcsimClient(t)
	dc, err := c.Datacenter(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	dvs, err := c.DVS(ctx, dc, "DVS0")
	if err != nil {
		t.Fatal(err)
	}
	spec := types.DVPortgroupConfigSpec{
		Name: "sink", Type: "earlyBinding", NumPorts: 16, Description: "keep me",
		DefaultPortConfig: &types.VMwareDVSPortSetting{
			Vlan:                &types.VmwareDistributedVirtualSwitchVlanIdSpec{VlanId: 100},
			UplinkTeamingPolicy: &types.VmwareUplinkPortTeamingPolicy{Policy: &types.StringPolicy{Value: "failover_explicit"}},
		},
	}
	// Someone adds the port group through govmomi.
	gdc, err := c.Finder().DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := find.NewFinder(c.Client.Client).SetDatacenter(gdc).Network(ctx, dvs.Name())
	if err != nil {
		t.Fatal(err)
	}
	task, err := n.(*object.DistributedVirtualSwitch).AddPortgroup(ctx, []types.DVPortgroupConfigSpec{spec})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	pg, err := c.Portgroup(ctx, dc, "sink")
	if err != nil {
		t.Fatal(err)
	}
	if p := pg.SinkProblems(vsphere.SinkPolicy{}); len(p) != 3 || pg.VLAN != 100 || pg.DVS != "DVS0" {
		t.Errorf("before: problems %q, VLAN %d, DVS %q", p, pg.VLAN, pg.DVS)
	}
	pg, err = c.SecureSinkPortgroup(ctx, dc, pg, vsphere.SinkPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if p := pg.SinkProblems(vsphere.SinkPolicy{}); len(p) != 0 {
		t.Errorf("after: %q", p)
	}

	net, err := find.NewFinder(c.Client.Client).SetDatacenter(gdc).Network(ctx, "sink")
	if err != nil {
		t.Fatal(err)
	}
	var back mo.DistributedVirtualPortgroup
	if err := c.PropertyCollector().RetrieveOne(ctx, net.Reference(), []string{"config"}, &back); err != nil {
		t.Fatal(err)
	}
	cfg := back.Config
	ps := cfg.DefaultPortConfig.(*types.VMwareDVSPortSetting)
	if cfg.Description != "keep me" || cfg.NumPorts != 16 || cfg.Type != "earlyBinding" {
		t.Errorf("lost settings: description %q, ports %d, type %q", cfg.Description, cfg.NumPorts, cfg.Type)
	}
	if ps.UplinkTeamingPolicy == nil || ps.UplinkTeamingPolicy.Policy.Value != "failover_explicit" {
		t.Errorf("lost teaming policy: %+v", ps.UplinkTeamingPolicy)
	}
	if !*ps.SecurityPolicy.AllowPromiscuous.Value || !*ps.SecurityPolicy.ForgedTransmits.Value {
		t.Errorf("security policy: %+v", ps.SecurityPolicy)
	}
	if tr, ok := ps.Vlan.(*types.VmwareDistributedVirtualSwitchTrunkVlanSpec); !ok || tr.VlanId[0].End != 4094 {
		t.Errorf("VLAN: %#v", ps.Vlan)
	}

	_, err = c.Portgroup(ctx, dc, "nope")
	if !errors.Is(err, vsphere.ErrNotFound) || !strings.Contains(err.Error(), "DC0_DVPG0") || !strings.Contains(err.Error(), "sink") {
		t.Errorf("unknown port group: %v", err)
	}
	if _, err := c.Network(ctx, dc, "VM Network"); err != nil {
		t.Errorf("standard network: %v", err)
	}
}

func TestWriteBlankDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "disk.vmdk")
	if err := vsphere.WriteBlankDisk(path, 1<<20); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 64<<10 {
		t.Errorf("blank disk is %d bytes", fi.Size())
	}
	info, err := vmdk.Stat(path)
	if err != nil {
		t.Fatalf("not a readable stream-optimized VMDK: %v", err)
	}
	if info.Capacity != 1<<20 {
		t.Errorf("capacity %d", info.Capacity)
	}
}

// TestDatacenterNotFoundOnlyWhenAbsent: a datacenter that does not exist is
// not found, with the ones that do; a lookup stopped by its context says
// so and is never reported as not found (ctrl+c mid-step once left
// 'datacenter "OnPrem-DC" not found (datacenters: none)' in the state).
func TestDatacenterNotFoundOnlyWhenAbsent(t *testing.T) {
	ctx := context.Background()
	c := vcsimClient(t)
	if _, err := c.Datacenter(ctx, "NoSuchDC"); !errors.Is(err, vsphere.ErrNotFound) || !strings.Contains(err.Error(), "DC0") {
		t.Errorf("absent datacenter: %v, want not found with the datacenters there", err)
	}
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Datacenter(stopped, "DC0"); !errors.Is(err, context.Canceled) || errors.Is(err, vsphere.ErrNotFound) {
		t.Errorf("lookup under a cancelled context: %v, want the cancellation, not not found", err)
	}
}

// vcsimClient is a client of a new simulated vCenter (vcsim's VPX model),
// both removed when the test ends.
func vcsimClient(t *testing.T) *vsphere.Client {
	t.Helper()
	m := simulator.VPX()
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Remove)
	m.Service.TLS = new(tls.Config) // ferry talks to vCenter over TLS only
	s := m.Service.NewServer()
	t.Cleanup(s.Close)
	ca, err := s.CertificateFile()
	if err != nil {
		t.Fatal(err)
	}
	u := *s.URL
	u.User = nil
	c, err := vsphere.Connect(context.Background(), vsphere.Config{URL: u.String(), Username: "user", Password: "pass", CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}
