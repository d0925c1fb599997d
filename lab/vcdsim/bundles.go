package vcdsim

import (
	"net/http"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// container is what rights bundles and global roles share: a set of rights
// and the tenants it is published to.
type container struct {
	rights     map[string]bool // right uuid
	tenants    map[string]bool // org uuid
	publishAll bool
}

func newContainer() container {
	return container{rights: map[string]bool{}, tenants: map[string]bool{}}
}

func (c *container) publishedTo(o *org) bool { return c.publishAll || c.tenants[o.id] }

// bundle is a rights bundle: it caps what the tenants it is published to
// may have.
type bundle struct {
	types.RightsBundle
	container
}

func (m *model) seedBundles() {
	gateway := map[string]bool{}
	for name := range GatewayRights {
		gateway[name] = true
	}
	def := &bundle{RightsBundle: types.RightsBundle{
		Name: "Default Rights Bundle", Id: urn("rightsBundle", nameUUID("bundle", "Default Rights Bundle")),
		Description: "Default set of tenant rights", BundleKey: "BUNDLE_DEFAULT_RIGHTS_BUNDLE",
	}, container: newContainer()}
	// The walkthrough's gateway / L2 VPN rights are missing from the
	// default bundle, so the rights step of a migration has work to do.
	for _, r := range m.rights {
		if !gateway[r.Name] {
			def.rights[bareID(r.ID)] = true
		}
	}
	// Published to each tenant by name (not to all), as providers do who
	// keep some bundles for some tenants.
	def.tenants[m.tenant.id] = true
	def.tenants[m.other.id] = true
	legacy := &bundle{RightsBundle: types.RightsBundle{
		Name: "Legacy Rights Bundle", Id: urn("rightsBundle", nameUUID("bundle", "Legacy Rights Bundle")),
		Description: "Rights of organizations created before rights bundles", BundleKey: "BUNDLE_LEGACY",
	}, container: newContainer()}
	m.bundles = []*bundle{def, legacy}
}

func (b *bundle) view() *types.RightsBundle {
	v := b.RightsBundle
	pa := b.publishAll
	v.PublishAll = &pa
	return &v
}

func (m *model) bundleByID(id string) *bundle {
	for _, b := range m.bundles {
		if bareID(b.Id) == bareID(id) {
			return b
		}
	}
	return nil
}

func handleBundles(c *reqCtx) {
	var items []any
	for _, b := range c.m.bundles {
		items = append(items, b.view())
	}
	c.writePage(items, jsonField)
}

func (c *reqCtx) bundleFromPath() *bundle {
	b := c.m.bundleByID(c.r.PathValue("id"))
	if b == nil {
		c.notFound("rightsBundle", c.r.PathValue("id"))
	}
	return b
}

func handleBundle(c *reqCtx) {
	if b := c.bundleFromPath(); b != nil {
		c.json(http.StatusOK, b.view())
	}
}

func bundleContainer(c *reqCtx) *container {
	if b := c.bundleFromPath(); b != nil {
		return &b.container
	}
	return nil
}

// --- handlers shared by bundles and global roles ----------------------------

func containerRights(get func(*reqCtx) *container) handlerFunc {
	return func(c *reqCtx) {
		if ct := get(c); ct != nil {
			c.writePage(c.m.rightsList(ct.rights), jsonField)
		}
	}
}

// containerSetRights adds rights (POST .../rights) or replaces them (PUT).
// The answer carries the resulting rights: the client decodes a body.
func containerSetRights(get func(*reqCtx) *container) handlerFunc {
	return func(c *reqCtx) {
		ct := get(c)
		if ct == nil {
			return
		}
		var in types.OpenApiItems
		if !c.readJSON(&in) {
			return
		}
		ids, ok := c.resolveRights(in.Values)
		if !ok {
			return
		}
		if c.r.Method == http.MethodPut {
			ct.rights = map[string]bool{}
		}
		for _, id := range ids {
			ct.rights[id] = true
		}
		c.writePage(c.m.rightsList(ct.rights), nil)
	}
}

func (m *model) tenantRefs(ct *container) []any {
	out := []any{}
	for _, o := range m.orgs {
		if o != m.system && ct.publishedTo(o) {
			out = append(out, types.OpenApiReference{Name: o.name, ID: o.urn()})
		}
	}
	return out
}

func containerTenants(get func(*reqCtx) *container) handlerFunc {
	return func(c *reqCtx) {
		if ct := get(c); ct != nil {
			c.writePage(c.m.tenantRefs(ct), jsonField)
		}
	}
}

// containerPublish handles tenants/publish, tenants/unpublish and PUT
// tenants (replace).
func containerPublish(get func(*reqCtx) *container, op string) handlerFunc {
	return func(c *reqCtx) {
		ct := get(c)
		if ct == nil {
			return
		}
		var in types.OpenApiItems
		if !c.readJSON(&in) {
			return
		}
		var orgs []*org
		for _, ref := range in.Values {
			o := c.m.orgByID(ref.ID)
			if o == nil {
				for _, cand := range c.m.orgs {
					if ref.ID == "" && cand.name == ref.Name {
						o = cand
					}
				}
			}
			if o == nil || o == c.m.system {
				c.fail(http.StatusBadRequest, "BAD_REQUEST", "Organization %q (%s) does not exist", ref.Name, ref.ID)
				return
			}
			orgs = append(orgs, o)
		}
		if op == "replace" {
			ct.tenants = map[string]bool{}
		}
		for _, o := range orgs {
			if op == "remove" {
				delete(ct.tenants, o.id)
			} else {
				ct.tenants[o.id] = true
			}
		}
		c.writePage(c.m.tenantRefs(ct), nil)
	}
}

func containerPublishAll(get func(*reqCtx) *container, all bool) handlerFunc {
	return func(c *reqCtx) {
		ct := get(c)
		if ct == nil {
			return
		}
		ct.publishAll = all
		if !all {
			ct.tenants = map[string]bool{}
		}
		c.writePage(c.m.tenantRefs(ct), nil)
	}
}

// handleCreateBundle is POST rightsBundles: a new, empty, unpublished
// bundle. vCD sets the bundle key when none is sent.
func handleCreateBundle(c *reqCtx) {
	var in types.RightsBundle
	if !c.readJSON(&in) {
		return
	}
	if in.Name == "" {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "name: must not be empty")
		return
	}
	for _, b := range c.m.bundles {
		if b.Name == in.Name {
			c.fail(http.StatusBadRequest, "DUPLICATE_NAME", "A rights bundle named %q already exists", in.Name)
			return
		}
	}
	b := &bundle{RightsBundle: in, container: newContainer()}
	b.Id = urn("rightsBundle", newUUID())
	b.ReadOnly = false
	if b.BundleKey == "" {
		b.BundleKey = types.VcloudUndefinedKey
	}
	b.publishAll = in.PublishAll != nil && *in.PublishAll
	c.m.bundles = append(c.m.bundles, b)
	c.json(http.StatusCreated, b.view())
}

// handleUpdateBundle is PUT rightsBundles/{id}: name and description
// (rights and tenants have their own endpoints).
func handleUpdateBundle(c *reqCtx) {
	b := c.bundleFromPath()
	if b == nil {
		return
	}
	var in types.RightsBundle
	if !c.readJSON(&in) {
		return
	}
	if in.Name == "" {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "name: must not be empty")
		return
	}
	for _, x := range c.m.bundles {
		if x != b && x.Name == in.Name {
			c.fail(http.StatusBadRequest, "DUPLICATE_NAME", "A rights bundle named %q already exists", in.Name)
			return
		}
	}
	b.Name, b.Description = in.Name, in.Description
	c.json(http.StatusOK, b.view())
}

// handleDeleteBundle is DELETE rightsBundles/{id}; the tenants it was
// published to lose what it gave them.
func handleDeleteBundle(c *reqCtx) {
	b := c.bundleFromPath()
	if b == nil {
		return
	}
	for i, x := range c.m.bundles {
		if x == b {
			c.m.bundles = append(c.m.bundles[:i], c.m.bundles[i+1:]...)
			break
		}
	}
	c.w.WriteHeader(http.StatusNoContent)
}
