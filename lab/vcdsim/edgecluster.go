package vcdsim

import (
	"net/http"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// The NSX-T edge clusters a VDC may use
// (/cloudapi/1.0.0/nsxTResources/edgeClusters, provider only, filter
// orgVdcId or vdcGroupId required) and the VDC's network profile
// (/cloudapi/1.0.0/vdcs/{id}/networkProfile): its primary and services
// edge clusters and default segment profile templates. The lab's NSX-T has
// one edge cluster, the one its edge gateway runs on.

const edgeClusterName = "edge-cluster-01"

func edgeClusterID() string { return nameUUID("edgecluster") }

func (s *Server) edgeClusterRoutes(coll, item func(method, path string, h handlerFunc, opts ...routeOpt)) {
	coll("GET", "nsxTResources/edgeClusters", handleEdgeClusters, provider)
	item("GET", "vdcs/{id}/networkProfile", handleNetworkProfile)
	item("PUT", "vdcs/{id}/networkProfile", handleUpdateNetworkProfile, provider)
	item("DELETE", "vdcs/{id}/networkProfile", handleDeleteNetworkProfile, provider)
}

func handleEdgeClusters(c *reqCtx) {
	terms := parseQueryFilter(c.r.URL.Query().Get("filter"))
	vdcID, group := terms["orgVdcId"], terms["vdcGroupId"]
	switch {
	case vdcID == "" && group == "":
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "edgeClusters: the filter orgVdcId or vdcGroupId is required")
		return
	case group != "":
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.vdcGroup:%s\".", group)
		return
	case bareID(vdcID) != c.m.vdc.id:
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.vdc:%s\".", vdcID)
		return
	}
	ec := &types.NsxtEdgeCluster{ID: edgeClusterID(), Name: edgeClusterName, Description: "NSX-T edge cluster of the lab",
		NodeCount: 2, NodeType: "EDGE_NODE", DeploymentType: "VIRTUAL_MACHINE"}
	c.writePage([]any{ec}, func(item any, field string) (string, bool) {
		if field == "orgVdcId" || field == "vdcGroupId" {
			return "", false
		}
		return jsonField(item, field)
	})
}

func (c *reqCtx) profileVdc() bool {
	if bareID(c.r.PathValue("id")) != c.m.vdc.id || !c.canSeeOrg(c.m.vdc.org) {
		c.notFound("vdc", c.r.PathValue("id"))
		return false
	}
	return true
}

func handleNetworkProfile(c *reqCtx) {
	if c.profileVdc() {
		c.json(http.StatusOK, &c.m.net().profile)
	}
}

// edgeClusterRef resolves an edge cluster given by ref id or backing id.
func (c *reqCtx) edgeClusterRef(what string, refID, backing string) (*types.OpenApiReference, bool) {
	if bareID(refID) == edgeClusterID() || backing == edgeClusterID() {
		return &types.OpenApiReference{Name: edgeClusterName, ID: edgeClusterID()}, true
	}
	c.fail(http.StatusBadRequest, "BAD_REQUEST", "%s: edge cluster %q does not exist (the VDC can use %s, id %s)", what, refID+backing, edgeClusterName, edgeClusterID())
	return nil, false
}

func handleUpdateNetworkProfile(c *reqCtx) {
	if !c.profileVdc() {
		return
	}
	var in types.VdcNetworkProfile
	if !c.readJSON(&in) {
		return
	}
	var out types.VdcNetworkProfile
	if r := in.PrimaryEdgeCluster; r != nil {
		ref, ok := c.edgeClusterRef("primaryEdgeCluster", r.ID, "")
		if !ok {
			return
		}
		out.PrimaryEdgeCluster = ref
	}
	if r := in.SecondaryEdgeCluster; r != nil {
		ref, ok := c.edgeClusterRef("secondaryEdgeCluster", r.ID, "")
		if !ok {
			return
		}
		out.SecondaryEdgeCluster = ref
	}
	if s := in.ServicesEdgeCluster; s != nil {
		refID := ""
		if s.EdgeClusterRef != nil {
			refID = s.EdgeClusterRef.ID
		}
		ref, ok := c.edgeClusterRef("servicesEdgeCluster", refID, s.BackingID)
		if !ok {
			return
		}
		out.ServicesEdgeCluster = &types.VdcNetworkProfileServicesEdgeCluster{BackingID: edgeClusterID(), EdgeClusterRef: ref}
	}
	for _, t := range []struct {
		what     string
		in, into **types.OpenApiReference
	}{
		{"vappNetworkSegmentProfileTemplateRef", &in.VappNetworkSegmentProfileTemplateRef, &out.VappNetworkSegmentProfileTemplateRef},
		{"vdcNetworkSegmentProfileTemplateRef", &in.VdcNetworkSegmentProfileTemplateRef, &out.VdcNetworkSegmentProfileTemplateRef},
	} {
		if *t.in == nil || (*t.in).ID == "" {
			continue
		}
		tpl := c.m.templateByID((*t.in).ID)
		if tpl == nil {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "%s: segment profile template %q does not exist", t.what, (*t.in).ID)
			return
		}
		*t.into = &types.OpenApiReference{Name: tpl.Name, ID: tpl.ID}
	}
	c.m.net().profile = out
	c.accepted(c.m.newTask(c, "vdcUpdateNetworkProfile", "Updating network profile of VDC "+c.m.vdc.name,
		types.Reference{ID: c.m.vdc.urn(), Name: c.m.vdc.name, Type: mimeVdc, HREF: c.m.vdc.href()}, nil))
}

func handleDeleteNetworkProfile(c *reqCtx) {
	if !c.profileVdc() {
		return
	}
	for _, n := range c.m.networks {
		if d := c.m.net().dhcp[bareID(n.ID)]; d != nil && d.cfg != nil && d.cfg.Mode == "NETWORK" && n.NetworkType == "ISOLATED" {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "The services edge cluster of VDC %s runs the DHCP service of isolated network %s; delete that DHCP configuration first", c.m.vdc.name, n.Name)
			return
		}
	}
	c.m.net().profile = types.VdcNetworkProfile{}
	c.accepted(c.m.newTask(c, "vdcUpdateNetworkProfile", "Resetting network profile of VDC "+c.m.vdc.name,
		types.Reference{ID: c.m.vdc.urn(), Name: c.m.vdc.name, Type: mimeVdc, HREF: c.m.vdc.href()}, nil))
}
