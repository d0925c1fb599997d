package vcdsim

import (
	"net/http"
	"slices"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// NSX-T segment profiles, segment profile templates and the segment
// profiles of an org VDC network.
//
// The lab's NSX-T manager has the five default segment profiles NSX-T ships
// (one of each kind, named as in NSX-T: default-ip-discovery-profile ...),
// which vCD lists under /cloudapi/1.0.0/nsxTResources/segment*Profiles with
// their NSX-T policy paths as ids. Listing them needs one of the filters
// nsxTManagerRef.id, orgVdcId or vdcGroupId. Templates
// (/cloudapi/1.0.0/segmentProfileTemplates, provider only) name one profile
// of each kind; an org VDC network gets one through its
// segmentProfileTemplate field (write-only: GET of the network never shows
// it) or through PUT orgVdcNetworks/{id}/segmentProfiles, which shows the
// template (source ORG_VDC_NETWORK) and the profiles in effect.

// segmentProfileKind is one kind of NSX-T segment profile.
type segmentProfileKind struct {
	endpoint string // under nsxTResources/
	field    string // the field naming it in templates
	profile  any    // the default profile of this kind
	id, name string
}

func nsxtManagerID() string { return nameUUID("nsxtManager", NsxtManagerName) }

func nsxtManagerRef() *types.OpenApiReference {
	return &types.OpenApiReference{Name: NsxtManagerName, ID: urn("nsxtmanager", nsxtManagerID())}
}

func segmentCommon(path, name string) types.NsxtSegmentProfileCommonFields {
	return types.NsxtSegmentProfileCommonFields{ID: path, DisplayName: name, Description: "NSX-T default " + strings.ReplaceAll(strings.TrimPrefix(name, "default-"), "-", " "), NsxTManagerRef: nsxtManagerRef()}
}

// segmentProfileKinds are NSX-T's default profiles, with NSX-T's defaults.
var segmentProfileKinds = func() []segmentProfileKind {
	ipd := &types.NsxtSegmentProfileIpDiscovery{
		NsxtSegmentProfileCommonFields: segmentCommon("/infra/ip-discovery-profiles/default-ip-discovery-profile", "default-ip-discovery-profile"),
		ArpBindingLimit:                1, ArpNdBindingTimeout: 10, IsArpSnoopingEnabled: true, IsDhcpSnoopingV4Enabled: false,
		IsDuplicateIPDetectionEnabled: false, IsNdSnoopingEnabled: false, IsTofuEnabled: true, IsVMToolsV4Enabled: true, NdSnoopingLimit: 3,
	}
	mac := &types.NsxtSegmentProfileMacDiscovery{
		NsxtSegmentProfileCommonFields: segmentCommon("/infra/mac-discovery-profiles/default-mac-discovery-profile", "default-mac-discovery-profile"),
		IsMacChangeEnabled:             true, MacLearningAgingTime: 600, MacLimit: 4096, MacPolicy: "ALLOW",
	}
	spoof := &types.NsxtSegmentProfileSegmentSpoofGuard{
		NsxtSegmentProfileCommonFields: segmentCommon("/infra/spoofguard-profiles/default-spoofguard-profile", "default-spoofguard-profile"),
	}
	qos := &types.NsxtSegmentProfileSegmentQosProfile{
		NsxtSegmentProfileCommonFields: segmentCommon("/infra/qos-profiles/default-qos-profile", "default-qos-profile"),
	}
	qos.DscpConfig.TrustMode = "TRUSTED"
	sec := &types.NsxtSegmentProfileSegmentSecurity{
		NsxtSegmentProfileCommonFields: segmentCommon("/infra/segment-security-profiles/default-segment-security-profile", "default-segment-security-profile"),
		BpduFilterAllowList:            []string{}, IsBpduFilterEnabled: true, IsDhcpClientBlockV6Enabled: false, IsDhcpServerBlockV4Enabled: true, IsDhcpServerBlockV6Enabled: true,
	}
	kind := func(endpoint, field string, p any, c types.NsxtSegmentProfileCommonFields) segmentProfileKind {
		return segmentProfileKind{endpoint: endpoint, field: field, profile: p, id: c.ID, name: c.DisplayName}
	}
	return []segmentProfileKind{
		kind("segmentIpDiscoveryProfiles", "ipDiscoveryProfile", ipd, ipd.NsxtSegmentProfileCommonFields),
		kind("segmentMacDiscoveryProfiles", "macDiscoveryProfile", mac, mac.NsxtSegmentProfileCommonFields),
		kind("segmentSpoofGuardProfiles", "spoofGuardProfile", spoof, spoof.NsxtSegmentProfileCommonFields),
		kind("segmentQoSProfiles", "qosProfile", qos, qos.NsxtSegmentProfileCommonFields),
		kind("segmentSecurityProfiles", "segmentSecurityProfile", sec, sec.NsxtSegmentProfileCommonFields),
	}
}()

func (s *Server) segmentProfileRoutes(coll, item func(method, path string, h handlerFunc, opts ...routeOpt)) {
	for _, k := range segmentProfileKinds {
		coll("GET", "nsxTResources/"+k.endpoint, handleSegmentProfiles(k))
	}
	coll("GET", "segmentProfileTemplates", handleSegmentProfileTemplates, provider)
	coll("POST", "segmentProfileTemplates", handleCreateSegmentProfileTemplate, provider)
	item("GET", "segmentProfileTemplates/{id}", handleSegmentProfileTemplate, provider)
	item("PUT", "segmentProfileTemplates/{id}", handleUpdateSegmentProfileTemplate, provider)
	item("DELETE", "segmentProfileTemplates/{id}", handleDeleteSegmentProfileTemplate, provider)
	item("GET", "orgVdcNetworks/{id}/segmentProfiles", handleNetworkSegmentProfiles)
	item("PUT", "orgVdcNetworks/{id}/segmentProfiles", handleUpdateNetworkSegmentProfiles)
}

// nsxtScopeFilter checks the filter that NSX-T resource lists require
// (nsxTManagerRef.id, orgVdcId or vdcGroupId) and reports whether the lab's
// manager is in scope; it answers the error itself.
func (c *reqCtx) nsxtScopeFilter(what string) bool {
	terms := parseQueryFilter(c.r.URL.Query().Get("filter"))
	mgr := terms["nsxTManagerRef.id"]
	switch {
	case mgr == "" && terms["orgVdcId"] == "" && terms["vdcGroupId"] == "":
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "%s: one of the filters nsxTManagerRef.id, orgVdcId or vdcGroupId is required", what)
	case mgr == "":
		return c.vdcScope(what, true)
	case !c.sess.provider:
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "%s: filtering by NSX-T manager needs the right \"Provider: View\"", what)
	case bareID(mgr) != nsxtManagerID():
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "nsxTManagerRef.id: NSX-T manager %q does not exist", mgr)
	default:
		return true
	}
	return false
}

