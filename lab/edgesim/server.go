// Package edgesim simulates the REST API of an on-prem NSX-T autonomous
// (standalone) edge in L2VPN client mode: the part of the NSX Autonomous Edge
// API (Manager API v1 style) that ferry's nsx client uses.
//
//	GET    /api/v1/vpn/l2vpn/services                  the L2VPN service and its mode (service.go)
//	POST   /api/v1/vpn/l2vpn/sessions?action=create_with_peer_code
//	GET    /api/v1/vpn/l2vpn/sessions
//	GET    /api/v1/vpn/l2vpn/sessions/{id}
//	PUT    /api/v1/vpn/l2vpn/sessions/{id}             enable / disable, rename
//	DELETE /api/v1/vpn/l2vpn/sessions/{id}             refused while ports are attached
//	GET    /api/v1/vpn/l2vpn/sessions/{id}/status
//	GET    /api/v1/vpn/l2vpn/sessions/{id}/statistics
//	POST   /api/v1/ports                               logical port (an on-prem network)
//	GET    /api/v1/ports[?l2_extension_id=ID][&port_type=extended|none|routed]
//	GET    /api/v1/ports/{id}
//	PUT    /api/v1/ports/{id}
//	DELETE /api/v1/ports/{id}
//
// As on the real autonomous edge, an on-prem network is stretched by giving
// its logical port an L2Extension {l2vpn_session_id, tunnel_id}; here the
// port's display_name is the on-prem network (port group) it carries.
//
// Every change to a session or a port is mirrored into a *stretch.Fabric,
// and session status comes from the fabric, so the edge and the simulated
// Cloud Director always agree on whether the stretch is UP.
//
// Session calls, and ports with an l2_extension, are refused unless the
// L2VPN service is in client mode (see service.go).
//
// Requests need HTTP Basic auth with the configured credentials (401
// otherwise). Errors have the NSX shape {httpStatus, error_code,
// module_name, error_message}.
package edgesim

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/lab/stretch"
)

// Config configures a simulated edge.
type Config struct {
	Username string
	Password string
	// Fabric receives the client side of every session. Nil gives the edge
	// a private fabric (no server tunnel will ever match: sessions stay DOWN).
	Fabric *stretch.Fabric
	// Addr to listen on; default 127.0.0.1:0.
	Addr string
	// Logger for requests and TLS handshake errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock for timestamps and traffic counters; nil is time.Now.
	Now func() time.Time
	// Mode is the L2VPN service the edge starts with: "" none (as a fresh
	// appliance), ModeClient or ModeServer.
	Mode string
}

// Server is one simulated autonomous edge.
type Server struct {
	cfg    Config
	fabric *stretch.Fabric
	log    *slog.Logger
	mux    *http.ServeMux

	mu       sync.Mutex
	seq      int64 // creation order, so lists are stable
	sessions map[string]*session
	ports    map[string]*port
	service  *L2VPNService
	faults   []*faultRule

	srv *http.Server
	url string

	authMu      sync.Mutex
	failures    []time.Time // the API user's refused logins within LockoutReset (authMu)
	lockedUntil time.Time   // (authMu)
	refused     int         // refused logins in all (authMu)
}

