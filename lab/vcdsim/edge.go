package vcdsim

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// edge is an NSX-T backed edge gateway of the org VDC.
type edge struct {
	types.OpenAPIEdgeGateway
	org       *org
	uplinkIPs []string // allocated on the uplink; the first is primary
	tunnels   []*tunnel
}

func (m *model) seedEdge() error {
	p, err := netip.ParsePrefix(m.cfg.UplinkCIDR)
	if err != nil {
		return fmt.Errorf("vcdsim: uplink CIDR %q: %w", m.cfg.UplinkCIDR, err)
	}
	gw, err := nthAddr(p, 1)
	if err != nil {
		return fmt.Errorf("vcdsim: uplink gateway: %w", err)
	}
	ips := slices.Clone(m.cfg.UplinkIPs)
	if len(ips) == 0 {
		for i := 10; i < 15; i++ {
			a, err := nthAddr(p, i)
			if err != nil {
				return fmt.Errorf("vcdsim: uplink addresses: %w", err)
			}
			ips = append(ips, a.String())
		}
	}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil || !p.Contains(a) {
			return fmt.Errorf("vcdsim: uplink IP %q is not an address in %s", ip, p)
		}
	}
	total := len(ips)
	yes := true
	e := &edge{org: m.tenant, uplinkIPs: ips}
	e.OpenAPIEdgeGateway = types.OpenAPIEdgeGateway{
		Status:      "REALIZED",
		ID:          urn("gateway", nameUUID("edge", m.cfg.TenantOrg, m.cfg.EdgeGateway)),
		Name:        m.cfg.EdgeGateway,
		Description: "NSX-T edge gateway of " + m.cfg.VDC,
		OwnerRef:    refPtr(m.vdc.ref()),
		OrgVdc:      refPtr(m.vdc.ref()),
		Org:         &types.OpenApiReference{Name: m.tenant.name, ID: m.tenant.urn()},
		EdgeGatewayUplinks: []types.EdgeGatewayUplinks{{
			UplinkID:   uplinkNetworkID(),
			UplinkName: "provider-external",
			Subnets: types.OpenAPIEdgeGatewaySubnets{Values: []types.OpenAPIEdgeGatewaySubnetValue{{
				Gateway:      gw.String(),
				PrefixLength: p.Bits(),
				Enabled:      true,
				IPRanges: &types.OpenApiIPRanges{Values: []types.OpenApiIPRangeValues{{
					StartAddress: ips[0], EndAddress: ips[len(ips)-1],
				}}},
				TotalIPCount: &total,
				UsedIPCount:  1,
				PrimaryIP:    ips[0],
			}}},
			Connected: true,
		}},
		DistributedRoutingEnabled: &yes,
		GatewayBacking: &types.OpenAPIEdgeGatewayBacking{
			BackingID:       nameUUID("tier1", m.cfg.EdgeGateway),
			GatewayType:     "NSXT_BACKED",
			NetworkProvider: types.NetworkProvider{Name: NsxtManagerName, ID: nsxtManagerRef().ID},
		},
		EdgeClusterConfig: &types.OpenAPIEdgeGatewayEdgeClusterConfig{PrimaryEdgeCluster: types.OpenAPIEdgeGatewayEdgeCluster{
			EdgeClusterRef: &types.OpenApiReference{Name: edgeClusterName, ID: edgeClusterID()},
			BackingID:      edgeClusterID(),
		}},
	}
	m.edges = append(m.edges, e)
	return nil
}

func refPtr(r types.OpenApiReference) *types.OpenApiReference { return &r }

func (e *edge) view(m *model) *types.OpenAPIEdgeGateway {
	v := e.OpenAPIEdgeGateway
	n := 0
	for _, net := range m.networks {
		if net.Connection != nil && net.Connection.RouterRef.ID == e.ID {
			n++
		}
	}
	v.OrgVdcNetworkCount = &n
	return &v
}

func (c *reqCtx) visibleEdges() []*edge {
	var out []*edge
	for _, e := range c.m.edges {
		if c.canSeeOrg(e.org) && (!c.sess.provider || c.contextOrg() == c.m.system || c.contextOrg() == e.org) {
			out = append(out, e)
		}
	}
	return out
}

func (c *reqCtx) edgeFromPath() *edge {
	for _, e := range c.visibleEdges() {
		if bareID(e.ID) == bareID(c.r.PathValue("edge")) {
			return e
		}
	}
	c.notFound("edgeGateway", c.r.PathValue("edge"))
	return nil
}

func handleEdges(c *reqCtx) {
	var items []any
	for _, e := range c.visibleEdges() {
		items = append(items, e.view(c.m))
	}
	c.writePage(items, jsonField)
}

func handleEdge(c *reqCtx) {
	if e := c.edgeFromPath(); e != nil {
		c.json(http.StatusOK, e.view(c.m))
	}
}

// usedIPs are the uplink addresses in use: the primary IP and the local
// endpoints of L2 VPN tunnels.
func (e *edge) usedIPs() []types.GatewayUsedIpAddress {
	up := e.EdgeGatewayUplinks[0]
	ref := types.OpenApiReference{Name: up.UplinkName, ID: up.UplinkID}
	out := []types.GatewayUsedIpAddress{{Category: "PRIMARY_IP", IPAddress: e.uplinkIPs[0], NetworkRef: ref}}
	for _, t := range e.tunnels {
		if t.LocalEndpointIp != e.uplinkIPs[0] {
			out = append(out, types.GatewayUsedIpAddress{Category: "L2_VPN", IPAddress: t.LocalEndpointIp, NetworkRef: ref})
		}
	}
	return out
}

func handleUsedIPs(c *reqCtx) {
	e := c.edgeFromPath()
	if e == nil {
		return
	}
	var items []any
	for _, u := range e.usedIPs() {
		items = append(items, u)
	}
	c.writePage(items, jsonField)
}
