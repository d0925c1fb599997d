package vcd

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// L2VPNRights are the rights the walkthrough's PowerShell script granted the
// tenant for advanced edge gateway services and L2 VPN (vCD 8.20, API 27).
// Later vCD versions dropped some of them; those are reported as warnings.
var L2VPNRights = []string{
	"Hybrid Cloud Operations: View from-the-cloud tunnel",
	"Organization vDC Distributed Firewall: Enable/Disable",
	"Organization vDC Gateway: Configure BGP Routing",
	"Organization vDC Gateway: Configure DHCP",
	"Organization vDC Gateway: Configure Firewall",
	"Organization vDC Gateway: Configure IPSec VPN",
	"Organization vDC Gateway: Configure L2 VPN",
	"Organization vDC Gateway: Configure Load Balancer",
	"Organization vDC Gateway: Configure NAT",
	"Organization vDC Gateway: Configure OSPF Routing",
	"Organization vDC Gateway: Configure Remote Access",
	"Organization vDC Gateway: Configure SSL VPN",
	"Organization vDC Gateway: Configure Static Routing",
	"Organization vDC Gateway: View BGP Routing",
	"Organization vDC Gateway: View DHCP",
	"Organization vDC Gateway: View Firewall",
	"Organization vDC Gateway: View IPSec VPN",
	"Organization vDC Gateway: View L2 VPN",
	"Organization vDC Gateway: View Load Balancer",
	"Organization vDC Gateway: View NAT",
	"Organization vDC Gateway: View OSPF Routing",
	"Organization vDC Gateway: View Remote Access",
	"Organization vDC Gateway: View SSL VPN",
	"Organization vDC Gateway: Configure Services",
	"Organization vDC Gateway: Configure Syslog",
	"Organization vDC Gateway: Configure System Logging",
	"Organization vDC Gateway: Convert to Advanced Networking",
}

// Rights modes.
const (
	RightsBundleMode = "bundle" // vCD 10.x: a rights bundle of ferry's own + an org-local role
	RightsLegacyMode = "legacy" // before rights bundles: OrgRights XML
)

// DefaultRightsBundle is the name of ferry's own rights bundle for org: it
// is published to that org only, so what it holds reaches no other org.
func DefaultRightsBundle(org string) string { return "ferry L2 VPN (" + org + ")" }

// RightsSpec says which rights the tenant needs and where.
//
// In bundle mode nothing that other organizations get is changed: the
// rights go into Bundle, a rights bundle published to Org and to no other
// org (created if missing), and into Role, an org-local role of Org given
// to User. Global roles and the tenant copies of them are never changed:
// when User's role is such a copy, Role is a new org-local role holding the
// same rights plus the missing ones, and User gets it.
type RightsSpec struct {
	Org    string
	User   string // the org's user who needs the rights (the one who sets up the L2 VPN)
	Rights []string
	Bundle string // default DefaultRightsBundle(Org)
	// Role is the org-local role User gets. Default: User's role when it is
	// org-local, else "<User's role> (ferry)".
	Role string
	// Mode forces RightsBundleMode or RightsLegacyMode; empty: chosen from the API version.
	Mode string
}

// RightsPlan is what EnsureRights would change.
type RightsPlan struct {
	Spec    RightsSpec
	Mode    string
	Unknown []string // rights this vCD does not know: warnings
	Known   []types.OpenApiReference

	BundleCreate  bool // the bundle does not exist yet
	BundleAdd     []types.OpenApiReference
	BundlePublish bool // the bundle must still be published to the org

	UserRole   string                   // User's role now
	RoleCreate bool                     // Role does not exist yet: created in the org
	RoleCopy   []types.OpenApiReference // rights of UserRole that Role lacks (so User loses none)
	RoleAdd    []types.OpenApiReference // the wanted rights Role lacks
	RoleAssign bool                     // User gets Role
	LegacyAdd  []types.OpenApiReference

	orgRef types.OpenApiReference
}

// Reach names everything a change of the plan reaches: the org, the
// bundle, the role and the user. Nothing else gets any right.
func (p *RightsPlan) Reach() string {
	s := p.Spec
	if p.Mode == RightsLegacyMode {
		return fmt.Sprintf("org %s only: the org's rights list, org-local role %q, user %s", s.Org, s.Role, s.User)
	}
	return fmt.Sprintf("org %s only: rights bundle %q (published to no other org), org-local role %q, user %s", s.Org, s.Bundle, s.Role, s.User)
}

// Changes renders the plan as readable lines ("+ ..." will change).
func (p *RightsPlan) Changes() []string {
	var out []string
	s := p.Spec
	for _, r := range p.LegacyAdd {
		out = append(out, fmt.Sprintf("+ org %s rights: add %q", s.Org, r.Name))
	}
	if p.BundleCreate {
		out = append(out, fmt.Sprintf("+ rights bundle %q: create, for org %s only", s.Bundle, s.Org))
	}
	for _, r := range p.BundleAdd {
		out = append(out, fmt.Sprintf("+ rights bundle %q (org %s only): add %q", s.Bundle, s.Org, r.Name))
	}
	if p.BundlePublish {
		out = append(out, fmt.Sprintf("+ rights bundle %q: publish to org %s only", s.Bundle, s.Org))
	}
	if p.RoleCreate {
		out = append(out, fmt.Sprintf("+ role %q: create in org %s (org-local, org %s only)", s.Role, s.Org, s.Org))
	}
	if len(p.RoleCopy) > 0 {
		out = append(out, fmt.Sprintf("+ role %q (org %s only): add the %d rights of role %q that it lacks", s.Role, s.Org, len(p.RoleCopy), p.UserRole))
	}
	for _, r := range p.RoleAdd {
		out = append(out, fmt.Sprintf("+ role %q (org %s only): add %q", s.Role, s.Org, r.Name))
	}
	if p.RoleAssign {
		out = append(out, fmt.Sprintf("+ user %s of org %s: role %q -> %q", s.User, s.Org, p.UserRole, s.Role))
	}
	return out
}

// Warnings lists rights this vCD does not know: they are skipped, the
// others granted. A fact, not a guess at why (a right may be renamed or
// missing in a version).
func (p *RightsPlan) Warnings() []string {
	var out []string
	for _, r := range p.Unknown {
		out = append(out, fmt.Sprintf("right %q does not exist in this Cloud Director: skipped", r))
	}
	return out
}

// Empty reports whether nothing needs to change.
func (p *RightsPlan) Empty() bool { return len(p.Changes()) == 0 }

// PlanRights finds what the org lacks. It changes nothing. The session must
// be the provider's (System).
func (c *Client) PlanRights(spec RightsSpec) (*RightsPlan, error) {
	if !c.IsSysAdmin() {
		return nil, fmt.Errorf("rights for org %s: needs the provider administrator (org System), logged in as %s@%s", spec.Org, c.User, c.Org)
	}
	if spec.Bundle == "" {
		spec.Bundle = DefaultRightsBundle(spec.Org)
	}
	if len(spec.Rights) == 0 {
		spec.Rights = L2VPNRights
	}
	p := &RightsPlan{Spec: spec, Mode: spec.Mode}
	if p.Mode == "" {
		p.Mode = RightsBundleMode
		if ok, err := c.Client.VersionEqualOrGreater("10.0", 3); err == nil && !ok {
			p.Mode = RightsLegacyMode
		}
	}
	if p.Mode != RightsBundleMode && p.Mode != RightsLegacyMode {
		return nil, fmt.Errorf("rights mode %q: want %q or %q", p.Mode, RightsBundleMode, RightsLegacyMode)
	}
	adminOrg, err := c.adminOrgByName(spec.Org)
	if err != nil {
		return nil, err
	}
	p.orgRef = types.OpenApiReference{Name: adminOrg.AdminOrg.Name, ID: adminOrg.AdminOrg.ID}

	for _, name := range spec.Rights {
		r, err := c.Client.GetRightByName(name)
		if err != nil {
			if govcd.ContainsNotFound(err) {
				p.Unknown = append(p.Unknown, name)
				continue
			}
			return nil, fmt.Errorf("look up right %q: %w", name, err)
		}
		p.Known = append(p.Known, types.OpenApiReference{Name: r.Name, ID: r.ID})
	}
	if p.Mode == RightsLegacyMode {
		have, err := c.orgRights(adminOrg)
		if err != nil {
			return nil, err
		}
		p.LegacyAdd = missing(p.Known, have.names())
	} else if err := c.planBundle(p); err != nil {
		return nil, err
	}
	// In both modes the rights reach the user only through its role: an
	// org's rights list (or bundle) says what the org may grant, a role
	// what a user has.
	if err := planRole(adminOrg, p); err != nil {
		return nil, err
	}
	return p, nil
}

// planBundle: ferry's bundle must reach the org and no other.
func (c *Client) planBundle(p *RightsPlan) error {
	s := p.Spec
	bundle, err := c.Client.GetRightsBundleByName(s.Bundle)
	if govcd.ContainsNotFound(err) {
		p.BundleCreate, p.BundleAdd, p.BundlePublish = true, p.Known, true
		return nil
	}
	if err != nil {
		return fmt.Errorf("rights bundle %q: %w", s.Bundle, err)
	}
	if bundle.RightsBundle.PublishAll != nil && *bundle.RightsBundle.PublishAll {
		return fmt.Errorf("rights bundle %q is published to all organizations: rights added to it would reach every tenant; name a bundle for org %s only (rights.bundle)", s.Bundle, s.Org)
	}
	tenants, err := bundle.GetTenants(nil)
	if err != nil {
		return fmt.Errorf("tenants of rights bundle %q: %w", s.Bundle, err)
	}
	var others []string
	for _, t := range tenants {
		if t.ID != p.orgRef.ID {
			others = append(others, t.Name)
		}
	}
	if len(others) > 0 {
		sort.Strings(others)
		return fmt.Errorf("rights bundle %q is also published to %s: rights added to it would reach them too; name a bundle for org %s only (rights.bundle)", s.Bundle, strings.Join(others, ", "), s.Org)
	}
	have, err := bundle.GetRights(nil)
	if err != nil {
		return fmt.Errorf("rights of bundle %q: %w", s.Bundle, err)
	}
	p.BundleAdd = missing(p.Known, rightNames(have))
	p.BundlePublish = !hasRef(tenants, p.orgRef.ID)
	return nil
}

// planRole: the user's role must be org-local and hold the rights; the
// user keeps every right its current role gives.
func planRole(adminOrg *govcd.AdminOrg, p *RightsPlan) error {
	s := &p.Spec
	if s.User == "" {
		return fmt.Errorf("no tenant user named: step 1 gives the rights to the role of the user who sets up the L2 VPN (set FERRY_TENANT_USER)")
	}
	if adminOrg.AdminOrg.Users == nil {
		return fmt.Errorf("org %s: Cloud Director lists no users", s.Org)
	}
	user, err := adminOrg.GetUserByName(s.User, false)
	if err != nil {
		if govcd.ContainsNotFound(err) {
			var names []string
			for _, u := range adminOrg.AdminOrg.Users.User {
				names = append(names, u.Name)
			}
			return fmt.Errorf("user %q in org %s: %w (users: %s)", s.User, s.Org, ErrNotFound, strings.Join(names, ", "))
		}
		return fmt.Errorf("user %q in org %s: %w", s.User, s.Org, err)
	}
	if user.User.Role == nil || user.User.Role.Name == "" {
		return fmt.Errorf("user %s of org %s has no role", s.User, s.Org)
	}
	p.UserRole = user.User.Role.Name
	cur, err := adminOrg.GetRoleByName(p.UserRole)
	if err != nil {
		return fmt.Errorf("role %q of user %s in org %s: %w", p.UserRole, s.User, s.Org, err)
	}
	curRights, err := cur.GetRights(nil)
	if err != nil {
		return fmt.Errorf("rights of role %q in org %s: %w", p.UserRole, s.Org, err)
	}
	if s.Role == "" {
		s.Role = p.UserRole
		if cur.Role.ReadOnly {
			s.Role = p.UserRole + " (ferry)"
		}
	}
	var copyRights []types.OpenApiReference
	for _, r := range curRights {
		copyRights = append(copyRights, types.OpenApiReference{Name: r.Name, ID: r.ID})
	}
	have := map[string]bool{}
	target, err := adminOrg.GetRoleByName(s.Role)
	switch {
	case govcd.ContainsNotFound(err):
		p.RoleCreate = true
	case err != nil:
		return fmt.Errorf("role %q in org %s: %w", s.Role, s.Org, err)
	case target.Role.ReadOnly:
		return fmt.Errorf("role %q in org %s is a global role published by the provider (read-only in the org; changing it would reach every org it is published to): name an org-local role (rights.role)", s.Role, s.Org)
	default:
		rs, err := target.GetRights(nil)
		if err != nil {
			return fmt.Errorf("rights of role %q in org %s: %w", s.Role, s.Org, err)
		}
		have = rightNames(rs)
	}
	// RoleAdd: the wanted rights the role lacks; RoleCopy: the other rights
	// of the user's current role that it lacks (the user loses none).
	p.RoleAdd = missing(p.Known, have)
	want := map[string]bool{}
	for _, r := range p.Known {
		want[r.Name] = true
	}
	p.RoleCopy = slices.DeleteFunc(missing(copyRights, have), func(r types.OpenApiReference) bool { return want[r.Name] })
	p.RoleAssign = s.Role != p.UserRole
	return nil
}

