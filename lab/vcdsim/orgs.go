package vcdsim

import (
	"net/http"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

const (
	mimeUser    = "application/vnd.vmware.admin.user+xml"
	mimeRoleXML = "application/vnd.vmware.admin.role+xml"
)

// adminOrgLists fills what vCD's AdminOrg always carries besides VDCs and
// networks: the users, the catalogs (none in the lab) and the roles of the
// organization. The client ranges over these lists without a nil check.
func (c *reqCtx) adminOrgLists(x *types.AdminOrg, o *org) {
	x.Users = &types.OrgUserList{}
	for _, u := range c.m.orgUsers(o) {
		x.Users.User = append(x.Users.User, &types.Reference{HREF: c.abs("/api/admin/user/" + u.id), Type: mimeUser, Name: u.name})
	}
	x.Groups = &types.OrgGroupList{}
	x.Catalogs = c.catalogRefs(o)
	x.RoleReferences = &types.OrgRoleType{}
	for _, r := range c.m.tenantRoles(o) {
		x.RoleReferences.RoleReference = append(x.RoleReferences.RoleReference,
			&types.Reference{HREF: c.abs("/api/admin/role/" + bareID(r.ID)), Type: mimeRoleXML, Name: r.Name})
	}
}

// orgUser is a local user of an organization: the lab has the provider
// administrator in System and an organization administrator in each tenant.
// A user has one role (the XML API's User.Role): the id of a role visible
// in its org (the tenant copy of a global role, or an org-local role).
type orgUser struct {
	id, name string
	roleID   string // bare uuid of the role
	org      *org
}

func (m *model) seedUsers() {
	add := func(o *org, name, roleID string) {
		m.users = append(m.users, &orgUser{id: nameUUID("user", o.id, name), name: name, roleID: roleID, org: o})
	}
	add(m.system, m.cfg.SystemUser, nameUUID("role", "System Administrator"))
	for _, t := range []struct {
		o    *org
		user string
	}{{m.tenant, m.cfg.TenantUser}, {m.other, m.cfg.OtherUser}} {
		for _, r := range m.tenantRoles(t.o) {
			if r.Name == "Organization Administrator" {
				add(t.o, t.user, bareID(r.ID))
			}
		}
	}
}

func (m *model) orgUsers(o *org) []*orgUser {
	var out []*orgUser
	for _, u := range m.users {
		if u.org == o {
			out = append(out, u)
		}
	}
	return out
}

// userByName finds the user name of org o.
func (m *model) userByName(o *org, name string) *orgUser {
	for _, u := range m.orgUsers(o) {
		if u.name == name {
			return u
		}
	}
	return nil
}

// userRole is the user's role, nil when it no longer exists in its org
// (a global role unpublished from it).
func (m *model) userRole(u *orgUser) *tenantRole {
	for _, r := range m.tenantRoles(u.org) {
		if bareID(r.ID) == u.roleID {
			return r
		}
	}
	return nil
}

func (c *reqCtx) userXML(u *orgUser) *types.User {
	x := &types.User{
		Xmlns: xmlnsVcloud, Href: c.abs("/api/admin/user/" + u.id), Type: mimeUser, ID: urn("user", u.id),
		Name: u.name, IsEnabled: true, ProviderType: "INTEGRATED",
		Links: types.LinkList{
			{Rel: "up", Type: mimeAdminOrg, HREF: c.abs("/api/admin/org/" + u.org.id)},
			{Rel: "edit", Type: mimeUser, HREF: c.abs("/api/admin/user/" + u.id)},
		},
	}
	if r := c.m.userRole(u); r != nil {
		x.Role = &types.Reference{HREF: c.abs("/api/admin/role/" + bareID(r.ID)), Type: mimeRoleXML, Name: r.Name}
	}
	return x
}

// userFromPath finds the user of the path among those the session may see.
func (c *reqCtx) userFromPath() *orgUser {
	id := bareID(c.r.PathValue("id"))
	for _, u := range c.m.users {
		if u.id == id && c.canSeeOrg(u.org) {
			return u
		}
	}
	c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.user:%s\".", id)
	return nil
}

