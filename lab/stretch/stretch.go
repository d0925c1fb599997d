// Package stretch is the lab's model of the L2 VPN between the Cloud Director
// edge gateway (L2VPN server, simulated by lab/vcdsim) and the on-prem
// autonomous edge (L2VPN client, simulated by lab/edgesim). Both simulators
// register their side here, and both read the status of the stretch from it,
// so the vCD tunnel status and the edge session status always agree.
//
// The stretch is UP only when a client session built from the server tunnel's
// peer code exists, both sides are enabled, and at least one network attached
// on the client carries a tunnel id that the server stretches.
//
// UP is what both ends report; whether frames of an on-prem network really
// cross is a second question, answered by the on-prem wiring (Wire): the
// client's port for that network must carry the port group's VLAN (frames of
// a VLAN-backed port group arrive tagged on the trunk sink), and the sink
// port group must deliver frames for other MACs to the appliance (promiscuous
// mode + forged transmits, or MAC learning) and trunk that VLAN.
package stretch

import (
	"fmt"
	"slices"
	"sort"
	"sync"
)

// ServerTunnel is the vCD (NSX-T edge gateway) side of an L2 VPN.
type ServerTunnel struct {
	ID        string // vCD tunnel id
	PeerCode  string // the peer code the server hands out
	Enabled   bool
	TunnelIDs []int // stretchedNetworks[].tunnelId
	// Networks names the org VDC network the server stretches on each
	// tunnel id (nil: not said, any network).
	Networks map[int]string
	// LocalEndpointIP is the edge gateway's address the server listens
	// on; RemoteEndpointIP the only address it accepts the client from
	// (its IKE peer). Empty: not checked.
	LocalEndpointIP, RemoteEndpointIP string
}

// ClientSession is the on-prem edge side of an L2 VPN.
type ClientSession struct {
	ID        string // edge session id
	PeerCode  string // the peer code the session was created from
	Enabled   bool
	TunnelIDs []int // tunnel ids of the attached on-prem networks (L2 extensions)
	// Ports are the attached on-prem networks with their VLAN; a session
	// given without ports (a test's bare client) carries every tunnel it
	// matches without a wiring check.
	Ports []Port
	// PeerAddress is the server address the client connects to,
	// LocalAddress the address it connects from (the lab has no NAT
	// between the sites: the server sees that one). Empty: not checked.
	PeerAddress, LocalAddress string
}

// Port is an on-prem network stretched over a client session.
type Port struct {
	Network  string // the on-prem port group
	VLAN     int    // the VLAN id the client's port carries (0: untagged)
	TunnelID int
}

// Wire checks the on-prem side of a port: nil when frames of the port's
// network reach the client appliance with the VLAN the port expects.
type Wire func(p Port) error

// Status is the computed state of one stretch.
type Status struct {
	Up     bool
	Reason string // why it is DOWN; empty when UP
	// Matched lists the tunnel ids present on both sides.
	Matched []int
}

// Fabric holds both sides. The zero value is not usable: use New.
type Fabric struct {
	mu      sync.Mutex
	servers map[string]ServerTunnel  // by ID
	clients map[string]ClientSession // by ID
	// Down forces every stretch DOWN with this reason (fault injection / demos).
	down string
	wire Wire
}

// SetWire installs the on-prem wiring check (nil: every port carries).
func (f *Fabric) SetWire(w Wire) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wire = w
}

// New returns an empty fabric.
func New() *Fabric {
	return &Fabric{servers: map[string]ServerTunnel{}, clients: map[string]ClientSession{}}
}

// PutServer adds or replaces a server tunnel.
func (f *Fabric) PutServer(t ServerTunnel) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.servers[t.ID] = t
}

// DeleteServer removes a server tunnel.
func (f *Fabric) DeleteServer(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.servers, id)
}

// PutClient adds or replaces a client session.
func (f *Fabric) PutClient(s ClientSession) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clients[s.ID] = s
}

// DeleteClient removes a client session.
func (f *Fabric) DeleteClient(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.clients, id)
}

// ServerByPeerCode finds the server tunnel that issued peerCode.
func (f *Fabric) ServerByPeerCode(peerCode string) (ServerTunnel, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.servers {
		if t.PeerCode == peerCode {
			return t, true
		}
	}
	return ServerTunnel{}, false
}

// SetDown forces all stretches DOWN with reason (empty clears it).
func (f *Fabric) SetDown(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = reason
}

// ServerStatus is the status of a server tunnel as vCD reports it.
func (f *Fabric) ServerStatus(serverID string) Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.servers[serverID]
	if !ok {
		return Status{Reason: fmt.Sprintf("tunnel %s does not exist", serverID)}
	}
	if !t.Enabled {
		return Status{Reason: "tunnel is disabled on the edge gateway"}
	}
	var best Status
	best.Reason = "no L2VPN client session has been created from this tunnel's peer code"
	for _, c := range sortedClients(f.clients) {
		if c.PeerCode != t.PeerCode {
			continue
		}
		st := f.pair(t, c)
		if st.Up {
			return st
		}
		best = st
	}
	return best
}

