package vcdsim

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// Creating, updating and deleting NSX-T edge gateways (provider only), as
// vCD 10.5 checks them: the owner is an org VDC, the one mandatory uplink
// goes to a tier-0 backed external network, each uplink subnet is one of
// that network's subnets, the addresses asked for (ranges, primary IP) lie
// in its IP ranges and are free; with none asked for, one address is
// allocated as primary IP (plus quickAddAllocatedIpCount more). An edge
// gateway with org VDC networks or L2 VPN tunnels cannot be deleted.

// maxEdgeRange bounds the addresses one uplink range may allocate.
const maxEdgeRange = 1 << 16

// checkEdge validates a definition and returns the uplink addresses to
// allocate (the primary IP first); self is the edge being updated.
func (c *reqCtx) checkEdge(in *types.OpenAPIEdgeGateway, self *edge) ([]string, owner, error) {
	if strings.TrimSpace(in.Name) == "" {
		return nil, owner{}, fmt.Errorf("name: must not be empty")
	}
	ref := in.OwnerRef
	if ref == nil {
		ref = in.OrgVdc
	}
	if ref == nil || ref.ID == "" {
		return nil, owner{}, fmt.Errorf("ownerRef: the org VDC (or VDC group) of the edge gateway is required")
	}
	o, err := c.ownerOf(ref.ID)
	if err != nil {
		return nil, owner{}, fmt.Errorf("ownerRef: %v", err)
	}
	if self != nil && self.OwnerRef != nil && self.OwnerRef.ID != o.ref.ID {
		// moving: from a VDC into a group it is part of, or back
		from, err := c.ownerOf(self.OwnerRef.ID)
		if err == nil && !((o.group != nil && from.vdc != nil && o.group.has(from.vdc)) || (from.group != nil && o.vdc != nil && from.group.has(o.vdc))) {
			return nil, owner{}, fmt.Errorf("ownerRef: edge gateway %s can move only into a VDC group its VDC is part of, or back to one of the group's VDCs", self.Name)
		}
		for _, n := range c.m.networks {
			if n.Connection != nil && n.Connection.RouterRef.ID == self.ID {
				return nil, owner{}, fmt.Errorf("ownerRef: edge gateway %s has network %s connected; it cannot move", self.Name, n.Name)
			}
		}
	}
	for _, e := range c.m.edges {
		if e != self && e.Name == in.Name && e.org == o.org {
			return nil, owner{}, fmt.Errorf("an edge gateway named %q already exists in organization %s", in.Name, o.org.name)
		}
	}
	ips, err := c.checkUplinks(in, self)
	return ips, o, err
}

