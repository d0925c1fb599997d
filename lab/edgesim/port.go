package edgesim

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// L2Extension stretches a logical port over an L2VPN session. TunnelID must
// match one of the server's stretched networks.
type L2Extension struct {
	SessionID   string `json:"l2vpn_session_id"`
	SessionName string `json:"l2vpn_session_name,omitempty"` // read-only
	TunnelID    int    `json:"tunnel_id"`
}

// LogicalPort is an on-prem network (port group) connected to the edge's
// trunk; with an L2Extension it is stretched into the cloud.
type LogicalPort struct {
	ResourceType     string       `json:"resource_type"`
	ID               string       `json:"id"`
	DisplayName      string       `json:"display_name"` // the on-prem network / port group
	Description      string       `json:"description,omitempty"`
	VLAN             int          `json:"vlan"`
	AdminState       string       `json:"admin_state"`
	L2Extension      *L2Extension `json:"l2_extension,omitempty"`
	Revision         int64        `json:"_revision"`
	CreateTime       int64        `json:"_create_time"`
	CreateUser       string       `json:"_create_user"`
	LastModifiedTime int64        `json:"_last_modified_time"`
	LastModifiedUser string       `json:"_last_modified_user"`
}

type port struct {
	LogicalPort
	seq int64
}

type portRequest struct {
	ResourceType *string      `json:"resource_type"`
	DisplayName  *string      `json:"display_name"`
	Description  *string      `json:"description"`
	VLAN         *int         `json:"vlan"`
	AdminState   *string      `json:"admin_state"`
	L2Extension  *L2Extension `json:"l2_extension"`
	Revision     *int64       `json:"_revision"`
}

// Ports returns a copy of the edge's logical ports in creation order.
func (s *Server) Ports() []LogicalPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []LogicalPort
	for _, p := range s.sortedPorts() {
		out = append(out, s.portView(p))
	}
	return out
}

