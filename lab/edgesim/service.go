package edgesim

import (
	"fmt"
	"net/http"
	"strings"
)

// The L2VPN service of the edge: the autonomous edge runs it as a server or
// as a client, and the peer-code sessions and L2 extensions ferry uses exist
// only in client mode (docs/real-world.md, "NSX autonomous edge"). The resource
// is the NSX Manager API v1 L2VpnService ({id, mode: SERVER|CLIENT,
// _revision}; developer.broadcom.com nsx-t-data-center-rest-api,
// method_CreateL2VpnService / method_UpdateL2VpnService, which the
// autonomous edge's /api/v1/vpn/l2vpn paths follow):
//
//	GET  /api/v1/vpn/l2vpn/services
//	POST /api/v1/vpn/l2vpn/services             {mode}; one service per edge
//	GET  /api/v1/vpn/l2vpn/services/{id}
//	PUT  /api/v1/vpn/l2vpn/services/{id}        {mode, _revision}; refused while sessions exist

// L2VPNService is the edge's L2VPN service.
type L2VPNService struct {
	ResourceType string `json:"resource_type"`
	ID           string `json:"id"`
	DisplayName  string `json:"display_name,omitempty"`
	Mode         string `json:"mode"` // SERVER | CLIENT
	Revision     int64  `json:"_revision"`
}

type serviceRequest struct {
	DisplayName *string `json:"display_name"`
	Mode        *string `json:"mode"`
	Revision    *int64  `json:"_revision"`
}

// Service modes.
const (
	ModeClient = "CLIENT"
	ModeServer = "SERVER"
)

// Service returns the edge's L2VPN service (ok false: none configured).
func (s *Server) Service() (L2VPNService, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.service == nil {
		return L2VPNService{}, false
	}
	return *s.service, true
}

// notClient answers 400 and returns true unless the L2VPN service is in
// client mode (s.mu held).
func (s *Server) notClient(w http.ResponseWriter) bool {
	switch {
	case s.service == nil:
		writeError(w, http.StatusBadRequest, codeBadRequest,
			"the L2VPN service is not configured on this edge: create it in CLIENT mode (POST /api/v1/vpn/l2vpn/services) before L2VPN sessions")
		return true
	case s.service.Mode != ModeClient:
		writeError(w, http.StatusBadRequest, codeBadRequest,
			fmt.Sprintf("the L2VPN service is in %s mode: peer-code sessions and L2 extensions are supported only in CLIENT mode", s.service.Mode))
		return true
	}
	return false
}

func checkMode(m string) (string, error) {
	m = strings.ToUpper(strings.TrimSpace(m))
	if m != ModeClient && m != ModeServer {
		return "", fmt.Errorf("mode %q must be SERVER or CLIENT", m)
	}
	return m, nil
}

func (s *Server) listServices(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	res := listResult[L2VPNService]{Results: []L2VPNService{}}
	if s.service != nil {
		res.Results = append(res.Results, *s.service)
	}
	s.mu.Unlock()
	res.ResultCount = len(res.Results)
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) createService(w http.ResponseWriter, r *http.Request) {
	var req serviceRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Mode == nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, "mode is required (SERVER or CLIENT)")
		return
	}
	mode, err := checkMode(*req.Mode)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.service != nil {
		writeError(w, http.StatusBadRequest, codeConflict, fmt.Sprintf("an L2VPN service already exists on this edge (id %s, mode %s)", s.service.ID, s.service.Mode))
		return
	}
	s.service = &L2VPNService{ResourceType: "L2VPNService", ID: newID(), Mode: mode}
	if req.DisplayName != nil {
		s.service.DisplayName = *req.DisplayName
	}
	writeJSON(w, http.StatusCreated, *s.service)
}

func (s *Server) lookupService(w http.ResponseWriter, r *http.Request) *L2VPNService {
	id := r.PathValue("id")
	if s.service == nil || s.service.ID != id {
		writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("L2VPNService/%s not found", id))
		return nil
	}
	return s.service
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sv := s.lookupService(w, r); sv != nil {
		writeJSON(w, http.StatusOK, *sv)
	}
}

func (s *Server) updateService(w http.ResponseWriter, r *http.Request) {
	var req serviceRequest
	if !decodeBody(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.lookupService(w, r)
	if sv == nil {
		return
	}
	if !checkRevision(w, "L2VPNService", sv.ID, sv.Revision, req.Revision) {
		return
	}
	if req.Mode != nil {
		mode, err := checkMode(*req.Mode)
		if err != nil {
			writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
			return
		}
		if mode != sv.Mode && len(s.sessions) > 0 {
			writeError(w, http.StatusBadRequest, codeConflict,
				fmt.Sprintf("the L2VPN service has %d session(s): delete them before changing its mode from %s to %s", len(s.sessions), sv.Mode, mode))
			return
		}
		sv.Mode = mode
	}
	if req.DisplayName != nil {
		sv.DisplayName = *req.DisplayName
	}
	sv.Revision++
	writeJSON(w, http.StatusOK, *sv)
}
