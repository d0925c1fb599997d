package edgesim_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab/edgesim"
	"github.com/ferry-migrate/ferry/lab/edgesim/edgetest"
	"github.com/ferry-migrate/ferry/lab/stretch"
)

const sessionsPath = "/api/v1/vpn/l2vpn/sessions"

var peerCode = edgesim.MakePeerCode(edgesim.PeerCodeInfo{
	SiteName: "company-l2vpn", PSK: "s3cret", LocalID: "203.0.113.10", PeerID: "198.51.100.20",
})

type apiError struct {
	HTTPStatus   string `json:"httpStatus"`
	ErrorCode    int    `json:"error_code"`
	ErrorMessage string `json:"error_message"`
}

type status struct {
	SessionID        string `json:"session_id"`
	Status           string `json:"status"`
	TransportTunnels []struct {
		TunnelPortID string `json:"tunnel_port_id"`
		Status       struct {
			SessionStatus string `json:"session_status"`
			IKEStatus     struct {
				State      string `json:"ike_session_state"`
				FailReason string `json:"fail_reason"`
			} `json:"ike_status"`
		} `json:"status"`
	} `json:"transport_tunnels"`
}

type statistics struct {
	SessionStatus  string `json:"session_status"`
	TrafficCounter struct {
		BytesIn    uint64 `json:"bytes_in"`
		BytesOut   uint64 `json:"bytes_out"`
		PacketsIn  uint64 `json:"packets_in"`
		PacketsOut uint64 `json:"packets_out"`
	} `json:"traffic_counter"`
}

type client struct {
	t    *testing.T
	e    *edgetest.Edge
	hc   *http.Client
	user string
	pass string
}

func newClient(t *testing.T, e *edgetest.Edge) *client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.Pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, e: e, hc: &http.Client{Transport: tr}, user: edgetest.Username, pass: edgetest.Password}
}

// do sends a request and decodes the JSON answer into out (when non-nil and
// the status is 2xx) or returns the NSX error.
func (c *client) do(method, path string, body, out any) (int, apiError) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.e.URL()+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var ae apiError
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(data, &ae); err != nil {
			c.t.Fatalf("%s %s: %d with a non-NSX error body %q", method, path, resp.StatusCode, data)
		}
		return resp.StatusCode, ae
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode, ae
}

func (c *client) mustDo(want int, method, path string, body, out any) {
	c.t.Helper()
	if got, ae := c.do(method, path, body, out); got != want {
		c.t.Fatalf("%s %s: status %d (%s), want %d", method, path, got, ae.ErrorMessage, want)
	}
}

func sessionBody(name, code string) map[string]any {
	return map[string]any{
		"display_name": name,
		"transport_tunnels": []map[string]string{{
			"peer_code": code, "peer_address": "203.0.113.10", "local_address": "198.51.100.20",
		}},
	}
}

func (c *client) createSession(name string) edgesim.L2VPNSession {
	c.t.Helper()
	var s edgesim.L2VPNSession
	c.mustDo(http.StatusCreated, http.MethodPost, sessionsPath+"?action=create_with_peer_code", sessionBody(name, peerCode), &s)
	return s
}

func (c *client) attach(sessionID, network string, tunnelID int) edgesim.LogicalPort {
	c.t.Helper()
	var p edgesim.LogicalPort
	c.mustDo(http.StatusCreated, http.MethodPost, "/api/v1/ports", map[string]any{
		"display_name": network,
		"l2_extension": map[string]any{"l2vpn_session_id": sessionID, "tunnel_id": tunnelID},
	}, &p)
	return p
}

func (c *client) status(id string) status {
	c.t.Helper()
	var st status
	c.mustDo(http.StatusOK, http.MethodGet, sessionsPath+"/"+id+"/status", nil, &st)
	return st
}

func reason(st status) string {
	if len(st.TransportTunnels) == 0 {
		return ""
	}
	return st.TransportTunnels[0].Status.IKEStatus.FailReason
}

