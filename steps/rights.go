package steps

import (
	"context"
	"fmt"
	"strings"

	"github.com/ferry-migrate/ferry/vcd"
)

// Step 1: the tenant's organization (and its administrator role) gets the
// edge gateway and L2 VPN rights, as the walkthrough's PowerShell script
// did. The session is the provider administrator's. Rights this Cloud
// Director does not know (dropped after vCD 9.x) are warnings.

// RightsPlan says how the rights reach the tenant (plan file key rights:).
type RightsPlan struct {
	// Mode is "bundle" (vCD 10.x: rights bundle + role) or "legacy" (the
	// org's OrgRights document); empty: chosen from the API version.
	Mode string `yaml:"mode,omitempty"`
	// Bundle is the rights bundle published to the org.
	Bundle string `yaml:"bundle,omitempty"`
	// Role is the org administrator's role that gets the rights.
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
		str("rights.mode", "Rights mode", "bundle (Cloud Director 10: rights bundle and role) or legacy (the org's rights list); default: from the API version", false,
			rp(func(r *RightsPlan) *string { return &r.Mode }), validRightsMode, nil),
		str("rights.bundle", "Rights bundle", "the rights bundle published to the organization", false,
			rp(func(r *RightsPlan) *string { return &r.Bundle }), ValidName, fixed("Default Rights Bundle")),
		str("rights.role", "Administrator role", "the organization administrator's role that gets the rights", false,
			rp(func(r *RightsPlan) *string { return &r.Role }), ValidName, fixed("Organization Administrator")),
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
	pf, err := answers(env.Plan, s.Fields())
	if err != nil {
		return nil, nil, err
	}
	c, err := env.VCD(ctx)
	if err != nil {
		return nil, nil, err
	}
	p, err := c.PlanRights(vcd.RightsSpec{Org: pf.Org, Bundle: pf.Rights.Bundle, Role: pf.Rights.Role, Mode: pf.Rights.Mode})
	if err != nil {
		return nil, nil, fmt.Errorf("rights for org %s: %w", pf.Org, err)
	}
	return c, p, nil
}

// rightsItems lists every change of p, one right per line.
func rightsItems(p *vcd.RightsPlan) []Item {
	s := p.Spec
	var items []Item
	add := func(kind, name, detail string) {
		items = append(items, Item{Action: ActionUpdate, Kind: kind, Name: name, Detail: detail,
			Resource: &Resource{Kind: kind, Name: name}})
	}
	if p.Mode == vcd.RightsLegacyMode {
		for _, r := range p.LegacyAdd {
			add("org rights", s.Org, fmt.Sprintf("add %q", r.Name))
		}
	} else {
		for _, r := range p.BundleAdd {
			add("rights bundle", s.Bundle, fmt.Sprintf("add %q", r.Name))
		}
		if p.BundlePublish {
			add("rights bundle", s.Bundle, "publish to org "+s.Org)
		}
		for _, r := range p.RoleAdd {
			add(p.RoleKind+" role", s.Role, fmt.Sprintf("add %q", r.Name))
		}
		if p.RolePublish {
			add("global role", s.Role, "publish to org "+s.Org)
		}
	}
	if len(items) == 0 {
		where := fmt.Sprintf("in rights bundle %q and %s role %q", s.Bundle, p.RoleKind, s.Role)
		if p.Mode == vcd.RightsLegacyMode {
			where = "in the org's rights"
		}
		items = append(items, Item{Action: ActionExists, Kind: "rights", Name: s.Org,
			Detail: fmt.Sprintf("all %d edge gateway / L2 VPN rights %s", len(p.Known), where)})
	}
	return items
}

// Plan lists every right the org and its role would get.
func (s *Rights) Plan(ctx context.Context, env *Env) (Plan, error) {
	_, p, err := s.look(ctx, env)
	if err != nil {
		return Plan{Step: s.ID()}, err
	}
	return Plan{Step: s.ID(), Items: rightsItems(p)}, nil
}

// Apply grants the missing rights; rights unknown to this Cloud Director
// are reported as warnings and skipped.
func (s *Rights) Apply(ctx context.Context, env *Env, emit Emit) (Result, error) {
	emit(Progress("reading the rights of the organization", -1))
	c, p, err := s.look(ctx, env)
	if err != nil {
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
		env.cloud.tenant.release(ctx)
		for _, it := range items {
			res.Changes = append(res.Changes, it)
			emit(Changed(it))
		}
	}
	if p.Mode == vcd.RightsLegacyMode {
		res.Resources = []Resource{{Kind: "org rights", Name: p.Spec.Org}}
	} else {
		res.Resources = []Resource{{Kind: "rights bundle", Name: p.Spec.Bundle}, {Kind: p.RoleKind + " role", Name: p.Spec.Role}}
	}
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
