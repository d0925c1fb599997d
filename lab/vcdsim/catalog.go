package vcdsim

import (
	"net/http"
	"time"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// The lab's catalog: the tenant org owns one catalog holding one vApp
// template with one VM, as a provider would seed a tenant with an OS image.
// vApps are composed from it (see compose.go). Templates are read-only in
// the lab: nothing uploads, captures or deletes them.
const (
	// CatalogName is the tenant org's catalog.
	CatalogName = "lab-catalog"
	// TemplateName is the catalog item (and its vApp template) in CatalogName.
	TemplateName = "photon-5"
)

const (
	mimeCatalog      = "application/vnd.vmware.vcloud.catalog+xml"
	mimeAdminCatalog = "application/vnd.vmware.admin.catalog+xml"
	mimeCatalogItem  = "application/vnd.vmware.vcloud.catalogItem+xml"
	mimeVAppTemplate = "application/vnd.vmware.vcloud.vAppTemplate+xml"
)

type catalog struct {
	id, name, description string
	org                   *org
	created               time.Time
	items                 []*catalogItem
}

type catalogItem struct {
	id, name string
	cat      *catalog
	tmpl     *vappTemplate
}

// vappTemplate is a vApp template of a catalog (status 8, resolved).
type vappTemplate struct {
	id, name, description string
	item                  *catalogItem
	vms                   []*templateVM
}

// templateVM is a VM of a vApp template: the hardware a VM composed from
// it gets.
type templateVM struct {
	id, name string
	tmpl     *vappTemplate
	guestOS  string
	cpus     int
	memMB    int
	diskMB   int64
	nicType  string
}

func (k *catalog) href() string      { return "/api/catalog/" + k.id }
func (k *catalog) urn() string       { return urn("catalog", k.id) }
func (i *catalogItem) href() string  { return "/api/catalogItem/" + i.id }
func (t *vappTemplate) href() string { return "/api/vAppTemplate/vappTemplate-" + t.id }
func (t *vappTemplate) urn() string  { return urn("vapptemplate", t.id) }
func (v *templateVM) href() string   { return "/api/vAppTemplate/vm-" + v.id }
func (v *templateVM) urn() string    { return urn("vm", v.id) }
func (k *catalog) ref() types.Reference {
	return types.Reference{HREF: k.href(), ID: k.urn(), Name: k.name, Type: mimeCatalog}
}

// seedCatalog creates the tenant's catalog, recording the catalog's
// creation task as vCD does (Test_QueryTaskList looks for it).
func (m *model) seedCatalog() {
	now := time.Now()
	k := &catalog{id: nameUUID("catalog", m.tenant.id, CatalogName), name: CatalogName, org: m.tenant,
		description: "OS images for " + m.tenant.name, created: now}
	it := &catalogItem{id: nameUUID("catalogItem", k.id, TemplateName), name: TemplateName, cat: k}
	t := &vappTemplate{id: nameUUID("vappTemplate", it.id), name: TemplateName, description: "Photon OS 5 (minimal)", item: it}
	t.vms = []*templateVM{{id: nameUUID("templateVM", it.id, TemplateName), name: TemplateName, tmpl: t,
		guestOS: "vmwarePhoton64Guest", cpus: 1, memMB: 512, diskMB: 2048, nicType: "VMXNET3"}}
	it.tmpl = t
	k.items = []*catalogItem{it}
	m.catalogs = append(m.catalogs, k)
	id := newUUID()
	m.tasks[id] = &task{id: id, name: "catalogCreateCatalog", operation: "Created Catalog " + k.name + "(" + k.id + ")",
		owner: k.ref(), org: m.tenant, user: m.cfg.TenantUser, status: "success", start: now, end: now}
}

// visibleCatalogs are the catalogs of the session's org (all for the
// provider).
func (c *reqCtx) visibleCatalogs() []*catalog {
	var out []*catalog
	for _, k := range c.m.catalogs {
		if c.canSeeOrg(k.org) {
			out = append(out, k)
		}
	}
	return out
}

// catalogRefs is AdminOrg's <Catalogs> list.
func (c *reqCtx) catalogRefs(o *org) *types.CatalogsList {
	l := &types.CatalogsList{}
	for _, k := range c.m.catalogs {
		if k.org == o {
			l.Catalog = append(l.Catalog, &types.Reference{HREF: c.abs("/api/admin/catalog/" + k.id), Type: mimeAdminCatalog, Name: k.name, ID: k.urn()})
		}
	}
	return l
}

func (c *reqCtx) forbidden(kind, id string) {
	c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.%s:%s\".", kind, id)
}

