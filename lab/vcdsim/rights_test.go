package vcdsim

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

const l2vpnRight = "Organization vDC Gateway: Configure L2 VPN"

func TestRightsCatalogue(t *testing.T) {
	env := start(t, Config{})
	c := env.provider(t)

	r := must(c.Client.GetRightByName(l2vpnRight))(t)
	if r.ID != "urn:vcloud:right:eeb2b2a0-33a1-36d4-a121-6547ad992d59" {
		t.Fatalf("right id %q", r.ID)
	}
	for _, name := range RemovedRights {
		if _, err := c.Client.GetRightByName(name); !govcd.ContainsNotFound(err) {
			t.Fatalf("%q: want not found, got %v", name, err)
		}
	}
	all := must(c.Client.GetAllRights(nil))(t)
	if len(all) < 150 {
		t.Fatalf("only %d rights in the catalogue", len(all))
	}
	cats := must(c.Client.GetAllRightsCategories(nil))(t)
	if len(cats) < 5 {
		t.Fatalf("%d categories", len(cats))
	}
	must(c.Client.GetRightsCategoryById(r.Category))(t)
	// A name with a comma is searched the slow way by the client.
	must(c.Client.GetRightByName("vApp: VM Migrate, Force Undeploy, Relocate, Consolidate"))(t)
}

// TestRightsStep walks the rights step of a migration: the tenant lacks the
// L2 VPN rights until they are added to the bundle published to it, then the
// global role gets them, and the tenant's copy of the role shows them.
func TestRightsStep(t *testing.T) {
	env := start(t, Config{})
	c := env.provider(t)
	adminOrg := must(c.GetAdminOrgByName("Company"))(t)

	if _, err := adminOrg.GetRightByName(l2vpnRight); !govcd.ContainsNotFound(err) {
		t.Fatalf("tenant has %q before the bundle grants it: %v", l2vpnRight, err)
	}
	right := must(c.Client.GetRightByName(l2vpnRight))(t)
	ref := []types.OpenApiReference{{Name: right.Name, ID: right.ID}}

	rb := must(c.Client.GetRightsBundleByName("Default Rights Bundle"))(t)
	if err := rb.AddRights(ref); err != nil {
		t.Fatal(err)
	}
	if err := rb.PublishTenants([]types.OpenApiReference{{Name: "Company", ID: adminOrg.AdminOrg.ID}}); err != nil {
		t.Fatal(err)
	}
	tenants := must(rb.GetTenants(nil))(t)
	if len(tenants) != 2 || tenants[0].Name != "Company" || tenants[1].Name != "Globex" {
		t.Fatalf("bundle tenants %+v", tenants)
	}
	if !env.srv.OrgHasRight("Company", l2vpnRight) {
		t.Fatal("org does not have the right after bundle publication")
	}
	must(adminOrg.GetRightByName(l2vpnRight))(t)

	// The tenant's copy of the global role is read-only.
	role := must(adminOrg.GetRoleByName("Organization Administrator"))(t)
	if !role.Role.ReadOnly {
		t.Fatal("tenant copy of a global role is writable")
	}
	if err := role.AddRights(ref); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("adding rights to the tenant copy: %v", err)
	}
	gr := must(c.Client.GetGlobalRoleByName("Organization Administrator"))(t)
	if err := gr.AddRights(ref); err != nil {
		t.Fatal(err)
	}
	if err := gr.PublishTenants([]types.OpenApiReference{{Name: "Company", ID: adminOrg.AdminOrg.ID}}); err != nil {
		t.Fatal(err)
	}
	got := must(role.GetRights(nil))(t)
	if !hasRight(got, l2vpnRight) {
		t.Fatal("tenant role lacks the right added to the global role")
	}

	// A role the tenant creates is writable, within the org's rights.
	custom := must(adminOrg.CreateRole(&types.Role{Name: "Network Operator", Description: "L2 VPN"}))(t)
	if err := custom.AddRights(ref); err != nil {
		t.Fatal(err)
	}
	missing := must(c.Client.GetRightByName("Organization vDC Gateway: Configure IPSec VPN"))(t)
	err := custom.AddRights([]types.OpenApiReference{{Name: missing.Name, ID: missing.ID}})
	if err == nil || !strings.Contains(err.Error(), "not available") {
		t.Fatalf("adding a right the org lacks: %v", err)
	}

	// The tenant user sees the same roles through its own session.
	tc := env.tenant(t)
	tOrg := must(tc.GetAdminOrgByName("Company"))(t)
	tRole := must(tOrg.GetRoleByName("Network Operator"))(t)
	if !hasRight(must(tRole.GetRights(nil))(t), l2vpnRight) {
		t.Fatal("tenant does not see its role's rights")
	}
	if _, err := tc.Client.GetRightsBundleByName("Default Rights Bundle"); err == nil {
		t.Fatal("tenant can read provider rights bundles")
	}
}

