package vcdsim

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// network is an org VDC network.
type network struct {
	types.OpenApiOrgVdcNetwork
	org *org
}

func (n *network) adminHref() string { return "/api/admin/network/" + bareID(n.ID) }

func (n *network) view() *types.OpenApiOrgVdcNetwork {
	v := n.OpenApiOrgVdcNetwork
	return &v
}

func (c *reqCtx) visibleNetworks() []*network {
	var out []*network
	for _, n := range c.m.networks {
		if c.canSeeOrg(n.org) && (!c.sess.provider || c.contextOrg() == c.m.system || c.contextOrg() == n.org) {
			out = append(out, n)
		}
	}
	return out
}

func (c *reqCtx) networkFromPath() *network {
	for _, n := range c.visibleNetworks() {
		if bareID(n.ID) == bareID(c.r.PathValue("id")) {
			return n
		}
	}
	c.notFound("orgVdcNetwork", c.r.PathValue("id"))
	return nil
}

func handleNetworks(c *reqCtx) {
	var items []any
	for _, n := range c.visibleNetworks() {
		items = append(items, n.view())
	}
	c.writePage(items, jsonField)
}

func handleNetwork(c *reqCtx) {
	if n := c.networkFromPath(); n != nil {
		c.json(http.StatusOK, n.view())
	}
}

// validate checks a network definition as vCD would; it answers 400 and
// returns false when something is wrong.
func (c *reqCtx) validateNetwork(in *types.OpenApiOrgVdcNetwork, self *network) bool {
	switch {
	case in.Name == "":
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "name: must not be empty")
		return false
	case in.NetworkType != "NAT_ROUTED" && in.NetworkType != "ISOLATED" && in.NetworkType != "OPAQUE":
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "networkType %q: this simulator supports NAT_ROUTED, ISOLATED and OPAQUE", in.NetworkType)
		return false
	case len(in.Subnets.Values) == 0:
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "subnets: at least one subnet is required")
		return false
	}
	owner := in.OwnerRef
	if owner == nil {
		owner = in.OrgVdc
	}
	if !c.placeNetwork(in, owner) { // vdcgroup.go: an org VDC or VDC group
		return false
	}
	for _, n := range c.m.networks {
		if n != self && n.Name == in.Name {
			c.fail(http.StatusBadRequest, "DUPLICATE_NAME", "An org VDC network named %q already exists in %s", in.Name, c.m.vdc.name)
			return false
		}
	}
	for _, s := range in.Subnets.Values {
		gw, err := netip.ParseAddr(s.Gateway)
		if err != nil || s.PrefixLength <= 0 || s.PrefixLength > 32 {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "subnet %s/%d is not a valid gateway/prefix", s.Gateway, s.PrefixLength)
			return false
		}
		p := netip.PrefixFrom(gw, s.PrefixLength).Masked()
		for _, r := range s.IPRanges.Values {
			a, err1 := netip.ParseAddr(r.StartAddress)
			b, err2 := netip.ParseAddr(r.EndAddress)
			if err1 != nil || err2 != nil || !p.Contains(a) || !p.Contains(b) {
				c.fail(http.StatusBadRequest, "BAD_REQUEST", "IP range %s-%s is not inside %s", r.StartAddress, r.EndAddress, p)
				return false
			}
		}
	}
	if in.NetworkType == "NAT_ROUTED" {
		if in.Connection == nil {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "connection: a routed network needs a routerRef (edge gateway)")
			return false
		}
		found := false
		for _, e := range c.m.edges {
			if bareID(e.ID) == bareID(in.Connection.RouterRef.ID) {
				found = true
				in.Connection.RouterRef = types.OpenApiReference{Name: e.Name, ID: e.ID}
			}
		}
		if !found {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "connection.routerRef: edge gateway %q does not exist", in.Connection.RouterRef.ID)
			return false
		}
		if !c.checkRouter(in) { // edgecreate.go
			return false
		}
		switch in.Connection.ConnectionTypeValue {
		case "":
			in.Connection.ConnectionTypeValue = "INTERNAL"
		case "INTERNAL", "DISTRIBUTED", "SUBINTERFACE", "NON_DISTRIBUTED":
		default:
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "connection.connectionTypeValue %q is not one of INTERNAL, DISTRIBUTED, SUBINTERFACE, NON_DISTRIBUTED", in.Connection.ConnectionTypeValue)
			return false
		}
		in.Connection.ConnectionType = in.Connection.ConnectionTypeValue
	}
	if in.NetworkType == "OPAQUE" && !c.checkImportedBacking(in, self) { // dvpg.go
		return false
	}
	return c.checkNetworkTemplate(in) // segprofiles.go
}

