package vcd_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"

	"github.com/ferry-migrate/ferry/lab/stretch"
	"github.com/ferry-migrate/ferry/vcd"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/lab/vcdsim"
)

// tenantEdge starts a lab whose tenant holds ferry's rights, and returns
// it, the tenant's client, and Company-VDC and company-edge as the tenant
// sees them.
func tenantEdge(t *testing.T) (*lab.Lab, *vcd.Client, *vcd.VDC, *vcd.EdgeGateway) {
	t.Helper()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	sys := labtest.VCD(t, l.Config().VCD)
	rp, err := sys.PlanRights(vcd.RightsSpec{Org: "Company", User: l.Config().Tenant.Username})
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.ApplyRights(rp); err != nil {
		t.Fatal(err)
	}
	tenant := labtest.VCD(t, l.Config().Tenant)
	vdc, err := tenant.VDCByName("Company", "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	egw, err := tenant.EdgeGatewayByName(vdc, "company-edge")
	if err != nil {
		t.Fatal(err)
	}
	return l, tenant, vdc, egw
}

// TestUpdateServerTunnelKeepsKey: Cloud Director 10.5.1 returns the
// tunnel's pre-shared key as "******". Mending a tunnel (here: disabled
// behind ferry's back) must send the real key, not what GET returned, so
// the peer code the on-prem client was configured from stays valid and the
// stretch comes back UP; without a key the update refuses and changes
// nothing.
func TestUpdateServerTunnelKeepsKey(t *testing.T) {
	t.Parallel()
	l, tenant, vdc, egw := tenantEdge(t)
	net, err := vcd.CreateRoutedNetwork(vdc, egw, vcd.NetworkSpec{Name: "company-network", GatewayCIDR: "172.16.10.1/24"})
	if err != nil {
		t.Fatal(err)
	}
	const key = "a-key-the-admin-chose-42"
	spec := vcd.TunnelSpec{Name: "ferry-l2vpn", RemoteEndpointIP: "198.51.100.7", PreSharedKey: key,
		Networks: []*vcd.Network{net}, Enabled: true}
	created, err := vcd.CreateServerTunnel(egw, spec)
	if err != nil {
		t.Fatal(err)
	}
	// Read as go-vcloud-director reads it, for what vcd.Tunnel does not show.
	raw := func(id string) *govcd.NsxtL2VpnTunnel {
		t.Helper()
		org, err := tenant.GetOrgByName("Company")
		if err != nil {
			t.Fatal(err)
		}
		v, err := org.GetVDCByName("Company-VDC", false)
		if err != nil {
			t.Fatal(err)
		}
		g, err := v.GetNsxtEdgeGatewayByName("company-edge")
		if err != nil {
			t.Fatal(err)
		}
		tun, err := g.GetL2VpnTunnelById(id)
		if err != nil {
			t.Fatal(err)
		}
		return tun
	}
	if k := raw(created.ID).NsxtL2VpnTunnel.PreSharedKey; k != "******" {
		t.Fatalf("Cloud Director 10.5.1 answers the key as ******, the lab said %q", k)
	}
	code := vcd.PeerCode(created)
	egwID, tunID := egw.ID, created.ID
	l.Fabric.PutClient(stretch.ClientSession{ID: "onprem", PeerCode: code, Enabled: true, TunnelIDs: vcd.TunnelIDs(created)})
	waitUp := func(what string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := tenant.WaitTunnelUp(ctx, egwID, tunID, 20*time.Millisecond, nil); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitUp("with the on-prem client")

	// Someone disables the tunnel in Cloud Director's UI (which keeps the key).
	found, err := vcd.FindTunnel(egw, "ferry-l2vpn")
	if err != nil || found == nil {
		t.Fatalf("find: %v %v", found, err)
	}
	if vcd.PeerCode(found) != code {
		t.Fatal("FindTunnel does not return the tunnel's peer code")
	}
	ui := raw(found.ID)
	off := *ui.NsxtL2VpnTunnel
	off.Enabled, off.PreSharedKey = false, key
	labtest.UIChange(t, tenant, http.MethodPut, labtest.TunnelPath(egw.ID, off.ID), &off)

	found, err = vcd.FindTunnel(egw, "ferry-l2vpn")
	if err != nil || found == nil {
		t.Fatalf("find: %v %v", found, err)
	}
	if d := vcd.TunnelDrift(found, spec); len(d) != 1 || d[0] != "tunnel is disabled" {
		t.Fatalf("drift %q, want only the disabled tunnel (the masked key is no drift)", d)
	}

	// Without the key, no update: it would have to send what GET returned.
	noKey := spec
	noKey.PreSharedKey = ""
	if _, err := vcd.UpdateServerTunnel(found, noKey); err == nil || !strings.Contains(err.Error(), "pre-shared key") {
		t.Fatalf("update without a key: %v", err)
	}
	if again, err := vcd.FindTunnel(egw, "ferry-l2vpn"); err != nil || vcd.PeerCode(again) != code {
		t.Fatalf("a refused update changed the tunnel: %v", err)
	}

	mended, err := vcd.UpdateServerTunnel(found, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !mended.Enabled || vcd.PeerCode(mended) != code {
		t.Fatalf("after the update: enabled %v, peer code kept %v (the key was changed)",
			mended.Enabled, vcd.PeerCode(mended) == code)
	}
	waitUp("after ferry enabled the tunnel again")
}

// TestNetworkAndTunnelCallsFollowTheirTasks: Cloud Director creates an org
// VDC network and creates or updates an L2 VPN tunnel in a task that takes
// time. CreateRoutedNetwork, CreateServerTunnel and UpdateServerTunnel
// return once their task has ended, and follow it with ferry's own polls
// (100 ms at first): go-vcloud-director's own calls poll a task every 3 s,
// which made each take 3 s at least. Counted, not timed: a task of a second
// is polled at most twice every 3 s, at least four times by ferry.
func TestNetworkAndTunnelCallsFollowTheirTasks(t *testing.T) {
	t.Parallel()
	l, _, vdc, egw := tenantEdge(t)
	// A rule that changes nothing, to count the polls of tasks.
	id, err := l.VCD.Faults.Add(vcdsim.Fault{Method: "GET", Path: "/api/task/"})
	if err != nil {
		t.Fatal(err)
	}
	polls := func() int {
		for _, r := range l.VCD.Faults.List() {
			if r.ID == id {
				return r.Matched
			}
		}
		t.Fatal("the counting rule is gone")
		return 0
	}
	const taskTime = time.Second
	l.VCD.SetTaskTime(taskTime)
	timed := func(what string, call func() error) {
		t.Helper()
		start, before := time.Now(), polls()
		if err := call(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if took := time.Since(start); took < taskTime {
			t.Errorf("%s returned after %s, before its %s task could end", what, took, taskTime)
		}
		if n := polls() - before; n < 4 {
			t.Errorf("%s polled its %s task %d times: it was not followed every 100 ms or so", what, taskTime, n)
		}
	}
	var nets []*vcd.Network
	for i, name := range []string{"company-network", "second-network"} {
		timed("create network "+name, func() error {
			n, err := vcd.CreateRoutedNetwork(vdc, egw, vcd.NetworkSpec{Name: name, GatewayCIDR: fmt.Sprintf("172.16.%d.1/24", 10+i)})
			if err == nil && n.Name != name {
				err = fmt.Errorf("created %q", n.Name)
			}
			nets = append(nets, n)
			return err
		})
	}
	spec := vcd.TunnelSpec{Name: "ferry-l2vpn", RemoteEndpointIP: "198.51.100.7", PreSharedKey: "a-key-the-admin-chose-42",
		Networks: nets[:1], Enabled: true}
	var tun *vcd.Tunnel
	timed("create tunnel", func() (err error) {
		tun, err = vcd.CreateServerTunnel(egw, spec)
		if err == nil && (tun.Name != spec.Name || vcd.PeerCode(tun) == "") {
			err = fmt.Errorf("created %q, peer code %q", tun.Name, vcd.PeerCode(tun))
		}
		return err
	})
	spec.Networks = nets
	timed("update tunnel", func() (err error) {
		tun, err = vcd.UpdateServerTunnel(tun, spec)
		if err == nil && len(tun.Stretched) != 2 {
			err = fmt.Errorf("it stretches %v, want both networks", tun.Stretched)
		}
		return err
	})
}

// TestLongTaskPolledLessOften: ferry polls a task every 100 ms at first,
// then less often as it runs on (up to every second): a task of 4 s is
// polled some twenty times, not forty (and not the two of a 3 s poll).
func TestLongTaskPolledLessOften(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	sys := labtest.VCD(t, l.Config().VCD)
	vdc, err := sys.VDCByName("Company", "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	egw, err := sys.EdgeGatewayByName(vdc, "company-edge")
	if err != nil {
		t.Fatal(err)
	}
	// A rule that changes nothing, to count the polls of tasks.
	id, err := l.VCD.Faults.Add(vcdsim.Fault{Method: "GET", Path: "/api/task/"})
	if err != nil {
		t.Fatal(err)
	}
	const taskTime = 4 * time.Second
	l.VCD.SetTaskTime(taskTime)
	start := time.Now()
	if _, err := vcd.CreateRoutedNetwork(vdc, egw, vcd.NetworkSpec{Name: "company-network", GatewayCIDR: "172.16.10.1/24"}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	var polls int
	for _, r := range l.VCD.Faults.List() {
		if r.ID == id {
			polls = r.Matched
		}
	}
	if took < taskTime {
		t.Errorf("CreateRoutedNetwork returned after %s, before its task of %s could end", took, taskTime)
	}
	if polls < 5 || polls > 25 {
		t.Errorf("a task of %s was polled %d times, want from 5 to 25 (every 100 ms: 40)", taskTime, polls)
	}
}
