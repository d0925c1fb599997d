package vcdsim

import (
	"net/http"
	"strings"
)

// routes registers the API. OpenAPI collections are routed with and
// without the trailing slash (the client uses "rights/" for lists).
func (s *Server) routes() {
	const oa = "/cloudapi/1.0.0/"
	coll := func(method, path string, h handlerFunc, opts ...routeOpt) {
		s.handle(method+" "+oa+path+"/{$}", h, opts...)
		s.handle(method+" "+oa+path, h, opts...)
	}
	item := func(method, path string, h handlerFunc, opts ...routeOpt) {
		s.handle(method+" "+oa+path, h, opts...)
	}

	// login and versions
	s.handle("GET /api/versions", handleVersions, public)
	s.handle("POST "+oa+"sessions/provider", handleLogin(true), public)
	s.handle("POST "+oa+"sessions", handleLogin(false), public)
	s.handle("POST "+oa+"sessions/{$}", handleLogin(false), public)
	s.handle("GET "+oa+"sessions/current", handleCurrentSession)
	s.handle("POST /oauth/provider/token", handleTokenGrant(true), public)
	s.handle("POST /oauth/tenant/{org}/token", handleTokenGrant(false), public)
	s.handle("DELETE "+oa+"sessions/provider", handleLogout)
	s.handle("DELETE "+oa+"sessions", handleLogout)
	s.handle("DELETE "+oa+"sessions/{id}", handleLogout)

	// XML API: orgs, VDC, tasks, query, vApps
	s.handle("GET /api/admin", handleAdmin)
	s.handle("GET /api/admin/{$}", handleAdmin)
	s.handle("GET /api/org", handleOrgList)
	s.handle("GET /api/org/{$}", handleOrgList)
	s.handle("GET /api/org/{id}", handleOrg)
	s.handle("GET /api/admin/org/{id}", handleAdminOrg)
	s.handle("POST /api/admin/orgs", handleCreateOrg, provider)
	s.handle("PUT /api/admin/org/{id}", handleUpdateOrg, provider)
	s.handle("DELETE /api/admin/org/{id}", handleDeleteOrg, provider)
	s.handle("POST /api/admin/org/{id}/action/{op}", handleOrgAction, provider)
	s.handle("GET /api/admin/user/{id}", handleUser)
	s.handle("PUT /api/admin/user/{id}", handleUpdateUser)
	s.handle("GET /api/admin/extension/nsxtManagers/{id}", handleNsxtManager, provider)
	s.handle("GET /api/admin/org/{id}/rights", handleGetOrgRights)
	s.handle("PUT /api/admin/org/{id}/rights", handlePutOrgRights)
	s.handle("POST /api/admin/org/{id}/rights", handlePutOrgRights)
	s.handle("GET /api/vdc/{id}", handleVdc)
	s.handle("GET /api/admin/vdc/{id}", handleVdc)
	s.handle("GET /api/task/{id}", handleGetTask)
	s.handle("POST /api/task/{id}/action/cancel", handleCancelTask)
	s.handle("GET /api/query", handleQuery)
	s.handle("GET /api/vApp/{id}", handleVApp)
	s.handle("DELETE /api/vApp/{id}", handleDeleteVApp)
	s.handle("GET /api/vApp/{id}/networkConnectionSection", handleGetNCS)
	s.handle("GET /api/vApp/{id}/networkConnectionSection/{$}", handleGetNCS)
	s.handle("PUT /api/vApp/{id}/networkConnectionSection", handlePutNCS)
	s.handle("PUT /api/vApp/{id}/networkConnectionSection/{$}", handlePutNCS)
	s.handle("GET /api/vApp/{id}/guestCustomizationSection", handleGetGCS)
	s.handle("GET /api/vApp/{id}/guestCustomizationSection/{$}", handleGetGCS)
	s.handle("PUT /api/vApp/{id}/guestCustomizationSection", handlePutGCS)
	s.handle("PUT /api/vApp/{id}/guestCustomizationSection/{$}", handlePutGCS)
	s.handle("GET /api/vApp/{id}/virtualHardwareSection", handleGetHardware)
	s.handle("GET /api/vApp/{id}/virtualHardwareSection/{$}", handleGetHardware)
	s.handle("GET /api/network/{id}", handleNetworkXML)
	s.handle("GET /api/admin/network/{id}", handleNetworkXML)
	s.handle("POST /api/vApp/{id}/power/action/{op}", handlePower)
	s.handle("POST /api/vApp/{id}/action/{op}", handlePower)

	// catalogs, vApp composition, guest customization (catalog.go, compose.go)
	s.catalogRoutes()

	// provider vCenter and import; the provider VDC (pvdc.go)
	s.pvdcRoutes()
	s.storagePolicyRoutes()
	coll("GET", "virtualCenters", handleVirtualCenters, provider)
	item("GET", "virtualCenters/{id}", handleVirtualCenter, provider)
	s.handle("GET /api/admin/extension/vimServer/{vc}/vmsList", handleVmsList, provider)
	s.handle("POST /api/admin/extension/vimServer/{vc}/importVmAsVApp", handleImportAsVApp, provider)
	s.handle("POST /api/admin/extension/vimServer/{vc}/importVmIntoExistingVApp", handleImportIntoVApp, provider)

	// rights, bundles, roles
	coll("GET", "rights", handleRights)
	item("GET", "rights/{id}", handleRight)
	coll("GET", "rightsCategories", handleRightsCategories)
	item("GET", "rightsCategories/{id}", handleRightsCategory)

	coll("GET", "rightsBundles", handleBundles, provider)
	coll("POST", "rightsBundles", handleCreateBundle, provider)
	item("GET", "rightsBundles/{id}", handleBundle, provider)
	item("PUT", "rightsBundles/{id}", handleUpdateBundle, provider)
	item("DELETE", "rightsBundles/{id}", handleDeleteBundle, provider)
	item("GET", "rightsBundles/{id}/rights", containerRights(bundleContainer), provider)
	item("POST", "rightsBundles/{id}/rights", containerSetRights(bundleContainer), provider)
	item("PUT", "rightsBundles/{id}/rights", containerSetRights(bundleContainer), provider)
	item("GET", "rightsBundles/{id}/tenants", containerTenants(bundleContainer), provider)
	item("PUT", "rightsBundles/{id}/tenants", containerPublish(bundleContainer, "replace"), provider)
	item("POST", "rightsBundles/{id}/tenants/publish", containerPublish(bundleContainer, "add"), provider)
	item("POST", "rightsBundles/{id}/tenants/unpublish", containerPublish(bundleContainer, "remove"), provider)
	item("POST", "rightsBundles/{id}/tenants/publishAll", containerPublishAll(bundleContainer, true), provider)
	item("POST", "rightsBundles/{id}/tenants/unpublishAll", containerPublishAll(bundleContainer, false), provider)

	coll("GET", "globalRoles", handleGlobalRoles, provider)
	coll("POST", "globalRoles", handleCreateGlobalRole, provider)
	item("GET", "globalRoles/{id}", handleGlobalRole, provider)
	item("PUT", "globalRoles/{id}", handleUpdateGlobalRole, provider)
	item("DELETE", "globalRoles/{id}", handleDeleteGlobalRole, provider)
	item("GET", "globalRoles/{id}/rights", containerRights(globalContainer), provider)
	item("POST", "globalRoles/{id}/rights", containerSetRights(globalContainer), provider)
	item("PUT", "globalRoles/{id}/rights", containerSetRights(globalContainer), provider)
	item("GET", "globalRoles/{id}/tenants", containerTenants(globalContainer), provider)
	item("PUT", "globalRoles/{id}/tenants", containerPublish(globalContainer, "replace"), provider)
	item("POST", "globalRoles/{id}/tenants/publish", containerPublish(globalContainer, "add"), provider)
	item("POST", "globalRoles/{id}/tenants/unpublish", containerPublish(globalContainer, "remove"), provider)
	item("POST", "globalRoles/{id}/tenants/publishAll", containerPublishAll(globalContainer, true), provider)
	item("POST", "globalRoles/{id}/tenants/unpublishAll", containerPublishAll(globalContainer, false), provider)

	coll("GET", "roles", handleRoles)
	coll("POST", "roles", handleCreateRole)
	item("GET", "roles/{id}", handleRole)
	item("PUT", "roles/{id}", handleUpdateRole)
	item("DELETE", "roles/{id}", handleDeleteRole)
	item("GET", "roles/{id}/rights", handleRoleRights)
	item("POST", "roles/{id}/rights", handleSetRoleRights)
	item("PUT", "roles/{id}/rights", handleSetRoleRights)

	// NSX-T edge gateway, networks, L2 VPN
	coll("GET", "edgeGateways", handleEdges)
	item("GET", "edgeGateways/{edge}", handleEdge)
	item("GET", "edgeGateways/{edge}/usedIpAddresses", handleUsedIPs)
	coll("GET", "orgVdcNetworks", handleNetworks)
	coll("POST", "orgVdcNetworks", handleCreateNetwork)
	item("GET", "orgVdcNetworks/{id}", handleNetwork)
	item("PUT", "orgVdcNetworks/{id}", handleUpdateNetwork)
	item("DELETE", "orgVdcNetworks/{id}", handleDeleteNetwork)
	coll("GET", "edgeGateways/{edge}/l2vpn/tunnels", handleTunnels)
	coll("POST", "edgeGateways/{edge}/l2vpn/tunnels", handleCreateTunnel)
	item("GET", "edgeGateways/{edge}/l2vpn/tunnels/{id}", handleTunnel)
	item("PUT", "edgeGateways/{edge}/l2vpn/tunnels/{id}", handleUpdateTunnel)
	item("DELETE", "edgeGateways/{edge}/l2vpn/tunnels/{id}", handleDeleteTunnel)
	item("GET", "edgeGateways/{edge}/l2vpn/tunnels/{id}/status", handleTunnelStatus)
	item("GET", "edgeGateways/{edge}/l2vpn/tunnels/{id}/metrics", handleTunnelMetrics)

	// segment profiles and templates, network DHCP, edge clusters and the
	// VDC network profile, external networks and edge gateway lifecycle
	s.segmentProfileRoutes(coll, item)
	s.dhcpRoutes(coll, item)
	s.edgeClusterRoutes(coll, item)
	s.extnetRoutes(coll, item)
	s.dvpgRoutes(coll)
	s.orgVdcRoutes()
	s.vdcGroupRoutes(coll, item)

	// anything else: a vCD-style error naming the call, so that a client
	// using an endpoint the simulator lacks says so clearly
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, strings.HasPrefix(r.URL.Path, "/cloudapi/"), http.StatusNotFound, "RESOURCE_NOT_FOUND",
			"vcdsim does not implement "+r.Method+" "+r.URL.Path)
	})

	// lab-only fault injection
	s.mux.HandleFunc("/lab/faults", s.handleLabFaults)
	s.mux.HandleFunc("/lab/faults/{id}", s.handleLabFaults)
}
