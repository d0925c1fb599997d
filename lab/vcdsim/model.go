package vcdsim

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// model is the simulated Cloud Director. Every handler runs with Server.mu
// held, so the model itself has no locks.
type model struct {
	cfg *Config
	// lockout is the tenant org's record of refused logins (logins.go).
	lockout lockout

	apiTokens                  map[string]apiToken // API token -> its user (apitokens.go)
	tokenLogins, tokenRefusals int

	system *org
	tenant *org
	other  *org // a second tenant (Config.OtherOrg), without VDC
	orgs   []*org
	users  []*orgUser
	vdc    *vdc
	// quota is vdc's compute quota (compute.go).
	quota compute
	// morePools name the provider vCenter's resource pools that back vdc
	// besides its own (AddVDCPool, pvdc.go).
	morePools []string
	// extraVdcs are org VDCs created through the API (orgvdcs.go)
	extraVdcs []*vdc

	rights     []*types.Right
	rightByID  map[string]*types.Right
	categories []*types.RightsCategory
	bundles    []*bundle
	globals    []*globalRole
	roles      []*tenantRole // custom tenant roles

	edges    []*edge
	networks []*network
	tasks    map[string]*task
	running  map[string]*task // tasks not finished yet
	vapps    []*vapp
	catalogs []*catalog // see catalog.go
	vc       *vcenter
	imports  []ImportRecord
	// defaultSP is the org VDCs' default storage policy when set
	// (SetDefaultStoragePolicy; storagepolicy.go).
	defaultSP string
	// disabledSP are the storage policies disabled in the org VDCs
	// (SetStoragePolicyEnabled).
	disabledSP map[string]bool
	// limitSP are storage limits set at run time (SetStoragePolicyLimit).
	limitSP map[string]int64
	// recustomized lists the guests re-customized at power-on (guestcust.go).
	recustomized []Recustomization
	// ns: segment profiles, DHCP, network profile, external networks (netstate.go)
	ns *netState
}

func newModel(cfg *Config) (*model, error) {
	m := &model{cfg: cfg, tasks: map[string]*task{}, running: map[string]*task{}, rightByID: map[string]*types.Right{}}
	m.system = &org{id: nameUUID("org", "System"), name: "System", fullName: "System Organization", extraRights: map[string]bool{}}
	m.tenant = &org{id: nameUUID("org", cfg.TenantOrg), name: cfg.TenantOrg, fullName: cfg.TenantOrg + " Inc.", extraRights: map[string]bool{}}
	m.other = &org{id: nameUUID("org", cfg.OtherOrg), name: cfg.OtherOrg, fullName: cfg.OtherOrg + " Corp.", extraRights: map[string]bool{}}
	m.orgs = []*org{m.system, m.tenant, m.other}
	m.vdc = &vdc{id: nameUUID("vdc", cfg.TenantOrg, cfg.VDC), name: cfg.VDC, org: m.tenant}
	m.quota = compute{cpuMHz: DefaultVDCCPUMHz, memMB: DefaultVDCMemMB, vcpuMHz: DefaultVCPUSpeedM}

	m.seedRights()
	m.seedBundles()
	m.seedGlobalRoles()
	m.seedUsers()
	m.seedCatalog()
	if err := m.seedEdge(); err != nil {
		return nil, err
	}
	if err := m.seedIsolated(); err != nil {
		return nil, err
	}
	if cfg.ProviderVC != nil {
		m.vc = newVCenter(cfg.ProviderVC)
	}
	return m, nil
}

// org is a Cloud Director organization.
type org struct {
	id, name, fullName string
	description        string
	disabled           bool
	// extraRights were granted through the legacy OrgRights endpoint, on
	// top of what the rights bundles published to the org give.
	extraRights map[string]bool
}

func (o *org) urn() string  { return urn("org", o.id) }
func (o *org) href() string { return "/api/org/" + o.id }

func (m *model) orgByID(id string) *org {
	for _, o := range m.orgs {
		if o.id == bareID(id) {
			return o
		}
	}
	return nil
}