// handleUser is GET /api/admin/user/{id}.
func handleUser(c *reqCtx) {
	if u := c.userFromPath(); u != nil {
		c.xml(http.StatusOK, mimeUser, "User", c.userXML(u))
	}
}

// handleUpdateUser is PUT /api/admin/user/{id} (OrgUser.Update, ChangeRole):
// the provider or an administrator of the user's org changes the user's
// role, which must be a role of that org (vCD answers 400 otherwise). The
// lab's users keep their name, password and enablement: a PUT changing
// those is refused rather than ignored.
func handleUpdateUser(c *reqCtx) {
	u := c.userFromPath()
	if u == nil {
		return
	}
	var in types.User
	if !c.readXML(&in) {
		return
	}
	switch {
	case in.Name != "" && in.Name != u.name:
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "vcdsim does not implement renaming user %s", u.name)
		return
	case in.Password != "" || !in.IsEnabled:
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "vcdsim does not implement changing the password or enablement of user %s", u.name)
		return
	case in.Role == nil || in.Role.HREF == "":
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "User %s: a role is required", u.name)
		return
	}
	rid := bareID(in.Role.HREF[strings.LastIndex(in.Role.HREF, "/")+1:])
	for _, r := range c.m.tenantRoles(u.org) {
		if bareID(r.ID) == rid {
			u.roleID = rid
			c.xml(http.StatusOK, mimeUser, "User", c.userXML(u))
			return
		}
	}
	c.fail(http.StatusBadRequest, "BAD_REQUEST", "Role %q (%s) does not exist in organization %s", in.Role.Name, in.Role.HREF, u.org.name)
}

// --- organizations: create, update, enable/disable, delete -------------------

func validOrgName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "/\\?#%")
}

// handleCreateOrg is POST /api/admin/orgs (provider only): vCD creates the
// organization at once and answers 201 with the AdminOrg.
func handleCreateOrg(c *reqCtx) {
	var in types.AdminOrg
	if !c.readXML(&in) {
		return
	}
	if !validOrgName(in.Name) {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "The organization name %q is not valid", in.Name)
		return
	}
	if in.FullName == "" {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "Organization full name must not be empty")
		return
	}
	for _, o := range c.m.orgs {
		if strings.EqualFold(o.name, in.Name) {
			c.fail(http.StatusBadRequest, "DUPLICATE_NAME", "An organization with name %q already exists", in.Name)
			return
		}
	}
	o := &org{id: newUUID(), name: in.Name, fullName: in.FullName, description: in.Description,
		disabled: !in.IsEnabled, extraRights: map[string]bool{}}
	c.m.orgs = append(c.m.orgs, o)
	c.w.Header().Set("Location", c.abs("/api/admin/org/"+o.id))
	c.xml(http.StatusCreated, mimeAdminOrg, "AdminOrg", c.adminOrgXML(o))
}

// handleUpdateOrg is PUT /api/admin/org/{id}: name, full name, description
// and enablement; answers with a task, as vCD does.
func handleUpdateOrg(c *reqCtx) {
	o := c.orgFromPath()
	if o == nil {
		return
	}
	var in types.AdminOrg
	if !c.readXML(&in) {
		return
	}
	if o == c.m.system && (in.Name != o.name || !in.IsEnabled) {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "The System organization cannot be renamed or disabled")
		return
	}
	if !validOrgName(in.Name) {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "The organization name %q is not valid", in.Name)
		return
	}
	o.name, o.description, o.disabled = in.Name, in.Description, !in.IsEnabled
	if in.FullName != "" {
		o.fullName = in.FullName
	}
	t := c.m.newTask(c, "jobUpdate", "Updated Organization "+o.name, types.Reference{HREF: c.abs("/api/admin/org/" + o.id), Name: o.name, Type: mimeAdminOrg, ID: o.urn()}, nil)
	c.taskResponse(t)
}

