package vcdsim

import (
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
)

// The lab's NSX-T has no segment left to import: the list is empty for the
// VDC, a lookup by name is not found, and a filter is required.
func TestImportableSwitches(t *testing.T) {
	env := start(t, Config{})
	c := env.tenant(t)
	vdc := must(must(c.GetOrgByName("Company"))(t).GetVDCByName("Company-VDC", false))(t)
	if l := must(vdc.GetAllNsxtImportableSwitches())(t); len(l) != 0 {
		t.Fatalf("importable switches %+v", l)
	}
	if _, err := vdc.GetNsxtImportableSwitchByName("segment-1"); !govcd.ContainsNotFound(err) {
		t.Fatalf("lookup of a segment the lab does not have: %v", err)
	}
	if _, err := c.GetFilteredNsxtImportableSwitches(map[string]string{}); err == nil {
		t.Fatal("unfiltered importable switches answered")
	}
	if _, err := c.GetFilteredNsxtImportableSwitches(map[string]string{"orgVdc": nameUUID("vdc", "other")}); err == nil {
		t.Fatal("importable switches of an unknown VDC answered")
	}
}

// The providerVdc query names the provider VDC the org VDC's records name,
// for the provider only.
func TestProviderVdcQuery(t *testing.T) {
	env := start(t, Config{})
	p := env.provider(t)
	l := must(govcd.QueryProviderVdcByName(p, pvdcName))(t)
	if len(l) != 1 || l[0].Name != pvdcName || !l[0].IsEnabled {
		t.Fatalf("provider VDCs named %s: %+v", pvdcName, l)
	}
	if l := must(govcd.QueryProviderVdcByName(p, "other"))(t); len(l) != 0 {
		t.Fatalf("filter ignored: %+v", l)
	}
	vdcs := must(p.Client.QueryWithNotEncodedParams(nil, map[string]string{"type": "adminOrgVdc"}))(t).Results.OrgVdcAdminRecord
	if len(vdcs) != 1 || vdcs[0].ProviderVdcName != pvdcName {
		t.Fatalf("org VDC records %+v", vdcs)
	}
	if _, err := env.tenant(t).QueryProviderVdcs(); err == nil {
		t.Fatal("a tenant queried provider VDCs")
	}
}

// The provider VDC's network pool and storage profile answer their queries,
// for the provider only.
func TestNetworkPoolAndStorageProfileQueries(t *testing.T) {
	env := start(t, Config{})
	p := env.provider(t)
	if l := must(govcd.QueryNetworkPoolByName(p, NetworkPoolName))(t); len(l) != 1 || l[0].Name != NetworkPoolName {
		t.Fatalf("network pools named %s: %+v", NetworkPoolName, l)
	}
	if l := must(govcd.QueryNetworkPoolByName(p, "other"))(t); len(l) != 0 {
		t.Fatalf("network pool filter ignored: %+v", l)
	}
	pvdc := must(govcd.QueryProviderVdcByName(p, pvdcName))(t)[0]
	sp := must(p.QueryProviderVdcStorageProfileByName("*", pvdc.HREF))(t)
	if sp.ProviderVdcHREF != pvdc.HREF || !sp.IsEnabled {
		t.Fatalf("storage profile %+v", sp)
	}
	if l := must(p.Client.QueryProviderVdcStorageProfiles(pvdc.HREF + "x"))(t); len(l) != 0 {
		t.Fatalf("storage profiles of another provider VDC: %+v", l)
	}
	if _, err := env.tenant(t).QueryNetworkPools(); err == nil {
		t.Fatal("a tenant queried network pools")
	}
}
