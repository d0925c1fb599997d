package vcdsim

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// TestAdminOrgLists: the AdminOrg carries users, catalogs and role
// references, so the client's lookups answer (found or not found) instead
// of dereferencing nil.
func TestAdminOrgLists(t *testing.T) {
	env := start(t, Config{})
	c := env.provider(t)
	adminOrg := must(c.GetAdminOrgByName("Company"))(t)

	for _, name := range []string{"Organization Administrator", "vApp User", "Catalog Author", "Console Access Only"} {
		ref := must(adminOrg.GetRoleReference(name))(t)
		if ref.Name != name || ref.HREF == "" {
			t.Fatalf("role reference %+v", ref)
		}
	}
	if _, err := adminOrg.GetRoleReference("No Such Role"); !govcd.ContainsNotFound(err) {
		t.Fatalf("unknown role: %v", err)
	}
	if _, err := adminOrg.GetCatalogByName("none", false); !govcd.ContainsNotFound(err) {
		t.Fatalf("unknown catalog: %v", err)
	}
	if _, err := adminOrg.GetAdminCatalogByName("none", false); !govcd.ContainsNotFound(err) {
		t.Fatalf("admin catalog: %v", err)
	}
	u := must(adminOrg.GetUserByName("companyadmin", false))(t)
	if u.User.Role == nil || u.User.Role.Name != "Organization Administrator" {
		t.Fatalf("user role %+v", u.User.Role)
	}
	if _, err := adminOrg.GetUserByName("nobody", false); !govcd.ContainsNotFound(err) {
		t.Fatalf("unknown user: %v", err)
	}

	// A role created in the tenant shows up among the references.
	role := must(adminOrg.CreateRole(&types.Role{Name: "ferry-test-role", Description: "d"}))(t)
	must(adminOrg.GetRoleReference("ferry-test-role"))(t)
	if role.Role.BundleKey != types.VcloudUndefinedKey {
		t.Fatalf("bundle key %q", role.Role.BundleKey)
	}
}

// TestSystemOrgRoles: a role created in the System organization can be
// read, updated and deleted like any other, and starts without rights.
func TestSystemOrgRoles(t *testing.T) {
	env := start(t, Config{})
	c := env.provider(t)
	sys := must(c.GetAdminOrgByName("System"))(t)
	role := must(sys.CreateRole(&types.Role{Name: "ferry-sys-role", Description: "d"}))(t)
	got := must(sys.GetRoleById(role.Role.ID))(t)
	if got.Role.Name != "ferry-sys-role" {
		t.Fatalf("role %+v", got.Role)
	}
	if n := len(must(got.GetRights(nil))(t)); n != 0 {
		t.Fatalf("new role has %d rights", n)
	}
	got.Role.Description = "updated"
	upd := must(got.Update())(t)
	if upd.Role.Description != "updated" {
		t.Fatalf("update: %+v", upd.Role)
	}
	if err := upd.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.GetRoleById(role.Role.ID); !govcd.ContainsNotFound(err) {
		t.Fatalf("deleted role: %v", err)
	}
}