func (c *reqCtx) catalogFromPath() *catalog {
	for _, k := range c.visibleCatalogs() {
		if k.id == bareID(c.r.PathValue("id")) {
			return k
		}
	}
	c.forbidden("catalog", c.r.PathValue("id"))
	return nil
}

func (c *reqCtx) catalogXML(k *catalog) types.Catalog {
	x := types.Catalog{
		HREF: c.abs(k.href()), Type: mimeCatalog, ID: k.urn(), Name: k.name, Description: k.description,
		DateCreated: k.created.UTC().Format(time.RFC3339), CatalogItems: []*types.CatalogItems{{}},
		Owner: &types.Owner{User: &types.Reference{Type: mimeUser, Name: c.m.cfg.TenantUser}},
		Link: types.LinkList{
			{Rel: "up", Type: mimeOrg, HREF: c.abs(k.org.href())},
			{Rel: "alternate", Type: mimeAdminCatalog, HREF: c.abs("/api/admin/catalog/" + k.id)},
		},
	}
	for _, it := range k.items {
		x.CatalogItems[0].CatalogItem = append(x.CatalogItems[0].CatalogItem,
			&types.Reference{HREF: c.abs(it.href()), ID: it.id, Type: mimeCatalogItem, Name: it.name})
	}
	return x
}

func handleCatalog(c *reqCtx) {
	if k := c.catalogFromPath(); k != nil {
		x := c.catalogXML(k)
		c.xml(http.StatusOK, mimeCatalog, "Catalog", &x)
	}
}

func handleAdminCatalog(c *reqCtx) {
	k := c.catalogFromPath()
	if k == nil {
		return
	}
	x := &types.AdminCatalog{Catalog: c.catalogXML(k), Xmlns: xmlnsVcloud}
	x.HREF, x.Type = c.abs("/api/admin/catalog/"+k.id), mimeAdminCatalog
	x.Link[1] = &types.Link{Rel: "alternate", Type: mimeCatalog, HREF: c.abs(k.href())}
	c.xml(http.StatusOK, mimeAdminCatalog, "AdminCatalog", x)
}

// allItems walks the visible catalog items.
func (c *reqCtx) allItems() []*catalogItem {
	var out []*catalogItem
	for _, k := range c.visibleCatalogs() {
		out = append(out, k.items...)
	}
	return out
}

func handleCatalogItem(c *reqCtx) {
	for _, it := range c.allItems() {
		if it.id != bareID(c.r.PathValue("id")) {
			continue
		}
		c.xml(http.StatusOK, mimeCatalogItem, "CatalogItem", &types.CatalogItem{
			HREF: c.abs(it.href()), Type: mimeCatalogItem, ID: urn("catalogitem", it.id), Name: it.name,
			DateCreated: it.cat.created.UTC().Format(time.RFC3339), Description: it.tmpl.description,
			Entity: &types.Entity{HREF: c.abs(it.tmpl.href()), Type: mimeVAppTemplate, Name: it.tmpl.name},
			Link:   types.LinkList{{Rel: "up", Type: mimeCatalog, HREF: c.abs(it.cat.href())}},
		})
		return
	}
	c.forbidden("catalogItem", c.r.PathValue("id"))
}

// templateByHref finds a vApp template or one of its VMs from an href or
// an id of the form vappTemplate-<uuid> / vm-<uuid>.
func (c *reqCtx) templateByPathID(id string) (*vappTemplate, *templateVM) {
	for _, it := range c.allItems() {
		t := it.tmpl
		if id == "vappTemplate-"+t.id {
			return t, nil
		}
		for _, v := range t.vms {
			if id == "vm-"+v.id {
				return t, v
			}
		}
	}
	return nil, nil
}

