package vcd

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// ParseGatewayCIDR checks a gateway/prefix such as 172.16.10.1/24: the
// gateway must be a usable host address of an IPv4 network.
func ParseGatewayCIDR(s string) (gateway netip.Addr, prefix int, err error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("gateway CIDR %q is not valid: want the gateway address and prefix length, e.g. 172.16.10.1/24", s)
	}
	gw, bits := p.Addr(), p.Bits()
	if !gw.Is4() {
		return netip.Addr{}, 0, fmt.Errorf("gateway CIDR %q: only IPv4 networks are supported", s)
	}
	if bits < 8 || bits > 30 {
		return netip.Addr{}, 0, fmt.Errorf("gateway CIDR %q: prefix length %d must be between 8 and 30", s, bits)
	}
	network := p.Masked().Addr()
	if gw == network {
		return netip.Addr{}, 0, fmt.Errorf("gateway CIDR %q: %s is the network address, not a usable gateway (e.g. %s/%d)", s, gw, network.Next(), bits)
	}
	if gw == broadcast(p) {
		return netip.Addr{}, 0, fmt.Errorf("gateway CIDR %q: %s is the broadcast address, not a usable gateway", s, gw)
	}
	return gw, bits, nil
}

func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// NetworkSpec is a routed org VDC network on an NSX-T edge gateway.
type NetworkSpec struct {
	Name        string
	GatewayCIDR string // e.g. 172.16.10.1/24
	Description string
}

// ErrConflict reports a name already used by something different.
var ErrConflict = errors.New("already exists with a different configuration")

// FindNetwork returns the existing network of spec's name, nil if there is
// none, or an error if the name is used by a network that is not the one
// spec describes (another gateway, prefix, type or edge).
func FindNetwork(vdcH *VDC, egwH *EdgeGateway, spec NetworkSpec) (*Network, error) {
	vdc := vdcH.vdc
	egw := egwH.egw
	gw, bits, err := ParseGatewayCIDR(spec.GatewayCIDR)
	if err != nil {
		return nil, err
	}
	net, err := vdc.GetOpenApiOrgVdcNetworkByName(spec.Name)
	if err != nil {
		if govcd.ContainsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("look up network %q: %w", spec.Name, err)
	}
	n := net.OpenApiOrgVdcNetwork
	var have string
	if len(n.Subnets.Values) > 0 {
		have = fmt.Sprintf("%s/%d", n.Subnets.Values[0].Gateway, n.Subnets.Values[0].PrefixLength)
	}
	sameGW := have == fmt.Sprintf("%s/%d", gw, bits)
	sameEdge := n.Connection != nil && n.Connection.RouterRef.ID == egw.EdgeGateway.ID
	if !sameGW || !sameEdge || n.NetworkType != "NAT_ROUTED" {
		edge := "no edge gateway"
		if n.Connection != nil {
			edge = "edge " + n.Connection.RouterRef.Name
		}
		return nil, fmt.Errorf("network %q %w: it is %s %s on %s, the plan wants NAT_ROUTED %s on edge %s; choose another name or fix the plan",
			spec.Name, ErrConflict, n.NetworkType, have, edge, spec.GatewayCIDR, egw.EdgeGateway.Name)
	}
	return wrapNetwork(net), nil
}

// CreateRoutedNetwork creates spec as a NAT_ROUTED network on egw, and
// waits for Cloud Director's task with ferry's polls (followTask):
// go-vcloud-director's CreateOpenApiOrgVdcNetwork would poll it every 3 s.
func CreateRoutedNetwork(vdcH *VDC, egwH *EdgeGateway, spec NetworkSpec) (*Network, error) {
	vdc := vdcH.vdc
	egw := egwH.egw
	gw, bits, err := ParseGatewayCIDR(spec.GatewayCIDR)
	if err != nil {
		return nil, err
	}
	// The same POST as the library's: Cloud Director answers 202, its
	// Location the task, whose owner is the new network.
	client := vdcH.client
	u, err := client.OpenApiBuildEndpoint(types.OpenApiPathVersion1_0_0 + types.OpenApiEndpointOrgVdcNetworks)
	if err != nil {
		return nil, err
	}
	task, err := client.OpenApiPostItemAsync(client.APIVersion, u, nil, &types.OpenApiOrgVdcNetwork{
		Name:        spec.Name,
		Description: spec.Description,
		OwnerRef:    &types.OpenApiReference{ID: vdc.Vdc.ID},
		NetworkType: "NAT_ROUTED",
		Connection: &types.Connection{
			RouterRef:           types.OpenApiReference{ID: egw.EdgeGateway.ID},
			ConnectionTypeValue: "INTERNAL",
		},
		Subnets: types.OrgVdcNetworkSubnets{Values: []types.OrgVdcNetworkSubnetValues{{
			Gateway:      gw.String(),
			PrefixLength: bits,
		}}},
	})
	if err == nil {
		err = followTask(&task, taskPollGrace) // task.Task: as it ended
	}
	if err != nil {
		return nil, fmt.Errorf("create network %q: %w", spec.Name, err)
	}
	if task.Task.Owner == nil || task.Task.Owner.ID == "" {
		return nil, fmt.Errorf("create network %q: Cloud Director's task %s names no network", spec.Name, task.Task.HREF)
	}
	net, err := vdc.GetOpenApiOrgVdcNetworkById(task.Task.Owner.ID)
	if err != nil {
		return nil, fmt.Errorf("read network %q after creating it: %w", spec.Name, err)
	}
	return wrapNetwork(net), nil
}
