package vcdsim

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// DHCP of an isolated network: EDGE mode is refused, NETWORK mode needs a
// services edge cluster in the VDC's network profile and the server's
// address; pools are checked against the subnet and the static pool; the
// mode cannot change; bindings need a current version to update.
func TestNetworkDhcp(t *testing.T) {
	env := start(t, Config{})
	p := env.provider(t)
	vdc := providerVdc(t, p)
	n := isolatedNet(t, vdc, "dhcp-net", nil)
	id := n.OpenApiOrgVdcNetwork.ID
	if n.IsDhcpEnabled() {
		t.Fatal("a new network has DHCP enabled")
	}
	pool := func(a, b string) []types.OpenApiOrgVdcNetworkDhcpPools {
		return []types.OpenApiOrgVdcNetworkDhcpPools{{Enabled: addrOf(true), IPRange: types.OpenApiOrgVdcNetworkDhcpIpRange{StartAddress: a, EndAddress: b}}}
	}
	refused := func(why string, d *types.OpenApiOrgVdcNetworkDhcp, want string) {
		t.Helper()
		if _, err := vdc.UpdateOpenApiOrgVdcNetworkDhcp(id, d); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v (want %q)", why, err, want)
		}
	}
	refused("EDGE mode on an isolated network", &types.OpenApiOrgVdcNetworkDhcp{Enabled: addrOf(true), DhcpPools: pool("10.20.0.200", "10.20.0.201")}, "only on routed networks")
	netMode := &types.OpenApiOrgVdcNetworkDhcp{Enabled: addrOf(true), Mode: "NETWORK", IPAddress: "10.20.0.252",
		DhcpPools: pool("10.20.0.200", "10.20.0.201"), DnsServers: []string{"8.8.8.8"}}
	refused("NETWORK mode without a services edge cluster", netMode, "services edge cluster")

	ec := must(vdc.GetNsxtEdgeClusterByName(edgeClusterName))(t)
	if _, err := vdc.UpdateVdcNetworkProfile(&types.VdcNetworkProfile{ServicesEdgeCluster: &types.VdcNetworkProfileServicesEdgeCluster{BackingID: "nope"}}); err == nil {
		t.Fatal("an unknown edge cluster accepted in the network profile")
	}
	prof := must(vdc.UpdateVdcNetworkProfile(&types.VdcNetworkProfile{ServicesEdgeCluster: &types.VdcNetworkProfileServicesEdgeCluster{BackingID: ec.NsxtEdgeCluster.ID}}))(t)
	if prof.ServicesEdgeCluster == nil || prof.ServicesEdgeCluster.EdgeClusterRef.Name != edgeClusterName {
		t.Fatalf("network profile %+v", prof)
	}

	overlap := *netMode
	overlap.DhcpPools = pool("10.20.0.25", "10.20.0.40")
	refused("pool overlapping the static pool", &overlap, "must not overlap")
	outside := *netMode
	outside.IPAddress = "10.30.0.5"
	refused("server outside the subnet", &outside, "not in the network's subnet")

	got := must(vdc.UpdateOpenApiOrgVdcNetworkDhcp(id, netMode))(t)
	if !reflect.DeepEqual(got.OpenApiOrgVdcNetworkDhcp, netMode) || !n.IsDhcpEnabled() {
		t.Fatalf("DHCP as stored: %+v", got.OpenApiOrgVdcNetworkDhcp)
	}
	if err := vdc.DeleteVdcNetworkProfile(); err == nil {
		t.Fatal("the network profile was reset under a NETWORK mode DHCP service")
	}
	relay := *netMode
	relay.Mode, relay.IPAddress, relay.DhcpPools = "RELAY", "", nil
	refused("RELAY mode on an isolated network", &relay, "only on routed networks")

	b := must(n.CreateOpenApiOrgVdcNetworkDhcpBinding(&types.OpenApiOrgVdcNetworkDhcpBinding{
		Name: "host-1", BindingType: "IPV4", MacAddress: "00:11:22:33:44:55", IpAddress: "10.20.0.231",
	}))(t)
	if _, err := n.CreateOpenApiOrgVdcNetworkDhcpBinding(&types.OpenApiOrgVdcNetworkDhcpBinding{
		Name: "host-2", BindingType: "IPV4", MacAddress: "00:11:22:33:44:55", IpAddress: "10.20.0.232",
	}); err == nil {
		t.Fatal("a second binding for one MAC accepted")
	}
	if _, err := n.CreateOpenApiOrgVdcNetworkDhcpBinding(&types.OpenApiOrgVdcNetworkDhcpBinding{
		Name: "host-3", BindingType: "IPV4", MacAddress: "00:11:22:33:44:66", IpAddress: "10.20.0.200",
	}); err == nil || !strings.Contains(err.Error(), "DHCP pool") {
		t.Fatalf("a binding inside the pool: %v", err)
	}
	upd := *b.OpenApiOrgVdcNetworkDhcpBinding
	upd.IpAddress = "10.20.0.233"
	b2 := must(b.Update(&upd))(t)
	if b2.OpenApiOrgVdcNetworkDhcpBinding.IpAddress != "10.20.0.233" || b2.OpenApiOrgVdcNetworkDhcpBinding.Version.Version != 1 {
		t.Fatalf("updated binding %+v", b2.OpenApiOrgVdcNetworkDhcpBinding)
	}
	if err := vdc.DeleteOpenApiOrgVdcNetworkDhcp(id); err == nil {
		t.Fatal("DHCP deleted under a binding")
	}
	if err := b2.Delete(); err != nil {
		t.Fatal(err)
	}
	if err := vdc.DeleteOpenApiOrgVdcNetworkDhcp(id); err != nil {
		t.Fatal(err)
	}
	if d := must(n.GetOpenApiOrgVdcNetworkDhcp())(t); len(d.OpenApiOrgVdcNetworkDhcp.DhcpPools) != 0 || n.IsDhcpEnabled() {
		t.Fatalf("after delete: %+v", d.OpenApiOrgVdcNetworkDhcp)
	}
	if err := vdc.DeleteVdcNetworkProfile(); err != nil {
		t.Fatal(err)
	}
}