func TestStretchFollowsFabric(t *testing.T) {
	e := edgetest.Start(t)
	c := newClient(t, e)

	s := c.createSession("to-cloud")
	if s.ID == "" || s.DisplayName != "to-cloud" || !s.Enabled || s.ResourceType != "L2VPNSession" {
		t.Fatalf("created session = %+v", s)
	}
	if len(s.TransportTunnels) != 1 || s.TransportTunnels[0].PeerCode != peerCode {
		t.Fatalf("transport tunnels = %+v", s.TransportTunnels)
	}
	p := c.attach(s.ID, "company-network", 100)
	if p.L2Extension == nil || p.L2Extension.TunnelID != 100 || p.L2Extension.SessionName != "to-cloud" {
		t.Fatalf("port = %+v", p)
	}

	st := c.status(s.ID)
	if st.Status != "DOWN" || !strings.Contains(reason(st), "peer unreachable") {
		t.Fatalf("before the server exists: %+v", st)
	}
	if st.TransportTunnels[0].TunnelPortID == "" {
		t.Errorf("no tunnel_port_id in %+v", st)
	}

	e.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: peerCode, Enabled: true, TunnelIDs: []int{100}})
	st = c.status(s.ID)
	if st.Status != "UP" || st.TransportTunnels[0].Status.SessionStatus != "UP" || reason(st) != "" {
		t.Fatalf("matching server tunnel: %+v", st)
	}
	if !e.Fabric.ServerStatus("t1").Up {
		t.Fatalf("the vCD side does not see the stretch UP: %+v", e.Fabric.ServerStatus("t1"))
	}

	e.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: peerCode, Enabled: true, TunnelIDs: []int{200}})
	st = c.status(s.ID)
	if st.Status != "DOWN" || !strings.Contains(reason(st), "tunnel id mismatch") {
		t.Fatalf("tunnel ids differ: %+v", st)
	}

	e.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: peerCode, Enabled: true, TunnelIDs: []int{100}})
	var upd edgesim.L2VPNSession
	c.mustDo(http.StatusOK, http.MethodPut, sessionsPath+"/"+s.ID, map[string]any{"enabled": false, "_revision": s.Revision}, &upd)
	if upd.Enabled || upd.Revision != s.Revision+1 {
		t.Fatalf("after disabling: %+v", upd)
	}
	st = c.status(s.ID)
	if st.Status != "DOWN" || !strings.Contains(reason(st), "disabled") {
		t.Fatalf("disabled session: %+v", st)
	}
	if e.Fabric.ServerStatus("t1").Up {
		t.Fatal("vCD still sees the stretch UP after the client was disabled")
	}

	// A stale revision is refused.
	if got, ae := c.do(http.MethodPut, sessionsPath+"/"+s.ID, map[string]any{"enabled": true, "_revision": s.Revision}, nil); got != http.StatusPreconditionFailed {
		t.Fatalf("stale _revision: %d %s", got, ae.ErrorMessage)
	}
	// So is a PUT without one (NSX: "If the _revision provided in a PUT
	// request is missing or stale, the operation will be rejected").
	if got, ae := c.do(http.MethodPut, sessionsPath+"/"+s.ID, map[string]any{"enabled": true}, nil); got != http.StatusPreconditionFailed || !strings.Contains(ae.ErrorMessage, "without its _revision") {
		t.Fatalf("PUT without _revision: %d %s", got, ae.ErrorMessage)
	}
	c.mustDo(http.StatusOK, http.MethodPut, sessionsPath+"/"+s.ID, map[string]any{"enabled": true, "_revision": upd.Revision}, nil)
	if st := c.status(s.ID); st.Status != "UP" {
		t.Fatalf("re-enabled: %+v", st)
	}
}

func TestStatisticsGrowWhileUp(t *testing.T) {
	e := edgetest.Start(t)
	c := newClient(t, e)
	s := c.createSession("to-cloud")
	c.attach(s.ID, "company-network", 7)

	var down statistics
	c.mustDo(http.StatusOK, http.MethodGet, sessionsPath+"/"+s.ID+"/statistics", nil, &down)
	if down.SessionStatus != "DOWN" || down.TrafficCounter.BytesIn != 0 {
		t.Fatalf("DOWN statistics: %+v", down)
	}

	e.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: peerCode, Enabled: true, TunnelIDs: []int{7}})
	var a, b statistics
	c.mustDo(http.StatusOK, http.MethodGet, sessionsPath+"/"+s.ID+"/statistics", nil, &a)
	c.mustDo(http.StatusOK, http.MethodGet, sessionsPath+"/"+s.ID+"/statistics", nil, &b)
	if a.SessionStatus != "UP" || a.TrafficCounter.BytesIn == 0 || a.TrafficCounter.PacketsOut == 0 {
		t.Fatalf("UP statistics: %+v", a)
	}
	if b.TrafficCounter.BytesIn <= a.TrafficCounter.BytesIn || b.TrafficCounter.BytesOut <= a.TrafficCounter.BytesOut {
		t.Fatalf("counters did not grow: %+v then %+v", a.TrafficCounter, b.TrafficCounter)
	}
}