// vdcScope checks the filter orgVdcId==<VDC> or vdcGroupId==<group> that a
// VDC-scoped NSX-T resource list requires (groups: whether a VDC group may
// be the scope); it answers the error itself.
func (c *reqCtx) vdcScope(what string, groups bool) bool {
	terms := parseQueryFilter(c.r.URL.Query().Get("filter"))
	vdcID, group := terms["orgVdcId"], terms["vdcGroupId"]
	switch {
	case vdcID == "" && group == "":
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "%s: the filter orgVdcId or vdcGroupId is required", what)
	case group != "" && (!groups || c.m.groupByID(group) == nil || !c.canSeeOrg(c.m.groupByID(group).org)):
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.vdcGroup:%s\".", group)
	case vdcID != "" && (c.m.vdcByID(vdcID) == nil || !c.canSeeOrg(c.m.vdcByID(vdcID).org)):
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.vdc:%s\".", vdcID)
	default:
		return true
	}
	return false
}

// scopeFields filters by the scope terms (already checked) and by the
// profile's own fields (id==...).
func scopeFields(item any, field string) (string, bool) {
	switch field {
	case "orgVdcId", "vdcGroupId":
		return "", false
	}
	return jsonField(item, field)
}

func handleSegmentProfiles(k segmentProfileKind) handlerFunc {
	return func(c *reqCtx) {
		if !c.nsxtScopeFilter(k.endpoint) {
			return
		}
		c.writePage([]any{k.profile}, scopeFields)
	}
}

