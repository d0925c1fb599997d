package nsx_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab/edgesim"
	"github.com/ferry-migrate/ferry/lab/edgesim/edgetest"
	"github.com/ferry-migrate/ferry/lab/stretch"
	"github.com/ferry-migrate/ferry/nsx"
)

var (
	peerCode = edgesim.MakePeerCode(edgesim.PeerCodeInfo{
		SiteName: "company-l2vpn", PSK: "s3cret", LocalID: "203.0.113.10", PeerID: "198.51.100.20",
	})
	otherPeerCode = edgesim.MakePeerCode(edgesim.PeerCodeInfo{
		SiteName: "other", PSK: "x", LocalID: "203.0.113.11", PeerID: "198.51.100.20",
	})
)

const (
	peerAddr  = "203.0.113.10"
	localAddr = "198.51.100.20"
)

func dial(t *testing.T, e *edgetest.Edge) *nsx.Client {
	t.Helper()
	c, err := nsx.Dial(context.Background(), nsx.Config{
		URL: e.URL(), Username: edgetest.Username, Password: edgetest.Password, RootCAs: e.Pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestDial(t *testing.T) {
	e := edgetest.Start(t)
	ctx := context.Background()
	good := nsx.Config{URL: e.URL() + "/api/v1/", Username: edgetest.Username, Password: edgetest.Password, CAFile: e.CAFile}

	c, err := nsx.Dial(ctx, good)
	if err != nil {
		t.Fatalf("CA file: %v", err)
	}
	if c.URL() != e.URL() {
		t.Errorf("URL() = %q, want %q", c.URL(), e.URL())
	}
	c.Close()

	insecure := good
	insecure.CAFile, insecure.Insecure = "", true
	if _, err := nsx.Dial(ctx, insecure); err != nil {
		t.Fatalf("insecure: %v", err)
	}

	bad := good
	bad.Password = "wrong"
	_, err = nsx.Dial(ctx, bad)
	if !errors.Is(err, nsx.ErrAuth) || err.Error() != "wrong username or password for edge "+e.URL() {
		t.Errorf("wrong password: %v", err)
	}

	untrusted := good
	untrusted.CAFile = ""
	_, err = nsx.Dial(ctx, untrusted)
	if !errors.Is(err, nsx.ErrUntrusted) || !strings.Contains(err.Error(), "certificate of "+e.URL()+" is not trusted") ||
		!strings.Contains(err.Error(), "CA file") {
		t.Errorf("untrusted certificate: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "https://" + ln.Addr().String()
	ln.Close()
	dead := good
	dead.URL = deadURL
	_, err = nsx.Dial(ctx, dead)
	if !errors.Is(err, nsx.ErrUnreachable) || !strings.HasPrefix(err.Error(), "edge "+deadURL+" unreachable: ") ||
		!strings.Contains(err.Error(), "refused") {
		t.Errorf("unreachable: %v", err)
	}

	for name, tc := range map[string]struct {
		mutate func(*nsx.Config)
		want   string
	}{
		"http URL":      {func(c *nsx.Config) { c.URL = "http://edge.example" }, "must look like https://host[:port]"},
		"empty URL":     {func(c *nsx.Config) { c.URL = "" }, "edge URL is empty"},
		"no username":   {func(c *nsx.Config) { c.Username = "" }, "username is empty"},
		"no CA file":    {func(c *nsx.Config) { c.CAFile = filepath.Join(t.TempDir(), "missing.pem") }, "read CA file"},
		"CA not PEM":    {func(c *nsx.Config) { c.CAFile = writeFile(t, "garbage") }, "holds no PEM certificate"},
		"cancelled ctx": {nil, "context canceled"},
	} {
		cfg := good
		dctx := ctx
		if tc.mutate != nil {
			tc.mutate(&cfg)
		} else {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			dctx = cctx
		}
		if _, err := nsx.Dial(dctx, cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, tc.want)
		}
	}
}

func writeFile(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSessionAndAttachmentsAreIdempotent(t *testing.T) {
	e := edgetest.Start(t)
	c := dial(t, e)
	ctx := context.Background()

	s, created, err := c.EnsureSession(ctx, "to-cloud", peerCode, peerAddr, localAddr)
	if err != nil || !created || s.ID == "" || !s.Enabled {
		t.Fatalf("first EnsureSession: %+v %v %v", s, created, err)
	}
	// A pasted code with line breaks is the same code.
	wrapped := peerCode[:20] + "\n" + peerCode[20:]
	again, created, err := c.EnsureSession(ctx, "to-cloud", wrapped, peerAddr, localAddr)
	if err != nil || created || again.ID != s.ID {
		t.Fatalf("second EnsureSession: %+v %v %v", again, created, err)
	}
	if _, _, err := c.EnsureSession(ctx, "to-cloud", otherPeerCode, peerAddr, localAddr); !errors.Is(err, nsx.ErrConflict) {
		t.Fatalf("same name, other peer code: %v", err)
	}
	if _, err := c.CreateSessionFromPeerCode(ctx, "to-cloud", peerCode, peerAddr, localAddr); err == nil ||
		!strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), e.URL()) {
		t.Fatalf("duplicate create: %v", err)
	}
	if got, err := c.SessionByName(ctx, "to-cloud"); err != nil || got.ID != s.ID {
		t.Fatalf("SessionByName: %+v %v", got, err)
	}
	if _, err := c.SessionByName(ctx, "nope"); !errors.Is(err, nsx.ErrNotFound) {
		t.Fatalf("SessionByName of a missing session: %v", err)
	}

	a, err := c.AttachNetwork(ctx, s.ID, "company-network", 0, 100)
	if err != nil || a.ID == "" || a.TunnelID != 100 || a.SessionID != s.ID || a.Network != "company-network" {
		t.Fatalf("AttachNetwork: %+v %v", a, err)
	}
	if a2, err := c.AttachNetwork(ctx, s.ID, "company-network", 0, 100); err != nil || a2.ID != a.ID {
		t.Fatalf("AttachNetwork again: %+v %v", a2, err)
	}
	if _, err := c.AttachNetwork(ctx, s.ID, "other-network", 0, 100); !errors.Is(err, nsx.ErrConflict) {
		t.Fatalf("tunnel id already used: %v", err)
	}
	if _, err := c.AttachNetwork(ctx, s.ID, "company-network", 0, 101); !errors.Is(err, nsx.ErrConflict) {
		t.Fatalf("network already stretched on another tunnel id: %v", err)
	}
	if _, err := c.AttachNetwork(ctx, s.ID, "x", 0, 4094); err == nil || !strings.Contains(err.Error(), "1-4093") {
		t.Fatalf("tunnel id out of range: %v", err)
	}
	atts, err := c.Attachments(ctx, s.ID)
	if err != nil || len(atts) != 1 || atts[0].ID != a.ID || atts[0].SessionName != "to-cloud" {
		t.Fatalf("Attachments: %+v %v", atts, err)
	}
	if got, err := c.AttachmentByTunnelID(ctx, s.ID, 100); err != nil || got.ID != a.ID {
		t.Fatalf("AttachmentByTunnelID: %+v %v", got, err)
	}
	if _, err := c.AttachmentByTunnelID(ctx, s.ID, 5); !errors.Is(err, nsx.ErrNotFound) {
		t.Fatalf("AttachmentByTunnelID of a free id: %v", err)
	}

	if err := c.DeleteSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if len(e.Sessions()) != 0 || len(e.Ports()) != 0 {
		t.Fatalf("left on the edge: %+v %+v", e.Sessions(), e.Ports())
	}
	if err := c.DeleteSession(ctx, s.ID); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
}

func TestBadInputIsRejectedBeforeSending(t *testing.T) {
	e := edgetest.Start(t)
	c := dial(t, e)
	ctx := context.Background()
	for name, tc := range map[string]struct{ name, code, peer, local, want string }{
		"garbage peer code": {"s", "not a peer code!", peerAddr, localAddr, "peer code is not base64"},
		"not a peer code":   {"s", "aGVsbG8gd29ybGQ=", peerAddr, localAddr, "not an L2VPN peer code"},
		"empty name":        {" ", peerCode, peerAddr, localAddr, "session name is empty"},
		"peer address":      {"s", peerCode, "cloud", localAddr, `peer address "cloud"`},
		"local address":     {"s", peerCode, peerAddr, "", `local address ""`},
	} {
		if _, err := c.CreateSessionFromPeerCode(ctx, tc.name, tc.code, tc.peer, tc.local); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, tc.want)
		}
	}
	if len(e.Sessions()) != 0 {
		t.Fatalf("sessions created from bad input: %+v", e.Sessions())
	}
}

func TestStatusFollowsTheStretch(t *testing.T) {
	e := edgetest.Start(t)
	c := dial(t, e)
	ctx := context.Background()
	s, _, err := c.EnsureSession(ctx, "to-cloud", peerCode, peerAddr, localAddr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttachNetwork(ctx, s.ID, "company-network", 0, 100); err != nil {
		t.Fatal(err)
	}

	st, err := c.SessionStatus(ctx, s.ID)
	if err != nil || st.Up || !strings.Contains(st.Reason, "peer unreachable") || st.Name != "to-cloud" {
		t.Fatalf("before the server tunnel exists: %+v %v", st, err)
	}
	if !strings.HasPrefix(st.String(), "DOWN: ") {
		t.Errorf("String() = %q", st.String())
	}

	// The server tunnel appears while WaitUp is polling.
	var polls []nsx.Status
	up, err := c.WaitUp(ctx, s.ID, time.Millisecond, func(st nsx.Status) {
		polls = append(polls, st)
		if len(polls) == 2 {
			e.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: peerCode, Enabled: true, TunnelIDs: []int{100}})
		}
	})
	if err != nil || !up.Up || up.String() != "UP" {
		t.Fatalf("WaitUp: %+v %v", up, err)
	}
	if len(polls) != 3 || polls[0].Up || !polls[2].Up {
		t.Fatalf("polls = %+v", polls)
	}

	stats1, err := c.Statistics(ctx, s.ID)
	if err != nil || stats1.SessionStatus != "UP" || stats1.BytesIn == 0 {
		t.Fatalf("Statistics: %+v %v", stats1, err)
	}
	stats2, err := c.Statistics(ctx, s.ID)
	if err != nil || stats2.BytesOut <= stats1.BytesOut || stats2.PacketsIn <= stats1.PacketsIn {
		t.Fatalf("counters did not grow: %+v then %+v (%v)", stats1, stats2, err)
	}

	// The server stretches another tunnel id: WaitUp gives up with the reason.
	e.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: peerCode, Enabled: true, TunnelIDs: []int{200}})
	wctx, cancel := context.WithCancel(ctx)
	n := 0
	_, err = c.WaitUp(wctx, s.ID, time.Millisecond, func(nsx.Status) {
		if n++; n == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "tunnel id mismatch") ||
		!strings.Contains(err.Error(), `"to-cloud"`) || !strings.Contains(err.Error(), e.URL()) {
		t.Fatalf("WaitUp with mismatched tunnel ids: %v", err)
	}

	e.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: peerCode, Enabled: true, TunnelIDs: []int{100}})
	if s, err = c.SetSessionEnabled(ctx, s.ID, false); err != nil || s.Enabled {
		t.Fatalf("disable: %+v %v", s, err)
	}
	if st, err := c.SessionStatus(ctx, s.ID); err != nil || st.Up || !strings.Contains(st.Reason, "disabled") {
		t.Fatalf("disabled session: %+v %v", st, err)
	}
	if s, err = c.SetSessionEnabled(ctx, s.ID, true); err != nil || !s.Enabled {
		t.Fatalf("enable: %+v %v", s, err)
	}
	if st, err := c.SessionStatus(ctx, s.ID); err != nil || !st.Up {
		t.Fatalf("re-enabled session: %+v %v", st, err)
	}
}