func (c *reqCtx) templateVMXML(v *templateVM) *types.VAppTemplate {
	return &types.VAppTemplate{
		HREF: c.abs(v.href()), Type: mimeVM, ID: v.urn(), Name: v.name, Status: statusPoweredOff,
		VAppScopedLocalID: v.name,
		Link:              types.LinkList{{Rel: "up", Type: mimeVAppTemplate, HREF: c.abs(v.tmpl.href())}},
		NetworkConnectionSection: &types.NetworkConnectionSection{
			Info: "Specifies the available VM network connections", PrimaryNetworkConnectionIndex: 0,
			NetworkConnection: []*types.NetworkConnection{{Network: "none", NetworkConnectionIndex: 0,
				IPAddressAllocationMode: "NONE", NetworkAdapterType: v.nicType}},
		},
	}
}

func handleVAppTemplate(c *reqCtx) {
	t, v := c.templateByPathID(c.r.PathValue("id"))
	switch {
	case v != nil:
		c.xml(http.StatusOK, mimeVM, "VAppTemplate", c.templateVMXML(v))
	case t != nil:
		x := &types.VAppTemplate{
			HREF: c.abs(t.href()), Type: mimeVAppTemplate, ID: t.urn(), Name: t.name, Status: statusPoweredOff,
			OvfDescriptorUploaded: "true", Description: t.description, Children: &types.VAppTemplateChildren{},
			DateCreated: t.item.cat.created.UTC().Format(time.RFC3339),
			Link: types.LinkList{
				{Rel: "up", Type: mimeVdc, HREF: c.abs(c.m.vdc.href())},
				{Rel: "catalogItem", Type: mimeCatalogItem, HREF: c.abs(t.item.href())},
			},
		}
		for _, v := range t.vms {
			x.Children.VM = append(x.Children.VM, c.templateVMXML(v))
		}
		c.xml(http.StatusOK, mimeVAppTemplate, "VAppTemplate", x)
	default:
		c.forbidden("vAppTemplate", c.r.PathValue("id"))
	}
}

// --- query service ----------------------------------------------------------

func (c *reqCtx) catalogRecords() []queryRecord {
	var out []queryRecord
	for _, k := range c.visibleCatalogs() {
		rec := &types.CatalogRecord{
			HREF: c.abs(k.href()), ID: k.urn(), Type: mimeCatalog, Name: k.name, Description: k.description,
			IsLocal: true, CreationDate: k.created.UTC().Format(time.RFC3339), OrgName: k.org.name,
			OwnerName: c.m.cfg.TenantUser, NumberOfVAppTemplates: int64(len(k.items)), Status: "RESOLVED",
		}
		if c.sess.provider {
			rec.HREF, rec.Type = c.abs("/api/admin/catalog/"+k.id), mimeAdminCatalog
		}
		out = append(out, queryRecord{rec: rec, fields: map[string]string{
			"name": k.name, "id": k.id, "org": c.abs(k.org.href()), "orgName": k.org.name, "href": rec.HREF,
		}})
	}
	return out
}

func (c *reqCtx) catalogItemRecords() []queryRecord {
	var out []queryRecord
	for _, it := range c.allItems() {
		rec := &types.QueryResultCatalogItemType{
			HREF: c.abs(it.href()), ID: urn("catalogitem", it.id), Type: mimeCatalogItem, Name: it.name,
			Entity: c.abs(it.tmpl.href()), EntityName: it.tmpl.name, EntityType: "vapptemplate",
			Catalog: c.abs(it.cat.href()), CatalogName: it.cat.name, OwnerName: c.m.cfg.TenantUser,
			CreationDate: it.cat.created.UTC().Format(time.RFC3339), Status: "RESOLVED",
		}
		out = append(out, queryRecord{rec: rec, fields: map[string]string{
			"name": it.name, "id": it.id, "catalog": rec.Catalog, "catalogName": it.cat.name, "entityType": "vapptemplate",
		}})
	}
	return out
}

