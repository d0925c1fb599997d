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
	if !c.vdcScope("edgeClusters", true) {
		return
	}
	ec := &types.NsxtEdgeCluster{ID: edgeClusterID(), Name: edgeClusterName, Description: "NSX-T edge cluster of the lab",
		NodeCount: 2, NodeType: "EDGE_NODE", DeploymentType: "VIRTUAL_MACHINE"}
	c.writePage([]any{ec}, scopeFields)
}

func (c *reqCtx) profileVdc() *vdc {
	if v := c.m.vdcByID(c.r.PathValue("id")); v != nil && c.canSeeOrg(v.org) {
		return v
	}
	c.notFound("vdc", c.r.PathValue("id"))
	return nil
}

func handleNetworkProfile(c *reqCtx) {
	if v := c.profileVdc(); v != nil {
		c.json(http.StatusOK, c.m.profileOf(v))
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
	v := c.profileVdc()
	if v == nil {
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
	*c.m.profileOf(v) = out
	c.accepted(c.m.newTask(c, "vdcUpdateNetworkProfile", "Updating network profile of VDC "+v.name,
		types.Reference{ID: v.urn(), Name: v.name, Type: mimeVdc, HREF: v.href()}, nil))
}

func handleDeleteNetworkProfile(c *reqCtx) {
	v := c.profileVdc()
	if v == nil {
		return
	}
	for _, n := range c.m.networks {
		if d := c.m.net().dhcp[bareID(n.ID)]; d != nil && d.cfg != nil && d.cfg.Mode == "NETWORK" && n.NetworkType == "ISOLATED" && c.servicesProfile(n) == c.m.profileOf(v) {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "The services edge cluster of VDC %s runs the DHCP service of isolated network %s; delete that DHCP configuration first", v.name, n.Name)
			return
		}
	}
	*c.m.profileOf(v) = types.VdcNetworkProfile{}
	c.accepted(c.m.newTask(c, "vdcUpdateNetworkProfile", "Resetting network profile of VDC "+v.name,
		types.Reference{ID: v.urn(), Name: v.name, Type: mimeVdc, HREF: v.href()}, nil))
}

// servicesProfile is the network profile with a services edge cluster
// that serves network n: its VDC's, or one of its VDC group's VDCs'.
func (c *reqCtx) servicesProfile(n *network) *types.VdcNetworkProfile {
	if n.OwnerRef == nil {
		return nil
	}
	o, err := c.ownerOf(n.OwnerRef.ID)
	if err != nil {
		return nil
	}
	vdcs := []*vdc{o.vdc}
	if o.group != nil {
		vdcs = o.group.vdcs
	}
	for _, v := range vdcs {
		if p := c.m.profileOf(v); p.ServicesEdgeCluster != nil {
			return p
		}
	}
	return nil
}
