package steps

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ferry-migrate/ferry/vcd"
)

// Step 1: the tenant's organization administrator (the tenant user of the
// config, who sets up the L2 VPN in steps 2 and 4) gets the edge gateway and
// L2 VPN rights, without widening what any other organization gets: the
// rights go into a rights bundle of ferry's own published to this org only,
// and into an org-local role of this org given to that user (a copy of its
// role plus the rights, when its role is the provider's global role). The
// Default Rights Bundle and the global roles are never changed. The session
// is the provider administrator's. Rights this Cloud Director does not know
// are warnings, and skipped. The legacy mode writes the org's
// OrgRights document instead of a bundle, as the walkthrough's PowerShell
// script did, and gives the rights to the user's org-local role as the
// bundle mode does (an org's rights only say what its roles may hold).

// RightsPlan says how the rights reach the tenant (plan file key rights:).
type RightsPlan struct {
	// Mode is "bundle" (vCD 10.x: rights bundle + role) or "legacy" (the
	// org's OrgRights document); empty: chosen from the API version.
	Mode string `yaml:"mode,omitempty"`
	// Bundle is ferry's rights bundle for the org, published to it only.
	Bundle string `yaml:"bundle,omitempty"`
	// Role is the org-local role the tenant user gets; empty: the user's
	// role if org-local, else a copy of it named "<role> (ferry)".
	Role string `yaml:"role,omitempty"`
}

// Rights is step 1.
type Rights struct{}

func (*Rights) ID() string    { return "rights" }
func (*Rights) Title() string { return "Rights" }

func (*Rights) Fields() []Field {
	rp := func(f func(r *RightsPlan) *string) func(*PlanFile) *string {
		return func(pf *PlanFile) *string { return f(&pf.Rights) }
	}
	return []Field{
		orgField(),
		str("rights.mode", "Rights mode", "bundle (Cloud Director 10: rights bundle and role) or legacy (the org's rights list and role); default: from the API version", false,
			rp(func(r *RightsPlan) *string { return &r.Mode }), validRightsMode, nil),
		str("rights.bundle", "Rights bundle", "ferry's own rights bundle, published to this organization only (never a bundle other organizations get)", false,
			rp(func(r *RightsPlan) *string { return &r.Bundle }), ValidName, func(pf *PlanFile) string {
				if pf.Org == "" {
					return "" // named after the org, once there is one
				}
				return vcd.DefaultRightsBundle(pf.Org)
			}),
		str("rights.role", "Org-local role", "the organization's own role the tenant user gets; empty: its role if org-local, else a copy of it named \"<role> (ferry)\" (global roles are never changed)", false,
			rp(func(r *RightsPlan) *string { return &r.Role }), ValidName, nil),
	}
}

func validRightsMode(v string, _ *PlanFile) error {
	if v != vcd.RightsBundleMode && v != vcd.RightsLegacyMode {
		return fmt.Errorf("%q is not a rights mode: want %s or %s", v, vcd.RightsBundleMode, vcd.RightsLegacyMode)
	}
	return nil
}

// look reads what the org lacks; it changes nothing.
func (s *Rights) look(ctx context.Context, env *Env) (*vcd.Client, *vcd.RightsPlan, error) {
	pf, err := answers(env.Plan(), s.Fields())
	if err != nil {
		return nil, nil, err
	}
	c, err := env.VCD(ctx)
	if err != nil {
		return nil, nil, err
	}
	user := ""
	if env.Config != nil {
		user = env.Config.Tenant.Username
		if user == "" && env.Config.Tenant.ByToken() {
			// The tenant logs in with an API token: its session names
			// the user whose role step 1 sets.
			t, err := env.Tenant(ctx)
			if err != nil {
				return nil, nil, err
			}
			user = t.User
		}
	}
	p, err := c.PlanRights(vcd.RightsSpec{Org: pf.Org, User: user, Bundle: pf.Rights.Bundle, Role: pf.Rights.Role, Mode: pf.Rights.Mode})
	if err != nil {
		return nil, nil, fmt.Errorf("rights for org %s: %w", pf.Org, err)
	}
	return c, p, nil
}

// tokenCannotGrant refuses p's changes when the provider's session was
// made from an API token: Cloud Director lets such a session only view
// users, roles and rights bundles, so the grant would fail half way.
func tokenCannotGrant(c *vcd.Client, p *vcd.RightsPlan) error {
	if !c.ViaToken || p.Empty() {
		return nil
	}
	return fmt.Errorf("org %s needs %d rights changes (rights bundle, role, user), and Cloud Director does not let a session made from an API token change them (it may only view users, roles and rights bundles): "+
		"run step 1 with the provider administrator's password (vcd.username and vcd.password in the config, or VCD_USER and VCD_PASSWORD, without an API token), or have them made in the provider portal; the other steps work with the token",
		p.Spec.Org, len(p.Changes()))
}