func (s *Server) sortedPorts() []*port {
	out := make([]*port, 0, len(s.ports))
	for _, p := range s.ports {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// portView is what the API returns for p (s.mu held).
func (s *Server) portView(p *port) LogicalPort {
	v := p.LogicalPort
	if p.L2Extension != nil {
		ext := *p.L2Extension
		if se, ok := s.sessions[ext.SessionID]; ok {
			ext.SessionName = se.DisplayName
		}
		v.L2Extension = &ext
	}
	return v
}

// portNamesOf lists the ports extended over session id (s.mu held).
func (s *Server) portNamesOf(id string) []string {
	var names []string
	for _, p := range s.sortedPorts() {
		if p.L2Extension != nil && p.L2Extension.SessionID == id {
			names = append(names, fmt.Sprintf("%q (tunnel %d)", p.DisplayName, p.L2Extension.TunnelID))
		}
	}
	return names
}

// portResourceTypes are the values of the API's LogicalPortResourceType
// (NSX Autonomous Edge REST API, schemas_LogicalPortResourceType); an L2
// port is a LogicalRouterPort.
var portResourceTypes = []string{"LogicalRouterPort", "LogicalRouterIPTunnelPort", "LogicalRouterLoopbackPort", "LogicalRouterManagementPort"}

// checkPort validates the new state of port p (self is the port being
// updated, nil on create). It returns an HTTP status and message, or 0.
func (s *Server) checkPort(next LogicalPort, self *port) (int, int, string) {
	if !slices.Contains(portResourceTypes, next.ResourceType) {
		return http.StatusBadRequest, codeBadRequest, fmt.Sprintf("resource_type %q is not a LogicalPortResourceType: want one of %s", next.ResourceType, strings.Join(portResourceTypes, ", "))
	}
	if next.DisplayName == "" {
		return http.StatusBadRequest, codeBadRequest, "display_name (the on-prem network) is required"
	}
	if next.VLAN < 0 || next.VLAN > 4094 {
		return http.StatusBadRequest, codeBadRequest, fmt.Sprintf("vlan %d is out of range 0-4094", next.VLAN)
	}
	if next.AdminState != "UP" && next.AdminState != "DOWN" {
		return http.StatusBadRequest, codeBadRequest, fmt.Sprintf("admin_state %q must be UP or DOWN", next.AdminState)
	}
	for _, o := range s.ports {
		if o != self && o.DisplayName == next.DisplayName {
			return http.StatusBadRequest, codeConflict, fmt.Sprintf("a logical port for network %q already exists (id %s)", next.DisplayName, o.ID)
		}
	}
	ext := next.L2Extension
	if ext == nil {
		return 0, 0, ""
	}
	switch {
	case s.service == nil:
		return http.StatusBadRequest, codeBadRequest, "l2_extension: the L2VPN service is not configured on this edge: create it in CLIENT mode first"
	case s.service.Mode != ModeClient:
		return http.StatusBadRequest, codeBadRequest, fmt.Sprintf("l2_extension: the L2VPN service is in %s mode; L2 extensions are supported only in CLIENT mode", s.service.Mode)
	}
	if ext.TunnelID < 1 || ext.TunnelID > 4093 {
		return http.StatusBadRequest, codeBadRequest, fmt.Sprintf("l2_extension.tunnel_id %d is out of range 1-4093", ext.TunnelID)
	}
	se, ok := s.sessions[ext.SessionID]
	if !ok {
		return http.StatusBadRequest, codeBadRequest, fmt.Sprintf("l2_extension.l2vpn_session_id %q: no such L2VPN session", ext.SessionID)
	}
	for _, o := range s.ports {
		if o != self && o.L2Extension != nil && o.L2Extension.SessionID == ext.SessionID && o.L2Extension.TunnelID == ext.TunnelID {
			return http.StatusBadRequest, codeConflict,
				fmt.Sprintf("tunnel id %d of L2VPN session %q is already used by port %q", ext.TunnelID, se.DisplayName, o.DisplayName)
		}
	}
	return 0, 0, ""
}

func (s *Server) createPort(w http.ResponseWriter, r *http.Request) {
	var req portRequest
	if !decodeBody(w, r, &req) {
		return
	}
	next := LogicalPort{ResourceType: "LogicalRouterPort", AdminState: "UP"}
	applyPortRequest(&next, req)

	s.mu.Lock()
	defer s.mu.Unlock()
	if status, code, msg := s.checkPort(next, nil); status != 0 {
		writeError(w, status, code, msg)
		return
	}
	now := s.nowMillis()
	s.seq++
	next.ID = newID()
	next.CreateTime, next.LastModifiedTime = now, now
	next.CreateUser, next.LastModifiedUser = s.cfg.Username, s.cfg.Username
	p := &port{LogicalPort: next, seq: s.seq}
	s.ports[p.ID] = p
	if p.L2Extension != nil {
		s.syncFabric(p.L2Extension.SessionID)
	}
	writeJSON(w, http.StatusCreated, s.portView(p))
}

func applyPortRequest(p *LogicalPort, req portRequest) {
	if req.ResourceType != nil {
		p.ResourceType = *req.ResourceType
	}
	if req.DisplayName != nil {
		p.DisplayName = strings.TrimSpace(*req.DisplayName)
	}
	if req.Description != nil {
		p.Description = *req.Description
	}
	if req.VLAN != nil {
		p.VLAN = *req.VLAN
	}
	if req.AdminState != nil {
		p.AdminState = strings.ToUpper(*req.AdminState)
	}
	if req.L2Extension != nil {
		ext := *req.L2Extension
		ext.SessionName = ""
		p.L2Extension = &ext
	}
}

func (s *Server) listPorts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sessionID, portType := q.Get("l2_extension_id"), q.Get("port_type")
	switch portType {
	case "", "extended", "none", "routed":
	default:
		writeError(w, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("port_type %q must be routed, extended or none", portType))
		return
	}
	s.mu.Lock()
	res := listResult[LogicalPort]{Results: []LogicalPort{}}
	for _, p := range s.sortedPorts() {
		extended := p.L2Extension != nil
		switch {
		case sessionID != "" && (!extended || p.L2Extension.SessionID != sessionID),
			portType == "extended" && !extended,
			portType == "none" && extended,
			portType == "routed": // the simulator has no routed ports
			continue
		}
		res.Results = append(res.Results, s.portView(p))
	}
	s.mu.Unlock()
	res.ResultCount = len(res.Results)
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) getPort(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookupPort(w, r)
	if p == nil {
		return
	}
	writeJSON(w, http.StatusOK, s.portView(p))
}

// updatePort replaces the port's configuration: a PUT without l2_extension
// detaches the network from its session.
func (s *Server) updatePort(w http.ResponseWriter, r *http.Request) {
	var req portRequest
	if !decodeBody(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookupPort(w, r)
	if p == nil {
		return
	}
	if !checkRevision(w, "LogicalPort", p.ID, p.Revision, req.Revision) {
		return
	}
	next := p.LogicalPort
	next.L2Extension = nil
	applyPortRequest(&next, req)
	if status, code, msg := s.checkPort(next, p); status != 0 {
		writeError(w, status, code, msg)
		return
	}
	old := p.L2Extension
	next.Revision++
	next.LastModifiedTime = s.nowMillis()
	next.LastModifiedUser = s.cfg.Username
	p.LogicalPort = next
	if old != nil {
		s.syncFabric(old.SessionID)
	}
	if p.L2Extension != nil {
		s.syncFabric(p.L2Extension.SessionID)
	}
	writeJSON(w, http.StatusOK, s.portView(p))
}

func (s *Server) deletePort(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookupPort(w, r)
	if p == nil {
		return
	}
	delete(s.ports, p.ID)
	if p.L2Extension != nil {
		s.syncFabric(p.L2Extension.SessionID)
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) lookupPort(w http.ResponseWriter, r *http.Request) *port {
	id := r.PathValue("id")
	p, ok := s.ports[id]
	if !ok {
		writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("LogicalPort/%s not found", id))
		return nil
	}
	return p
}
