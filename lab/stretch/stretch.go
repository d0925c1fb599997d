// Package stretch is the lab's model of the L2 VPN between the Cloud Director
// edge gateway (L2VPN server, simulated by lab/vcdsim) and the on-prem
// autonomous edge (L2VPN client, simulated by lab/edgesim). Both simulators
// register their side here, and both read the status of the stretch from it,
// so the vCD tunnel status and the edge session status always agree.
//
// The stretch is UP only when a client session built from the server tunnel's
// peer code exists, both sides are enabled, and at least one network attached
// on the client carries a tunnel id that the server stretches.
package stretch

import (
	"fmt"
	"sort"
	"sync"
)

// ServerTunnel is the vCD (NSX-T edge gateway) side of an L2 VPN.
type ServerTunnel struct {
	ID        string // vCD tunnel id
	PeerCode  string // the peer code the server hands out
	Enabled   bool
	TunnelIDs []int // stretchedNetworks[].tunnelId
}

// ClientSession is the on-prem edge side of an L2 VPN.
type ClientSession struct {
	ID        string // edge session id
	PeerCode  string // the peer code the session was created from
	Enabled   bool
	TunnelIDs []int // tunnel ids of the attached on-prem networks (L2 extensions)
}

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

// AnyUp reports whether any stretch is UP (the lab uses it for reachability of
// VMs that run in the cloud).
func (f *Fabric) AnyUp() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.servers {
		for _, c := range f.clients {
			if c.PeerCode == t.PeerCode && f.pair(t, c).Up {
				return true
			}
		}
	}
	return false
}

func (f *Fabric) pair(t ServerTunnel, c ClientSession) Status {
	switch {
	case f.down != "":
		return Status{Reason: f.down}
	case !t.Enabled:
		return Status{Reason: "server tunnel is disabled"}
	case !c.Enabled:
		return Status{Reason: "client session is disabled"}
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