// handleOrgAction is POST /api/admin/org/{id}/action/enable|disable (204).
func handleOrgAction(c *reqCtx) {
	o := c.orgFromPath()
	if o == nil {
		return
	}
	switch c.r.PathValue("op") {
	case "enable":
		o.disabled = false
	case "disable":
		if o == c.m.system {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "The System organization cannot be disabled")
			return
		}
		o.disabled = true
	default:
		c.fail(http.StatusNotFound, "RESOURCE_NOT_FOUND", "vcdsim does not implement POST %s", c.r.URL.Path)
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// handleDeleteOrg is DELETE /api/admin/org/{id}[?force&recursive]. vCD
// refuses to delete an enabled organization, and one that still has VDCs
// unless recursive; the lab's own organizations own the lab's VDC.
func handleDeleteOrg(c *reqCtx) {
	o := c.orgFromPath()
	if o == nil {
		return
	}
	if o == c.m.system {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "The System organization cannot be deleted")
		return
	}
	if !o.disabled {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "Organization %s must be disabled before it can be deleted", o.name)
		return
	}
	if o == c.m.tenant {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "Organization %s cannot be deleted: it contains virtual data centers", o.name)
		return
	}
	ref := types.Reference{HREF: c.abs("/api/admin/org/" + o.id), Name: o.name, Type: mimeAdminOrg, ID: o.urn()}
	t := c.m.newTask(c, "jobDelete", "Deleted Organization "+o.name, ref, nil)
	for i, x := range c.m.orgs {
		if x == o {
			c.m.orgs = append(c.m.orgs[:i], c.m.orgs[i+1:]...)
			break
		}
	}
	for _, b := range c.m.bundles {
		delete(b.tenants, o.id)
	}
	for _, g := range c.m.globals {
		delete(g.tenants, o.id)
	}
	var keep []*tenantRole
	for _, r := range c.m.roles {
		if r.org != o {
			keep = append(keep, r)
		}
	}
	c.m.roles = keep
	var users []*orgUser
	for _, u := range c.m.users {
		if u.org != o {
			users = append(users, u)
		}
	}
	c.m.users = users
	c.taskResponse(t)
}

// --- query type organization ---------------------------------------------------

func (c *reqCtx) orgRecords() []queryRecord {
	var out []queryRecord
	for _, o := range c.m.orgs {
		if !c.canSeeOrg(o) {
			continue
		}
		nv := 0
		if o == c.m.tenant {
			nv = 1
		}
		zero, nvapps, ncat := 0, len(c.m.vappsOf(o)), len(c.catalogRefs(o).Catalog)
		rec := &types.QueryResultOrgRecordType{
			HREF: c.abs(o.href()), Type: mimeOrg, Name: o.name, DisplayName: o.fullName, IsEnabled: !o.disabled,
			NumberOfVdcs: &nv, NumberOfCatalogs: &ncat, NumberOfVApps: &nvapps, NumberOfGroups: &zero, NumberOfDisks: &zero,
		}
		enabled := "false"
		if !o.disabled {
			enabled = "true"
		}
		out = append(out, queryRecord{rec: rec, fields: map[string]string{
			"name": o.name, "displayName": o.fullName, "id": o.id, "href": rec.HREF, "isEnabled": enabled,
		}})
	}
	return out
}

func (m *model) vappsOf(o *org) []*vapp {
	if o != m.tenant {
		return nil
	}
	return m.vapps
}

// OtherOrg names the second tenant organization (Config.OtherOrg) and its
// Organization Administrator.
func (s *Server) OtherOrg() (org, user string) { return s.cfg.OtherOrg, s.cfg.OtherUser }
