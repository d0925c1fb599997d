package vcdsim

import (
	"net/http"
	"sort"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// GatewayRights are the edge gateway / L2 VPN rights that the vCD Extender
// walkthrough's PowerShell script grants to a tenant (with the ids it uses).
// All of them exist in this simulator except those in RemovedRights.
var GatewayRights = map[string]string{
	"Hybrid Cloud Operations: View from-the-cloud tunnel":      "629c90fd-78a4-3929-98bd-57e4747d067b",
	"Organization vDC Distributed Firewall: Enable/Disable":    "a100f6a0-2c81-3b61-90c3-c4dbd721b3a8",
	"Organization vDC Gateway: Configure BGP Routing":          "2c4eb5ac-15f5-33f0-8b4a-680b3a1d3707",
	"Organization vDC Gateway: Configure DHCP":                 "be1abe9a-7ddc-38f6-bdf3-94affb01e46b",
	"Organization vDC Gateway: Configure Firewall":             "b755b050-772e-3c9c-9197-111c286f563d",
	"Organization vDC Gateway: Configure IPSec VPN":            "209cde55-55db-33f1-8357-b27bba6898ed",
	"Organization vDC Gateway: Configure L2 VPN":               "eeb2b2a0-33a1-36d4-a121-6547ad992d59",
	"Organization vDC Gateway: Configure Load Balancer":        "27be9828-4ce4-353e-8f68-5cd69260d94c",
	"Organization vDC Gateway: Configure NAT":                  "c9e19573-3d54-3d4a-98f2-f56e446a8ef9",
	"Organization vDC Gateway: Configure OSPF Routing":         "3b337aef-42a8-3ed1-8616-341152bc5790",
	"Organization vDC Gateway: Configure Remote Access":        "72c5e652-c8d7-3f19-ab83-283d30cb679f",
	"Organization vDC Gateway: Configure SSL VPN":              "92b7d500-6bb6-3176-b9eb-d1fda4ce444d",
	"Organization vDC Gateway: Configure Static Routing":       "f72af304-97b0-379e-9d6d-68eb89bdc6cf",
	"Organization vDC Gateway: View BGP Routing":               "d9dabcab-579e-33c5-807b-dc9232bf7eff",
	"Organization vDC Gateway: View DHCP":                      "8e16d30d-1ae3-3fff-8d4b-64c342b186a9",
	"Organization vDC Gateway: View Firewall":                  "7fee6646-ec0c-34c9-9585-aff6f4d92473",
	"Organization vDC Gateway: View IPSec VPN":                 "82beb471-ab7f-3e2b-a615-136ba6645525",
	"Organization vDC Gateway: View L2 VPN":                    "105191de-9e29-3495-a917-05fcb5ec1ad0",
	"Organization vDC Gateway: View Load Balancer":             "2a097e48-f4c4-3714-8b24-552b2d573754",
	"Organization vDC Gateway: View NAT":                       "fb860afe-2e15-3ca9-96d8-4435d1447732",
	"Organization vDC Gateway: View OSPF Routing":              "eb525145-08e5-3934-91ef-ec80837c9177",
	"Organization vDC Gateway: View Remote Access":             "65439584-6aad-3c2c-916f-794099ee85bf",
	"Organization vDC Gateway: View SSL VPN":                   "cdb0edb0-9623-30a8-89de-b133db7cfeab",
	"Organization vDC Gateway: Configure Services":             "b080bb50-cff1-3258-9683-842d34255a95",
	"Organization vDC Gateway: Configure Syslog":               "84ddb40f-a49a-35e1-918e-3f11507825d7",
	"Organization vDC Gateway: Configure System Logging":       "ff3fc70f-fd25-3c0a-9d90-e7ff82456be5",
	"Organization vDC Gateway: Convert to Advanced Networking": "9dc33fcb-346d-30e1-8ffa-cf25e05ba801",
}

// RemovedRights are rights of older vCloud Director releases that vCD 10.x
// no longer has; the simulator does not know them, so clients can practise
// warning about them.
var RemovedRights = []string{
	"Hybrid Cloud Operations: View from-the-cloud tunnel",
	"Organization vDC Gateway: Convert to Advanced Networking",
	"Hybrid Cloud Operations: Create to-the-cloud tunnel",
	"Hybrid Cloud Operations: Delete from-the-cloud tunnel",
}

// otherRights is the rest of the catalogue: category -> rights. The "View"
// rights get rightType VIEW, the others MODIFY.
var otherRights = map[string][]string{
	"General": {
		"General: Administrator Control", "General: Administrator View", "General: Send Notification",
		"General: View Error Details", "UI Plugins: View", "Custom entity: View all custom entity definitions",
		"UI Plugins: Define, Upload, Modify, Delete, Associate or Disassociate",
		"VCD Extension: Register, Unregister, Refresh, Associate or Disassociate", "VCD Extension: View",
	},
	"Organization": {
		"Organization: Edit Name", "Organization: Edit Properties", "Organization: Edit Quotas Policy",
		"Organization: Edit SMTP Settings", "Organization: Edit Federation Settings", "Organization: Edit LDAP Settings",
		"Organization: Edit Password Policy", "Organization: View", "Organization: Edit Association Settings",
		"Organization: Import User from IdP", "Organization: View Rights Bundles",
	},
	"Roles": {
		"Role: Create, Edit, Delete, or Copy", "Role: View", "Rights Bundle: View", "Rights Bundle: Edit",
	},
	"Users": {
		"User: Create, Edit, Delete", "User: View", "Group / User: View", "Group: Import, Edit, Delete",
		"Token: Manage", "Token: Manage All", "Service Accounts: Manage", "Service Accounts: View",
	},
	"Organization VDC": {
		"Organization vDC: View", "Organization vDC: Edit", "Organization vDC: Manage Firewall",
		"Organization vDC: View ACL", "Organization vDC: VM-VM Affinity Edit", "Organization vDC Compute Policy: View",
		"Organization vDC Storage Profile: Set Default", "Organization vDC Storage Policy: View Capabilities",
		"Organization vDC Distributed Firewall: Configure Rules", "Organization vDC Distributed Firewall: View Rules",
		"Organization vDC Named Disk: Create", "Organization vDC Named Disk: Delete", "Organization vDC Named Disk: Edit Properties",
		"Organization vDC Named Disk: View Properties", "Organization vDC Named Disk: Change Owner",
		"Organization vDC Network: Edit Properties", "Organization vDC Network: View Properties",
		"Organization vDC Network: Create", "Organization vDC Network: Delete",
		"Organization vDC Gateway: View", "Organization vDC Gateway: Configure", "Organization vDC Gateway: Configure ECMP Routing",
		"Organization vDC Gateway: Configure DNS", "Organization vDC Gateway: View DNS",
		"Organization vDC Gateway: Configure Quality Of Service", "Organization vDC Gateway: View Quality Of Service",
		"Organization vDC Gateway: Configure IP Sets", "Organization vDC Gateway: View IP Sets",
		"Organization vDC Gateway: Configure Route Advertisement", "Organization vDC Gateway: View Route Advertisement",
		"Organization vDC Gateway: Manage Certificates", "Organization vDC Gateway: Upgrade",
		"Organization vDC Shared Named Disk: Create", "vDC Group: Configure", "vDC Group: View",
		"vDC Group: Configure Logging", "Security Tag Edit", "Security Tag View",
	},
	"vApp": {
		"vApp: Change Owner", "vApp: Copy", "vApp: Create / Reconfigure a vApp", "vApp: Delete", "vApp: Download",
		"vApp: Edit Properties", "vApp: Edit VM CPU", "vApp: Edit VM Hard Disk", "vApp: Edit VM Memory",
		"vApp: Edit VM Network", "vApp: Edit VM Properties", "vApp: Manage VM Password Settings", "vApp: Power Operations",
		"vApp: Sharing", "vApp: Snapshot Operations", "vApp: Upload", "vApp: Use Console", "vApp: VM Boot Options",
		"vApp: View ACL", "vApp: View VM metrics", "vApp: View VM and VM's Disks Encryption Status",
		"vApp: Import Options", "vApp: VM Migrate, Force Undeploy, Relocate, Consolidate", "vApp: Allow All Extra Config",
		"vApp: Allow Ethernet Coalescing Extra Config", "vApp: Allow Latency Extra Config", "vApp: Allow Matching Extra Config",
		"vApp: Allow NUMA Node Affinity Extra Config",
	},
	"Catalog": {
		"Catalog: Add vApp from My Cloud", "Catalog: CLSP Publish Subscribe", "Catalog: Change Owner",
		"Catalog: Create / Delete a Catalog", "Catalog: Edit Properties", "Catalog: Publish", "Catalog: Sharing",
		"Catalog: View ACL", "Catalog: View Private and Shared Catalogs", "Catalog: View Published Catalogs",
		"Catalog Item: Copy / Move a vApp Template / Media", "Catalog Item: Create / Upload a vApp Template / Media",
		"Catalog Item: Download a vApp Template", "Catalog Item: Edit vApp Template / Media Properties",
		"Catalog Item: View vApp Templates / Media", "vApp Template / Media: View", "vApp Template / Media: Edit",
	},
	"Infrastructure": {
		"Provider vDC: View", "Provider Network: View", "Provider Network: Edit", "External Network: View",
		"vCenter: View", "vCenter: Manage", "vSphere Server: Import VM", "Network Pool: View", "Host: View",
		"Datastore: View", "Edge Cluster: View", "Edge Cluster: Manage", "NSX-T Manager: View",
		"IP Spaces: Allocate", "IP Spaces: View", "IP Spaces: Manage", "Edge Gateway: Create", "Edge Gateway: Delete",
	},
	"Monitoring": {
		"Organization vDC: View CPU and Memory Reservation", "Organization vDC: View Storage Consumption",
		"Audit Trail: View", "Task: View Tasks", "Task: Resume, Abort, or Fail",
	},
}

// rightCategory maps a right to its category name.
func rightCategory(name string) string {
	if strings.HasPrefix(name, "Organization vDC Gateway") || strings.HasPrefix(name, "Organization vDC Distributed Firewall") {
		return "Organization VDC"
	}
	if strings.HasPrefix(name, "Hybrid Cloud Operations") {
		return "Hybrid Cloud"
	}
	for cat, names := range otherRights {
		for _, n := range names {
			if n == name {
				return cat
			}
		}
	}
	return "General"
}

func (m *model) seedRights() {
	removed := map[string]bool{}
	for _, n := range RemovedRights {
		removed[n] = true
	}
	add := func(name, id string) {
		if removed[name] || m.rightByName(name) != nil {
			return
		}
		rt := "MODIFY"
		if strings.Contains(name, ": View") || strings.HasSuffix(name, "View") {
			rt = "VIEW"
		}
		r := &types.Right{
			Name: name, ID: urn("right", id),
			Description: name, BundleKey: "RIGHT_" + strings.ToUpper(strings.NewReplacer(" ", "_", ":", "", "/", "_", ",", "").Replace(name)),
			Category: urn("rightsCategory", nameUUID("category", rightCategory(name))), ServiceNamespace: "com.vmware.vcloud", RightType: rt,
		}
		m.rights = append(m.rights, r)
		m.rightByID[bareID(r.ID)] = r
	}
	for name, id := range GatewayRights {
		add(name, id)
	}
	for _, names := range otherRights {
		for _, n := range names {
			add(n, rightID(n)) // impliedrights.go
		}
	}
	sort.Slice(m.rights, func(i, j int) bool { return m.rights[i].Name < m.rights[j].Name })
	m.seedImpliedRights()

	counts := map[string]*types.RightsCategory{}
	for _, r := range m.rights {
		cat := counts[r.Category]
		if cat == nil {
			cat = &types.RightsCategory{Id: r.Category, SubCategories: []string{}}
			for _, n := range append(sortedKeys(otherRights), "Hybrid Cloud") {
				if urn("rightsCategory", nameUUID("category", n)) == r.Category {
					cat.Name = n
				}
			}
			cat.BundleKey = "CATEGORY_" + strings.ToUpper(strings.ReplaceAll(cat.Name, " ", "_"))
			counts[r.Category] = cat
			m.categories = append(m.categories, cat)
		}
		if r.RightType == "VIEW" {
			cat.RightsCount.View++
		} else {
			cat.RightsCount.Modify++
		}
	}
	sort.Slice(m.categories, func(i, j int) bool { return m.categories[i].Name < m.categories[j].Name })
}

func sortedKeys[V any](mp map[string]V) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (m *model) rightByName(name string) *types.Right {
	for _, r := range m.rights {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// orgRights are the effective rights of an org: everything for System;
// for a tenant, the rights of the bundles published to it plus rights
// granted through the legacy OrgRights endpoint.
func (m *model) orgRights(o *org) map[string]bool {
	out := map[string]bool{}
	if o == m.system {
		for id := range m.rightByID {
			out[id] = true
		}
		return out
	}
	for _, b := range m.bundles {
		if b.publishedTo(o) {
			for id := range b.rights {
				out[id] = true
			}
		}
	}
	for id := range o.extraRights {
		out[id] = true
	}
	return out
}

// OrgHasRight reports whether the tenant org has the named right (through a
// published rights bundle or the legacy OrgRights endpoint).
func (s *Server) OrgHasRight(orgName, right string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.m.rightByName(right)
	for _, o := range s.m.orgs {
		if o.name == orgName && r != nil {
			return s.m.orgRights(o)[bareID(r.ID)]
		}
	}
	return false
}

// rightsList renders a set of right ids in catalogue order.
func (m *model) rightsList(set map[string]bool) []any {
	out := make([]any, 0, len(set))
	for _, r := range m.rights {
		if set[bareID(r.ID)] {
			out = append(out, r)
		}
	}
	return out
}

// handleRights lists the catalogue; in a tenant context only the rights
// the org has.
func handleRights(c *reqCtx) {
	o := c.contextOrg()
	c.writePage(c.m.rightsList(c.m.orgRights(o)), jsonField)
}

func handleRight(c *reqCtx) {
	r := c.m.rightByID[bareID(c.r.PathValue("id"))]
	if r == nil || !c.m.orgRights(c.contextOrg())[bareID(r.ID)] {
		c.notFound("right", c.r.PathValue("id"))
		return
	}
	c.json(http.StatusOK, r)
}

func handleRightsCategories(c *reqCtx) {
	items := make([]any, 0, len(c.m.categories))
	for _, cat := range c.m.categories {
		items = append(items, cat)
	}
	c.writePage(items, jsonField)
}

func handleRightsCategory(c *reqCtx) {
	for _, cat := range c.m.categories {
		if bareID(cat.Id) == bareID(c.r.PathValue("id")) {
			c.json(http.StatusOK, cat)
			return
		}
	}
	c.notFound("rightsCategory", c.r.PathValue("id"))
}

// resolveRights turns OpenAPI references into right ids (by id, else by
// name); unknown rights are an error, as in vCD.
func (c *reqCtx) resolveRights(refs []types.OpenApiReference) ([]string, bool) {
	var ids []string
	for _, ref := range refs {
		r := c.m.rightByID[bareID(ref.ID)]
		if r == nil && ref.ID == "" {
			r = c.m.rightByName(ref.Name)
		}
		if r == nil {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "Right %q (%s) does not exist", ref.Name, ref.ID)
			return nil, false
		}
		ids = append(ids, bareID(r.ID))
	}
	return ids, true
}

// --- legacy OrgRights (/api/admin/org/{id}/rights) --------------------------

func (c *reqCtx) orgRightsXML(o *org) *types.RightsType {
	x := &types.RightsType{Links: types.LinkList{
		{Rel: "up", Type: mimeAdminOrg, HREF: c.abs("/api/admin/org/" + o.id)},
		{Rel: "edit", Type: mimeOrgRight, HREF: c.abs("/api/admin/org/" + o.id + "/rights")},
	}}
	for _, r := range c.m.rights {
		if c.m.orgRights(o)[bareID(r.ID)] {
			x.RightReference = append(x.RightReference, &types.Reference{
				HREF: c.abs("/api/admin/right/" + bareID(r.ID)), Name: r.Name, Type: mimeRight,
			})
		}
	}
	return x
}

func handleGetOrgRights(c *reqCtx) {
	o := c.orgFromPath()
	if o == nil {
		return
	}
	c.xml(http.StatusOK, mimeOrgRight, "OrgRights", c.orgRightsXML(o))
}

// handlePutOrgRights replaces the org's rights with the given list (PUT)
// or adds them (POST). Rights that come from a published bundle stay.
// An unknown right is rejected like vCD does, naming it.
func handlePutOrgRights(c *reqCtx) {
	o := c.orgFromPath()
	if o == nil {
		return
	}
	if !c.sess.provider {
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Only the provider can change the rights of an organization")
		return
	}
	var in types.RightsType
	if !c.readXML(&in) {
		return
	}
	set := map[string]bool{}
	for _, ref := range in.RightReference {
		id := ref.HREF[strings.LastIndex(ref.HREF, "/")+1:]
		r := c.m.rightByID[id]
		if r == nil {
			r = c.m.rightByName(ref.Name)
		}
		if r == nil {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "Right %q (%s) does not exist", ref.Name, ref.HREF)
			return
		}
		set[bareID(r.ID)] = true
	}
	if c.r.Method == http.MethodPut {
		o.extraRights = map[string]bool{}
	}
	for id := range set {
		o.extraRights[id] = true
	}
	c.xml(http.StatusOK, mimeOrgRight, "OrgRights", c.orgRightsXML(o))
}