// On a routed network EDGE mode works (with the lease time and mode the
// client fills in) and the mode of an existing service cannot change.
func TestRoutedNetworkDhcpMode(t *testing.T) {
	env := start(t, Config{})
	c := env.tenant(t)
	tr := newTrunk(t, c)
	id := tr.net.OpenApiOrgVdcNetwork.ID
	edge := &types.OpenApiOrgVdcNetworkDhcp{Enabled: addrOf(true), DhcpPools: []types.OpenApiOrgVdcNetworkDhcpPools{{
		Enabled: addrOf(true), IPRange: types.OpenApiOrgVdcNetworkDhcpIpRange{StartAddress: "172.16.10.100", EndAddress: "172.16.10.110"}}}}
	got := must(tr.vdc.UpdateOpenApiOrgVdcNetworkDhcp(id, edge))(t)
	if got.OpenApiOrgVdcNetworkDhcp.Mode != "EDGE" || *got.OpenApiOrgVdcNetworkDhcp.LeaseTime != 86400 {
		t.Fatalf("EDGE mode DHCP %+v", got.OpenApiOrgVdcNetworkDhcp)
	}
	netMode := &types.OpenApiOrgVdcNetworkDhcp{Enabled: addrOf(true), Mode: "NETWORK", IPAddress: "172.16.10.5", LeaseTime: addrOf(3600)}
	if _, err := tr.vdc.UpdateOpenApiOrgVdcNetworkDhcp(id, netMode); err == nil || !strings.Contains(err.Error(), "cannot be changed") {
		t.Fatalf("mode change of an existing DHCP service: %v", err)
	}
	if err := tr.vdc.DeleteOpenApiOrgVdcNetworkDhcp(id); err != nil {
		t.Fatal(err)
	}
	must(tr.vdc.UpdateOpenApiOrgVdcNetworkDhcp(id, netMode))(t)
}
