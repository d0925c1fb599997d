package steps_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	vcdtypes "github.com/vmware/go-vcloud-director/v2/types/v56"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// rightsPlanOnly is the lab's plan with every step but step 1 skipped.
func rightsPlanOnly(t *testing.T, l *lab.Lab, edit func(pf *steps.PlanFile)) string {
	return labPlan(t, l, func(pf *steps.PlanFile) {
		pf.Skip = append(pf.Skip, "trunk-network", "appliance", "dc-extension")
		if edit != nil {
			edit(pf)
		}
	})
}

// rightNamesOf lists the rights sorted, one line each, after prefix.
func rightNamesOf(prefix string, rs []*vcdtypes.Right) string {
	var lines []string
	for _, r := range rs {
		lines = append(lines, fmt.Sprintf("%s has %q\n", prefix, r.Name))
	}
	sort.Strings(lines)
	return strings.Join(lines, "")
}

func refNames(refs []vcdtypes.OpenApiReference) []string {
	var names []string
	for _, r := range refs {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	return names
}

// othersView is what a provider administrator sees, through
// go-vcloud-director, of every organization but tenant (and System): its
// effective rights, the rights bundles published to it with their rights,
// its roles with their rights and its users' roles; and every rights bundle
// and global role that reaches more than one organization (or another
// organization than tenant), with its rights and tenants. Two views are
// equal only if nothing that reaches another organization changed.
func othersView(t *testing.T, l *lab.Lab, tenant string) string {
	t.Helper()
	sys := labtest.VCD(t, l.Config().VCD)
	var b strings.Builder
	orgs, err := sys.QueryAllOrgs()
	if err != nil {
		t.Fatal(err)
	}
	var others []string
	for _, o := range orgs {
		if o.Name != tenant && o.Name != "System" {
			others = append(others, o.Name)
		}
	}
	sort.Strings(others)
	if len(others) == 0 {
		t.Fatal("the lab has no organization besides " + tenant)
	}
	type container struct {
		kind, name string
		all        bool
		tenants    []string
		rights     string
	}
	var shared []container
	bundles, err := sys.Client.GetAllRightsBundles(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, rb := range bundles {
		ten, err := rb.GetTenants(nil)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := rb.GetRights(nil)
		if err != nil {
			t.Fatal(err)
		}
		shared = append(shared, container{"rights bundle", rb.RightsBundle.Name, rb.RightsBundle.PublishAll != nil && *rb.RightsBundle.PublishAll, refNames(ten), rightNamesOf(fmt.Sprintf("rights bundle %q", rb.RightsBundle.Name), rs)})
	}
	globals, err := sys.Client.GetAllGlobalRoles(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, gr := range globals {
		ten, err := gr.GetTenants(nil)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := gr.GetRights(nil)
		if err != nil {
			t.Fatal(err)
		}
		shared = append(shared, container{"global role", gr.GlobalRole.Name, gr.GlobalRole.PublishAll != nil && *gr.GlobalRole.PublishAll, refNames(ten), rightNamesOf(fmt.Sprintf("global role %q", gr.GlobalRole.Name), rs)})
	}
	for _, c := range shared {
		reachesOther := c.all || slices.ContainsFunc(c.tenants, func(n string) bool { return n != tenant })
		if reachesOther {
			fmt.Fprintf(&b, "%s %q publishAll=%v tenants=%v\n%s", c.kind, c.name, c.all, c.tenants, c.rights)
		}
	}
	for _, name := range others {
		adminOrg, err := sys.GetAdminOrgByName(name)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := adminOrg.GetAllRights(nil)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "org %s\n%s", name, rightNamesOf("org "+name, rs))
		for _, c := range shared {
			if c.kind == "rights bundle" && (c.all || slices.Contains(c.tenants, name)) {
				fmt.Fprintf(&b, "org %s gets rights bundle %q\n", name, c.name)
			}
		}
		roles, err := adminOrg.GetAllRoles(nil)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(roles, func(i, j int) bool { return roles[i].Role.Name < roles[j].Role.Name })
		for _, r := range roles {
			rr, err := r.GetRights(nil)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "org %s role %q readOnly=%v\n%s", name, r.Role.Name, r.Role.ReadOnly, rightNamesOf(fmt.Sprintf("org %s role %q", name, r.Role.Name), rr))
		}
		for _, ref := range adminOrg.AdminOrg.Users.User {
			u, err := adminOrg.GetUserByHref(ref.HREF)
			if err != nil {
				t.Fatal(err)
			}
			role := ""
			if u.User.Role != nil {
				role = u.User.Role.Name
			}
			fmt.Fprintf(&b, "org %s user %s role %q\n", name, u.User.Name, role)
		}
	}
	return b.String()
}

// tenantUserRights are the rights of the tenant user's own role, read by
// the provider.
func tenantUserRights(t *testing.T, l *lab.Lab) (role string, rights []*vcdtypes.Right) {
	t.Helper()
	cfg := l.Config()
	sys := labtest.VCD(t, cfg.VCD)
	adminOrg, err := sys.GetAdminOrgByName(cfg.Tenant.Org)
	if err != nil {
		t.Fatal(err)
	}
	u, err := adminOrg.GetUserByName(cfg.Tenant.Username, false)
	if err != nil {
		t.Fatal(err)
	}
	if u.User.Role == nil {
		t.Fatalf("user %s has no role", cfg.Tenant.Username)
	}
	r, err := adminOrg.GetRoleByName(u.User.Role.Name)
	if err != nil {
		t.Fatal(err)
	}
	if rights, err = r.GetRights(nil); err != nil {
		t.Fatal(err)
	}
	return r.Role.Name, rights
}

// TestRightsLeaveOtherOrgsUntouched: step 1 for Company gives Company's
// administrator the L2 VPN rights and changes nothing that reaches Globex
// (or any other organization): its effective rights, its bundles, roles and
// users, and every bundle or global role published to more than one
// organization are the same before and after, as a provider reads them. A
// second run changes nothing.
func TestRightsLeaveOtherOrgsUntouched(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	cfg := l.Config()
	before := othersView(t, l, "Company")
	if !strings.Contains(before, "org Globex\n") || !strings.Contains(before, `rights bundle "Default Rights Bundle"`) {
		t.Fatalf("the lab has no second tenant sharing the default bundle:\n%s", before)
	}
	oldRole, oldRights := tenantUserRights(t, l)
	plan := rightsPlanOnly(t, l, nil)

	// The plan names every org and role its changes reach: Company only,
	// never the Default Rights Bundle nor a global role.
	r := runner(t, cfg, plan, "", nil)
	plans, err := r.PlanAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	steps.WritePlans(&out, plans)
	t.Logf("ferry plan:\n%s", out.String())
	for _, want := range []string{"Configure L2 VPN", "View L2 VPN", "user \"" + cfg.Tenant.Username + "\""} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan does not mention %s", want)
		}
	}
	for _, sp := range plans {
		if sp.Step.ID() != "rights" {
			continue
		}
		if sp.Plan.Changes() == 0 {
			t.Error("step 1 plans no change on a fresh lab")
		}
		for _, it := range sp.Plan.Items {
			if it.Name == "Default Rights Bundle" || strings.Contains(it.Kind, "global") || !strings.Contains(it.Detail, "org Company only") {
				t.Errorf("plan item reaches beyond Company, or does not say whom it reaches: %s", it)
			}
		}
	}

	ev, err := run(t, cfg, plan, "")
	if err != nil {
		t.Fatalf("%v\n%s", err, ev)
	}
	if after := othersView(t, l, "Company"); after != before {
		t.Errorf("step 1 changed what other organizations get:\n%s", lineDiff(before, after))
	}
	role, rights := tenantUserRights(t, l)
	for _, want := range []string{"Organization vDC Gateway: Configure L2 VPN", "Organization vDC Gateway: View L2 VPN"} {
		if !slices.ContainsFunc(rights, func(r *vcdtypes.Right) bool { return r.Name == want }) {
			t.Errorf("the tenant user's role %q lacks %q", role, want)
		}
	}
	// The user keeps every right it had.
	for _, old := range oldRights {
		if !slices.ContainsFunc(rights, func(r *vcdtypes.Right) bool { return r.Name == old.Name }) {
			t.Errorf("the tenant user lost %q (role %q, was %q)", old.Name, role, oldRole)
		}
	}
	// Its role is Company's own: no other organization uses it.
	sys := labtest.VCD(t, cfg.VCD)
	adminOrg, err := sys.GetAdminOrgByName("Company")
	if err != nil {
		t.Fatal(err)
	}
	if rr, err := adminOrg.GetRoleByName(role); err != nil || rr.Role.ReadOnly {
		t.Errorf("the tenant user's role %q is not org-local: %v %+v", role, err, rr)
	}
	if _, err := sys.Client.GetGlobalRoleByName(role); !govcd.ContainsNotFound(err) {
		t.Errorf("the tenant user's role %q is a global role: %v", role, err)
	}

	ev, err = run(t, cfg, plan, "")
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, ev)
	}
	if done := ev.of("rights", steps.EventDone); len(done) != 1 || done[0].Message != "no changes" || len(ev.of("rights", steps.EventChange)) != 0 {
		t.Errorf("second run changed something:\n%s", ev)
	}
	if after := othersView(t, l, "Company"); after != before {
		t.Errorf("the second run changed what other organizations get:\n%s", lineDiff(before, after))
	}
}

// lineDiff lists the lines only in a (-) or only in b (+).
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
