package vcdsim

import (
	"time"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// netState holds the NSX-T networking state beyond networks and edge
// gateways: segment profile templates (segprofiles.go), the segment
// profiles and DHCP of each org VDC network (dhcp.go), the VDC's network
// profile (edgecluster.go) and the provider's external networks
// (extnet.go). Maps are keyed by the network's bare UUID.
type netState struct {
	templates []*types.NsxtSegmentProfileTemplate
	segments  map[string]*types.OrgVdcNetworkSegmentProfiles
	dhcp      map[string]*netDhcp
	profiles  map[string]*types.VdcNetworkProfile // by VDC id
	extnets   []*extNet
	groups    []*vdcGroup // vdcgroup.go
}

func (m *model) net() *netState {
	if m.ns == nil {
		m.ns = &netState{segments: map[string]*types.OrgVdcNetworkSegmentProfiles{}, dhcp: map[string]*netDhcp{}, profiles: map[string]*types.VdcNetworkProfile{}}
		m.ns.extnets = m.seedExternalNetworks()
	}
	return m.ns
}

// profileOf is the network profile of a VDC.
func (m *model) profileOf(v *vdc) *types.VdcNetworkProfile {
	p := m.net().profiles[v.id]
	if p == nil {
		p = &types.VdcNetworkProfile{}
		m.net().profiles[v.id] = p
	}
	return p
}

// forgetNetwork drops what belonged to a deleted network.
func (m *model) forgetNetwork(id string) {
	delete(m.net().segments, bareID(id))
	delete(m.net().dhcp, bareID(id))
}

func nowStamp() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }
