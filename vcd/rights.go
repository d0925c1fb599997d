package vcd

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
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
	RightsBundleMode = "bundle" // vCD 10.x: rights bundle + global / tenant role
	RightsLegacyMode = "legacy" // before rights bundles: OrgRights XML
)

// RightsSpec says which rights the tenant needs and where.
type RightsSpec struct {
	Org    string
	Rights []string
	Bundle string // rights bundle published to the org; default "Default Rights Bundle"
	Role   string // the org's administrator role; default "Organization Administrator"
	// Mode forces RightsBundleMode or RightsLegacyMode; empty: chosen from the API version.
	Mode string
}

// RightsPlan is what EnsureRights would change.
type RightsPlan struct {
	Spec     RightsSpec
	Mode     string
	Unknown  []string // rights this vCD does not know: warnings
	Known    []types.OpenApiReference
	RoleKind string // "global" or "tenant"

	BundleAdd     []types.OpenApiReference
	BundlePublish bool // the bundle must be published to the org
	RoleAdd       []types.OpenApiReference
	RolePublish   bool // the global role must be published to the org
	LegacyAdd     []types.OpenApiReference

	orgRef types.OpenApiReference
}

// Changes renders the plan as readable lines ("+ ..." will change, "= ..." exists).
func (p *RightsPlan) Changes() []string {
	var out []string
	s := p.Spec
	if p.Mode == RightsLegacyMode {
		for _, r := range p.LegacyAdd {
			out = append(out, fmt.Sprintf("+ org %s rights: add %q", s.Org, r.Name))
		}
		return out
	}
	for _, r := range p.BundleAdd {
		out = append(out, fmt.Sprintf("+ rights bundle %q: add %q", s.Bundle, r.Name))
	}
	if p.BundlePublish {
		out = append(out, fmt.Sprintf("+ rights bundle %q: publish to org %s", s.Bundle, s.Org))
	}
	for _, r := range p.RoleAdd {
		out = append(out, fmt.Sprintf("+ %s role %q: add %q", p.RoleKind, s.Role, r.Name))
	}
	if p.RolePublish {
		out = append(out, fmt.Sprintf("+ global role %q: publish to org %s", s.Role, s.Org))
	}
	return out
}

// Warnings lists rights this vCD does not know.
func (p *RightsPlan) Warnings() []string {
	var out []string
	for _, r := range p.Unknown {
		out = append(out, fmt.Sprintf("right %q does not exist in this Cloud Director (dropped after vCD 9.x?); skipped", r))
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
		spec.Bundle = "Default Rights Bundle"
	}
	if spec.Role == "" {
		spec.Role = "Organization Administrator"
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
	adminOrg, err := c.AdminOrgByName(spec.Org)
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
		return p, nil
	}

	bundle, err := c.Client.GetRightsBundleByName(spec.Bundle)
	if err != nil {
		return nil, fmt.Errorf("rights bundle %q: %w", spec.Bundle, err)
	}
	bundleRights, err := bundle.GetRights(nil)
	if err != nil {
		return nil, fmt.Errorf("rights of bundle %q: %w", spec.Bundle, err)
	}
	p.BundleAdd = missing(p.Known, rightNames(bundleRights))
	if bundle.RightsBundle.PublishAll == nil || !*bundle.RightsBundle.PublishAll {
		tenants, err := bundle.GetTenants(nil)
		if err != nil {
			return nil, fmt.Errorf("tenants of bundle %q: %w", spec.Bundle, err)
		}
		p.BundlePublish = !hasRef(tenants, p.orgRef.ID)
	}

	// A tenant-local role (not a read-only copy of a global role) takes the
	// rights itself; otherwise the global role does, and is published.
	if role, err := adminOrg.GetRoleByName(spec.Role); err == nil && !role.Role.ReadOnly {
		p.RoleKind = "tenant"
		have, err := role.GetRights(nil)
		if err != nil {
			return nil, fmt.Errorf("rights of tenant role %q: %w", spec.Role, err)
		}
		p.RoleAdd = missing(p.Known, rightNames(have))
		return p, nil
	} else if err != nil && !govcd.ContainsNotFound(err) {
		return nil, fmt.Errorf("tenant role %q in org %s: %w", spec.Role, spec.Org, err)
	}
	p.RoleKind = "global"
	gr, err := c.Client.GetGlobalRoleByName(spec.Role)
	if err != nil {
		return nil, fmt.Errorf("global role %q: %w", spec.Role, err)
	}
	have, err := gr.GetRights(nil)
	if err != nil {
		return nil, fmt.Errorf("rights of global role %q: %w", spec.Role, err)
	}
	p.RoleAdd = missing(p.Known, rightNames(have))
	if gr.GlobalRole.PublishAll == nil || !*gr.GlobalRole.PublishAll {
		tenants, err := gr.GetTenants(nil)
		if err != nil {
			return nil, fmt.Errorf("tenants of global role %q: %w", spec.Role, err)
		}
		p.RolePublish = !hasRef(tenants, p.orgRef.ID)
	}
	return p, nil
}

// ApplyRights makes the changes of plan p.
func (c *Client) ApplyRights(p *RightsPlan) error {
	s := p.Spec
	if p.Mode == RightsLegacyMode {
		if len(p.LegacyAdd) == 0 {
			return nil
		}
		adminOrg, err := c.AdminOrgByName(s.Org)
		if err != nil {
			return err
		}
		return c.addOrgRights(adminOrg, p.LegacyAdd)
	}
	if len(p.BundleAdd) > 0 || p.BundlePublish {
		bundle, err := c.Client.GetRightsBundleByName(s.Bundle)
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
	if len(p.RoleAdd) == 0 && !p.RolePublish {
		return nil
	}
	if p.RoleKind == "tenant" {
		adminOrg, err := c.AdminOrgByName(s.Org)
		if err != nil {
			return err
		}
		role, err := adminOrg.GetRoleByName(s.Role)
		if err != nil {
			return fmt.Errorf("tenant role %q: %w", s.Role, err)
		}
		if err := role.AddRights(p.RoleAdd); err != nil {
			return fmt.Errorf("add %d rights to tenant role %q: %w", len(p.RoleAdd), s.Role, err)
		}
		return nil
	}
	gr, err := c.Client.GetGlobalRoleByName(s.Role)
	if err != nil {
		return fmt.Errorf("global role %q: %w", s.Role, err)
	}
	if len(p.RoleAdd) > 0 {
		if err := gr.AddRights(p.RoleAdd); err != nil {
			return fmt.Errorf("add %d rights to global role %q: %w", len(p.RoleAdd), s.Role, err)
		}
	}
	if p.RolePublish {
		if err := gr.PublishTenants([]types.OpenApiReference{p.orgRef}); err != nil {
			return fmt.Errorf("publish global role %q to org %s: %w", s.Role, s.Org, err)
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
