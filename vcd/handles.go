package vcd

import (
	"fmt"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// Handles: what this package returns for Cloud Director objects, so that its
// callers work with ferry's types and not with go-vcloud-director's. The
// exported fields are a snapshot taken when the handle was returned; the
// unexported object is what this package's functions act on.

// Org is an organization, as this login sees it.
type Org struct {
	Name string
	ID   string
}

// VDC is an org VDC.
type VDC struct {
	Name string
	ID   string
	vdc  *govcd.Vdc
	// client is the session vdc was read with (go-vcloud-director keeps
	// its own to itself): the calls that follow their tasks with ferry's
	// polls rather than the library's use it.
	client *govcd.Client
}

func wrapVDC(c *govcd.Client, v *govcd.Vdc) *VDC {
	return &VDC{Name: v.Vdc.Name, ID: v.Vdc.ID, vdc: v, client: c}
}

// NetworkNames lists the VDC's org VDC networks.
func (v *VDC) NetworkNames() ([]string, error) {
	nets, err := v.vdc.GetAllOpenApiOrgVdcNetworks(nil)
	if err != nil {
		return nil, fmt.Errorf("networks of VDC %s: %w", v.Name, err)
	}
	names := make([]string, 0, len(nets))
	for _, n := range nets {
		names = append(names, n.OpenApiOrgVdcNetwork.Name)
	}
	return names, nil
}

// NetworkTypes are the networkType of each of the VDC's org VDC
// networks, by name.
func (v *VDC) NetworkTypes() (map[string]string, error) {
	nets, err := v.vdc.GetAllOpenApiOrgVdcNetworks(nil)
	if err != nil {
		return nil, fmt.Errorf("networks of VDC %s: %w", v.Name, err)
	}
	out := make(map[string]string, len(nets))
	for _, n := range nets {
		out[n.OpenApiOrgVdcNetwork.Name] = n.OpenApiOrgVdcNetwork.NetworkType
	}
	return out, nil
}

// NetworkType is the networkType of the VDC's org VDC network name
// (NAT_ROUTED, ISOLATED, OPAQUE, ...).
func (v *VDC) NetworkType(name string) (string, error) {
	n, err := v.vdc.GetOpenApiOrgVdcNetworkByName(name)
	if err != nil {
		return "", fmt.Errorf("org VDC network %s of VDC %s: %w", name, v.Name, err)
	}
	return n.OpenApiOrgVdcNetwork.NetworkType, nil
}

// StoragePolicy is a storage policy (storage profile) of an org VDC.
type StoragePolicy struct {
	Name string
	ID   string
	// Default: the VDC's default policy, the one an import naming none
	// gets (when the VDC has several).
	Default bool
	// Disabled: the provider disabled it; Cloud Director places no VM in it.
	Disabled bool
	// LimitMB is the VDC's storage limit in the policy (0: unlimited),
	// UsedMB what its VMs take of it (their disks' capacity).
	LimitMB, UsedMB int64
	href            string
}

func wrapStoragePolicy(r *types.Reference) *StoragePolicy {
	return &StoragePolicy{Name: r.Name, ID: r.ID, href: r.HREF}
}

// EdgeGateway is an NSX-T edge gateway of an org VDC.
type EdgeGateway struct {
	Name   string
	ID     string
	egw    *govcd.NsxtEdgeGateway
	client *govcd.Client // as VDC's
}

func wrapEdgeGateway(c *govcd.Client, g *govcd.NsxtEdgeGateway) *EdgeGateway {
	return &EdgeGateway{Name: g.EdgeGateway.Name, ID: g.EdgeGateway.ID, egw: g, client: c}
}

// Network is an org VDC network.
type Network struct {
	Name string
	ID   string
	net  *govcd.OpenApiOrgVdcNetwork
}

func wrapNetwork(n *govcd.OpenApiOrgVdcNetwork) *Network {
	return &Network{Name: n.OpenApiOrgVdcNetwork.Name, ID: n.OpenApiOrgVdcNetwork.ID, net: n}
}

// Tunnel is an L2 VPN tunnel (session) of an edge gateway.
type Tunnel struct {
	ID               string
	Name             string
	SessionMode      string // SERVER or CLIENT
	Enabled          bool
	LocalEndpointIP  string
	RemoteEndpointIP string
	// Stretched are the org VDC networks the tunnel stretches.
	Stretched []StretchedNetwork
	t         *govcd.NsxtL2VpnTunnel
	edge      *EdgeGateway // the edge gateway it was read from
}

// StretchedNetwork is a network a tunnel stretches and its tunnel id (the
// id the on-prem client's L2 extension must carry).
type StretchedNetwork struct {
	Name     string
	TunnelID int
}

func wrapTunnel(edge *EdgeGateway, t *govcd.NsxtL2VpnTunnel) *Tunnel {
	c := t.NsxtL2VpnTunnel
	h := &Tunnel{ID: c.ID, Name: c.Name, SessionMode: c.SessionMode, Enabled: c.Enabled,
		LocalEndpointIP: c.LocalEndpointIp, RemoteEndpointIP: c.RemoteEndpointIp, t: t, edge: edge}
	for _, s := range c.StretchedNetworks {
		h.Stretched = append(h.Stretched, StretchedNetwork{Name: s.NetworkRef.Name, TunnelID: s.TunnelID})
	}
	return h
}

// VApp is a vApp of an org VDC.
type VApp struct {
	vapp *govcd.VApp
}

// Name is the vApp's name.
func (a *VApp) Name() string { return a.vapp.VApp.Name }

// HREF is the vApp's API address.
func (a *VApp) HREF() string { return a.vapp.VApp.HREF }

// VMNames lists the vApp's VMs, as of its last read (Refresh).
func (a *VApp) VMNames() []string {
	var names []string
	if a.vapp.VApp.Children == nil {
		return nil
	}
	for _, vm := range a.vapp.VApp.Children.VM {
		names = append(names, vm.Name)
	}
	return names
}

// Refresh reads the vApp again.
func (a *VApp) Refresh() error { return a.vapp.Refresh() }

// VApp returns the VDC's vApp of that name (ErrNotFound when there is none).
func (v *VDC) VApp(name string) (*VApp, error) {
	a, err := v.vdc.GetVAppByName(name, true)
	if govcd.ContainsNotFound(err) {
		return nil, fmt.Errorf("vApp %q in VDC %s: %w", name, v.Name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("vApp %q in VDC %s: %w", name, v.Name, err)
	}
	return &VApp{vapp: a}, nil
}