func (c *reqCtx) checkUplinks(in *types.OpenAPIEdgeGateway, self *edge) ([]string, error) {
	if len(in.EdgeGatewayUplinks) != 1 {
		return nil, fmt.Errorf("edgeGatewayUplinks: exactly one uplink to a tier-0 backed external network is required (got %d)", len(in.EdgeGatewayUplinks))
	}
	u := &in.EdgeGatewayUplinks[0]
	ext := c.m.extByID(u.UplinkID)
	if ext == nil {
		return nil, fmt.Errorf("edgeGatewayUplinks[0].uplinkId: external network %q does not exist", u.UplinkID)
	}
	for _, e := range c.m.edges {
		if e == self || len(e.EdgeGatewayUplinks) == 0 || e.EdgeGatewayUplinks[0].UplinkID != ext.ID {
			continue
		}
		if e.EdgeGatewayUplinks[0].Dedicated || u.Dedicated {
			return nil, fmt.Errorf("external network %s is used by edge gateway %s; a dedicated external network serves one edge gateway", ext.Name, e.Name)
		}
	}
	if self != nil && len(self.EdgeGatewayUplinks) > 0 && sameUplinkAddresses(self.EdgeGatewayUplinks[0], *u) {
		u.UplinkName = ext.Name
		return self.uplinkIPs, nil
	}
	used := c.m.extUsedIPs(ext.ID, self)
	var ips []string
	take := func(a netip.Addr) error {
		if who, ok := used[a]; ok {
			return fmt.Errorf("IP address %s of external network %s is allocated to edge gateway %s", a, ext.Name, who)
		}
		if !extHas(ext, a) {
			return fmt.Errorf("IP address %s is not in the IP ranges of external network %s", a, ext.Name)
		}
		used[a] = in.Name
		ips = append(ips, a.String())
		return nil
	}
	var first *types.OpenAPIEdgeGatewaySubnetValue
	for i := range u.Subnets.Values {
		s := &u.Subnets.Values[i]
		if !extHasSubnet(ext, s.Gateway, s.PrefixLength) {
			return nil, fmt.Errorf("edgeGatewayUplinks[0].subnets: %s/%d is not a subnet of external network %s (it has %s)", s.Gateway, s.PrefixLength, ext.Name, extSubnets(ext))
		}
		if first == nil {
			first = s
		}
		p := subnetPrefix(s.Gateway, s.PrefixLength)
		var primary netip.Addr
		if s.PrimaryIP != "" {
			a, err := netip.ParseAddr(s.PrimaryIP)
			if err != nil || !p.Contains(a) {
				return nil, fmt.Errorf("primaryIp %q is not an address of %s", s.PrimaryIP, p.Masked())
			}
			primary = a
		}
		primaryInRange := false
		if s.IPRanges != nil {
			for _, r := range s.IPRanges.Values {
				a, err1 := netip.ParseAddr(r.StartAddress)
				z, err2 := netip.ParseAddr(r.EndAddress)
				if err1 != nil || err2 != nil || z.Less(a) || !p.Contains(a) || !p.Contains(z) {
					return nil, fmt.Errorf("IP range %s-%s is not a range of %s", r.StartAddress, r.EndAddress, p.Masked())
				}
				n := 0
				for x := a; x.Compare(z) <= 0; x = x.Next() {
					if n++; n > maxEdgeRange {
						return nil, fmt.Errorf("IP range %s-%s: more than %d addresses", a, z, maxEdgeRange)
					}
					if x == primary {
						primaryInRange = true
						continue
					}
					if err := take(x); err != nil {
						return nil, err
					}
				}
			}
		}
		if primary.IsValid() {
			if s.IPRanges != nil && len(s.IPRanges.Values) > 0 && !primaryInRange {
				return nil, fmt.Errorf("primaryIp %s is not in the subnet's IP ranges", primary)
			}
			if err := take(primary); err != nil {
				return nil, err
			}
			ips = append([]string{primary.String()}, ips[:len(ips)-1]...)
		}
	}
	if first == nil {
		return nil, fmt.Errorf("edgeGatewayUplinks[0].subnets: at least one subnet of external network %s is required", ext.Name)
	}
	want := u.QuickAddAllocatedIPCount
	if len(ips) == 0 && want == 0 {
		want = 1 // the primary IP, allocated
	}
	for ; want > 0; want-- {
		a, ok := freeExtAddr(ext, first, used)
		if !ok {
			return nil, fmt.Errorf("external network %s has no free IP address left in %s/%d", ext.Name, first.Gateway, first.PrefixLength)
		}
		_ = take(a)
	}
	u.UplinkName, u.QuickAddAllocatedIPCount, u.Connected = ext.Name, 0, true
	return ips, nil
}

// sameUplinkAddresses: an update that leaves the addresses as they are.
func sameUplinkAddresses(old, new types.EdgeGatewayUplinks) bool {
	if old.UplinkID != new.UplinkID || len(old.Subnets.Values) != len(new.Subnets.Values) || new.QuickAddAllocatedIPCount > 0 {
		return false
	}
	for i, o := range old.Subnets.Values {
		n := new.Subnets.Values[i]
		if o.Gateway != n.Gateway || o.PrefixLength != n.PrefixLength || (n.PrimaryIP != "" && n.PrimaryIP != o.PrimaryIP) {
			return false
		}
		if n.IPRanges != nil && o.IPRanges != nil && fmt.Sprint(n.IPRanges.Values) != fmt.Sprint(o.IPRanges.Values) {
			return false
		}
	}
	return true
}

