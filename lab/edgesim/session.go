package edgesim

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/lab/stretch"
)

// TransportTunnel is one transport tunnel of a client session, as given to
// create_with_peer_code.
type TransportTunnel struct {
	PeerCode     string `json:"peer_code,omitempty"`
	PeerAddress  string `json:"peer_address,omitempty"`
	LocalAddress string `json:"local_address,omitempty"`
}

// L2VPNSession is the L2VPN client session resource.
type L2VPNSession struct {
	ResourceType     string            `json:"resource_type"`
	ID               string            `json:"id"`
	DisplayName      string            `json:"display_name"`
	Description      string            `json:"description,omitempty"`
	Enabled          bool              `json:"enabled"`
	TransportTunnels []TransportTunnel `json:"transport_tunnels"`
	Revision         int64             `json:"_revision"`
	CreateTime       int64             `json:"_create_time"`
	CreateUser       string            `json:"_create_user"`
	LastModifiedTime int64             `json:"_last_modified_time"`
	LastModifiedUser string            `json:"_last_modified_user"`
}

type session struct {
	L2VPNSession
	seq          int64
	tunnelPortID string
	traffic      trafficCounter
	lastUp       time.Time // last time the counters were advanced while UP
}

type sessionRequest struct {
	DisplayName      *string           `json:"display_name"`
	Description      *string           `json:"description"`
	Enabled          *bool             `json:"enabled"`
	TransportTunnels []TransportTunnel `json:"transport_tunnels"`
	Revision         *int64            `json:"_revision"`
}

// Sessions returns a copy of the edge's sessions in creation order.
func (s *Server) Sessions() []L2VPNSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []L2VPNSession
	for _, se := range s.sortedSessions() {
		out = append(out, se.view())
	}
	return out
}

func (se *session) view() L2VPNSession {
	v := se.L2VPNSession
	v.TransportTunnels = slices.Clone(v.TransportTunnels)
	return v
}

func (s *Server) sortedSessions() []*session {
	out := make([]*session, 0, len(s.sessions))
	for _, se := range s.sessions {
		out = append(out, se)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	if a := r.URL.Query().Get("action"); a != "create_with_peer_code" {
		writeError(w, http.StatusBadRequest, codeBadRequest,
			fmt.Sprintf("action %q is not supported: the L2VPN service is in client mode, create sessions with ?action=create_with_peer_code", a))
		return
	}
	var req sessionRequest
	if !decodeBody(w, r, &req) {
		return
	}
	name := ""
	if req.DisplayName != nil {
		name = strings.TrimSpace(*req.DisplayName)
	}
	if name == "" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "display_name is required")
		return
	}
	if len(req.TransportTunnels) != 1 {
		writeError(w, http.StatusBadRequest, codeBadRequest,
			fmt.Sprintf("transport_tunnels must hold exactly one tunnel, got %d", len(req.TransportTunnels)))
		return
	}
	tt := req.TransportTunnels[0]
	if err := checkPeerCode(tt.PeerCode); err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, "invalid peer code: "+err.Error())
		return
	}
	for _, f := range [][2]string{{"peer_address", tt.PeerAddress}, {"local_address", tt.LocalAddress}} {
		if _, err := netip.ParseAddr(f[1]); err != nil {
			writeError(w, http.StatusBadRequest, codeBadRequest,
				fmt.Sprintf("transport_tunnels[0].%s %q is not an IP address", f[0], f[1]))
			return
		}
	}
	tt.PeerCode = strings.Join(strings.Fields(tt.PeerCode), "")

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notClient(w) {
		return
	}
	if other := s.sessionByName(name); other != nil {
		writeError(w, http.StatusBadRequest, codeConflict,
			fmt.Sprintf("an L2VPN session named %q already exists (id %s)", name, other.ID))
		return
	}
	now := s.nowMillis()
	s.seq++
	se := &session{
		L2VPNSession: L2VPNSession{
			ResourceType:     "L2VPNSession",
			ID:               newID(),
			DisplayName:      name,
			Enabled:          req.Enabled == nil || *req.Enabled,
			TransportTunnels: []TransportTunnel{tt},
			CreateTime:       now,
			CreateUser:       s.cfg.Username,
			LastModifiedTime: now,
			LastModifiedUser: s.cfg.Username,
		},
		seq:          s.seq,
		tunnelPortID: newID(),
	}
	if req.Description != nil {
		se.Description = *req.Description
	}
	s.sessions[se.ID] = se
	s.syncFabric(se.ID)
	writeJSON(w, http.StatusCreated, se.view())
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.notClient(w) {
		s.mu.Unlock()
		return
	}
	res := listResult[L2VPNSession]{Results: []L2VPNSession{}}
	for _, se := range s.sortedSessions() {
		res.Results = append(res.Results, se.view())
	}
	s.mu.Unlock()
	res.ResultCount = len(res.Results)
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.lookupSession(w, r)
	if se == nil {
		return
	}
	writeJSON(w, http.StatusOK, se.view())
}

