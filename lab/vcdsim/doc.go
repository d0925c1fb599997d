// Package vcdsim simulates the subset of the VMware Cloud Director 10.5 API
// (API versions up to 38.1) that ferry needs, in the style of govmomi's
// vcsim: an in-memory model with one file per entity, served over HTTPS
// with absolute hrefs built from the request Host, asynchronous tasks, and
// fault injection. The unmodified go-vcloud-director v2.26.1 client talks
// to it.
//
// The model: organizations "System" and the tenant (Config.TenantOrg,
// "Company") with one NSX-T org VDC ("Company-VDC") and its edge gateway
// ("company-edge"); a rights catalogue with categories, rights bundles,
// global roles and tenant roles; org VDC networks; L2 VPN tunnels whose
// status comes from the shared stretch.Fabric; vApps imported from the
// provider vCenter (read over the vSphere API with govmomi).
//
// Endpoints (OpenAPI under /cloudapi/1.0.0/; collections also with a
// trailing slash, paged with a quoted rel="nextPage" Link):
//
//	GET  /api/versions                         (no auth)
//	POST sessions/provider, sessions           HTTP Basic user@org; 401 on bad credentials
//	GET  sessions/current; DELETE sessions[/provider|/{id}]
//	POST /oauth/provider/token, /oauth/tenant/{org}/token
//	                                           API token -> access token (refresh grant); 400 invalid_grant
//	                                           (apitokens.go: AddAPIToken, RevokeAPIToken)
//	GET  /api/admin, /api/org, /api/org/{id}, /api/admin/org/{id}, /api/vdc/{id}
//	GET|PUT|POST /api/admin/org/{id}/rights    legacy OrgRights XML
//	GET  /api/query                            orgVdc, adminOrgVdc, vApp, adminVApp, vm, adminVM, edgeGateway, orgVdcNetwork,
//	                                           networkPool, providerVdcStorageProfile, ...
//	GET  /api/task/{id}; POST /api/task/{id}/action/cancel
//	rights, rightsCategories                   (tenant context: the org's effective rights)
//	rightsBundles[/{id}[/rights|/tenants|/tenants/publish|unpublish|publishAll|unpublishAll]]
//	globalRoles[/{id}[/rights|/tenants|...]]   create, update, delete, add rights, publish
//	roles[/{id}[/rights]]                      tenant roles; X-VMWARE-VCLOUD-TENANT-CONTEXT / AUTH-CONTEXT
//	edgeGateways[/{id}[/usedIpAddresses]]
//	orgVdcNetworks[/{id}]                      create / update (connectionTypeValue SUBINTERFACE) / delete: 202 + task
//	edgeGateways/{id}/l2vpn/tunnels[/{id}[/status|/metrics]]   create 202 + task (Details = tunnel id)
//	edgeGateways (POST), edgeGateways/{id} (PUT, DELETE)     provider; owner an org VDC or VDC group
//	orgVdcNetworks/{id}/segmentProfiles, /dhcp, /dhcp/bindings[/{id}]
//	nsxTResources/segment{IpDiscovery,MacDiscovery,SpoofGuard,QoS,Security}Profiles, edgeClusters, importableTier0Routers
//	segmentProfileTemplates[/{id}], externalNetworks[/{id}], vdcs/{id}/networkProfile, vdcs/{id}/capabilities
//	vdcGroups[/{id}], vdcGroups/networkingCandidateVdcs
//	virtualCenters/resources/importableDvpgs   port groups for OPAQUE (DV_PORTGROUP) networks
//	POST /api/admin/org/{id}/vdcsparams; DELETE /api/admin/vdc/{id}   org VDCs beside Company-VDC
//	virtualCenters[/{id}]
//	GET  /api/admin/extension/vimServer/{uuid}/vmsList
//	POST /api/admin/extension/vimServer/{uuid}/importVmAsVApp | importVmIntoExistingVApp
//	GET|DELETE /api/vApp/{vapp-|vm-id}; POST .../power/action/{powerOn|powerOff|shutdown|reboot|reset}, .../action/{deploy|undeploy}
//	GET|PUT /api/vApp/vm-{id}/networkConnectionSection/
//	GET|POST|DELETE /lab/faults[/{id}]         lab only, no auth: fault injection rules
//
// Usage:
//
//	srv, err := vcdsim.New(vcdsim.Config{Fabric: fabric, ProviderVC: &vcdsim.ProviderVC{...}})
//	err = srv.Start(tlsCfg)          // 127.0.0.1:0 unless Config.Addr
//	defer srv.Close()
//	u, _ := url.Parse(srv.URL())     // https://127.0.0.1:port/api
//	c := govcd.NewVCDClient(*u, false)
//	err = c.Authenticate("administrator", "VMware1!", "System")
//	srv.Faults.Add(vcdsim.Fault{Method: "POST", Path: "/l2vpn/tunnels", Status: 500, Times: 1})
package vcdsim