func TestCreateSessionValidation(t *testing.T) {
	e := edgetest.Start(t)
	c := newClient(t, e)
	create := sessionsPath + "?action=create_with_peer_code"

	for name, tc := range map[string]struct {
		body any
		want string
	}{
		"garbage peer code":  {sessionBody("x", "this is not a peer code!"), "invalid peer code"},
		"base64 of nonsense": {sessionBody("x", "aGVsbG8gd29ybGQ="), `"<version>,<checksum>,<json>"`},
		"no name":            {sessionBody("", peerCode), "display_name is required"},
		"no tunnels":         {map[string]any{"display_name": "x"}, "exactly one tunnel"},
		"bad peer address": {map[string]any{"display_name": "x", "transport_tunnels": []map[string]string{{
			"peer_code": peerCode, "peer_address": "cloud", "local_address": "198.51.100.20"}}}, "peer_address"},
	} {
		got, ae := c.do(http.MethodPost, create, tc.body, nil)
		if got != http.StatusBadRequest || ae.HTTPStatus != "BAD_REQUEST" || ae.ErrorCode == 0 || !strings.Contains(ae.ErrorMessage, tc.want) {
			t.Errorf("%s: %d %+v, want 400 mentioning %q", name, got, ae, tc.want)
		}
	}

	c.createSession("dup")
	if got, ae := c.do(http.MethodPost, create, sessionBody("dup", peerCode), nil); got != http.StatusBadRequest || !strings.Contains(ae.ErrorMessage, "already exists") {
		t.Errorf("duplicate display_name: %d %+v", got, ae)
	}
	if got, ae := c.do(http.MethodPost, sessionsPath, sessionBody("plain", peerCode), nil); got != http.StatusBadRequest || !strings.Contains(ae.ErrorMessage, "client mode") {
		t.Errorf("create without action: %d %+v", got, ae)
	}
	var list struct {
		Results     []edgesim.L2VPNSession `json:"results"`
		ResultCount int                    `json:"result_count"`
	}
	c.mustDo(http.StatusOK, http.MethodGet, sessionsPath, nil, &list)
	if list.ResultCount != 1 || len(list.Results) != 1 || list.Results[0].DisplayName != "dup" {
		t.Fatalf("list = %+v", list)
	}
	if got, _ := c.do(http.MethodGet, sessionsPath+"/nope", nil, nil); got != http.StatusNotFound {
		t.Errorf("unknown session: %d", got)
	}
}

func TestPortsAndDelete(t *testing.T) {
	e := edgetest.Start(t)
	c := newClient(t, e)
	s := c.createSession("to-cloud")
	p := c.attach(s.ID, "company-network", 100)

	for name, body := range map[string]map[string]any{
		"same tunnel id":  {"display_name": "other", "l2_extension": map[string]any{"l2vpn_session_id": s.ID, "tunnel_id": 100}},
		"same network":    {"display_name": "company-network"},
		"tunnel id 0":     {"display_name": "n0", "l2_extension": map[string]any{"l2vpn_session_id": s.ID, "tunnel_id": 0}},
		"tunnel id 4094":  {"display_name": "n1", "l2_extension": map[string]any{"l2vpn_session_id": s.ID, "tunnel_id": 4094}},
		"unknown session": {"display_name": "n2", "l2_extension": map[string]any{"l2vpn_session_id": "nope", "tunnel_id": 5}},
	} {
		if got, ae := c.do(http.MethodPost, "/api/v1/ports", body, nil); got != http.StatusBadRequest {
			t.Errorf("%s: %d %+v, want 400", name, got, ae)
		}
	}
	// resource_type is one of LogicalPortResourceType's values.
	if got, ae := c.do(http.MethodPost, "/api/v1/ports", map[string]any{"display_name": "n3", "resource_type": "LogicalPort"}, nil); got != http.StatusBadRequest ||
		!strings.Contains(ae.ErrorMessage, `resource_type "LogicalPort"`) || !strings.Contains(ae.ErrorMessage, "LogicalRouterPort") {
		t.Errorf("resource_type LogicalPort: %d %+v", got, ae)
	}
	if p.ResourceType != "LogicalRouterPort" {
		t.Errorf("port resource_type %q, want LogicalRouterPort", p.ResourceType)
	}
	c.mustDo(http.StatusCreated, http.MethodPost, "/api/v1/ports", map[string]any{"display_name": "local-only"}, nil)

	var list struct {
		Results []edgesim.LogicalPort `json:"results"`
	}
	c.mustDo(http.StatusOK, http.MethodGet, "/api/v1/ports?l2_extension_id="+s.ID, nil, &list)
	if len(list.Results) != 1 || list.Results[0].ID != p.ID {
		t.Fatalf("ports of the session = %+v", list.Results)
	}
	c.mustDo(http.StatusOK, http.MethodGet, "/api/v1/ports?port_type=none", nil, &list)
	if len(list.Results) != 1 || list.Results[0].DisplayName != "local-only" {
		t.Fatalf("unextended ports = %+v", list.Results)
	}

	// Moving the port to another tunnel id reaches the fabric.
	e.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: peerCode, Enabled: true, TunnelIDs: []int{101}})
	c.mustDo(http.StatusOK, http.MethodPut, "/api/v1/ports/"+p.ID, map[string]any{
		"l2_extension": map[string]any{"l2vpn_session_id": s.ID, "tunnel_id": 101}, "_revision": p.Revision,
	}, nil)
	if st := c.status(s.ID); st.Status != "UP" {
		t.Fatalf("after retagging the port: %+v", st)
	}

	if got, ae := c.do(http.MethodDelete, sessionsPath+"/"+s.ID, nil, nil); got != http.StatusBadRequest || !strings.Contains(ae.ErrorMessage, "company-network") {
		t.Fatalf("delete of a session with ports: %d %+v", got, ae)
	}
	c.mustDo(http.StatusOK, http.MethodDelete, "/api/v1/ports/"+p.ID, nil, nil)
	if st := c.status(s.ID); st.Status != "DOWN" || !strings.Contains(reason(st), "tunnel id mismatch") {
		t.Fatalf("after removing the port: %+v", st)
	}
	c.mustDo(http.StatusOK, http.MethodDelete, sessionsPath+"/"+s.ID, nil, nil)
	if st := e.Fabric.ServerStatus("t1"); st.Up || !strings.Contains(st.Reason, "no L2VPN client session") {
		t.Fatalf("vCD side after the session was deleted: %+v", st)
	}
	if len(e.Sessions()) != 0 || len(e.Ports()) != 1 {
		t.Fatalf("left over: %+v %+v", e.Sessions(), e.Ports())
	}
}

func TestAuthentication(t *testing.T) {
	e := edgetest.Start(t)
	c := newClient(t, e)
	c.pass = "wrong"
	got, ae := c.do(http.MethodGet, sessionsPath, nil, nil)
	if got != http.StatusUnauthorized || !strings.Contains(ae.ErrorMessage, "credentials") {
		t.Fatalf("bad password: %d %+v", got, ae)
	}
}

func TestFaultInjection(t *testing.T) {
	e := edgetest.Start(t)
	c := newClient(t, e)
	s := c.createSession("to-cloud")

	e.Inject(edgesim.Fault{Method: http.MethodGet, Path: sessionsPath + "/*/status", Status: http.StatusServiceUnavailable, Times: 2})
	for i := 0; i < 2; i++ {
		if got, ae := c.do(http.MethodGet, sessionsPath+"/"+s.ID+"/status", nil, nil); got != http.StatusServiceUnavailable || !strings.Contains(ae.ErrorMessage, "injected") {
			t.Fatalf("call %d: %d %+v", i, got, ae)
		}
	}
	c.status(s.ID) // the fault is used up
	c.mustDo(http.StatusOK, http.MethodGet, sessionsPath, nil, nil)

	e.Inject(edgesim.Fault{Path: "/api/v1/ports", Status: http.StatusInternalServerError, Message: "edge datapath restarting"})
	for i := 0; i < 3; i++ {
		if got, ae := c.do(http.MethodPost, "/api/v1/ports", map[string]any{"display_name": "n"}, nil); got != http.StatusInternalServerError || ae.ErrorMessage != "edge datapath restarting" {
			t.Fatalf("always-fault call %d: %d %+v", i, got, ae)
		}
	}
	e.Inject(edgesim.Fault{Method: http.MethodGet, Path: sessionsPath, Delay: 1}) // delay only: still served
	c.mustDo(http.StatusOK, http.MethodGet, sessionsPath, nil, nil)
	e.ClearFaults()
	c.mustDo(http.StatusCreated, http.MethodPost, "/api/v1/ports", map[string]any{"display_name": "n"}, nil)
}