// rightsItems lists every change of p, one right per line; each names the
// organizations it reaches.
func rightsItems(p *vcd.RightsPlan) []Item {
	s := p.Spec
	var items []Item
	add := func(action Action, kind, name, detail string) {
		items = append(items, Item{Action: action, Kind: kind, Name: name, Detail: detail,
			Resource: &Resource{Kind: kind, Name: name}})
	}
	only := "org " + s.Org + " only"
	for _, r := range p.LegacyAdd {
		items = append(items, AddRight("org rights", s.Org, r.Name, only))
	}
	if p.BundleCreate {
		add(ActionCreate, "rights bundle", s.Bundle, "ferry's own, published to "+only)
	}
	for _, r := range p.BundleAdd {
		items = append(items, AddRight("rights bundle", s.Bundle, r.Name, only))
	}
	if p.BundlePublish {
		add(ActionUpdate, "rights bundle", s.Bundle, "publish to "+only)
	}
	role := "org-local role"
	if p.RoleCreate {
		add(ActionCreate, role, s.Role, "in "+only)
	}
	if len(p.RoleCopy) > 0 {
		add(ActionUpdate, role, s.Role, fmt.Sprintf("add the %d rights of role %q it lacks (%s)", len(p.RoleCopy), p.UserRole, only))
	}
	for _, r := range p.RoleAdd {
		items = append(items, AddRight(role, s.Role, r.Name, only))
	}
	if p.RoleAssign {
		add(ActionUpdate, "user", s.User, fmt.Sprintf("role %q -> %q (%s)", p.UserRole, s.Role, only))
	}
	if len(items) == 0 {
		where := fmt.Sprintf("in rights bundle %q and org-local role %q of user %s", s.Bundle, s.Role, s.User)
		if p.Mode == vcd.RightsLegacyMode {
			where = fmt.Sprintf("in the org's rights and org-local role %q of user %s", s.Role, s.User)
		}
		items = append(items, Item{Action: ActionExists, Kind: "rights", Name: s.Org,
			Detail: fmt.Sprintf("all %d edge gateway / L2 VPN rights %s", len(p.Known), where)})
	}
	return items
}

// AddRight is the item that adds one right to the rights bundle, the
// org-local role or the org's rights (kind) called name, reaching scope
// ("org Company only"): `add "<right>" (<scope>)`, one right per item, so
// that ferry plan's lines can be grepped for a right.
func AddRight(kind, name, right, scope string) Item {
	return Item{Action: ActionUpdate, Kind: kind, Name: name, Detail: fmt.Sprintf("add %q (%s)", right, scope),
		Resource: &Resource{Kind: kind, Name: name}}
}

// AddedRight is the right an item of AddRight adds and its scope; ok is
// false for any other item (a front end lists a resource's rights
// together).
func (it Item) AddedRight() (right, scope string, ok bool) {
	if it.Action != ActionUpdate {
		return "", "", false
	}
	rest, found := strings.CutPrefix(it.Detail, "add ")
	if !found {
		return "", "", false
	}
	q, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return "", "", false
	}
	scope, found = strings.CutPrefix(rest[len(q):], " (")
	if !found || !strings.HasSuffix(scope, ")") {
		return "", "", false
	}
	right, err = strconv.Unquote(q)
	if err != nil {
		return "", "", false
	}
	return right, strings.TrimSuffix(scope, ")"), true
}

// Plan lists every right the org and its role would get.
func (s *Rights) Plan(ctx context.Context, env *Env) (Plan, error) {
	c, p, err := s.look(ctx, env)
	if err != nil {
		return Plan{Step: s.ID()}, err
	}
	return Plan{Step: s.ID(), Items: rightsItems(p)}, tokenCannotGrant(c, p)
}

// Apply grants the missing rights; rights unknown to this Cloud Director
// are reported as warnings and skipped.
func (s *Rights) Apply(ctx context.Context, env *Env, emit Emit) (Result, error) {
	emit(Progress("reading the rights of the organization", -1))
	c, p, err := s.look(ctx, env)
	if err != nil {
		return Result{}, err
	}
	if err := tokenCannotGrant(c, p); err != nil {
		return Result{}, err
	}
	for _, w := range p.Warnings() {
		emit(Warning(w))
	}
	var res Result
	if !p.Empty() {
		items := rightsItems(p)
		emit(Progress(fmt.Sprintf("granting %d changes to org %s (%s mode)", len(items), p.Spec.Org, p.Mode), 0.5))
		if err := c.ApplyRights(p); err != nil {
			return res, err
		}
		// A tenant session opened before the grant may not see it.
		env.RenewTenant(ctx)
		for _, it := range items {
			res.Changes = append(res.Changes, it)
			emit(Changed(it))
		}
	}
	first := Resource{Kind: "rights bundle", Name: p.Spec.Bundle}
	if p.Mode == vcd.RightsLegacyMode {
		first = Resource{Kind: "org rights", Name: p.Spec.Org}
	}
	res.Resources = []Resource{first, {Kind: "org-local role", Name: p.Spec.Role}, {Kind: "user", Name: p.Spec.User}}
	emit(Progress("rights in place", 1))
	return res, nil
}

// Verify plans again: nothing may be left to grant.
func (s *Rights) Verify(ctx context.Context, env *Env) error {
	_, p, err := s.look(ctx, env)
	if err != nil {
		return err
	}
	if !p.Empty() {
		return fmt.Errorf("org %s still lacks: %s", p.Spec.Org, strings.Join(p.Changes(), "; "))
	}
	return nil
}
