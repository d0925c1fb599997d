package vcdsim

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// The provider's NSX-T external networks (/cloudapi/1.0.0/externalNetworks,
// provider only) and the NSX-T tier-0 gateways that back them
// (nsxTResources/importableTier0Routers). The lab's NSX-T has a tier-0
// gateway "tier-0-router", which backs the external network
// "provider-external" (the edge gateway's uplink, Config.UplinkCIDR), and a
// VRF of it, "tier-0-router-vrf", not yet imported. As in vCD, a tier-0
// gateway or VRF backs at most one external network, an external network's
// IP ranges lie in its subnets, and it cannot be deleted while an edge
// gateway uses it.

// extNet is an external network.
type extNet struct {
	types.ExternalNetworkV2
}

// tier0 is an NSX-T tier-0 gateway or VRF of the lab's NSX-T manager.
type tier0 struct {
	id, name, typ string // typ: NSXT_TIER0 or NSXT_VRF_TIER0
}

var labTier0s = []tier0{
	{id: nameUUID("tier0", "tier-0-router"), name: "tier-0-router", typ: "NSXT_TIER0"},
	{id: nameUUID("tier0", "tier-0-router-vrf"), name: "tier-0-router-vrf", typ: "NSXT_VRF_TIER0"},
}

// uplinkNetworkID is the id of the external network of the lab's edge.
func uplinkNetworkID() string { return urn("network", nameUUID("external", "provider-external")) }

func (m *model) seedExternalNetworks() []*extNet {
	p, err := netip.ParsePrefix(m.cfg.UplinkCIDR)
	if err != nil { // New checked it already (seedEdge)
		return nil
	}
	gw, _ := nthAddr(p, 1)
	first, _ := nthAddr(p, 2)
	e := &extNet{types.ExternalNetworkV2{
		ID: uplinkNetworkID(), Name: "provider-external", Description: "NSX-T external network of the lab (uplink of its edge gateways)",
		Subnets: types.ExternalNetworkV2Subnets{Values: []types.ExternalNetworkV2Subnet{{
			Gateway: gw.String(), PrefixLength: p.Bits(), Enabled: true,
			IPRanges: types.ExternalNetworkV2IPRanges{Values: []types.ExternalNetworkV2IPRange{{StartAddress: first.String(), EndAddress: lastAddr(p).String()}}},
		}}},
		NetworkBackings: types.ExternalNetworkV2Backings{Values: []types.ExternalNetworkV2Backing{labTier0s[0].backing()}},
	}}
	return []*extNet{e}
}

func (t tier0) backing() types.ExternalNetworkV2Backing {
	return types.ExternalNetworkV2Backing{BackingID: t.id, Name: t.name, BackingType: t.typ, BackingTypeValue: t.typ,
		NetworkProvider: types.NetworkProvider{Name: NsxtManagerName, ID: nsxtManagerRef().ID}}
}

// lastAddr is the last usable address of a prefix (before the broadcast
// address of an IPv4 subnet).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	host := len(b)*8 - p.Bits()
	for i := len(b) - 1; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	a, _ := netip.AddrFromSlice(b)
	if a.Is4() && p.Bits() < 31 {
		a = a.Prev()
	}
	return a
}

func (s *Server) extnetRoutes(coll, item func(method, path string, h handlerFunc, opts ...routeOpt)) {
	coll("GET", "externalNetworks", handleExternalNetworks, provider)
	coll("POST", "externalNetworks", handleCreateExternalNetwork, provider)
	item("GET", "externalNetworks/{id}", handleExternalNetwork, provider)
	item("DELETE", "externalNetworks/{id}", handleDeleteExternalNetwork, provider)
	coll("GET", "nsxTResources/importableTier0Routers", handleImportableTier0s, provider)
	coll("POST", "edgeGateways", handleCreateEdge, provider)
	item("PUT", "edgeGateways/{edge}", handleUpdateEdge, provider)
	item("DELETE", "edgeGateways/{edge}", handleDeleteEdge, provider)
}

