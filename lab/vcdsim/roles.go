package vcdsim

import (
	"net/http"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// globalRole is a provider-defined role; every tenant it is published to
// sees a read-only copy of it, limited to the rights the tenant has.
type globalRole struct {
	types.GlobalRole
	container
}

// tenantRole is a role inside one organization: either the copy of a
// published global role (read-only) or a role the tenant created.
type tenantRole struct {
	types.Role
	org    *org
	global *globalRole
	rights map[string]bool // custom roles only
}

func (m *model) seedGlobalRoles() {
	gateway := map[string]bool{}
	for name := range GatewayRights {
		gateway[name] = true
	}
	providerOnly := func(r *types.Right) bool {
		return r.Category == urn("rightsCategory", nameUUID("category", "Infrastructure")) ||
			r.Name == "General: Administrator Control" || r.Name == "Token: Manage All"
	}
	add := func(name, desc string, keep func(*types.Right) bool) {
		g := &globalRole{GlobalRole: types.GlobalRole{
			Name: name, Id: urn("globalRole", nameUUID("globalRole", name)), Description: desc,
			BundleKey: "ROLE_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_")),
		}, container: newContainer()}
		g.publishAll = true
		for _, r := range m.rights {
			if keep(r) {
				g.rights[bareID(r.ID)] = true
			}
		}
		m.globals = append(m.globals, g)
	}
	has := func(prefixes ...string) func(*types.Right) bool {
		return func(r *types.Right) bool {
			for _, p := range prefixes {
				if strings.HasPrefix(r.Name, p) {
					return true
				}
			}
			return false
		}
	}
	add("Organization Administrator", "Built-in rights for administering an organization",
		func(r *types.Right) bool { return !gateway[r.Name] && !providerOnly(r) })
	add("Catalog Author", "Rights given to a user who creates and publishes new catalogs",
		has("Catalog", "vApp: ", "Organization vDC: View", "Organization vDC Network: View"))
	add("vApp Author", "Rights given to a user who uses catalogs and creates vApps",
		has("vApp: ", "Catalog: View", "Catalog Item: View", "Organization vDC: View", "Organization vDC Network: View"))
	add("vApp User", "Rights given to a user who uses vApps created by others",
		has("vApp: Power Operations", "vApp: Use Console", "vApp: View", "Catalog: View", "Organization vDC: View"))
	add("Console Access Only", "Rights given to a user who can only view virtual machine state and properties and use the guest OS",
		has("vApp: Use Console", "vApp: View VM metrics"))
	add("Defer to Identity Provider", "Rights will be defined by the identity provider", func(*types.Right) bool { return false })
}

func (g *globalRole) view() *types.GlobalRole {
	v := g.GlobalRole
	pa := g.publishAll
	v.PublishAll = &pa
	return &v
}

func (m *model) globalByID(id string) *globalRole {
	for _, g := range m.globals {
		if bareID(g.Id) == bareID(id) {
			return g
		}
	}
	return nil
}

func (c *reqCtx) globalFromPath() *globalRole {
	g := c.m.globalByID(c.r.PathValue("id"))
	if g == nil {
		c.notFound("globalRole", c.r.PathValue("id"))
	}
	return g
}

func globalContainer(c *reqCtx) *container {
	if g := c.globalFromPath(); g != nil {
		return &g.container
	}
	return nil
}

func handleGlobalRoles(c *reqCtx) {
	var items []any
	for _, g := range c.m.globals {
		items = append(items, g.view())
	}
	c.writePage(items, jsonField)
}

func handleGlobalRole(c *reqCtx) {
	if g := c.globalFromPath(); g != nil {
		c.json(http.StatusOK, g.view())
	}
}

func handleCreateGlobalRole(c *reqCtx) {
	var in types.GlobalRole
	if !c.readJSON(&in) {
		return
	}
	if in.Name == "" {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "name: must not be empty")
		return
	}
	for _, g := range c.m.globals {
		if g.Name == in.Name {
			c.fail(http.StatusBadRequest, "DUPLICATE_NAME", "A global role named %q already exists", in.Name)
			return
		}
	}
	g := &globalRole{GlobalRole: in, container: newContainer()}
	g.Id = urn("globalRole", newUUID())
	g.ReadOnly = false
	if g.BundleKey == "" {
		g.BundleKey = types.VcloudUndefinedKey
	}
	g.publishAll = in.PublishAll != nil && *in.PublishAll
	c.m.globals = append(c.m.globals, g)
	c.json(http.StatusCreated, g.view())
}

func handleUpdateGlobalRole(c *reqCtx) {
	g := c.globalFromPath()
	if g == nil {
		return
	}
	var in types.GlobalRole
	if !c.readJSON(&in) {
		return
	}
	if in.Name != "" {
		g.Name = in.Name
	}
	g.Description = in.Description
	if in.PublishAll != nil {
		g.publishAll = *in.PublishAll
	}
	c.json(http.StatusOK, g.view())
}