// ApplyRights makes the changes of plan p.
func (c *Client) ApplyRights(p *RightsPlan) error {
	s := p.Spec
	adminOrg, err := c.adminOrgByName(s.Org)
	if err != nil {
		return err
	}
	if len(p.LegacyAdd) > 0 {
		if err := c.addOrgRights(adminOrg, p.LegacyAdd); err != nil {
			return err
		}
	}
	if p.BundleCreate || len(p.BundleAdd) > 0 || p.BundlePublish {
		var bundle *govcd.RightsBundle
		if p.BundleCreate {
			no := false
			bundle, err = c.Client.CreateRightsBundle(&types.RightsBundle{Name: s.Bundle, PublishAll: &no,
				Description: "ferry: edge gateway and L2 VPN rights for org " + s.Org + " only"})
		} else {
			bundle, err = c.Client.GetRightsBundleByName(s.Bundle)
		}
		if err != nil {
			return fmt.Errorf("rights bundle %q: %w", s.Bundle, err)
		}
		if len(p.BundleAdd) > 0 {
			if err := bundle.AddRights(p.BundleAdd); err != nil {
				return fmt.Errorf("add %d rights to bundle %q: %w", len(p.BundleAdd), s.Bundle, err)
			}
		}
		if p.BundlePublish {
			if err := bundle.PublishTenants([]types.OpenApiReference{p.orgRef}); err != nil {
				return fmt.Errorf("publish bundle %q to org %s: %w", s.Bundle, s.Org, err)
			}
		}
	}
	if p.RoleCreate || len(p.RoleCopy) > 0 || len(p.RoleAdd) > 0 {
		var role *govcd.Role
		if p.RoleCreate {
			role, err = adminOrg.CreateRole(&types.Role{Name: s.Role,
				Description: fmt.Sprintf("%s with the edge gateway and L2 VPN rights (ferry), for org %s only", p.UserRole, s.Org)})
		} else {
			role, err = adminOrg.GetRoleByName(s.Role)
		}
		if err != nil {
			return fmt.Errorf("role %q in org %s: %w", s.Role, s.Org, err)
		}
		add := append(append([]types.OpenApiReference{}, p.RoleCopy...), p.RoleAdd...)
		if len(add) > 0 {
			if err := role.AddRights(add); err != nil {
				return fmt.Errorf("add %d rights to role %q in org %s: %w", len(add), s.Role, s.Org, err)
			}
		}
	}
	if p.RoleAssign {
		user, err := adminOrg.GetUserByName(s.User, true)
		if err != nil {
			return fmt.Errorf("user %q in org %s: %w", s.User, s.Org, err)
		}
		if err := user.ChangeRole(s.Role); err != nil {
			return fmt.Errorf("give user %s of org %s the role %q: %w", s.User, s.Org, s.Role, err)
		}
	}
	return nil
}