// segmentProfileByID finds the profile of a kind by id (its NSX-T path).
func segmentProfileByID(field, id string) *types.Reference {
	for _, k := range segmentProfileKinds {
		if k.field == field && k.id == id {
			return &types.Reference{ID: k.id, Name: k.name}
		}
	}
	return nil
}

// checkProfileRefs validates the five profile references of a template or
// a network's segment profiles (each optional); it resolves their names.
func (c *reqCtx) checkProfileRefs(refs map[string]**types.Reference) bool {
	for _, k := range segmentProfileKinds {
		p := refs[k.field]
		if *p == nil || (*p).ID == "" {
			*p = nil
			continue
		}
		r := segmentProfileByID(k.field, (*p).ID)
		if r == nil {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "%s: no %s with id %q in NSX-T manager %s (it has %q)", k.field, k.endpoint, (*p).ID, NsxtManagerName, k.id)
			return false
		}
		*p = r
	}
	return true
}

func templateRefs(t *types.NsxtSegmentProfileTemplate) map[string]**types.Reference {
	return map[string]**types.Reference{
		"ipDiscoveryProfile": &t.IPDiscoveryProfile, "macDiscoveryProfile": &t.MacDiscoveryProfile,
		"spoofGuardProfile": &t.SpoofGuardProfile, "qosProfile": &t.QosProfile, "segmentSecurityProfile": &t.SegmentSecurityProfile,
	}
}

func networkProfileRefs(p *types.OrgVdcNetworkSegmentProfiles) map[string]**types.Reference {
	return map[string]**types.Reference{
		"ipDiscoveryProfile": &p.IPDiscoveryProfile, "macDiscoveryProfile": &p.MacDiscoveryProfile,
		"spoofGuardProfile": &p.SpoofGuardProfile, "qosProfile": &p.QosProfile, "segmentSecurityProfile": &p.SegmentSecurityProfile,
	}
}

// --- templates -------------------------------------------------------------

func (c *reqCtx) validateTemplate(in *types.NsxtSegmentProfileTemplate, self *types.NsxtSegmentProfileTemplate) bool {
	if strings.TrimSpace(in.Name) == "" {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "name: must not be empty")
		return false
	}
	if in.SourceNsxTManagerRef == nil || bareID(in.SourceNsxTManagerRef.ID) != nsxtManagerID() {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "sourceNsxTManagerRef: the NSX-T manager the profiles come from is required (%s, id %s)", NsxtManagerName, nsxtManagerRef().ID)
		return false
	}
	for _, t := range c.m.net().templates {
		if t != self && t.Name == in.Name {
			c.fail(http.StatusBadRequest, "DUPLICATE_NAME", "A segment profile template named %q already exists", in.Name)
			return false
		}
	}
	in.SourceNsxTManagerRef = nsxtManagerRef()
	return c.checkProfileRefs(templateRefs(in))
}

func (c *reqCtx) templateFromPath() *types.NsxtSegmentProfileTemplate {
	if t := c.m.templateByID(c.r.PathValue("id")); t != nil {
		return t
	}
	c.notFound("segmentProfileTemplate", c.r.PathValue("id"))
	return nil
}

func (m *model) templateByID(id string) *types.NsxtSegmentProfileTemplate {
	for _, t := range m.net().templates {
		if bareID(t.ID) == bareID(id) {
			return t
		}
	}
	return nil
}

func handleSegmentProfileTemplates(c *reqCtx) {
	var items []any
	for _, t := range c.m.net().templates {
		items = append(items, t)
	}
	c.writePage(items, jsonField)
}

func handleSegmentProfileTemplate(c *reqCtx) {
	if t := c.templateFromPath(); t != nil {
		c.json(http.StatusOK, t)
	}
}

func handleCreateSegmentProfileTemplate(c *reqCtx) {
	var in types.NsxtSegmentProfileTemplate
	if !c.readJSON(&in) || !c.validateTemplate(&in, nil) {
		return
	}
	in.ID = urn("segmentProfileTemplate", newUUID())
	in.LastModified = nowStamp()
	c.m.net().templates = append(c.m.net().templates, &in)
	c.json(http.StatusCreated, &in)
}

