package vcdsim

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	vcdtypes "github.com/vmware/go-vcloud-director/v2/types/v56"
)

// NICNetwork is where Cloud Director has a NIC of a VM it manages.
type NICNetwork struct {
	Network   string // the org VDC network, or "none"
	Type      string // its networkType: NAT_ROUTED, ISOLATED, OPAQUE ("" for none)
	IP        string
	Connected bool
}

// NICNetworks lists, for every VM Cloud Director manages in the provider
// vCenter (by moref), its NICs' networks by MAC (lower case): the lab's
// network model reads which VMs sit on an isolated network.
func (s *Server) NICNetworks() map[string]map[string]NICNetwork {
	s.mu.Lock()
	defer s.mu.Unlock()
	netType := map[string]string{}
	for _, n := range s.m.networks {
		netType[n.Name] = n.NetworkType
	}
	out := map[string]map[string]NICNetwork{}
	for _, a := range s.m.vapps {
		for _, v := range a.vms {
			if v.moref == "" {
				continue
			}
			nics := map[string]NICNetwork{}
			for _, n := range v.nics {
				nics[strings.ToLower(n.MAC)] = NICNetwork{Network: n.Network, Type: netType[n.Network], IP: n.IP, Connected: n.Connected}
			}
			out[v.moref] = nics
		}
	}
	return out
}

// seedIsolated creates the configured isolated org VDC networks.
func (m *model) seedIsolated() error {
	names := make([]string, 0, len(m.cfg.IsolatedNetworks))
	for n := range m.cfg.IsolatedNetworks {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		p, err := netip.ParsePrefix(m.cfg.IsolatedNetworks[name])
		if err != nil {
			return fmt.Errorf("vcdsim: isolated network %s: %w", name, err)
		}
		ref := m.vdc.ref()
		n := &network{org: m.vdc.org, OpenApiOrgVdcNetwork: vcdtypes.OpenApiOrgVdcNetwork{
			ID: urn("network", nameUUID("network", name)), Name: name, NetworkType: "ISOLATED",
			OwnerRef: &ref, OrgVdc: &ref, Status: "REALIZED", OrgVdcIsNsxTBacked: true,
			Subnets: vcdtypes.OrgVdcNetworkSubnets{Values: []vcdtypes.OrgVdcNetworkSubnetValues{{Gateway: p.Addr().String(), PrefixLength: p.Bits()}}},
		}}
		n.BackingNetworkId = nameUUID("segment", n.ID)
		n.BackingNetworkType = "NSXT_FLEXIBLE_SEGMENT"
		m.networks = append(m.networks, n)
	}
	return nil
}
