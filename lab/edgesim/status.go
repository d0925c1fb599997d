package edgesim

import (
	"net/http"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/lab/stretch"
)

type sessionStatus struct {
	SessionID        string         `json:"session_id"`
	DisplayName      string         `json:"display_name"`
	Status           string         `json:"status"` // UP | DOWN
	TransportTunnels []tunnelStatus `json:"transport_tunnels"`
}

type tunnelStatus struct {
	ResourceType string      `json:"resource_type"`
	TunnelPortID string      `json:"tunnel_port_id"`
	Status       ipsecStatus `json:"status"`
}

type ipsecStatus struct {
	SessionStatus string    `json:"session_status"`
	IKEStatus     ikeStatus `json:"ike_status"`
}

type ikeStatus struct {
	IKESessionState string `json:"ike_session_state"` // UP | DOWN | NEGOTIATING
	FailReason      string `json:"fail_reason,omitempty"`
}

type sessionStatistics struct {
	SessionID      string         `json:"session_id"`
	DisplayName    string         `json:"display_name"`
	SessionStatus  string         `json:"session_status"`
	TrafficCounter trafficCounter `json:"traffic_counter"`
	// Tunnel ids that carry traffic (present on both sides).
	StretchedTunnelIDs []int `json:"stretched_tunnel_ids"`
	LastUpdateTime     int64 `json:"last_update_timestamp"`
}

type trafficCounter struct {
	BytesIn    uint64 `json:"bytes_in"`
	BytesOut   uint64 `json:"bytes_out"`
	PacketsIn  uint64 `json:"packets_in"`
	PacketsOut uint64 `json:"packets_out"`
}

// Simulated traffic over an UP stretch: a steady stream plus one keepalive
// per read, so two reads of an UP session always show growth.
const (
	bytesInPerSecond  = 1_250_000
	bytesOutPerSecond = 400_000
	avgPacketBytes    = 1000
	keepaliveBytes    = 150
)

// stateOf is the stretch as this session sees it (s.mu held). A disabled
// session does not even try to reach its peer.
func (s *Server) stateOf(se *session) stretch.Status {
	if !se.Enabled {
		return stretch.Status{Reason: "client session is disabled"}
	}
	return s.fabric.ClientStatus(se.ID)
}

func upDown(up bool) string {
	if up {
		return "UP"
	}
	return "DOWN"
}

func (s *Server) sessionStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.lookupSession(w, r)
	if se == nil {
		return
	}
	st := s.stateOf(se)
	ike := ikeStatus{IKESessionState: "UP"}
	switch {
	case st.Up:
	case strings.HasPrefix(st.Reason, "peer unreachable"):
		ike = ikeStatus{IKESessionState: "NEGOTIATING", FailReason: st.Reason}
	case strings.HasPrefix(st.Reason, "tunnel id mismatch"):
		// IKE is fine; the L2 tunnels do not line up.
		ike.FailReason = st.Reason
	default:
		ike = ikeStatus{IKESessionState: "DOWN", FailReason: st.Reason}
	}
	writeJSON(w, http.StatusOK, sessionStatus{
		SessionID:   se.ID,
		DisplayName: se.DisplayName,
		Status:      upDown(st.Up),
		TransportTunnels: []tunnelStatus{{
			ResourceType: "IPSecVPNTransportStatus",
			TunnelPortID: se.tunnelPortID,
			Status:       ipsecStatus{SessionStatus: upDown(st.Up), IKEStatus: ike},
		}},
	})
}

func (s *Server) sessionStatistics(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.lookupSession(w, r)
	if se == nil {
		return
	}
	st := s.stateOf(se)
	now := s.cfg.Now()
	if st.Up {
		if !se.lastUp.IsZero() {
			secs := now.Sub(se.lastUp).Seconds()
			if secs > 0 {
				in, out := uint64(secs*bytesInPerSecond), uint64(secs*bytesOutPerSecond)
				se.traffic.BytesIn += in
				se.traffic.BytesOut += out
				se.traffic.PacketsIn += in / avgPacketBytes
				se.traffic.PacketsOut += out / avgPacketBytes
			}
		}
		se.traffic.BytesIn += keepaliveBytes
		se.traffic.BytesOut += keepaliveBytes
		se.traffic.PacketsIn++
		se.traffic.PacketsOut++
		se.lastUp = now
	} else {
		se.lastUp = time.Time{} // DOWN time carries no traffic
	}
	writeJSON(w, http.StatusOK, sessionStatistics{
		SessionID:          se.ID,
		DisplayName:        se.DisplayName,
		SessionStatus:      upDown(st.Up),
		TrafficCounter:     se.traffic,
		StretchedTunnelIDs: append([]int{}, st.Matched...),
		LastUpdateTime:     now.UnixMilli(),
	})
}