// handleCreateNetwork answers 202 with a task whose owner is the network.
func handleCreateNetwork(c *reqCtx) {
	var in types.OpenApiOrgVdcNetwork
	if !c.readJSON(&in) || !c.validateNetwork(&in, nil) {
		return
	}
	tpl := in.SegmentProfileTemplate // write-only (segprofiles.go)
	in.SegmentProfileTemplate = nil
	n := &network{OpenApiOrgVdcNetwork: in, org: c.m.ownerOrg(in.OwnerRef)}
	n.ID = urn("network", newUUID())
	c.m.applyNetworkTemplate(n.ID, tpl)
	n.Status = "REALIZED"
	n.OrgVdcIsNsxTBacked = true
	n.BackingNetworkId = nameUUID("segment", n.ID)
	n.BackingNetworkType = "NSXT_FLEXIBLE_SEGMENT"
	if in.NetworkType == "OPAQUE" { // an imported port group (dvpg.go)
		n.BackingNetworkId, n.BackingNetworkType = in.BackingNetworkId, in.BackingNetworkType
	}
	c.m.networks = append(c.m.networks, n)
	t := c.m.newTask(c, "orgVdcNetworkCreate", "Creating org VDC network "+n.Name,
		types.Reference{ID: n.ID, Name: n.Name, Type: "application/vnd.vmware.vcloud.orgNetwork+xml", HREF: n.adminHref()}, nil)
	c.accepted(t)
}

// handleUpdateNetwork replaces the definition (a SUBINTERFACE conversion is
// a connectionTypeValue change).
func handleUpdateNetwork(c *reqCtx) {
	n := c.networkFromPath()
	if n == nil {
		return
	}
	var in types.OpenApiOrgVdcNetwork
	if !c.readJSON(&in) || !c.validateNetwork(&in, n) {
		return
	}
	id, backing, backingType := n.ID, n.BackingNetworkId, n.BackingNetworkType
	c.m.applyNetworkTemplate(id, in.SegmentProfileTemplate)
	in.SegmentProfileTemplate = nil
	n.OpenApiOrgVdcNetwork = in
	n.ID, n.BackingNetworkId, n.BackingNetworkType = id, backing, backingType
	n.Status = "REALIZED"
	n.OrgVdcIsNsxTBacked = true
	t := c.m.newTask(c, "orgVdcNetworkUpdate", "Updating org VDC network "+n.Name,
		types.Reference{ID: n.ID, Name: n.Name, Type: "application/vnd.vmware.vcloud.orgNetwork+xml", HREF: n.adminHref()}, nil)
	c.accepted(t)
}

func handleDeleteNetwork(c *reqCtx) {
	n := c.networkFromPath()
	if n == nil {
		return
	}
	for _, e := range c.m.edges {
		for _, t := range e.tunnels {
			for _, s := range t.StretchedNetworks {
				if s.NetworkRef.ID == n.ID {
					c.fail(http.StatusBadRequest, "BAD_REQUEST", "Network %q is stretched by L2 VPN tunnel %q; remove it from the tunnel first", n.Name, t.Name)
					return
				}
			}
		}
	}
	for i, x := range c.m.networks {
		if x == n {
			c.m.networks = append(c.m.networks[:i], c.m.networks[i+1:]...)
		}
	}
	c.m.forgetNetwork(n.ID)
	t := c.m.newTask(c, "orgVdcNetworkDelete", "Deleting org VDC network "+n.Name,
		types.Reference{ID: n.ID, Name: n.Name, Type: "application/vnd.vmware.vcloud.orgNetwork+xml", HREF: n.adminHref()}, nil)
	c.accepted(t)
}