// usedIPs are the addresses of an external network allocated to edges.
func (m *model) extUsedIPs(id string, except *edge) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, e := range m.edges {
		if e == except || len(e.EdgeGatewayUplinks) == 0 || e.EdgeGatewayUplinks[0].UplinkID != id {
			continue
		}
		for _, ip := range e.uplinkIPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				out[a] = e.Name
			}
		}
	}
	return out
}

func (m *model) extView(e *extNet) *types.ExternalNetworkV2 {
	v := e.ExternalNetworkV2
	v.Subnets.Values = append([]types.ExternalNetworkV2Subnet(nil), v.Subnets.Values...)
	used := m.extUsedIPs(e.ID, nil)
	total, usedN := 0, 0
	for i, s := range v.Subnets.Values {
		p := subnetPrefix(s.Gateway, s.PrefixLength)
		st, su := 0, 0
		for _, r := range s.IPRanges.Values {
			a, _ := netip.ParseAddr(r.StartAddress)
			b, _ := netip.ParseAddr(r.EndAddress)
			for x := a; x.IsValid() && x.Compare(b) <= 0; x = x.Next() {
				st++
				if _, ok := used[x]; ok && p.Contains(x) {
					su++
				}
			}
		}
		v.Subnets.Values[i].TotalIPCount, v.Subnets.Values[i].UsedIPCount = st, su
		total, usedN = total+st, usedN+su
	}
	v.TotalIpCount, v.UsedIpCount = &total, &usedN
	return &v
}

func subnetPrefix(gw string, bits int) netip.Prefix {
	a, err := netip.ParseAddr(gw)
	if err != nil {
		return netip.Prefix{}
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

func (m *model) extByID(id string) *extNet {
	for _, e := range m.net().extnets {
		if bareID(e.ID) == bareID(id) {
			return e
		}
	}
	return nil
}

func handleExternalNetworks(c *reqCtx) {
	var items []any
	for _, e := range c.m.net().extnets {
		items = append(items, c.m.extView(e))
	}
	c.writePage(items, jsonField)
}

func (c *reqCtx) extFromPath() *extNet {
	if e := c.m.extByID(c.r.PathValue("id")); e != nil {
		return e
	}
	c.notFound("externalNetwork", c.r.PathValue("id"))
	return nil
}

func handleExternalNetwork(c *reqCtx) {
	if e := c.extFromPath(); e != nil {
		c.json(http.StatusOK, c.m.extView(e))
	}
}

func (c *reqCtx) validateExternalNetwork(in *types.ExternalNetworkV2) error {
	if strings.TrimSpace(in.Name) == "" {
		return fmt.Errorf("name: must not be empty")
	}
	for _, e := range c.m.net().extnets {
		if e.Name == in.Name {
			return fmt.Errorf("an external network named %q already exists", in.Name)
		}
	}
	if len(in.NetworkBackings.Values) != 1 {
		return fmt.Errorf("networkBackings: exactly one backing (an NSX-T tier-0 gateway or VRF) is required")
	}
	b := in.NetworkBackings.Values[0]
	var t0 *tier0
	for i := range labTier0s {
		if labTier0s[i].id == b.BackingID {
			t0 = &labTier0s[i]
		}
	}
	if t0 == nil {
		return fmt.Errorf("networkBackings: %q is not a tier-0 gateway or VRF of NSX-T manager %s (see nsxTResources/importableTier0Routers)", b.BackingID, NsxtManagerName)
	}
	if bt := b.BackingTypeValue + b.BackingType; bt != "" && b.BackingTypeValue != t0.typ && b.BackingType != t0.typ {
		return fmt.Errorf("networkBackings: %s is a %s, not a %s", t0.name, t0.typ, bt)
	}
	if b.NetworkProvider.ID != "" && bareID(b.NetworkProvider.ID) != nsxtManagerID() {
		return fmt.Errorf("networkBackings.networkProvider: %q is not an NSX-T manager of this Cloud Director", b.NetworkProvider.ID)
	}
	for _, e := range c.m.net().extnets {
		if e.NetworkBackings.Values[0].BackingID == t0.id {
			return fmt.Errorf("tier-0 gateway %s already backs external network %s", t0.name, e.Name)
		}
	}
	in.NetworkBackings.Values[0] = t0.backing()
	if len(in.Subnets.Values) == 0 {
		return fmt.Errorf("subnets: at least one subnet is required")
	}
	for i, s := range in.Subnets.Values {
		p := subnetPrefix(s.Gateway, s.PrefixLength)
		if !p.IsValid() || s.PrefixLength <= 0 {
			return fmt.Errorf("subnets[%d]: %s/%d is not a valid gateway/prefix", i, s.Gateway, s.PrefixLength)
		}
		for _, r := range s.IPRanges.Values {
			a, err1 := netip.ParseAddr(r.StartAddress)
			z, err2 := netip.ParseAddr(r.EndAddress)
			if err1 != nil || err2 != nil || !p.Contains(a) || !p.Contains(z) || z.Less(a) {
				return fmt.Errorf("subnets[%d]: IP range %s-%s is not a range inside %s", i, r.StartAddress, r.EndAddress, p.Masked())
			}
		}
		in.Subnets.Values[i].UsedIPCount, in.Subnets.Values[i].TotalIPCount = 0, 0
	}
	return nil
}

func handleCreateExternalNetwork(c *reqCtx) {
	var in types.ExternalNetworkV2
	if !c.readJSON(&in) {
		return
	}
	if err := c.validateExternalNetwork(&in); err != nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "external network: %v", err)
		return
	}
	in.ID = urn("network", newUUID())
	in.TotalIpCount, in.UsedIpCount = nil, nil
	c.m.net().extnets = append(c.m.net().extnets, &extNet{in})
	c.accepted(c.m.newTask(c, "externalNetworkCreate", "Creating external network "+in.Name,
		types.Reference{ID: in.ID, Name: in.Name, Type: "application/vnd.vmware.admin.vmwexternalnet+xml"}, nil))
}

