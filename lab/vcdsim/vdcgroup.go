package vcdsim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// NSX-T VDC groups (/cloudapi/1.0.0/vdcGroups): org VDCs of one
// organization whose networks and edge gateways the group then owns. The
// candidates (vdcGroups/networkingCandidateVdcs, filter _context==<vdc id>
// and _context==LOCAL) are the NSX-T VDCs of the starting VDC's org, all on
// the lab's provider VDC and network pool. A group with edge gateways or
// networks is deleted only with force=true.

// vdcGroup is a VDC group.
type vdcGroup struct {
	types.VdcGroup
	org  *org
	vdcs []*vdc
}

func (g *vdcGroup) has(v *vdc) bool {
	for _, x := range g.vdcs {
		if x == v {
			return true
		}
	}
	return false
}

func (g *vdcGroup) ref() types.OpenApiReference {
	return types.OpenApiReference{Name: g.Name, ID: g.Id}
}

const siteName = "vcdsim"

func siteRef() types.OpenApiReference {
	return types.OpenApiReference{Name: siteName, ID: urn("site", nameUUID("site", siteName))}
}

func (s *Server) vdcGroupRoutes(coll, item func(method, path string, h handlerFunc, opts ...routeOpt)) {
	coll("GET", "vdcGroups/networkingCandidateVdcs", handleVdcGroupCandidates)
	coll("GET", "vdcGroups", handleVdcGroups)
	coll("POST", "vdcGroups", handleCreateVdcGroup)
	item("GET", "vdcGroups/{id}", handleVdcGroup)
	item("DELETE", "vdcGroups/{id}", handleDeleteVdcGroup)
	coll("GET", "vdcs/{id}/capabilities", handleVdcCapabilities)
}

// handleVdcCapabilities answers for an org VDC or a VDC group (vCD serves
// both under vdcs/{id}/capabilities): the lab's are NSX-T backed.
func handleVdcCapabilities(c *reqCtx) {
	if _, err := c.ownerOf(c.r.PathValue("id")); err != nil {
		c.notFound("vdc", c.r.PathValue("id"))
		return
	}
	c.writePage([]any{
		&types.VdcCapability{Name: "networkProvider", Description: "Network provider of the VDC", Value: types.VdcCapabilityNetworkProviderNsxt, Type: "String", Category: "General"},
		&types.VdcCapability{Name: "vdcGroupNetworkingSupported", Description: "VDC groups with networking", Value: true, Type: "Boolean", Category: "VdcGroup"},
	}, jsonField)
}

func (m *model) groupByID(id string) *vdcGroup {
	for _, g := range m.net().groups {
		if bareID(g.Id) == bareID(id) {
			return g
		}
	}
	return nil
}

// owner is what owns a network or edge gateway: an org VDC or a VDC group.
type owner struct {
	ref   types.OpenApiReference
	org   *org
	vdc   *vdc      // nil for a group
	group *vdcGroup // nil for a VDC
}

// ownerOf resolves an ownerRef id the session may use.
func (c *reqCtx) ownerOf(id string) (owner, error) {
	if strings.HasPrefix(id, "urn:vcloud:vdcGroup:") {
		if g := c.m.groupByID(id); g != nil && c.canSeeOrg(g.org) {
			return owner{ref: g.ref(), org: g.org, group: g}, nil
		}
		return owner{}, fmt.Errorf("VDC group %q does not exist", id)
	}
	if v := c.m.vdcByID(id); v != nil && c.canSeeOrg(v.org) {
		return owner{ref: v.ref(), org: v.org, vdc: v}, nil
	}
	return owner{}, fmt.Errorf("org VDC %q does not exist", id)
}

// includes: v is the owner, or part of the owning group.
func (o owner) includes(v *vdc) bool { return o.vdc == v || (o.group != nil && o.group.has(v)) }

// filterContexts are the _context terms of a filter (it may repeat them).
func filterContexts(filter string) []string {
	var out []string
	for _, t := range strings.Split(filter, ";") {
		if k, v, ok := strings.Cut(strings.Trim(t, "()"), "=="); ok && k == "_context" {
			out = append(out, v)
		}
	}
	return out
}

func (c *reqCtx) candidate(v *vdc) *types.CandidateVdc {
	return &types.CandidateVdc{Id: v.urn(), Name: v.name, OrgRef: types.OpenApiReference{Name: v.org.name, ID: v.org.urn()},
		SiteRef: siteRef(), FaultDomainTag: pvdcName, NetworkProviderScope: NsxtManagerName}
}

func ignoreContext(item any, field string) (string, bool) {
	if field == "_context" {
		return "", false
	}
	return jsonField(item, field)
}

func handleVdcGroupCandidates(c *reqCtx) {
	var start *vdc
	for _, ctx := range filterContexts(c.r.URL.Query().Get("filter")) {
		if v := c.m.vdcByID(ctx); v != nil && strings.HasPrefix(ctx, "urn:vcloud:vdc:") && c.canSeeOrg(v.org) {
			start = v
		}
	}
	if start == nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "networkingCandidateVdcs: the filter _context==<id of the starting org VDC> is required")
		return
	}
	var items []any
	for _, v := range c.m.orgVdcs(start.org) {
		items = append(items, c.candidate(v))
	}
	c.writePage(items, ignoreContext)
}

func (c *reqCtx) groupView(g *vdcGroup) *types.VdcGroup {
	v := g.VdcGroup
	v.ParticipatingOrgVdcs = nil
	for _, x := range g.vdcs {
		v.ParticipatingOrgVdcs = append(v.ParticipatingOrgVdcs, types.ParticipatingOrgVdcs{
			VdcRef: x.ref(), OrgRef: types.OpenApiReference{Name: x.org.name, ID: x.org.urn()}, SiteRef: siteRef(),
			Status: "REALIZED", FaultDomainTag: pvdcName, NetworkProviderScope: NsxtManagerName,
		})
	}
	return &v
}