func extHasSubnet(e *extNet, gw string, bits int) bool {
	for _, s := range e.Subnets.Values {
		if s.Gateway == gw && s.PrefixLength == bits {
			return true
		}
	}
	return false
}

func extSubnets(e *extNet) string {
	var out []string
	for _, s := range e.Subnets.Values {
		out = append(out, fmt.Sprintf("%s/%d", s.Gateway, s.PrefixLength))
	}
	return strings.Join(out, ", ")
}

func extHas(e *extNet, a netip.Addr) bool {
	for _, s := range e.Subnets.Values {
		for _, r := range s.IPRanges.Values {
			x, err1 := netip.ParseAddr(r.StartAddress)
			z, err2 := netip.ParseAddr(r.EndAddress)
			if err1 == nil && err2 == nil && inRange(a, [2]netip.Addr{x, z}) {
				return true
			}
		}
	}
	return false
}

func freeExtAddr(e *extNet, sub *types.OpenAPIEdgeGatewaySubnetValue, used map[netip.Addr]string) (netip.Addr, bool) {
	for _, s := range e.Subnets.Values {
		if s.Gateway != sub.Gateway || s.PrefixLength != sub.PrefixLength {
			continue
		}
		for _, r := range s.IPRanges.Values {
			x, err1 := netip.ParseAddr(r.StartAddress)
			z, err2 := netip.ParseAddr(r.EndAddress)
			for ; err1 == nil && err2 == nil && x.Compare(z) <= 0; x = x.Next() {
				if _, ok := used[x]; !ok {
					return x, true
				}
			}
		}
	}
	return netip.Addr{}, false
}

// setUplink records the allocation in the uplink's first subnet view.
func setUplink(e *edge, ips []string) {
	e.uplinkIPs = ips
	u := &e.EdgeGatewayUplinks[0]
	for i := range u.Subnets.Values {
		s := &u.Subnets.Values[i]
		p := subnetPrefix(s.Gateway, s.PrefixLength)
		var mine []string
		for _, ip := range ips {
			if a, err := netip.ParseAddr(ip); err == nil && p.Contains(a) {
				mine = append(mine, ip)
			}
		}
		n := len(mine)
		s.TotalIPCount, s.UsedIPCount = &n, min(n, 1)
		if n == 0 {
			s.IPRanges, s.PrimaryIP = nil, ""
			continue
		}
		s.PrimaryIP = mine[0]
		s.IPRanges = &types.OpenApiIPRanges{}
		for _, ip := range mine {
			s.IPRanges.Values = append(s.IPRanges.Values, types.OpenApiIPRangeValues{StartAddress: ip, EndAddress: ip})
		}
	}
}

func edgeTask(c *reqCtx, e *edge, name, op string) *task {
	return c.m.newTask(c, name, op+" edge gateway "+e.Name,
		types.Reference{ID: e.ID, Name: e.Name, Type: "application/vnd.vmware.vcloud.gateway+xml", HREF: "/api/admin/edgeGateway/" + bareID(e.ID)}, nil)
}

func handleCreateEdge(c *reqCtx) {
	var in types.OpenAPIEdgeGateway
	if !c.readJSON(&in) {
		return
	}
	ips, o, err := c.checkEdge(&in, nil)
	if err != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "edge gateway: %v", err)
		return
	}
	e := &edge{}
	e.OpenAPIEdgeGateway = in
	e.ID = urn("gateway", newUUID())
	c.m.realizeEdge(e, o)
	setUplink(e, ips)
	c.m.edges = append(c.m.edges, e)
	c.accepted(edgeTask(c, e, "edgeGatewayCreate", "Creating"))
}