// xmlHref is the network's href in the XML API: /api/admin/network/{id}
// in the admin views (AdminOrg, admin VDC), /api/network/{id} in the
// tenant's (VDC AvailableNetworks).
func (n *network) xmlHref(admin bool) string {
	if admin {
		return n.adminHref()
	}
	return "/api/network/" + bareID(n.ID)
}

// fenceModes maps OpenAPI network types to the XML API's FenceMode.
var fenceModes = map[string]string{"NAT_ROUTED": "natRouted", "ISOLATED": "isolated", "DIRECT": "bridged", "OPAQUE": "opaque"}

// networkXML is the org VDC network as the XML API shows it (vCD serves it
// for NSX-T networks too): IP scopes from the subnets, the fence mode from
// the network type, links up to the VDC.
func (c *reqCtx) networkXML(n *network, admin bool) *types.OrgVDCNetwork {
	mime := "application/vnd.vmware.vcloud.orgNetwork+xml"
	if admin {
		mime = "application/vnd.vmware.admin.network+xml"
	}
	x := &types.OrgVDCNetwork{
		HREF: c.abs(n.xmlHref(admin)), Type: mime, ID: urn("network", bareID(n.ID)), Name: n.Name,
		Status: "1", Description: n.Description, IsShared: n.Shared != nil && *n.Shared,
		Link: []types.Link{{Rel: "up", Type: mimeVdc, HREF: c.abs(c.m.vdc.href())}},
		Configuration: &types.NetworkConfiguration{
			FenceMode: fenceModes[n.NetworkType], IPScopes: &types.IPScopes{},
			RetainNetInfoAcrossDeployments: new(bool),
		},
	}
	for _, sn := range n.Subnets.Values {
		scope := &types.IPScope{
			Gateway: sn.Gateway, SubnetPrefixLength: fmt.Sprint(sn.PrefixLength), IsEnabled: true,
			DNS1: sn.DNSServer1, DNS2: sn.DNSServer2, DNSSuffix: sn.DNSSuffix,
		}
		if gw, err := netip.ParseAddr(sn.Gateway); err == nil && gw.Is4() && sn.PrefixLength >= 0 && sn.PrefixLength <= 32 {
			m := net.CIDRMask(sn.PrefixLength, 32)
			scope.Netmask = fmt.Sprintf("%d.%d.%d.%d", m[0], m[1], m[2], m[3])
		}
		if len(sn.IPRanges.Values) > 0 {
			scope.IPRanges = &types.IPRanges{}
			for _, r := range sn.IPRanges.Values {
				scope.IPRanges.IPRange = append(scope.IPRanges.IPRange, &types.IPRange{StartAddress: r.StartAddress, EndAddress: r.EndAddress})
			}
		}
		x.Configuration.IPScopes.IPScope = append(x.Configuration.IPScopes.IPScope, scope)
	}
	return x
}

// handleNetworkXML answers GET /api/network/{id} and /api/admin/network/{id}.
func handleNetworkXML(c *reqCtx) {
	admin := strings.HasPrefix(c.r.URL.Path, "/api/admin/")
	for _, n := range c.visibleNetworks() {
		if bareID(n.ID) == bareID(c.r.PathValue("id")) {
			x := c.networkXML(n, admin)
			c.xml(http.StatusOK, x.Type, "OrgVdcNetwork", x)
			return
		}
	}
	c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.network:%s\".", c.r.PathValue("id"))
}