func hasRight(rights []*types.Right, name string) bool {
	for _, r := range rights {
		if r.Name == name {
			return true
		}
	}
	return false
}

// TestLegacyOrgRights uses the XML OrgRights endpoint the walkthrough's
// PowerShell script uses.
func TestLegacyOrgRights(t *testing.T) {
	env := start(t, Config{})
	c := env.provider(t)
	adminOrg := must(c.GetAdminOrgByName("Company"))(t)
	href := adminOrg.AdminOrg.HREF + "/rights"

	var rights types.RightsType
	if _, err := c.Client.ExecuteRequest(href, http.MethodGet, mimeOrgRight, "get org rights: %s", nil, &rights); err != nil {
		t.Fatal(err)
	}
	before := len(rights.RightReference)
	if before == 0 {
		t.Fatal("org has no rights")
	}
	host := href[:strings.Index(href, "/api/")]
	rights.RightReference = append(rights.RightReference, &types.Reference{
		HREF: host + "/api/admin/right/105191de-9e29-3495-a917-05fcb5ec1ad0", Name: "Organization vDC Gateway: View L2 VPN", Type: mimeRight,
	})
	payload := &orgRightsPayload{Xmlns: types.XMLNamespaceVCloud, RightReference: rights.RightReference}
	var after types.RightsType
	if _, err := c.Client.ExecuteRequest(href, http.MethodPut, mimeOrgRight, "put org rights: %s", payload, &after); err != nil {
		t.Fatal(err)
	}
	if len(after.RightReference) != before+1 || !env.srv.OrgHasRight("Company", "Organization vDC Gateway: View L2 VPN") {
		t.Fatalf("rights %d -> %d", before, len(after.RightReference))
	}

	// A right this vCD does not know is refused by name.
	payload.RightReference = append(payload.RightReference, &types.Reference{
		HREF: host + "/api/admin/right/629c90fd-78a4-3929-98bd-57e4747d067b", Name: "Hybrid Cloud Operations: View from-the-cloud tunnel",
	})
	_, err := c.Client.ExecuteRequest(href, http.MethodPut, mimeOrgRight, "put org rights: %s", payload, &after)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("unknown right: %v", err)
	}
}

type orgRightsPayload struct {
	XMLName        struct{}           `xml:"OrgRights"`
	Xmlns          string             `xml:"xmlns,attr"`
	RightReference []*types.Reference `xml:"RightReference"`
}

// TestEnforceRights: with EnforceRights the tenant cannot touch L2 VPN
// tunnels until the rights step has granted them to its role.
func TestEnforceRights(t *testing.T) {
	env := start(t, Config{EnforceRights: true})
	tc := env.tenant(t)
	tr := newTrunk(t, tc)
	if _, err := tr.egw.CreateL2VpnTunnel(tr.tunnelSpec("early", 1)); err == nil || !strings.Contains(err.Error(), "Configure L2 VPN") {
		t.Fatalf("tunnel before the rights step: %v", err)
	}

	c := env.provider(t)
	var refs []types.OpenApiReference
	for _, name := range []string{l2vpnRight, "Organization vDC Gateway: View L2 VPN"} {
		r := must(c.Client.GetRightByName(name))(t)
		refs = append(refs, types.OpenApiReference{Name: r.Name, ID: r.ID})
	}
	rb := must(c.Client.GetRightsBundleByName("Default Rights Bundle"))(t)
	if err := rb.AddRights(refs); err != nil {
		t.Fatal(err)
	}
	// In the bundle but not in the role: still refused.
	if _, err := tr.egw.CreateL2VpnTunnel(tr.tunnelSpec("early", 1)); err == nil {
		t.Fatal("tunnel allowed with the right in the bundle only")
	}
	gr := must(c.Client.GetGlobalRoleByName("Organization Administrator"))(t)
	if err := gr.AddRights(refs); err != nil {
		t.Fatal(err)
	}
	must(tr.egw.CreateL2VpnTunnel(tr.tunnelSpec("late", 1)))(t)
}