func handleDeleteGlobalRole(c *reqCtx) {
	g := c.globalFromPath()
	if g == nil {
		return
	}
	for i, x := range c.m.globals {
		if x == g {
			c.m.globals = append(c.m.globals[:i], c.m.globals[i+1:]...)
		}
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// --- tenant roles -------------------------------------------------------------

// tenantRoles are the roles visible in o, global copies first.
func (m *model) tenantRoles(o *org) []*tenantRole {
	var out []*tenantRole
	if o == m.system {
		// Global roles are not published to System: its only predefined
		// role is System Administrator; custom roles follow.
		out = append(out, &tenantRole{Role: types.Role{
			ID: urn("role", nameUUID("role", "System Administrator")), Name: "System Administrator",
			Description: "Built-in rights for administering this installation", BundleKey: "ROLE_SYSTEM_ADMINISTRATOR", ReadOnly: true,
		}, org: o})
	}
	for _, g := range m.globals {
		if o != m.system && g.publishedTo(o) {
			out = append(out, &tenantRole{Role: types.Role{
				ID: urn("role", nameUUID("role", o.id, g.Id)), Name: g.Name, Description: g.Description,
				BundleKey: g.BundleKey, ReadOnly: true,
			}, org: o, global: g})
		}
	}
	for _, r := range m.roles {
		if r.org == o {
			out = append(out, r)
		}
	}
	return out
}

// roleRights are a role's effective rights: a global copy has the global
// role's rights that the org has.
func (m *model) roleRights(r *tenantRole) map[string]bool {
	if r.global == nil && r.rights == nil { // System Administrator
		return m.orgRights(m.system)
	}
	src := r.rights
	if r.global != nil {
		src = r.global.rights
	}
	have := m.orgRights(r.org)
	out := map[string]bool{}
	for id := range src {
		if have[id] {
			out[id] = true
		}
	}
	return out
}

func (c *reqCtx) roleFromPath() *tenantRole {
	for _, r := range c.m.tenantRoles(c.contextOrg()) {
		if bareID(r.ID) == bareID(c.r.PathValue("id")) {
			return r
		}
	}
	c.notFound("role", c.r.PathValue("id"))
	return nil
}

func handleRoles(c *reqCtx) {
	var items []any
	for _, r := range c.m.tenantRoles(c.contextOrg()) {
		v := r.Role
		items = append(items, &v)
	}
	c.writePage(items, jsonField)
}

func handleRole(c *reqCtx) {
	if r := c.roleFromPath(); r != nil {
		c.json(http.StatusOK, &r.Role)
	}
}

func handleCreateRole(c *reqCtx) {
	o := c.contextOrg()
	var in types.Role
	if !c.readJSON(&in) {
		return
	}
	if in.Name == "" {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "name: must not be empty")
		return
	}
	for _, r := range c.m.tenantRoles(o) {
		if r.Name == in.Name {
			c.fail(http.StatusBadRequest, "DUPLICATE_NAME", "A role named %q already exists in organization %s", in.Name, o.name)
			return
		}
	}
	r := &tenantRole{Role: in, org: o, rights: map[string]bool{}}
	r.ID = urn("role", newUUID())
	r.ReadOnly = false
	if r.BundleKey == "" {
		r.BundleKey = types.VcloudUndefinedKey
	}
	c.m.roles = append(c.m.roles, r)
	c.json(http.StatusCreated, &r.Role)
}

// writable refuses changes to the tenant copy of a global role.
func (c *reqCtx) writable(r *tenantRole) bool {
	if r.ReadOnly {
		c.fail(http.StatusBadRequest, "BAD_REQUEST",
			"Role %q is read-only in organization %s: it is published by the provider as a global role; change the global role instead", r.Name, r.org.name)
		return false
	}
	return true
}

func handleUpdateRole(c *reqCtx) {
	r := c.roleFromPath()
	if r == nil || !c.writable(r) {
		return
	}
	var in types.Role
	if !c.readJSON(&in) {
		return
	}
	if in.Name != "" {
		r.Name = in.Name
	}
	r.Description = in.Description
	c.json(http.StatusOK, &r.Role)
}

func handleDeleteRole(c *reqCtx) {
	r := c.roleFromPath()
	if r == nil || !c.writable(r) {
		return
	}
	for _, u := range c.m.orgUsers(r.org) {
		if u.roleID == bareID(r.ID) {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "Role %q cannot be deleted: it is assigned to user %s", r.Name, u.name)
			return
		}
	}
	for i, x := range c.m.roles {
		if x == r {
			c.m.roles = append(c.m.roles[:i], c.m.roles[i+1:]...)
		}
	}
	c.w.WriteHeader(http.StatusNoContent)
}

func handleRoleRights(c *reqCtx) {
	if r := c.roleFromPath(); r != nil {
		c.writePage(c.m.rightsList(c.m.roleRights(r)), jsonField)
	}
}

// handleSetRoleRights adds (POST) or replaces (PUT) the rights of a custom
// tenant role; the rights must be available to the org.
func handleSetRoleRights(c *reqCtx) {
	r := c.roleFromPath()
	if r == nil || !c.writable(r) {
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
	have := c.m.orgRights(r.org)
	var missing []string
	for _, id := range ids {
		if !have[id] {
			missing = append(missing, c.m.rightByID[id].Name)
		}
	}
	if len(missing) > 0 {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "The rights [%s] are not available to organization %s", strings.Join(missing, ", "), r.org.name)
		return
	}
	if c.r.Method == http.MethodPut {
		r.rights = map[string]bool{}
	}
	for _, id := range ids {
		r.rights[id] = true
	}
	c.writePage(c.m.rightsList(r.rights), nil)
}

// allowed checks that the tenant user's own role carries right (only with
// Config.EnforceRights); otherwise it answers 403 as vCD does.
func (c *reqCtx) allowed(right string) bool {
	if !c.s.cfg.EnforceRights || c.sess.provider {
		return true
	}
	r := c.m.rightByName(right)
	if r == nil {
		return true
	}
	if u := c.m.userByName(c.sess.org, c.sess.user); u != nil {
		if role := c.m.userRole(u); role != nil && c.m.roleRights(role)[bareID(r.ID)] {
			return true
		}
	}
	c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN",
		"[ %s ] Either you need some or all of the following rights [%s] to perform operations [%s %s] or the target entity is invalid.",
		newUUID(), right, c.r.Method, c.r.URL.Path)
	return false
}