// New validates cfg and returns a server that is not listening yet (see
// Start), but whose Handler already works.
func New(cfg Config) (*Server, error) {
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("edgesim: username and password are required")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:      cfg,
		fabric:   cfg.Fabric,
		log:      cfg.Logger,
		sessions: map[string]*session{},
		ports:    map[string]*port{},
	}
	if s.fabric == nil {
		s.fabric = stretch.New()
	}
	if cfg.Mode != "" {
		mode, err := checkMode(cfg.Mode)
		if err != nil {
			return nil, fmt.Errorf("edgesim: %w", err)
		}
		s.service = &L2VPNService{ResourceType: "L2VPNService", ID: newID(), Mode: mode}
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /api/v1/vpn/l2vpn/services", s.listServices)
	m.HandleFunc("POST /api/v1/vpn/l2vpn/services", s.createService)
	m.HandleFunc("GET /api/v1/vpn/l2vpn/services/{id}", s.getService)
	m.HandleFunc("PUT /api/v1/vpn/l2vpn/services/{id}", s.updateService)
	m.HandleFunc("POST /api/v1/vpn/l2vpn/sessions", s.createSession)
	m.HandleFunc("GET /api/v1/vpn/l2vpn/sessions", s.listSessions)
	m.HandleFunc("GET /api/v1/vpn/l2vpn/sessions/{id}", s.getSession)
	m.HandleFunc("PUT /api/v1/vpn/l2vpn/sessions/{id}", s.updateSession)
	m.HandleFunc("DELETE /api/v1/vpn/l2vpn/sessions/{id}", s.deleteSession)
	m.HandleFunc("GET /api/v1/vpn/l2vpn/sessions/{id}/status", s.sessionStatus)
	m.HandleFunc("GET /api/v1/vpn/l2vpn/sessions/{id}/statistics", s.sessionStatistics)
	m.HandleFunc("POST /api/v1/ports", s.createPort)
	m.HandleFunc("GET /api/v1/ports", s.listPorts)
	m.HandleFunc("GET /api/v1/ports/{id}", s.getPort)
	m.HandleFunc("PUT /api/v1/ports/{id}", s.updatePort)
	m.HandleFunc("DELETE /api/v1/ports/{id}", s.deletePort)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("the requested URI %s %s could not be found", r.Method, r.URL.Path))
	})
	s.mux = m
}

