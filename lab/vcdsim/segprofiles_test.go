package vcdsim

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// isolatedNet creates an isolated network 10.20.0.0/24 with the static
// pool .20-.30, as the provider in the tenant's VDC.
func isolatedNet(t *testing.T, vdc *govcd.Vdc, name string, tpl *types.OpenApiReference) *govcd.OpenApiOrgVdcNetwork {
	t.Helper()
	return must(vdc.CreateOpenApiOrgVdcNetwork(&types.OpenApiOrgVdcNetwork{
		Name: name, OwnerRef: &types.OpenApiReference{ID: vdc.Vdc.ID}, NetworkType: "ISOLATED",
		SegmentProfileTemplate: tpl,
		Subnets: types.OrgVdcNetworkSubnets{Values: []types.OrgVdcNetworkSubnetValues{{
			Gateway: "10.20.0.1", PrefixLength: 24,
			IPRanges: types.OrgVdcNetworkSubnetIPRanges{Values: []types.OrgVdcNetworkSubnetIPRangeValues{{StartAddress: "10.20.0.20", EndAddress: "10.20.0.30"}}},
		}}},
	}))(t)
}

func providerVdc(t *testing.T, p *govcd.VCDClient) *govcd.Vdc {
	t.Helper()
	return must(must(p.GetOrgByName("Company"))(t).GetVDCByName("Company-VDC", false))(t)
}

// The NSX-T default segment profiles are listed per NSX-T manager or VDC;
// a template names one of each; a network given a template shows it in its
// segment profiles (not in its own body); profiles set one by one replace
// the template; a template in use cannot be deleted.
func TestSegmentProfilesAndTemplates(t *testing.T) {
	env := start(t, Config{})
	p := env.provider(t)
	mgr := must(p.GetNsxtManagerByName(NsxtManagerName))(t)
	mgrURN := must(mgr.Urn())(t)
	byMgr := url.Values{"filter": {"nsxTManagerRef.id==" + mgrURN}}
	ipd := must(p.GetIpDiscoveryProfileByName("default-ip-discovery-profile", byMgr))(t)
	mac := must(p.GetMacDiscoveryProfileByName("default-mac-discovery-profile", byMgr))(t)
	spoof := must(p.GetSpoofGuardProfileByName("default-spoofguard-profile", byMgr))(t)
	qos := must(p.GetQoSProfileByName("default-qos-profile", byMgr))(t)
	sec := must(p.GetSegmentSecurityProfileByName("default-segment-security-profile", byMgr))(t)
	if ipd.NsxTManagerRef.ID != mgrURN || !strings.HasPrefix(ipd.ID, "/infra/") {
		t.Fatalf("IP discovery profile %+v", ipd)
	}
	vdc := providerVdc(t, p)
	if l := must(p.GetAllMacDiscoveryProfiles(url.Values{"filter": {"orgVdcId==" + vdc.Vdc.ID}}))(t); len(l) != 1 {
		t.Fatalf("profiles of the VDC: %d", len(l))
	}
	if _, err := p.GetAllQoSProfiles(nil); err == nil || !strings.Contains(err.Error(), "nsxTManagerRef.id, orgVdcId or vdcGroupId") {
		t.Fatalf("unfiltered profile list: %v", err)
	}

	def := func(name string) *types.NsxtSegmentProfileTemplate {
		return &types.NsxtSegmentProfileTemplate{Name: name, SourceNsxTManagerRef: &types.OpenApiReference{ID: mgr.NsxtManager.ID},
			IPDiscoveryProfile: &types.Reference{ID: ipd.ID}, MacDiscoveryProfile: &types.Reference{ID: mac.ID},
			SpoofGuardProfile: &types.Reference{ID: spoof.ID}, QosProfile: &types.Reference{ID: qos.ID}, SegmentSecurityProfile: &types.Reference{ID: sec.ID}}
	}
	bad := def("bad")
	bad.QosProfile = &types.Reference{ID: ipd.ID}
	if _, err := p.CreateSegmentProfileTemplate(bad); err == nil || !strings.Contains(err.Error(), "qosProfile") {
		t.Fatalf("template naming an IP discovery profile as QoS profile: %v", err)
	}
	t1 := must(p.CreateSegmentProfileTemplate(def("t1")))(t)
	t2 := must(p.CreateSegmentProfileTemplate(def("t2")))(t)
	if _, err := p.CreateSegmentProfileTemplate(def("t1")); err == nil {
		t.Fatal("duplicate template name accepted")
	}
	if _, err := env.tenant(t).GetAllSegmentProfileTemplates(nil); err == nil {
		t.Fatal("a tenant listed segment profile templates")
	}

	n := isolatedNet(t, vdc, "seg-net", &types.OpenApiReference{ID: t1.NsxtSegmentProfileTemplate.ID})
	if n.OpenApiOrgVdcNetwork.SegmentProfileTemplate != nil {
		t.Fatalf("network body shows the template: %+v", n.OpenApiOrgVdcNetwork.SegmentProfileTemplate)
	}
	sp := must(n.GetSegmentProfile())(t)
	if sp.SegmentProfileTemplate == nil || sp.SegmentProfileTemplate.TemplateRef.ID != t1.NsxtSegmentProfileTemplate.ID || sp.QosProfile.ID != qos.ID {
		t.Fatalf("segment profiles after create: %+v", sp)
	}
	n.OpenApiOrgVdcNetwork.SegmentProfileTemplate = &types.OpenApiReference{ID: t2.NsxtSegmentProfileTemplate.ID}
	n = must(n.Update(n.OpenApiOrgVdcNetwork))(t)
	if sp := must(n.GetSegmentProfile())(t); sp.SegmentProfileTemplate.TemplateRef.ID != t2.NsxtSegmentProfileTemplate.ID {
		t.Fatalf("segment profiles after update: %+v", sp)
	}
	if err := t2.Delete(); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("deleting a template in use: %v", err)
	}
	if _, err := n.UpdateSegmentProfile(&types.OrgVdcNetworkSegmentProfiles{SpoofGuardProfile: &types.Reference{ID: "/infra/spoofguard-profiles/none"}}); err == nil {
		t.Fatal("an unknown spoof guard profile accepted")
	}
	sp = must(n.UpdateSegmentProfile(&types.OrgVdcNetworkSegmentProfiles{SpoofGuardProfile: &types.Reference{ID: spoof.ID}}))(t)
	if sp.SegmentProfileTemplate != nil || sp.SpoofGuardProfile.ID != spoof.ID || sp.QosProfile != nil {
		t.Fatalf("profiles set one by one: %+v", sp)
	}
	if err := t2.Delete(); err != nil {
		t.Fatal(err)
	}
	if err := n.Delete(); err != nil {
		t.Fatal(err)
	}
	if err := t1.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetSegmentProfileTemplateById(t1.NsxtSegmentProfileTemplate.ID); !govcd.ContainsNotFound(err) {
		t.Fatalf("deleted template: %v", err)
	}
}
