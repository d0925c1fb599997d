package vcdsim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// Org VDCs the provider creates (POST /api/admin/org/{id}/vdcsparams) and
// deletes (DELETE /api/admin/vdc/{id} or /api/vdc/{id}), beside the lab's own Company-VDC.
// They are NSX-T backed, on the lab's provider VDC, its network pool and its
// storage policy "*"; the checks are vCD's: a unique name in the org, the
// provider VDC, network pool and provider VDC storage profile must exist,
// Flex needs isElastic and includeMemoryOverhead, one storage profile is
// the default; a VDC with edge gateways, networks or in a VDC group is only
// deleted with recursive=true and force=true.

func (s *Server) orgVdcRoutes() {
	s.handle("POST /api/admin/org/{id}/vdcsparams", handleCreateOrgVdc, provider)
	s.handle("DELETE /api/admin/vdc/{id}", handleDeleteOrgVdc, provider)
	s.handle("DELETE /api/vdc/{id}", handleDeleteOrgVdc, provider)
}

// vdcByID finds the lab's VDC or one created through the API.
func (m *model) vdcByID(id string) *vdc {
	if bareID(id) == m.vdc.id {
		return m.vdc
	}
	for _, v := range m.extraVdcs {
		if v.id == bareID(id) {
			return v
		}
	}
	return nil
}

// orgVdcs are the VDCs of an org.
func (m *model) orgVdcs(o *org) []*vdc {
	var out []*vdc
	if o == m.vdc.org {
		out = append(out, m.vdc)
	}
	for _, v := range m.extraVdcs {
		if v.org == o {
			out = append(out, v)
		}
	}
	return out
}

func (c *reqCtx) checkVdcConfiguration(o *org, in *types.VdcConfiguration) error {
	if strings.TrimSpace(in.Name) == "" {
		return fmt.Errorf("name: must not be empty")
	}
	for _, v := range c.m.orgVdcs(o) {
		if v.name == in.Name {
			return fmt.Errorf("a VDC named %q already exists in organization %s", in.Name, o.name)
		}
	}
	switch in.AllocationModel {
	case "AllocationVApp", "AllocationPool", "ReservationPool":
	case "Flex":
		if in.IsElastic == nil || in.IncludeMemoryOverhead == nil {
			return fmt.Errorf("AllocationModel Flex needs IsElastic and IncludeMemoryOverhead")
		}
	default:
		return fmt.Errorf("AllocationModel %q: one of AllocationVApp, AllocationPool, ReservationPool, Flex", in.AllocationModel)
	}
	if len(in.ComputeCapacity) == 0 || in.ComputeCapacity[0].CPU == nil || in.ComputeCapacity[0].Memory == nil {
		return fmt.Errorf("ComputeCapacity: CPU and Memory are required")
	}
	if in.ProviderVdcReference == nil || normHref(in.ProviderVdcReference.HREF) != normHref(c.pvdcRef().HREF) {
		return fmt.Errorf("ProviderVdcReference: provider VDC %v does not exist (the lab has %s)", in.ProviderVdcReference, pvdcName)
	}
	pool, _ := c.networkPoolRecords()
	if in.NetworkPoolReference == nil || normHref(in.NetworkPoolReference.HREF) != normHref(pool[0].fields["href"]) {
		return fmt.Errorf("NetworkPoolReference: an NSX-T backed VDC needs the network pool of its provider VDC (%s)", NetworkPoolName)
	}
	sps, _ := c.pvdcStorageProfileRecords()
	defaults := 0
	if len(in.VdcStorageProfile) == 0 {
		return fmt.Errorf("VdcStorageProfile: at least one is required")
	}
	for _, sp := range in.VdcStorageProfile {
		if sp.ProviderVdcStorageProfile == nil || !slices.ContainsFunc(sps, func(r queryRecord) bool {
			return normHref(sp.ProviderVdcStorageProfile.HREF) == normHref(r.fields["href"])
		}) {
			return fmt.Errorf("VdcStorageProfile: provider VDC storage profile %v does not exist in %s", sp.ProviderVdcStorageProfile, pvdcName)
		}
		if sp.Default {
			defaults++
		}
	}
	if defaults != 1 {
		return fmt.Errorf("VdcStorageProfile: exactly one must be the default (got %d)", defaults)
	}
	return nil
}