// Handler serves the edge API (auth and fault injection included), for
// callers that run their own listener.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Debug("edge request", "method", r.Method, "path", r.URL.Path)
		if s.applyFault(w, r) {
			return
		}
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="NSX Autonomous Edge"`)
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "The credentials were incorrect or the account specified has been locked.")
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Account lockout as NSX's node authentication policy has it by default
// (GET /api/v1/node/aaa/auth-policy: api_max_auth_failures 5,
// api_failed_auth_reset_period 900, api_failed_auth_lockout_period 900):
// LockoutFailures refused API logins of the user within LockoutReset lock
// it for LockoutPeriod, and meanwhile its right password is refused too
// (the same 401).
const (
	LockoutFailures = 5
	LockoutReset    = 900 * time.Second
	LockoutPeriod   = 900 * time.Second
)

func (s *Server) authorized(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	s.authMu.Lock()
	defer s.authMu.Unlock()
	uok := subtle.ConstantTimeCompare([]byte(u), []byte(s.cfg.Username)) == 1
	pok := subtle.ConstantTimeCompare([]byte(p), []byte(s.cfg.Password)) == 1
	if !uok {
		return false
	}
	now := time.Now()
	if now.Before(s.lockedUntil) {
		s.refused++
		return false
	}
	if pok {
		s.failures = nil
		return true
	}
	s.refused++
	recent := []time.Time{now}
	for _, t := range s.failures {
		if now.Sub(t) <= LockoutReset {
			recent = append(recent, t)
		}
	}
	s.failures = recent
	if len(recent) >= LockoutFailures {
		s.lockedUntil, s.failures = now.Add(LockoutPeriod), nil
	}
	return false
}

// SetPassword changes the API user's password, as an admin does on the
// edge: the old one is refused from then on.
func (s *Server) SetPassword(password string) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	s.cfg.Password = password
}

// RefusedLogins is how many requests of the API user the edge refused for
// their credentials (or because the user was locked).
func (s *Server) RefusedLogins() int {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	return s.refused
}

// LockedOut says whether the edge locked its API user (LockoutFailures
// refusals within LockoutReset).
func (s *Server) LockedOut() bool {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	return time.Now().Before(s.lockedUntil)
}

// Start listens on Config.Addr (127.0.0.1:0 by default) and serves HTTPS with
// tlsCfg, which must hold the server certificate.
func (s *Server) Start(tlsCfg *tls.Config) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("edgesim: listen on %s: %w", s.cfg.Addr, err)
	}
	if err := s.Serve(ln, tlsCfg); err != nil {
		ln.Close()
		return err
	}
	return nil
}

// Serve serves HTTPS on ln (an appliance's management address) with tlsCfg;
// Close closes ln.
func (s *Server) Serve(ln net.Listener, tlsCfg *tls.Config) error {
	if tlsCfg == nil || (len(tlsCfg.Certificates) == 0 && tlsCfg.GetCertificate == nil) {
		return errors.New("edgesim: a TLS config with a server certificate is required (the edge API is HTTPS only)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("edgesim: already started")
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         tlsCfg.Clone(),
		ReadHeaderTimeout: 10 * time.Second,
		// Clients that reject our certificate produce handshake errors;
		// they belong in the lab log, not on the terminal.
		ErrorLog: log.New(slogWriter{s.log}, "", 0),
	}
	s.srv = srv
	s.url = "https://" + ln.Addr().String()
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("edge server stopped", "err", err)
		}
	}()
	return nil
}

// URL is the edge's base URL (https://127.0.0.1:port), empty before Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Fabric is the stretch fabric the edge reports into.
func (s *Server) Fabric() *stretch.Fabric { return s.fabric }

// Close stops the listener and removes the edge's sessions from the fabric,
// as if the appliance were powered off.
func (s *Server) Close() error {
	s.mu.Lock()
	srv := s.srv
	for id := range s.sessions {
		s.fabric.DeleteClient(id)
	}
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// Suspend takes the edge's sessions out of the fabric, as when its
// appliance is powered off; its configuration stays.
func (s *Server) Suspend() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.sessions {
		s.fabric.DeleteClient(id)
	}
}

// Resume puts the edge's sessions back into the fabric (the appliance is on).
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.sessions {
		s.syncFabric(id)
	}
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}

// NSX error codes used by the simulator (values as NSX Manager uses them
// where known; the client only relies on the HTTP status).
const (
	codeBadRequest   = 500012
	codeNotFound     = 600
	codeUnauthorized = 403
	codeConflict     = 500030
	codeRevision     = 604
	codeInjected     = 99
)

type apiError struct {
	HTTPStatus   string `json:"httpStatus"`
	ErrorCode    int    `json:"error_code"`
	ModuleName   string `json:"module_name"`
	ErrorMessage string `json:"error_message"`
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, apiError{
		HTTPStatus:   strings.ReplaceAll(strings.ToUpper(http.StatusText(status)), " ", "_"),
		ErrorCode:    code,
		ModuleName:   "L2VPN",
		ErrorMessage: msg,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decodeBody reads a JSON request body; it answers 400 itself and returns
// false when the body is not valid JSON for v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, "cannot read request body: "+err.Error())
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		writeError(w, http.StatusBadRequest, codeBadRequest, "request body is empty")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, "request body is not valid JSON: "+err.Error())
		return false
	}
	return true
}

// listResult is the NSX list envelope.
type listResult[T any] struct {
	Results     []T `json:"results"`
	ResultCount int `json:"result_count"`
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *Server) nowMillis() int64 { return s.cfg.Now().UnixMilli() }

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// checkRevision refuses a PUT whose _revision is missing or stale, as NSX
// does for every revisioned resource: "PUT operations must include the
// current _revision of the resource, which clients should obtain by issuing
// a GET operation. If the _revision provided in a PUT request is missing or
// stale, the operation will be rejected" (NSX-T Data Center REST API,
// RevisionedResource; 412 Precondition Failed). It says whether the PUT
// may go on.
func checkRevision(w http.ResponseWriter, kind, id string, current int64, req *int64) bool {
	switch {
	case req == nil:
		writeError(w, http.StatusPreconditionFailed, codeRevision,
			fmt.Sprintf("The object %s/%s cannot be updated without its _revision (current revision %d). Please fetch the object and retry with its _revision.", kind, id, current))
		return false
	case *req != current:
		writeError(w, http.StatusPreconditionFailed, codeRevision,
			fmt.Sprintf("The object %s/%s was modified by somebody else (revision %d, request has %d). Please refetch the object and retry.", kind, id, current, *req))
		return false
	}
	return true
}