func handleVdcGroups(c *reqCtx) {
	var items []any
	for _, g := range c.m.net().groups {
		if c.canSeeOrg(g.org) {
			items = append(items, c.groupView(g))
		}
	}
	c.writePage(items, jsonField)
}

func (c *reqCtx) groupFromPath() *vdcGroup {
	if g := c.m.groupByID(c.r.PathValue("id")); g != nil && c.canSeeOrg(g.org) {
		return g
	}
	c.notFound("vdcGroup", c.r.PathValue("id"))
	return nil
}

func handleVdcGroup(c *reqCtx) {
	if g := c.groupFromPath(); g != nil {
		c.json(http.StatusOK, c.groupView(g))
	}
}

func (c *reqCtx) checkVdcGroup(in *types.VdcGroup) (*org, []*vdc, error) {
	o := c.m.orgByID(in.OrgId)
	switch {
	case strings.TrimSpace(in.Name) == "":
		return nil, nil, fmt.Errorf("name: must not be empty")
	case o == nil || !c.canSeeOrg(o):
		return nil, nil, fmt.Errorf("orgId: organization %q does not exist", in.OrgId)
	case in.NetworkProviderType != "NSX_T":
		return nil, nil, fmt.Errorf("networkProviderType %q: the lab's VDCs are NSX-T backed (NSX_T)", in.NetworkProviderType)
	case in.Type != "" && in.Type != "LOCAL":
		return nil, nil, fmt.Errorf("type %q: NSX-T VDC groups are LOCAL", in.Type)
	case in.UniversalNetworkingEnabled:
		return nil, nil, fmt.Errorf("universalNetworkingEnabled: NSX-T VDC groups have no universal router")
	case len(in.ParticipatingOrgVdcs) == 0:
		return nil, nil, fmt.Errorf("participatingOrgVdcs: at least one org VDC is required")
	}
	for _, g := range c.m.net().groups {
		if g.Name == in.Name {
			return nil, nil, fmt.Errorf("a VDC group named %q already exists", in.Name)
		}
	}
	var vdcs []*vdc
	for i, p := range in.ParticipatingOrgVdcs {
		v := c.m.vdcByID(p.VdcRef.ID)
		if v == nil || v.org != o {
			return nil, nil, fmt.Errorf("participatingOrgVdcs[%d]: %q is not an org VDC of organization %s", i, p.VdcRef.ID, o.name)
		}
		for _, x := range vdcs {
			if x == v {
				return nil, nil, fmt.Errorf("participatingOrgVdcs: VDC %s is listed twice", v.name)
			}
		}
		vdcs = append(vdcs, v)
	}
	return o, vdcs, nil
}

func handleCreateVdcGroup(c *reqCtx) {
	var in types.VdcGroup
	if !c.readJSON(&in) {
		return
	}
	o, vdcs, err := c.checkVdcGroup(&in)
	if err != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "VDC group: %v", err)
		return
	}
	g := &vdcGroup{VdcGroup: in, org: o, vdcs: vdcs}
	g.Id, g.Status, g.Type, g.OrgId = urn("vdcGroup", newUUID()), "REALIZED", "LOCAL", o.urn()
	g.NetworkPoolId = urn("networkpool", nameUUID("networkpool", NetworkPoolName))
	c.m.net().groups = append(c.m.net().groups, g)
	c.accepted(c.m.newTask(c, "vdcGroupCreate", "Creating VDC group "+g.Name,
		types.Reference{ID: g.Id, Name: g.Name, Type: "application/json"}, nil))
}

func handleDeleteVdcGroup(c *reqCtx) {
	g := c.groupFromPath()
	if g == nil {
		return
	}
	var contents []string
	for _, e := range c.m.edges {
		if e.OwnerRef != nil && e.OwnerRef.ID == g.Id {
			contents = append(contents, "edge gateway "+e.Name)
		}
	}
	for _, n := range c.m.networks {
		if n.OwnerRef != nil && n.OwnerRef.ID == g.Id {
			contents = append(contents, "network "+n.Name)
		}
	}
	if len(contents) > 0 {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "VDC group %s owns %s; delete them first", g.Name, strings.Join(contents, ", "))
		return
	}
	c.m.net().groups = slices.DeleteFunc(c.m.net().groups, func(x *vdcGroup) bool { return x == g })
	c.accepted(c.m.newTask(c, "vdcGroupDelete", "Deleting VDC group "+g.Name,
		types.Reference{ID: g.Id, Name: g.Name, Type: "application/json"}, nil))
}

// placeNetwork resolves a network definition's owner (an org VDC or a VDC
// group): ownerRef names it, orgVdc only a VDC owner. It answers 400 when
// the owner does not exist.
func (c *reqCtx) placeNetwork(in *types.OpenApiOrgVdcNetwork, ref *types.OpenApiReference) bool {
	if ref == nil || ref.ID == "" {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "ownerRef: the org VDC or VDC group of the network is required")
		return false
	}
	o, err := c.ownerOf(ref.ID)
	if err != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "ownerRef: %v", err)
		return false
	}
	in.OwnerRef, in.OrgVdc = refPtr(o.ref), nil
	if o.vdc != nil {
		in.OrgVdc = refPtr(o.ref)
	}
	return true
}

// ownerOrg is the organization of an owner (VDC or VDC group).
func (m *model) ownerOrg(ref *types.OpenApiReference) *org {
	if ref != nil {
		if g := m.groupByID(ref.ID); g != nil {
			return g.org
		}
		if v := m.vdcByID(ref.ID); v != nil {
			return v.org
		}
	}
	return m.vdc.org
}