// orgRightsXML is the legacy OrgRights document (API < 33).
type orgRightsXML struct {
	XMLName xml.Name `xml:"OrgRights"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Href    string   `xml:"href,attr,omitempty"`
	Type    string   `xml:"type,attr,omitempty"`
	Rights  []struct {
		Href string `xml:"href,attr"`
		Name string `xml:"name,attr"`
		Type string `xml:"type,attr,omitempty"`
	} `xml:"RightReference"`
}

func (o *orgRightsXML) names() map[string]bool {
	m := map[string]bool{}
	for _, r := range o.Rights {
		m[r.Name] = true
	}
	return m
}

const orgRightsType = "application/vnd.vmware.admin.org.rights+xml"

func (c *Client) orgRightsURL(adminOrg *govcd.AdminOrg) (*url.URL, error) {
	id := adminOrg.AdminOrg.ID[strings.LastIndex(adminOrg.AdminOrg.ID, ":")+1:]
	return url.Parse(c.Client.VCDHREF.String() + "/admin/org/" + id + "/rights")
}

func (c *Client) orgRights(adminOrg *govcd.AdminOrg) (*orgRightsXML, error) {
	u, err := c.orgRightsURL(adminOrg)
	if err != nil {
		return nil, err
	}
	var doc orgRightsXML
	if _, err := c.Client.ExecuteRequest(u.String(), http.MethodGet, orgRightsType, "org rights: %s", nil, &doc); err != nil {
		return nil, fmt.Errorf("read rights of org %s: %w", adminOrg.AdminOrg.Name, err)
	}
	return &doc, nil
}

func (c *Client) addOrgRights(adminOrg *govcd.AdminOrg, add []types.OpenApiReference) error {
	doc, err := c.orgRights(adminOrg)
	if err != nil {
		return err
	}
	base := c.Client.VCDHREF.String()
	for _, r := range add {
		id := r.ID[strings.LastIndex(r.ID, ":")+1:]
		doc.Rights = append(doc.Rights, struct {
			Href string `xml:"href,attr"`
			Name string `xml:"name,attr"`
			Type string `xml:"type,attr,omitempty"`
		}{Href: base + "/admin/right/" + id, Name: r.Name, Type: "application/vnd.vmware.admin.right+xml"})
	}
	doc.Xmlns = types.XMLNamespaceVCloud
	body, err := xml.Marshal(doc)
	if err != nil {
		return err
	}
	u, err := c.orgRightsURL(adminOrg)
	if err != nil {
		return err
	}
	req := c.Client.NewRequest(nil, http.MethodPut, *u, bytes.NewReader(body))
	req.Header.Set("Content-Type", orgRightsType)
	resp, err := checkResp(c.Client.Http.Do(req))
	if err != nil {
		return fmt.Errorf("update rights of org %s: %w", adminOrg.AdminOrg.Name, err)
	}
	resp.Body.Close()
	return nil
}

func checkResp(resp *http.Response, err error) (*http.Response, error) {
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e types.Error
		defer resp.Body.Close()
		if xml.NewDecoder(resp.Body).Decode(&e) == nil && e.Message != "" {
			return nil, fmt.Errorf("%s (HTTP %d)", e.Message, resp.StatusCode)
		}
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp, nil
}

func rightNames(rs []*types.Right) map[string]bool {
	m := map[string]bool{}
	for _, r := range rs {
		m[r.Name] = true
	}
	return m
}

func missing(want []types.OpenApiReference, have map[string]bool) []types.OpenApiReference {
	var out []types.OpenApiReference
	for _, r := range want {
		if !have[r.Name] {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func hasRef(refs []types.OpenApiReference, id string) bool {
	for _, r := range refs {
		if r.ID == id {
			return true
		}
	}
	return false
}