// vdc is an org VDC (NSX-T backed).
type vdc struct {
	id, name string
	org      *org
}

func (v *vdc) urn() string  { return urn("vdc", v.id) }
func (v *vdc) href() string { return "/api/vdc/" + v.id }
func (v *vdc) ref() types.OpenApiReference {
	return types.OpenApiReference{Name: v.name, ID: v.urn()}
}

// contextOrg is the organization an OpenAPI request acts in: the user's
// own org, or for the provider the org named by the tenant-context header.
func (c *reqCtx) contextOrg() *org {
	if !c.sess.provider {
		return c.sess.org
	}
	if h := c.r.Header.Get("X-VMWARE-VCLOUD-TENANT-CONTEXT"); h != "" {
		if o := c.m.orgByID(h); o != nil {
			return o
		}
	}
	if h := c.r.Header.Get("X-VMWARE-VCLOUD-AUTH-CONTEXT"); h != "" {
		for _, o := range c.m.orgs {
			if strings.EqualFold(o.name, h) {
				return o
			}
		}
	}
	return c.m.system
}

// canSeeOrg reports whether the session may see entities of o.
func (c *reqCtx) canSeeOrg(o *org) bool {
	return c.sess.provider || o == nil || o == c.sess.org
}

// --- XML views of orgs and VDCs -------------------------------------------

func handleOrgList(c *reqCtx) {
	var l types.OrgList
	for _, o := range c.m.orgs {
		if !c.canSeeOrg(o) {
			continue
		}
		l.Org = append(l.Org, &types.Org{HREF: c.abs(o.href()), Type: mimeOrg, Name: o.name})
	}
	c.xml(http.StatusOK, "application/vnd.vmware.vcloud.orgList+xml", "OrgList", &l)
}

func (c *reqCtx) orgFromPath() *org {
	o := c.m.orgByID(c.r.PathValue("id"))
	if o == nil || !c.canSeeOrg(o) {
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.org:%s\".", c.r.PathValue("id"))
		return nil
	}
	return o
}

func handleOrg(c *reqCtx) {
	o := c.orgFromPath()
	if o == nil {
		return
	}
	x := &types.Org{HREF: c.abs(o.href()), Type: mimeOrg, ID: o.urn(), Name: o.name, FullName: o.fullName, Description: o.description, IsEnabled: !o.disabled}
	for _, v := range c.m.orgVdcs(o) { // orgvdcs.go
		x.Link = append(x.Link, &types.Link{Rel: "down", Type: mimeVdc, Name: v.name, HREF: c.abs(v.href())})
	}
	for _, k := range c.m.catalogs {
		if k.org == o {
			x.Link = append(x.Link, &types.Link{Rel: "down", Type: mimeCatalog, Name: k.name, HREF: c.abs(k.href())})
		}
	}
	x.Link = append(x.Link, &types.Link{Rel: "alternate", Type: mimeAdminOrg, HREF: c.abs("/api/admin/org/" + o.id)})
	c.xml(http.StatusOK, mimeOrg, "Org", x)
}

func handleAdminOrg(c *reqCtx) {
	o := c.orgFromPath()
	if o == nil {
		return
	}
	c.xml(http.StatusOK, mimeAdminOrg, "AdminOrg", c.adminOrgXML(o))
}

func (c *reqCtx) adminOrgXML(o *org) *types.AdminOrg {
	x := &types.AdminOrg{
		Xmlns: xmlnsVcloud, HREF: c.abs("/api/admin/org/" + o.id), Type: mimeAdminOrg, ID: o.urn(),
		Name: o.name, FullName: o.fullName, Description: o.description, IsEnabled: !o.disabled,
		Vdcs:        &types.VDCList{},
		Networks:    &types.NetworksList{},
		OrgSettings: &types.OrgSettings{OrgGeneralSettings: &types.OrgGeneralSettings{}},
		Link: types.LinkList{
			{Rel: "alternate", Type: mimeOrg, HREF: c.abs(o.href())},
			{Rel: "down", Type: mimeOrgRight, HREF: c.abs("/api/admin/org/" + o.id + "/rights")},
		},
	}
	for _, v := range c.m.orgVdcs(o) { // orgvdcs.go
		x.Vdcs.Vdcs = append(x.Vdcs.Vdcs, &types.Reference{HREF: c.abs("/api/admin/vdc/" + v.id), Type: "application/vnd.vmware.admin.vdc+xml", Name: v.name, ID: v.urn()})
	}
	if o == c.m.tenant {
		for _, n := range c.m.networks {
			x.Networks.Networks = append(x.Networks.Networks, &types.Reference{HREF: c.abs(n.adminHref()), Type: "application/vnd.vmware.admin.network+xml", Name: n.Name})
		}
	}
	c.adminOrgLists(x, o)
	return x
}

