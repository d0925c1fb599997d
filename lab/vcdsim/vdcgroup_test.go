package vcdsim

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// A second org VDC on the lab's provider VDC, a VDC group of it and
// Company-VDC, an edge gateway moved into the group and a routed network
// the group owns; VDC, group and edge are deleted in vCD's order.
func TestVdcGroupLifecycle(t *testing.T) {
	env := start(t, Config{})
	p := env.provider(t)
	adminOrg := must(p.GetAdminOrgByName("Company"))(t)
	pvdc := must(govcd.QueryProviderVdcByName(p, pvdcName))(t)[0]
	sp := must(p.QueryProviderVdcStorageProfileByName("*", pvdc.HREF))(t)
	pool := must(govcd.QueryNetworkPoolByName(p, NetworkPoolName))(t)[0]
	cfg := &types.VdcConfiguration{Name: "second", Xmlns: types.XMLNamespaceVCloud, AllocationModel: "Flex",
		ComputeCapacity: []*types.ComputeCapacity{{CPU: &types.CapacityWithUsage{Units: "MHz", Allocated: 1024, Limit: 1024},
			Memory: &types.CapacityWithUsage{Units: "MB", Allocated: 1024, Limit: 1024}}},
		VdcStorageProfile: []*types.VdcStorageProfileConfiguration{{Enabled: addrOf(true), Units: "MB", Limit: 1024, Default: true,
			ProviderVdcStorageProfile: &types.Reference{HREF: sp.HREF}}},
		ProviderVdcReference: &types.Reference{HREF: pvdc.HREF}, IsElastic: addrOf(true), IncludeMemoryOverhead: addrOf(true)}
	if _, err := adminOrg.CreateOrgVdc(cfg); err == nil || !strings.Contains(err.Error(), "network pool") {
		t.Fatalf("an NSX-T VDC without network pool: %v", err)
	}
	cfg.NetworkPoolReference = &types.Reference{HREF: pool.HREF}
	second := must(adminOrg.CreateOrgVdc(cfg))(t)
	if _, err := adminOrg.CreateOrgVdc(cfg); err == nil {
		t.Fatal("a second VDC of one name created")
	}
	if recs := must(must(p.GetOrgByName("Company"))(t).QueryOrgVdcList())(t); len(recs) != 2 {
		t.Fatalf("orgVdc query after creating a VDC: %d records", len(recs))
	}
	company := providerVdc(t, p)
	cands := must(adminOrg.GetAllNsxtVdcGroupCandidates(second.Vdc.ID, url.Values{"filter": {"name==Company-VDC"}}))(t)
	if len(cands) != 1 || cands[0].Id != company.Vdc.ID {
		t.Fatalf("candidates %+v", cands)
	}
	group := must(adminOrg.CreateNsxtVdcGroup("group", "", second.Vdc.ID, []string{second.Vdc.ID, company.Vdc.ID}))(t)
	if !group.IsNsxt() || len(group.VdcGroup.ParticipatingOrgVdcs) != 2 {
		t.Fatalf("group %+v", group.VdcGroup)
	}

	ext := must(govcd.GetExternalNetworkV2ByName(p, "provider-external"))(t)
	e := must(adminOrg.CreateNsxtEdgeGateway(&types.OpenAPIEdgeGateway{Name: "group-edge", OwnerRef: &types.OpenApiReference{ID: second.Vdc.ID},
		EdgeGatewayUplinks: []types.EdgeGatewayUplinks{{UplinkID: ext.ExternalNetwork.ID, Subnets: types.OpenAPIEdgeGatewaySubnets{
			Values: []types.OpenAPIEdgeGatewaySubnetValue{{Gateway: ext.ExternalNetwork.Subnets.Values[0].Gateway, PrefixLength: ext.ExternalNetwork.Subnets.Values[0].PrefixLength, Enabled: true}}}}}}))(t)
	net := &types.OpenApiOrgVdcNetwork{Name: "group-net", OwnerRef: &types.OpenApiReference{ID: group.VdcGroup.Id}, NetworkType: "NAT_ROUTED",
		Connection: &types.Connection{RouterRef: types.OpenApiReference{ID: e.EdgeGateway.ID}, ConnectionType: "INTERNAL"},
		Subnets:    types.OrgVdcNetworkSubnets{Values: []types.OrgVdcNetworkSubnetValues{{Gateway: "10.60.0.1", PrefixLength: 24}}}}
	if _, err := group.CreateOpenApiOrgVdcNetwork(net); err == nil || !strings.Contains(err.Error(), "owner of its edge gateway") {
		t.Fatalf("a group network on a VDC's edge gateway: %v", err)
	}
	moved := must(e.MoveToVdcOrVdcGroup(group.VdcGroup.Id))(t)
	if moved.EdgeGateway.OwnerRef.ID != group.VdcGroup.Id {
		t.Fatalf("moved edge owner %+v", moved.EdgeGateway.OwnerRef)
	}
	n := must(group.CreateOpenApiOrgVdcNetwork(net))(t)
	if got := must(group.GetOpenApiOrgVdcNetworkByName("group-net"))(t); got.OpenApiOrgVdcNetwork.ID != n.OpenApiOrgVdcNetwork.ID {
		t.Fatalf("network of the group %+v", got.OpenApiOrgVdcNetwork)
	}
	if err := group.Delete(); err == nil {
		t.Fatal("a VDC group with a network and an edge gateway deleted")
	}
	if err := n.Delete(); err != nil {
		t.Fatal(err)
	}
	if err := moved.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Delete(true, true); err == nil {
		t.Fatal("a VDC of a VDC group deleted")
	}
	if err := group.Delete(); err != nil {
		t.Fatal(err)
	}
	task := must(second.Delete(true, true))(t)
	if err := task.WaitTaskCompletion(); err != nil {
		t.Fatal(err)
	}
	if _, err := adminOrg.GetVDCByName("second", true); !govcd.ContainsNotFound(err) {
		t.Fatalf("deleted VDC: %v", err)
	}
}