func TestWaitUpAndFaults(t *testing.T) {
	e := edgetest.Start(t)
	c := dial(t, e)
	ctx := context.Background()
	s, _, err := c.EnsureSession(ctx, "to-cloud", peerCode, peerAddr, localAddr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttachNetwork(ctx, s.ID, "company-network", 0, 100); err != nil {
		t.Fatal(err)
	}
	e.Fabric.PutServer(stretch.ServerTunnel{ID: "t1", PeerCode: peerCode, Enabled: true, TunnelIDs: []int{100}})

	// Passing failures are retried.
	statusPath := "/api/v1/vpn/l2vpn/sessions/*/status"
	e.Inject(edgesim.Fault{Method: http.MethodGet, Path: statusPath, Status: http.StatusServiceUnavailable, Times: 2})
	if st, err := c.WaitUp(ctx, s.ID, time.Millisecond, nil); err != nil || !st.Up {
		t.Fatalf("WaitUp through two 503s: %+v %v", st, err)
	}

	// Errors from the edge name the endpoint and carry the NSX message.
	e.Inject(edgesim.Fault{Method: http.MethodGet, Path: statusPath, Status: http.StatusInternalServerError, Message: "datapath restarting", Times: 1})
	_, err = c.SessionStatus(ctx, s.ID)
	var ae *nsx.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 500 || ae.Message != "datapath restarting" || !strings.Contains(err.Error(), e.URL()) {
		t.Fatalf("injected 500: %v", err)
	}

	// Credentials that stop working end the wait at once.
	e.Inject(edgesim.Fault{Method: http.MethodGet, Path: statusPath, Status: http.StatusUnauthorized})
	if _, err := c.WaitUp(ctx, s.ID, time.Millisecond, nil); !errors.Is(err, nsx.ErrAuth) {
		t.Fatalf("WaitUp with 401: %v", err)
	}
	e.ClearFaults()
	// The refused credentials are not sent again by this client.
	if _, err := c.SessionStatus(ctx, s.ID); !errors.Is(err, nsx.ErrAuth) || !strings.Contains(err.Error(), "not sent to it again") {
		t.Fatalf("the client after the edge refused its credentials: %v", err)
	}

	if _, err := dial(t, e).WaitUp(ctx, "no-such-session", time.Millisecond, nil); !errors.Is(err, nsx.ErrNotFound) {
		t.Fatalf("WaitUp of a missing session: %v", err)
	}
}

func TestDialCertificateForAnotherHost(t *testing.T) {
	serverTLS, pool, _ := edgetest.NewTLS(t, "edge.example")
	srv, err := edgesim.New(edgesim.Config{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(serverTLS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	_, err = nsx.Dial(context.Background(), nsx.Config{URL: srv.URL(), Username: "u", Password: "p", RootCAs: pool})
	if !errors.Is(err, nsx.ErrUntrusted) || !strings.Contains(err.Error(), "certificate of "+srv.URL()+" is not valid for this address") {
		t.Fatalf("certificate for another host: %v", err)
	}
}

func TestDialForbidden(t *testing.T) {
	e := edgetest.Start(t)
	e.Inject(edgesim.Fault{Method: http.MethodGet, Path: "/api/v1/vpn/l2vpn/services", Status: http.StatusForbidden, Message: "account locked"})
	_, err := nsx.Dial(context.Background(), nsx.Config{URL: e.URL(), Username: edgetest.Username, Password: edgetest.Password, RootCAs: e.Pool})
	if !errors.Is(err, nsx.ErrAuth) || !strings.Contains(err.Error(), "wrong username or password for edge "+e.URL()) ||
		!strings.Contains(err.Error(), "account locked") {
		t.Fatalf("403 on dial: %v", err)
	}
}

func TestAttachNetworkExtendsAnExistingPort(t *testing.T) {
	e := edgetest.Start(t)
	c := dial(t, e)
	ctx := context.Background()

	// The network is connected to the edge but not stretched yet.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.Pool}}}
	req, _ := http.NewRequest(http.MethodPost, e.URL()+"/api/v1/ports", strings.NewReader(`{"display_name":"company-network","vlan":10}`))
	req.SetBasicAuth(edgetest.Username, edgetest.Password)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hc.CloseIdleConnections()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create port: %s", resp.Status)
	}
	portID := e.Ports()[0].ID

	s, _, err := c.EnsureSession(ctx, "to-cloud", peerCode, peerAddr, localAddr)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.AttachNetwork(ctx, s.ID, "company-network", 10, 100)
	if err != nil || a.ID != portID || a.VLAN != 10 || a.TunnelID != 100 {
		t.Fatalf("AttachNetwork over an existing port: %+v %v", a, err)
	}
	if len(e.Ports()) != 1 {
		t.Fatalf("ports: %+v", e.Ports())
	}
}

// TestChangedPasswordDoesNotLockTheEdgeUser: the edge's password changed
// while ferry held a client (step 4 polls the tunnel for minutes). The
// edge refuses the old one once; the client sends it no more, so NSX's
// auth policy (5 refusals in 15 minutes) does not lock the API user, and
// each later call says why it fails.
func TestChangedPasswordDoesNotLockTheEdgeUser(t *testing.T) {
	e := edgetest.Start(t)
	c := dial(t, e)
	ctx := context.Background()
	e.SetPassword("Changed-By-The-Admin-1")
	for i := range 10 {
		_, err := c.L2VPNService(ctx)
		if !errors.Is(err, nsx.ErrAuth) || !strings.Contains(err.Error(), "correct it and restart ferry") {
			t.Fatalf("call %d after the password changed: %v", i+1, err)
		}
	}
	if n := e.RefusedLogins(); n != 1 {
		t.Errorf("the edge refused %d requests, want 1", n)
	}
	if e.LockedOut() {
		t.Error("the edge's API user is locked")
	}
}