// TestOrgLifecycle: create an org, publish a new bundle to it, and delete
// it (vCD refuses while it is enabled).
func TestOrgLifecycle(t *testing.T) {
	env := start(t, Config{})
	c := env.provider(t)
	task := must(govcd.CreateOrg(c, "Other", "Other Inc.", "desc", &types.OrgSettings{}, true))(t)
	if err := task.WaitInspectTaskCompletion(nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := govcd.CreateOrg(c, "other", "x", "", &types.OrgSettings{}, true); err == nil {
		t.Fatal("duplicate org name accepted")
	}
	other := must(c.GetAdminOrgByName("Other"))(t)
	if !other.AdminOrg.IsEnabled || other.AdminOrg.Description != "desc" {
		t.Fatalf("org %+v", other.AdminOrg)
	}
	orgs := must(c.QueryAllOrgs())(t)
	if len(orgs) != 4 { // System, Company, Globex, Other
		t.Fatalf("query organization: %d records", len(orgs))
	}
	rec := must(c.QueryOrgByName("Other"))(t)
	if rec.Name != "Other" || !rec.IsEnabled {
		t.Fatalf("org record %+v", rec)
	}

	rb := must(c.Client.CreateRightsBundle(&types.RightsBundle{Name: "ferry-bundle", Description: "d"}))(t)
	if rb.RightsBundle.BundleKey != types.VcloudUndefinedKey {
		t.Fatalf("bundle key %q", rb.RightsBundle.BundleKey)
	}
	if err := rb.PublishTenants([]types.OpenApiReference{{ID: other.AdminOrg.ID, Name: "Other"}}); err != nil {
		t.Fatal(err)
	}
	rb.RightsBundle.Description = "changed"
	upd := must(rb.Update())(t)
	if upd.RightsBundle.Description != "changed" {
		t.Fatalf("bundle update %+v", upd.RightsBundle)
	}

	// Delete needs a disabled org: the client disables it first.
	if err := other.Delete(true, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAdminOrgByName("Other"); !govcd.ContainsNotFound(err) {
		t.Fatalf("deleted org: %v", err)
	}
	if n := len(must(upd.GetTenants(nil))(t)); n != 0 {
		t.Fatalf("bundle still published to %d tenants after the org was deleted", n)
	}
	if err := upd.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.GetRightsBundleById(upd.RightsBundle.Id); !govcd.ContainsNotFound(err) {
		t.Fatalf("deleted bundle: %v", err)
	}
	// The lab's tenant owns the VDC and is enabled: no deletion.
	company := must(c.GetAdminOrgByName("Company"))(t)
	if err := company.Delete(false, false); err == nil {
		t.Fatal("deleting the tenant that owns the VDC succeeded")
	}
}

// TestImpliedRights: a MODIFY right lists the VIEW rights of its entity
// as implied, and the client finds them.
func TestImpliedRights(t *testing.T) {
	env := start(t, Config{})
	c := env.provider(t)
	var refs []types.OpenApiReference
	for _, n := range []string{"Catalog: Add vApp from My Cloud", "Catalog: Edit Properties"} {
		r := must(c.Client.GetRightByName(n))(t)
		refs = append(refs, types.OpenApiReference{Name: r.Name, ID: r.ID})
	}
	// vCD's implied rights of these two (impliedrights.go): four rights,
	// one of them a MODIFY right of another entity
	implied := must(govcd.FindMissingImpliedRights(&c.Client, refs))(t)
	var names []string
	for _, ir := range implied {
		r := must(c.Client.GetRightByName(ir.Name))(t)
		if r.ID != ir.ID {
			t.Fatalf("implied right %+v", r)
		}
		names = append(names, ir.Name)
	}
	sort.Strings(names)
	want := []string{"Catalog: View Private and Shared Catalogs", "Organization vDC Compute Policy: View", "vApp Template / Media: Edit", "vApp Template / Media: View"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("implied rights %q, want %q", names, want)
	}
	if r := must(c.Client.GetRightByName("Catalog: Add vApp from My Cloud"))(t); r.ID != "urn:vcloud:right:4886663f-ae31-37fc-9a70-3dbe2f24a8c5" {
		t.Fatalf("right id %s is not vCD's", r.ID)
	}
	for _, n := range []string{
		"VCD Extension: Register, Unregister, Refresh, Associate or Disassociate",
		"UI Plugins: Define, Upload, Modify, Delete, Associate or Disassociate",
	} {
		must(c.Client.GetRightByName(n))(t)
	}
}

// TestQueryTypes: organization, nsxTManager and the catalog types answer.
func TestQueryTypes(t *testing.T) {
	env := start(t, Config{})
	c := env.provider(t)
	m := must(c.QueryNsxtManagerByName(NsxtManagerName))(t)
	if len(m) != 1 {
		t.Fatalf("nsxTManager: %d records", len(m))
	}
	if mgr := must(c.GetNsxtManagerByName(NsxtManagerName))(t); mgr.NsxtManager.Name != NsxtManagerName {
		t.Fatalf("NSX-T manager %+v", mgr.NsxtManager)
	}
	if m := must(c.QueryNsxtManagerByName("other"))(t); len(m) != 0 {
		t.Fatalf("filter ignored: %d records", len(m))
	}
	res := must(c.Client.QueryWithNotEncodedParams(nil, map[string]string{"type": "adminCatalog"}))(t)
	if res.Results.Total != 1 || res.Results.AdminCatalogRecord[0].Name != CatalogName {
		t.Fatalf("catalogs: the lab has one (%s): %+v", CatalogName, res.Results.AdminCatalogRecord)
	}
	// A tenant sees only its own org, and no NSX-T manager.
	tc := env.tenant(t)
	if orgs := must(tc.QueryAllOrgs())(t); len(orgs) != 1 || orgs[0].Name != "Company" {
		t.Fatalf("tenant org query: %+v", orgs)
	}
	if _, err := tc.QueryNsxtManagerByName(NsxtManagerName); err == nil {
		t.Fatal("a tenant queried NSX-T managers")
	}
}

// TestSecondTenant: a second tenant (Globex) gets the Default Rights Bundle
// and the global roles like Company, lists its own administrator in its
// AdminOrg record, and what is published to Company only does not reach it.
func TestSecondTenant(t *testing.T) {
	env := start(t, Config{})
	c := env.provider(t)
	globex := must(c.GetAdminOrgByName("Globex"))(t)
	u := must(globex.GetUserByName("globexadmin", false))(t)
	if u.User.Role == nil || u.User.Role.Name != "Organization Administrator" {
		t.Fatalf("globexadmin's role: %+v", u.User.Role)
	}
	if _, err := globex.GetUserByName("companyadmin", false); !govcd.ContainsNotFound(err) {
		t.Fatalf("Company's user found in Globex: %v", err)
	}
	rb := must(c.Client.GetRightsBundleByName("Default Rights Bundle"))(t)
	var names []string
	for _, ref := range must(rb.GetTenants(nil))(t) {
		names = append(names, ref.Name)
	}
	if !slices.Contains(names, "Company") || !slices.Contains(names, "Globex") {
		t.Fatalf("Default Rights Bundle published to %v", names)
	}
	role := must(globex.GetRoleByName("Organization Administrator"))(t)
	if !role.Role.ReadOnly || len(must(role.GetRights(nil))(t)) == 0 {
		t.Fatalf("Globex's Organization Administrator: %+v", role.Role)
	}

	// A bundle published to Company only gives Globex nothing.
	right := must(c.Client.GetRightByName(l2vpnRight))(t)
	own := must(c.Client.CreateRightsBundle(&types.RightsBundle{Name: "company only"}))(t)
	if err := own.AddRights([]types.OpenApiReference{{Name: right.Name, ID: right.ID}}); err != nil {
		t.Fatal(err)
	}
	if err := own.PublishTenants([]types.OpenApiReference{{Name: "Company", ID: must(c.GetAdminOrgByName("Company"))(t).AdminOrg.ID}}); err != nil {
		t.Fatal(err)
	}
	if !env.srv.OrgHasRight("Company", l2vpnRight) || env.srv.OrgHasRight("Globex", l2vpnRight) {
		t.Fatalf("after publishing to Company only: Company %v, Globex %v", env.srv.OrgHasRight("Company", l2vpnRight), env.srv.OrgHasRight("Globex", l2vpnRight))
	}
}

// TestUserRole: what a tenant user may do follows its own role; the
// provider changes it (OrgUser.ChangeRole) to a role of the user's org only,
// and a role a user holds cannot be deleted.
func TestUserRole(t *testing.T) {
	env := start(t, Config{EnforceRights: true})
	c := env.provider(t)
	company := must(c.GetAdminOrgByName("Company"))(t)
	var refs []types.OpenApiReference
	for _, name := range []string{l2vpnRight, "Organization vDC Gateway: View L2 VPN"} {
		r := must(c.Client.GetRightByName(name))(t)
		refs = append(refs, types.OpenApiReference{Name: r.Name, ID: r.ID})
	}
	own := must(c.Client.CreateRightsBundle(&types.RightsBundle{Name: "company only"}))(t)
	if err := own.AddRights(refs); err != nil {
		t.Fatal(err)
	}
	if err := own.PublishTenants([]types.OpenApiReference{{Name: "Company", ID: company.AdminOrg.ID}}); err != nil {
		t.Fatal(err)
	}
	// A role of Company's with the right, not yet the user's: refused.
	role := must(company.CreateRole(&types.Role{Name: "L2 VPN admin", Description: "d"}))(t)
	if err := role.AddRights(refs); err != nil {
		t.Fatal(err)
	}
	tr := newTrunk(t, env.tenant(t))
	if _, err := tr.egw.CreateL2VpnTunnel(tr.tunnelSpec("early", 1)); err == nil || !strings.Contains(err.Error(), "Configure L2 VPN") {
		t.Fatalf("tunnel with the right in a role the user does not hold: %v", err)
	}

	// Another org's role is refused; Company's own is taken.
	u := must(company.GetUserByName("companyadmin", true))(t)
	globex := must(c.GetAdminOrgByName("Globex"))(t)
	u.User.Role = must(globex.GetRoleReference("Organization Administrator"))(t)
	if err := u.Update(); err == nil || !strings.Contains(err.Error(), "does not exist in organization Company") {
		t.Fatalf("Globex's role for Company's user: %v", err)
	}
	u = must(company.GetUserByName("companyadmin", true))(t)
	if err := u.ChangeRole("L2 VPN admin"); err != nil {
		t.Fatal(err)
	}
	if got := must(company.GetUserByName("companyadmin", true))(t); got.User.Role == nil || got.User.Role.Name != "L2 VPN admin" {
		t.Fatalf("role after ChangeRole: %+v", got.User.Role)
	}
	must(tr.egw.CreateL2VpnTunnel(tr.tunnelSpec("late", 1)))(t)
	if err := role.Delete(); err == nil || !strings.Contains(err.Error(), "companyadmin") {
		t.Fatalf("deleting a role in use: %v", err)
	}
}