// realizeEdge fills what vCD sets: owner, org, status, backing, cluster.
func (m *model) realizeEdge(e *edge, o owner) {
	e.Status = "REALIZED"
	e.org, e.OwnerRef, e.OrgVdc = o.org, refPtr(o.ref), nil
	if o.vdc != nil {
		e.OrgVdc = refPtr(o.ref)
	}
	e.Org = &types.OpenApiReference{Name: o.org.name, ID: o.org.urn()}
	e.OrgVdcNetworkCount = nil
	if e.DistributedRoutingEnabled == nil {
		e.DistributedRoutingEnabled = addrOf(true)
	}
	if e.NonDistributedRoutingEnabled == nil {
		e.NonDistributedRoutingEnabled = addrOf(false)
	}
	e.GatewayBacking = &types.OpenAPIEdgeGatewayBacking{
		BackingID: nameUUID("tier1", e.ID), GatewayType: "NSXT_BACKED",
		NetworkProvider: types.NetworkProvider{Name: NsxtManagerName, ID: nsxtManagerRef().ID},
	}
	e.EdgeClusterConfig = &types.OpenAPIEdgeGatewayEdgeClusterConfig{PrimaryEdgeCluster: types.OpenAPIEdgeGatewayEdgeCluster{
		EdgeClusterRef: &types.OpenApiReference{Name: edgeClusterName, ID: edgeClusterID()}, BackingID: edgeClusterID(),
	}}
}

func handleUpdateEdge(c *reqCtx) {
	e := c.edgeFromPath()
	if e == nil {
		return
	}
	var in types.OpenAPIEdgeGateway
	if !c.readJSON(&in) {
		return
	}
	ips, o, err := c.checkEdge(&in, e)
	if err != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "edge gateway %s: %v", e.Name, err)
		return
	}
	if in.NonDistributedRoutingEnabled != nil && !*in.NonDistributedRoutingEnabled {
		for _, n := range c.m.networks {
			if n.Connection != nil && n.Connection.RouterRef.ID == e.ID && n.Connection.ConnectionTypeValue == "NON_DISTRIBUTED" {
				c.fail(http.StatusBadRequest, "BAD_REQUEST", "edge gateway %s: network %s is connected NON_DISTRIBUTED; non-distributed routing cannot be disabled", e.Name, n.Name)
				return
			}
		}
	}
	id, backing, cluster := e.ID, e.GatewayBacking, e.EdgeClusterConfig
	e.OpenAPIEdgeGateway = in
	e.ID = id
	c.m.realizeEdge(e, o)
	e.GatewayBacking, e.EdgeClusterConfig = backing, cluster
	setUplink(e, ips)
	c.accepted(edgeTask(c, e, "edgeGatewayUpdate", "Updating"))
}

func handleDeleteEdge(c *reqCtx) {
	e := c.edgeFromPath()
	if e == nil {
		return
	}
	for _, n := range c.m.networks {
		if n.Connection != nil && n.Connection.RouterRef.ID == e.ID {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "Edge gateway %s has org VDC network %s connected; delete or disconnect it first", e.Name, n.Name)
			return
		}
	}
	if len(e.tunnels) > 0 {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "Edge gateway %s has %d L2 VPN tunnel(s); delete them first", e.Name, len(e.tunnels))
		return
	}
	c.m.edges = slices.DeleteFunc(c.m.edges, func(x *edge) bool { return x == e })
	c.accepted(edgeTask(c, e, "edgeGatewayDelete", "Deleting"))
}

// checkRouter: a routed network and its edge gateway have the same owner
// (org VDC or VDC group); a NON_DISTRIBUTED connection needs an edge
// gateway with non-distributed routing enabled.
func (c *reqCtx) checkRouter(in *types.OpenApiOrgVdcNetwork) bool {
	for _, e := range c.m.edges {
		if e.ID == in.Connection.RouterRef.ID && e.OwnerRef != nil && in.OwnerRef != nil && e.OwnerRef.ID != in.OwnerRef.ID {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "connection.routerRef: edge gateway %s belongs to %s, the network to %s; a routed network must have the owner of its edge gateway", e.Name, e.OwnerRef.Name, in.OwnerRef.Name)
			return false
		}
	}
	if in.Connection.ConnectionTypeValue != "NON_DISTRIBUTED" {
		return true
	}
	for _, e := range c.m.edges {
		if e.ID == in.Connection.RouterRef.ID && (e.NonDistributedRoutingEnabled == nil || !*e.NonDistributedRoutingEnabled) {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "connection.connectionTypeValue NON_DISTRIBUTED: edge gateway %s does not have non-distributed routing enabled (nonDistributedRoutingEnabled)", e.Name)
			return false
		}
	}
	return true
}