func handleUpdateSegmentProfileTemplate(c *reqCtx) {
	t := c.templateFromPath()
	if t == nil {
		return
	}
	var in types.NsxtSegmentProfileTemplate
	if !c.readJSON(&in) || !c.validateTemplate(&in, t) {
		return
	}
	in.ID, in.LastModified = t.ID, nowStamp()
	*t = in
	c.json(http.StatusOK, t)
}

func handleDeleteSegmentProfileTemplate(c *reqCtx) {
	t := c.templateFromPath()
	if t == nil {
		return
	}
	for _, n := range c.m.networks {
		if sp := c.m.net().segments[bareID(n.ID)]; sp != nil && sp.SegmentProfileTemplate != nil && sp.SegmentProfileTemplate.TemplateRef.ID == t.ID {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "Segment profile template %q is in use by org VDC network %q", t.Name, n.Name)
			return
		}
	}
	c.m.net().templates = slices.DeleteFunc(c.m.net().templates, func(x *types.NsxtSegmentProfileTemplate) bool { return x == t })
	c.w.WriteHeader(http.StatusNoContent)
}

// --- the segment profiles of a network -------------------------------------

// checkNetworkTemplate validates the write-only segmentProfileTemplate of a
// network definition; it answers 400 when the template does not exist.
func (c *reqCtx) checkNetworkTemplate(in *types.OpenApiOrgVdcNetwork) bool {
	if in.SegmentProfileTemplate == nil || in.SegmentProfileTemplate.ID == "" {
		return true
	}
	if c.m.templateByID(in.SegmentProfileTemplate.ID) == nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "segmentProfileTemplate: segment profile template %q does not exist", in.SegmentProfileTemplate.ID)
		return false
	}
	return true
}

// applyNetworkTemplate gives network id the template (nil: unchanged).
func (m *model) applyNetworkTemplate(id string, ref *types.OpenApiReference) {
	if ref == nil || ref.ID == "" {
		return
	}
	t := m.templateByID(ref.ID)
	if t == nil {
		return
	}
	m.net().segments[bareID(id)] = &types.OrgVdcNetworkSegmentProfiles{
		SegmentProfileTemplate: &types.SegmentProfileTemplateRef{Source: "ORG_VDC_NETWORK", TemplateRef: &types.OpenApiReference{Name: t.Name, ID: t.ID}},
		IPDiscoveryProfile:     t.IPDiscoveryProfile, MacDiscoveryProfile: t.MacDiscoveryProfile, SpoofGuardProfile: t.SpoofGuardProfile,
		QosProfile: t.QosProfile, SegmentSecurityProfile: t.SegmentSecurityProfile,
	}
}

func (c *reqCtx) segmentsOf(n *network) *types.OrgVdcNetworkSegmentProfiles {
	if sp := c.m.net().segments[bareID(n.ID)]; sp != nil {
		return sp
	}
	return &types.OrgVdcNetworkSegmentProfiles{}
}

func handleNetworkSegmentProfiles(c *reqCtx) {
	if n := c.networkFromPath(); n != nil {
		c.json(http.StatusOK, c.segmentsOf(n))
	}
}

// handleUpdateNetworkSegmentProfiles sets the profiles one by one; the
// network then has no template.
func handleUpdateNetworkSegmentProfiles(c *reqCtx) {
	n := c.networkFromPath()
	if n == nil {
		return
	}
	var in types.OrgVdcNetworkSegmentProfiles
	if !c.readJSON(&in) || !c.checkProfileRefs(networkProfileRefs(&in)) {
		return
	}
	in.SegmentProfileTemplate = nil
	c.m.net().segments[bareID(n.ID)] = &in
	t := c.m.newTask(c, "orgVdcNetworkUpdateSegmentProfiles", "Updating segment profiles of org VDC network "+n.Name,
		types.Reference{ID: n.ID, Name: n.Name, Type: "application/vnd.vmware.vcloud.orgNetwork+xml", HREF: n.adminHref()}, nil)
	c.accepted(t)
}