func handleDeleteExternalNetwork(c *reqCtx) {
	e := c.extFromPath()
	if e == nil {
		return
	}
	for _, g := range c.m.edges {
		if len(g.EdgeGatewayUplinks) > 0 && g.EdgeGatewayUplinks[0].UplinkID == e.ID {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "External network %s is used by edge gateway %s", e.Name, g.Name)
			return
		}
	}
	c.m.net().extnets = slices.DeleteFunc(c.m.net().extnets, func(x *extNet) bool { return x == e })
	c.accepted(c.m.newTask(c, "externalNetworkDelete", "Deleting external network "+e.Name,
		types.Reference{ID: e.ID, Name: e.Name, Type: "application/vnd.vmware.admin.vmwexternalnet+xml"}, nil))
}

// handleImportableTier0s lists the tier-0 gateways and VRFs no external
// network uses yet; the filter _context==<NSX-T manager id> is required.
func handleImportableTier0s(c *reqCtx) {
	ctx := parseQueryFilter(c.r.URL.Query().Get("filter"))["_context"]
	if ctx == "" {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "importableTier0Routers: the filter _context==<NSX-T manager id> is required")
		return
	}
	if bareID(ctx) != nsxtManagerID() {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "_context: NSX-T manager %q does not exist", ctx)
		return
	}
	var items []any
next:
	for _, t := range labTier0s {
		for _, e := range c.m.net().extnets {
			if e.NetworkBackings.Values[0].BackingID == t.id {
				continue next
			}
		}
		items = append(items, &types.NsxtTier0Router{ID: t.id, DisplayName: t.name, Description: "NSX-T " + t.typ})
	}
	c.writePage(items, func(item any, field string) (string, bool) {
		if field == "_context" {
			return "", false
		}
		return jsonField(item, field)
	})
}
