package vcdsim

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// An external network on the importable tier-0 VRF; an edge gateway on it
// gets a primary IP allocated, its subnet must be the network's, its
// addresses free; a NON_DISTRIBUTED network needs non-distributed routing;
// an edge gateway with a network cannot be deleted.
func TestEdgeGatewayLifecycle(t *testing.T) {
	env := start(t, Config{})
	p := env.provider(t)
	if _, err := govcd.GetExternalNetworkV2ByName(env.tenant(t), "provider-external"); err == nil {
		t.Fatal("a tenant read an external network")
	}
	up := must(govcd.GetExternalNetworkV2ByName(p, "provider-external"))(t)
	if up.ExternalNetwork.UsedIpCount == nil || *up.ExternalNetwork.UsedIpCount != 5 {
		t.Fatalf("the lab edge's uplink addresses are not counted: %+v", up.ExternalNetwork)
	}
	mgr := must(p.GetNsxtManagerByName(NsxtManagerName))(t)
	t0s := must(p.GetAllImportableNsxtTier0Routers(mgr.NsxtManager.ID, nil))(t)
	if len(t0s) != 1 || t0s[0].NsxtTier0Router.DisplayName != "tier-0-router-vrf" {
		t.Fatalf("importable tier-0s %+v", t0s)
	}
	def := &types.ExternalNetworkV2{Name: "ext-2",
		NetworkBackings: types.ExternalNetworkV2Backings{Values: []types.ExternalNetworkV2Backing{{
			BackingID: labTier0s[0].id, BackingTypeValue: "NSXT_TIER0", NetworkProvider: types.NetworkProvider{ID: mgr.NsxtManager.ID}}}},
		Subnets: types.ExternalNetworkV2Subnets{Values: []types.ExternalNetworkV2Subnet{{Gateway: "10.10.10.10", PrefixLength: 24, Enabled: true,
			IPRanges: types.ExternalNetworkV2IPRanges{Values: []types.ExternalNetworkV2IPRange{{StartAddress: "10.10.10.100", EndAddress: "10.10.10.101"}}}}}},
	}
	if _, err := govcd.CreateExternalNetworkV2(p, def); err == nil || !strings.Contains(err.Error(), "already backs") {
		t.Fatalf("a second external network on one tier-0: %v", err)
	}
	def.NetworkBackings.Values[0].BackingID, def.NetworkBackings.Values[0].BackingTypeValue = t0s[0].NsxtTier0Router.ID, "NSXT_VRF_TIER0"
	ext := must(govcd.CreateExternalNetworkV2(p, def))(t)

	adminOrg := must(p.GetAdminOrgByName("Company"))(t)
	vdc := providerVdc(t, p)
	edgeDef := func(name, gw string) *types.OpenAPIEdgeGateway {
		return &types.OpenAPIEdgeGateway{Name: name, OwnerRef: &types.OpenApiReference{ID: vdc.Vdc.ID},
			EdgeGatewayUplinks: []types.EdgeGatewayUplinks{{UplinkID: ext.ExternalNetwork.ID, Connected: true,
				Subnets: types.OpenAPIEdgeGatewaySubnets{Values: []types.OpenAPIEdgeGatewaySubnetValue{{Gateway: gw, PrefixLength: 24, Enabled: true}}}}}}
	}
	if _, err := adminOrg.CreateNsxtEdgeGateway(edgeDef("e0", "10.10.20.1")); err == nil || !strings.Contains(err.Error(), "not a subnet of external network") {
		t.Fatalf("an uplink subnet the network lacks: %v", err)
	}
	e1def := edgeDef("e1", "10.10.10.10")
	e1def.NonDistributedRoutingEnabled = addrOf(true)
	e1 := must(adminOrg.CreateNsxtEdgeGateway(e1def))(t)
	if got := e1.EdgeGateway.EdgeGatewayUplinks[0].Subnets.Values[0].PrimaryIP; got != "10.10.10.100" || e1.EdgeGateway.OwnerRef.ID != vdc.Vdc.ID {
		t.Fatalf("edge e1: primary %q, owner %+v", got, e1.EdgeGateway.OwnerRef)
	}
	e2 := must(adminOrg.CreateNsxtEdgeGateway(edgeDef("e2", "10.10.10.10")))(t)
	if _, err := adminOrg.CreateNsxtEdgeGateway(edgeDef("e3", "10.10.10.10")); err == nil || !strings.Contains(err.Error(), "no free IP") {
		t.Fatalf("a third edge on a two-address network: %v", err)
	}
	if _, err := e2.MoveToVdcOrVdcGroup("urn:vcloud:vdcGroup:" + newUUID()); err == nil {
		t.Fatal("edge moved to a VDC group that does not exist")
	}

	net := &types.OpenApiOrgVdcNetwork{Name: "nd", OwnerRef: &types.OpenApiReference{ID: vdc.Vdc.ID}, NetworkType: "NAT_ROUTED",
		Connection: &types.Connection{RouterRef: types.OpenApiReference{ID: e1.EdgeGateway.ID}, ConnectionTypeValue: "NON_DISTRIBUTED"},
		Subnets:    types.OrgVdcNetworkSubnets{Values: []types.OrgVdcNetworkSubnetValues{{Gateway: "10.40.0.1", PrefixLength: 24}}}}
	n := must(vdc.CreateOpenApiOrgVdcNetwork(net))(t)
	net.Name, net.Connection.RouterRef.ID = "nd2", e2.EdgeGateway.ID
	if _, err := vdc.CreateOpenApiOrgVdcNetwork(net); err == nil || !strings.Contains(err.Error(), "non-distributed routing") {
		t.Fatalf("NON_DISTRIBUTED on an edge without non-distributed routing: %v", err)
	}
	if err := e1.Delete(); err == nil {
		t.Fatal("an edge gateway with a network deleted")
	}
	if err := n.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*govcd.NsxtEdgeGateway{e1, e2} {
		if err := e.Delete(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := adminOrg.GetNsxtEdgeGatewayById(e1.EdgeGateway.ID); !govcd.ContainsNotFound(err) {
		t.Fatalf("deleted edge gateway: %v", err)
	}
	if err := ext.Delete(); err != nil {
		t.Fatal(err)
	}
	if l := must(govcd.GetAllExternalNetworksV2(p, url.Values{"filter": {"name==ext-2"}}))(t); len(l) != 0 {
		t.Fatalf("deleted external network listed: %d", len(l))
	}
}