func (c *reqCtx) vappTemplateRecords() []queryRecord {
	var out []queryRecord
	for _, it := range c.allItems() {
		t := it.tmpl
		rec := &types.QueryResultVappTemplateType{
			HREF: c.abs(t.href()), ID: t.urn(), Type: mimeVAppTemplate, Name: t.name, Description: t.description,
			OwnerName: c.m.cfg.TenantUser, CatalogName: it.cat.name, Catalog: c.abs(it.cat.href()),
			CatalogItem: c.abs(it.href()), Vdc: c.abs(c.m.vdc.href()), VdcName: c.m.vdc.name, IsVdcEnabled: true,
			Org: c.abs(it.cat.org.href()), CreationDate: it.cat.created.UTC().Format(time.RFC3339), IsEnabled: true,
			Status: "RESOLVED", StorageProfileName: "*", IsInCatalog: true, NumberOfVms: len(t.vms),
		}
		out = append(out, queryRecord{rec: rec, fields: map[string]string{
			"name": t.name, "id": t.id, "catalog": rec.Catalog, "catalogName": it.cat.name, "vdc": rec.Vdc,
			"org": rec.Org, "status": "RESOLVED",
		}})
	}
	return out
}

// templateVMRecords are the VMs of vApp templates in the vm query
// (isVAppTemplate==true).
func (c *reqCtx) templateVMRecords() []queryRecord {
	var out []queryRecord
	for _, it := range c.allItems() {
		for _, v := range it.tmpl.vms {
			rec := &types.QueryResultVMRecordType{
				HREF: c.abs(v.href()), ID: v.urn(), Name: v.name, Type: mimeVM, ContainerName: it.tmpl.name,
				ContainerID: c.abs(it.tmpl.href()), VdcHREF: c.abs(c.m.vdc.href()), VdcName: c.m.vdc.name,
				Status: "POWERED_OFF", GuestOS: v.guestOS, Cpus: v.cpus, MemoryMB: v.memMB, VAppTemplate: true,
				CatalogName: it.cat.name,
			}
			out = append(out, queryRecord{rec: rec, fields: map[string]string{
				"name": v.name, "containerName": it.tmpl.name, "container": rec.ContainerID, "vdc": rec.VdcHREF,
				"isVAppTemplate": "true", "status": "POWERED_OFF", "isDeployed": "false",
			}})
		}
	}
	return out
}

// taskRecords is the task query: the tasks of the session's org (all for
// the provider), with the object each acted on.
func (c *reqCtx) taskRecords() []queryRecord {
	var out []queryRecord
	for _, t := range c.m.tasks {
		if t.org != nil && !c.canSeeOrg(t.org) {
			continue
		}
		rec := &types.QueryResultTaskRecordType{
			HREF: c.abs("/api/task/" + t.id), ID: urn("task", t.id), Type: mimeTask, Name: t.name,
			OperationFull: t.operation, StartDate: t.start.UTC().Format(time.RFC3339), Status: t.status,
			OwnerName: t.user, Object: c.abs(t.owner.HREF), ObjectName: t.owner.Name, ObjectType: objectType(t.owner.Type),
		}
		if !t.end.IsZero() {
			rec.EndDate = t.end.UTC().Format(time.RFC3339)
		}
		f := map[string]string{"name": t.name, "status": t.status, "objectName": t.owner.Name, "object": rec.Object,
			"objectType": rec.ObjectType, "id": t.id, "ownerName": t.user}
		if t.org != nil {
			rec.Org, rec.OrgName = c.abs(t.org.href()), t.org.name
			f["org"], f["orgName"] = rec.Org, t.org.name
		}
		if t.status == "success" {
			rec.Progress = 100
		}
		out = append(out, queryRecord{rec: rec, fields: f})
	}
	return out
}

// objectType is the task query's objectType for an owner's MIME type.
func objectType(mime string) string {
	switch mime {
	case mimeCatalog, mimeAdminCatalog:
		return "catalog"
	case mimeVApp:
		return "vApp"
	case mimeVM:
		return "vm"
	case mimeVAppTemplate:
		return "vAppTemplate"
	case mimeOrg, mimeAdminOrg:
		return "org"
	}
	return ""
}
