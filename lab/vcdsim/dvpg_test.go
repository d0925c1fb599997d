package vcdsim

import (
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// The provider vCenter's port groups, less its uplink port groups and those
// already imported, can be imported as OPAQUE org VDC networks, by the
// provider only.
func TestImportDistributedPortGroup(t *testing.T) {
	vcCfg, _ := providerVC(t)
	env := start(t, Config{ProviderVC: vcCfg})
	p := env.provider(t)
	vdc := providerVdc(t, p)
	all := must(vdc.GetAllVcenterImportableDvpgs(nil))(t)
	var names []string
	for _, d := range all {
		names = append(names, d.VcenterImportableDvpg.BackingRef.Name)
		if strings.Contains(d.VcenterImportableDvpg.BackingRef.Name, "Uplink") {
			t.Fatalf("an uplink port group is importable: %+v", d.VcenterImportableDvpg.BackingRef)
		}
	}
	dvpg := must(vdc.GetVcenterImportableDvpgByName("DC0_DVPG0"))(t)
	if dvpg.VcenterImportableDvpg.DvSwitch.BackingRef.Name != "DVS0" || !strings.HasPrefix(dvpg.VcenterImportableDvpg.VirtualCenter.ID, "urn:vcloud:vimserver:") {
		t.Fatalf("port group on %+v of %+v (importable: %q)", dvpg.VcenterImportableDvpg.DvSwitch.BackingRef, dvpg.VcenterImportableDvpg.VirtualCenter, names)
	}
	def := &types.OpenApiOrgVdcNetwork{Name: "imported", OwnerRef: &types.OpenApiReference{ID: vdc.Vdc.ID}, NetworkType: "OPAQUE",
		BackingNetworkId: dvpg.VcenterImportableDvpg.BackingRef.ID, BackingNetworkType: "DV_PORTGROUP",
		Subnets: types.OrgVdcNetworkSubnets{Values: []types.OrgVdcNetworkSubnetValues{{Gateway: "10.50.0.1", PrefixLength: 24}}}}
	tvdc := must(must(env.tenant(t).GetOrgByName("Company"))(t).GetVDCByName("Company-VDC", false))(t)
	if _, err := tvdc.CreateOpenApiOrgVdcNetwork(def); err == nil {
		t.Fatal("a tenant imported a port group")
	}
	n := must(vdc.CreateOpenApiOrgVdcNetwork(def))(t)
	if n.GetType() != "OPAQUE" || n.OpenApiOrgVdcNetwork.BackingNetworkType != "DV_PORTGROUP" || n.OpenApiOrgVdcNetwork.BackingNetworkId != def.BackingNetworkId {
		t.Fatalf("imported network %+v", n.OpenApiOrgVdcNetwork)
	}
	if _, err := vdc.GetVcenterImportableDvpgByName("DC0_DVPG0"); !govcd.ContainsNotFound(err) {
		t.Fatalf("an imported port group is still importable: %v", err)
	}
	def.Name = "imported-again"
	if _, err := vdc.CreateOpenApiOrgVdcNetwork(def); err == nil {
		t.Fatal("a port group imported twice")
	}
	def.Name, def.BackingNetworkType = "segment", ""
	if _, err := vdc.CreateOpenApiOrgVdcNetwork(def); err == nil || !strings.Contains(err.Error(), "NSX-T segment") {
		t.Fatalf("an NSX-T segment the lab lacks imported: %v", err)
	}
	n.OpenApiOrgVdcNetwork.Description = "updated"
	n = must(n.Update(n.OpenApiOrgVdcNetwork))(t)
	if err := n.Delete(); err != nil {
		t.Fatal(err)
	}
	must(vdc.GetVcenterImportableDvpgByName("DC0_DVPG0"))(t)
}