// ClientStatus is the status of a client session as the edge reports it.
func (f *Fabric) ClientStatus(sessionID string) Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.clients[sessionID]
	if !ok {
		return Status{Reason: fmt.Sprintf("session %s does not exist", sessionID)}
	}
	for _, t := range f.servers {
		if t.PeerCode == c.PeerCode {
			return f.pair(t, c)
		}
	}
	return Status{Reason: "peer unreachable: no L2VPN server answers for this peer code"}
}

// Reaches says whether a VM on the on-prem network, running in the cloud,
// is reachable over the stretch (the lab's reachability of migrated VMs): an
// UP session carries that network's frames (Carries). A session given
// without ports (a test's bare client) carries every network.
func (f *Fabric) Reaches(network string) bool {
	f.mu.Lock()
	bare := false
	for _, t := range f.servers {
		for _, c := range f.clients {
			if c.PeerCode == t.PeerCode && len(c.Ports) == 0 && f.pair(t, c).Up {
				bare = true
			}
		}
	}
	f.mu.Unlock()
	return bare || f.Carries(network) == nil
}

// ReachesTo is Reaches for a VM running in the cloud on the org VDC
// network cloud: the server must stretch the on-prem network's tunnel id
// to that network (frames of an on-prem network cross to the network the
// server maps its tunnel id to, not to any other). "" for cloud: any.
func (f *Fabric) ReachesTo(network, cloud string) bool {
	f.mu.Lock()
	bare := false
	for _, t := range f.servers {
		for _, c := range f.clients {
			if c.PeerCode == t.PeerCode && len(c.Ports) == 0 && f.pair(t, c).Up {
				bare = true
			}
		}
	}
	f.mu.Unlock()
	return bare || f.carries(network, cloud) == nil
}

// Carries says whether frames of the on-prem network cross the stretch: an
// UP session stretches it on a tunnel id the server stretches, and the
// on-prem wiring delivers them (Wire). The error says why not.
func (f *Fabric) Carries(network string) error { return f.carries(network, "") }

// carries is Carries to the org VDC network cloud ("": any).
func (f *Fabric) carries(network, cloud string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	why := fmt.Errorf("no L2VPN client session stretches network %q", network)
	for _, c := range sortedClients(f.clients) {
		for _, p := range c.Ports {
			if p.Network != network {
				continue
			}
			var st Status
			var server ServerTunnel
			found := false
			for _, t := range f.servers {
				if t.PeerCode == c.PeerCode {
					st, server, found = f.pair(t, c), t, true
				}
			}
			to, mapped := server.Networks[p.TunnelID]
			switch {
			case !found:
				why = fmt.Errorf("session %s: peer unreachable", c.ID)
			case !st.Up:
				why = fmt.Errorf("session %s is DOWN: %s", c.ID, st.Reason)
			case !slices.Contains(st.Matched, p.TunnelID):
				why = fmt.Errorf("tunnel id %d of network %q is not stretched by the server", p.TunnelID, network)
			case cloud != "" && mapped && to != cloud:
				why = fmt.Errorf("tunnel id %d of network %q is stretched to org VDC network %q, not %q", p.TunnelID, network, to, cloud)
			default:
				if err := f.check(p); err != nil {
					why = err
					continue
				}
				return nil
			}
		}
	}
	return why
}

func (f *Fabric) check(p Port) error {
	if f.wire == nil {
		return nil
	}
	return f.wire(p)
}

func (f *Fabric) pair(t ServerTunnel, c ClientSession) Status {
	switch {
	case f.down != "":
		return Status{Reason: f.down}
	case !t.Enabled:
		return Status{Reason: "server tunnel is disabled"}
	case !c.Enabled:
		return Status{Reason: "client session is disabled"}
	// IPsec as NSX sets it up: the client's IKE packets go to its peer
	// address, and the server answers only its remote endpoint.
	case c.PeerAddress != "" && t.LocalEndpointIP != "" && c.PeerAddress != t.LocalEndpointIP:
		return Status{Reason: fmt.Sprintf("IKE: no answer from peer %s: the client connects to %s, the server listens on %s (its local endpoint)", c.PeerAddress, c.PeerAddress, t.LocalEndpointIP)}
	case c.LocalAddress != "" && t.RemoteEndpointIP != "" && c.LocalAddress != t.RemoteEndpointIP:
		return Status{Reason: fmt.Sprintf("IKE: the server accepts its peer from %s (its remote endpoint), the client connects from %s", t.RemoteEndpointIP, c.LocalAddress)}
	}
	var matched []int
	for _, a := range c.TunnelIDs {
		for _, b := range t.TunnelIDs {
			if a == b {
				matched = append(matched, a)
			}
		}
	}
	if len(matched) == 0 {
		return Status{Reason: fmt.Sprintf("tunnel id mismatch: client has %v, server stretches %v", c.TunnelIDs, t.TunnelIDs)}
	}
	return Status{Up: true, Matched: matched}
}

func sortedClients(m map[string]ClientSession) []ClientSession {
	out := make([]ClientSession, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