func handleCreateOrgVdc(c *reqCtx) {
	o := c.orgFromPath()
	if o == nil {
		return
	}
	var in types.VdcConfiguration
	if !c.readXML(&in) {
		return
	}
	if err := c.checkVdcConfiguration(o, &in); err != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "%v", err)
		return
	}
	v := &vdc{id: newUUID(), name: in.Name, org: o}
	c.m.extraVdcs = append(c.m.extraVdcs, v)
	t := c.m.newTask(c, "vdcCreateVdc", "Creating Virtual Datacenter "+v.name,
		types.Reference{ID: v.urn(), Name: v.name, Type: mimeVdc, HREF: "/api/admin/vdc/" + v.id}, nil)
	x := &types.AdminVdc{Xmlns: xmlnsVcloud, Vdc: types.Vdc{HREF: c.abs("/api/admin/vdc/" + v.id), Type: "application/vnd.vmware.admin.vdc+xml",
		ID: v.urn(), Name: v.name, Status: 0, AllocationModel: in.AllocationModel, Description: in.Description,
		Tasks: &types.TasksInProgress{Task: []*types.Task{c.taskXML(t)}}}, ProviderVdcReference: c.pvdcRef()}
	c.xml(http.StatusCreated, x.Type, "AdminVdc", x)
}

func handleDeleteOrgVdc(c *reqCtx) {
	v := c.m.vdcByID(c.r.PathValue("id"))
	if v == nil {
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.vdc:%s\".", c.r.PathValue("id"))
		return
	}
	if v == c.m.vdc {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "VDC %s holds the lab's edge gateway and workloads; the lab does not delete it", v.name)
		return
	}
	q := c.r.URL.Query()
	recursive := q.Get("recursive") == "true" && q.Get("force") == "true"
	var contents []string
	for _, e := range c.m.edges {
		if e.OwnerRef != nil && bareID(e.OwnerRef.ID) == v.id {
			contents = append(contents, "edge gateway "+e.Name)
		}
	}
	for _, n := range c.m.networks {
		if n.OrgVdc != nil && bareID(n.OrgVdc.ID) == v.id {
			contents = append(contents, "network "+n.Name)
		}
	}
	for _, g := range c.m.net().groups {
		if g.has(v) {
			contents = append(contents, "VDC group "+g.Name)
		}
	}
	if len(contents) > 0 && !recursive {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "VDC %s is not empty (%s); delete with force=true and recursive=true", v.name, strings.Join(contents, ", "))
		return
	}
	for _, g := range c.m.net().groups {
		if g.has(v) {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "VDC %s is part of VDC group %s; delete the group or remove the VDC from it first", v.name, g.Name)
			return
		}
	}
	for _, n := range slices.Clone(c.m.networks) {
		if n.OrgVdc != nil && bareID(n.OrgVdc.ID) == v.id {
			c.m.networks = slices.DeleteFunc(c.m.networks, func(x *network) bool { return x == n })
			c.m.forgetNetwork(n.ID)
		}
	}
	for _, e := range slices.Clone(c.m.edges) {
		if e.OwnerRef != nil && bareID(e.OwnerRef.ID) == v.id {
			c.m.edges = slices.DeleteFunc(c.m.edges, func(x *edge) bool { return x == e })
		}
	}
	c.m.extraVdcs = slices.DeleteFunc(c.m.extraVdcs, func(x *vdc) bool { return x == v })
	delete(c.m.net().profiles, v.id)
	t := c.m.newTask(c, "vdcDeleteVdc", "Deleting Virtual Datacenter "+v.name,
		types.Reference{ID: v.urn(), Name: v.name, Type: mimeVdc, HREF: "/api/admin/vdc/" + v.id}, nil)
	c.taskResponse(t)
}