func (s *Server) updateSession(w http.ResponseWriter, r *http.Request) {
	var req sessionRequest
	if !decodeBody(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.lookupSession(w, r)
	if se == nil {
		return
	}
	if !checkRevision(w, "L2VPNSession", se.ID, se.Revision, req.Revision) {
		return
	}
	if req.TransportTunnels != nil {
		if len(req.TransportTunnels) != 1 || !sameTunnel(req.TransportTunnels[0], se.TransportTunnels[0]) {
			writeError(w, http.StatusBadRequest, codeBadRequest,
				"transport_tunnels cannot be changed; delete the session and create it again from the new peer code")
			return
		}
	}
	if req.DisplayName != nil {
		name := strings.TrimSpace(*req.DisplayName)
		if name == "" {
			writeError(w, http.StatusBadRequest, codeBadRequest, "display_name cannot be empty")
			return
		}
		if other := s.sessionByName(name); other != nil && other != se {
			writeError(w, http.StatusBadRequest, codeConflict,
				fmt.Sprintf("an L2VPN session named %q already exists (id %s)", name, other.ID))
			return
		}
		se.DisplayName = name
	}
	if req.Description != nil {
		se.Description = *req.Description
	}
	if req.Enabled != nil {
		se.Enabled = *req.Enabled
	}
	se.Revision++
	se.LastModifiedTime = s.nowMillis()
	se.LastModifiedUser = s.cfg.Username
	s.syncFabric(se.ID)
	writeJSON(w, http.StatusOK, se.view())
}

func sameTunnel(a, b TransportTunnel) bool {
	return strings.Join(strings.Fields(a.PeerCode), "") == b.PeerCode &&
		a.PeerAddress == b.PeerAddress && a.LocalAddress == b.LocalAddress
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.lookupSession(w, r)
	if se == nil {
		return
	}
	if names := s.portNamesOf(se.ID); len(names) > 0 {
		writeError(w, http.StatusBadRequest, codeConflict,
			fmt.Sprintf("L2VPN session %q still extends ports %s; remove their l2_extension first", se.DisplayName, strings.Join(names, ", ")))
		return
	}
	delete(s.sessions, se.ID)
	s.fabric.DeleteClient(se.ID)
	w.WriteHeader(http.StatusOK)
}

// lookupSession finds the session named by the {id} path value, or answers 404.
// It refuses first unless the L2VPN service is in client mode.
func (s *Server) lookupSession(w http.ResponseWriter, r *http.Request) *session {
	if s.notClient(w) {
		return nil
	}
	id := r.PathValue("id")
	se, ok := s.sessions[id]
	if !ok {
		writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("L2VPNSession/%s not found", id))
		return nil
	}
	return se
}

func (s *Server) sessionByName(name string) *session {
	for _, se := range s.sessions {
		if se.DisplayName == name {
			return se
		}
	}
	return nil
}

// syncFabric publishes the client side of session id (s.mu held). Ports
// that are administratively DOWN carry no tunnel.
func (s *Server) syncFabric(id string) {
	se, ok := s.sessions[id]
	if !ok {
		return
	}
	var ids []int
	var ports []stretch.Port
	for _, p := range s.sortedPorts() {
		if p.L2Extension != nil && p.L2Extension.SessionID == id && p.AdminState == "UP" {
			ids = append(ids, p.L2Extension.TunnelID)
			ports = append(ports, stretch.Port{Network: p.DisplayName, VLAN: p.VLAN, TunnelID: p.L2Extension.TunnelID})
		}
	}
	sort.Ints(ids)
	s.fabric.PutClient(stretch.ClientSession{
		ID:        id,
		PeerCode:  se.TransportTunnels[0].PeerCode,
		Enabled:   se.Enabled,
		TunnelIDs: ids,
		Ports:     ports,
		// The lab's sites have no NAT between them: the server sees
		// the client's own address.
		PeerAddress:  se.TransportTunnels[0].PeerAddress,
		LocalAddress: se.TransportTunnels[0].LocalAddress,
	})
}