func TestAdminDownPortAndClose(t *testing.T) {
	e := edgetest.Start(t)
	c := newClient(t, e)
	s := c.createSession("to-cloud")
	p := c.attach(s.ID, "company-network", 100)
	e.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: peerCode, Enabled: true, TunnelIDs: []int{100}})
	if st := c.status(s.ID); st.Status != "UP" {
		t.Fatalf("UP expected: %+v", st)
	}
	c.mustDo(http.StatusOK, http.MethodPut, "/api/v1/ports/"+p.ID, map[string]any{
		"admin_state":  "DOWN",
		"l2_extension": map[string]any{"l2vpn_session_id": s.ID, "tunnel_id": 100},
		"_revision":    p.Revision,
	}, nil)
	if st := c.status(s.ID); st.Status != "DOWN" || !strings.Contains(reason(st), "tunnel id mismatch") {
		t.Fatalf("port administratively down: %+v", st)
	}
	c.mustDo(http.StatusOK, http.MethodPut, "/api/v1/ports/"+p.ID, map[string]any{
		"admin_state":  "UP",
		"l2_extension": map[string]any{"l2vpn_session_id": s.ID, "tunnel_id": 100},
		"_revision":    p.Revision + 1,
	}, nil)
	if !e.Fabric.ServerStatus("t1").Up {
		t.Fatal("port back UP, stretch still DOWN")
	}

	// Powering the edge off takes its side of the stretch away.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if st := e.Fabric.ServerStatus("t1"); st.Up || !strings.Contains(st.Reason, "no L2VPN client session") {
		t.Fatalf("after Close: %+v", st)
	}
}

// Peer-code sessions and L2 extensions exist only in client mode: an edge
// without an L2VPN service, or with one in server mode, refuses them; the
// mode cannot change while sessions exist.
func TestSessionsOnlyInClientMode(t *testing.T) {
	for _, mode := range []string{"", edgesim.ModeServer} {
		e := edgetest.StartMode(t, mode)
		c := newClient(t, e)
		status, ae := c.do(http.MethodGet, "/api/v1/vpn/l2vpn/sessions", nil, nil)
		if status != http.StatusBadRequest || !strings.Contains(ae.ErrorMessage, "CLIENT mode") {
			t.Errorf("mode %q: list sessions: %d %+v", mode, status, ae)
		}
		status, ae = c.do(http.MethodPost, "/api/v1/ports", map[string]any{"display_name": "n", "l2_extension": map[string]any{"l2vpn_session_id": "x", "tunnel_id": 1}}, nil)
		if status != http.StatusBadRequest || !strings.Contains(ae.ErrorMessage, "CLIENT mode") {
			t.Errorf("mode %q: extended port: %d %+v", mode, status, ae)
		}
	}
	e := edgetest.StartMode(t, "")
	c := newClient(t, e)
	var sv edgesim.L2VPNService
	if status, ae := c.do(http.MethodPost, "/api/v1/vpn/l2vpn/services", map[string]any{"mode": "CLIENT"}, &sv); status != http.StatusCreated {
		t.Fatalf("create service: %d %+v", status, ae)
	}
	if status, _ := c.do(http.MethodGet, "/api/v1/vpn/l2vpn/sessions", nil, nil); status != http.StatusOK {
		t.Fatalf("list sessions in client mode: %d", status)
	}
	if status, ae := c.do(http.MethodPost, sessionsPath+"?action=create_with_peer_code", sessionBody("s", peerCode), nil); status != http.StatusCreated {
		t.Fatalf("create session: %d %+v", status, ae)
	}
	if status, ae := c.do(http.MethodPut, "/api/v1/vpn/l2vpn/services/"+sv.ID, map[string]any{"mode": "SERVER", "_revision": sv.Revision}, nil); status != http.StatusBadRequest || !strings.Contains(ae.ErrorMessage, "delete them") {
		t.Fatalf("mode change with a session: %d %+v", status, ae)
	}
}