// handleAdmin is /api/admin: the client parses the product version from
// the Description.
func handleAdmin(c *reqCtx) {
	c.xml(http.StatusOK, "application/vnd.vmware.admin.vcloud+xml", "VCloud", &types.VCloud{
		Xmlns:       xmlnsVcloud,
		Name:        "VMware Cloud Director",
		HREF:        c.abs("/api/admin/"),
		Type:        "application/vnd.vmware.admin.vcloud+xml",
		Description: "10.5.1.23400185 2023-11-10T17:35:55Z",
	})
}

func (c *reqCtx) vdcFromPath() *vdc {
	v := c.m.vdcByID(c.r.PathValue("id")) // the lab's VDC or one created (orgvdcs.go)
	if v == nil || !c.canSeeOrg(v.org) {
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.vdc:%s\".", c.r.PathValue("id"))
		return nil
	}
	return v
}

func handleVdc(c *reqCtx) {
	v := c.vdcFromPath()
	if v == nil {
		return
	}
	x := &types.Vdc{
		HREF: c.abs(v.href()), Type: mimeVdc, ID: v.urn(), Name: v.name, Status: 1,
		AllocationModel: "Flex",
		ComputeCapacity: []*types.ComputeCapacity{{
			CPU:    &types.CapacityWithUsage{Units: "MHz", Allocated: c.m.quota.cpuMHz, Limit: c.m.quota.cpuMHz},
			Memory: &types.CapacityWithUsage{Units: "MB", Allocated: c.m.quota.memMB, Limit: c.m.quota.memMB},
		}},
		ResourceEntities:  []*types.ResourceEntities{{}},
		AvailableNetworks: []*types.AvailableNetworks{{}},
		NicQuota:          0, NetworkQuota: 1000, VMQuota: 0, IsEnabled: true,
		VdcStorageProfiles: &types.VdcStorageProfiles{VdcStorageProfile: c.storageProfileRefs(v)},
		Link:               types.LinkList{{Rel: "up", Type: mimeOrg, HREF: c.abs(v.org.href())}},
	}
	if v == c.m.vdc {
		x.ComputeCapacity[0].CPU.Used, x.ComputeCapacity[0].Memory.Used = c.m.usedCompute()
	}
	for _, a := range c.m.vapps {
		if v != c.m.vdc {
			break // the lab's vApps are in its own VDC
		}
		x.ResourceEntities[0].ResourceEntity = append(x.ResourceEntities[0].ResourceEntity,
			&types.ResourceReference{HREF: c.abs(a.href()), ID: a.urn(), Type: mimeVApp, Name: a.name})
	}
	for _, n := range c.m.networks {
		if n.OrgVdc == nil || bareID(n.OrgVdc.ID) != v.id {
			continue
		}
		x.AvailableNetworks[0].Network = append(x.AvailableNetworks[0].Network,
			&types.Reference{HREF: c.abs(n.adminHref()), ID: n.ID, Type: "application/vnd.vmware.vcloud.orgNetwork+xml", Name: n.Name})
	}
	c.writeVdc(x) // pvdc.go
}

// nthAddr is the n-th address of a prefix (used for uplink defaults).
func nthAddr(p netip.Prefix, n int) (netip.Addr, error) {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	if !p.Contains(a) {
		return netip.Addr{}, fmt.Errorf("address %d is outside %s", n, p)
	}
	return a, nil
}
