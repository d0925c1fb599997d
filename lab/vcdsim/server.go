package vcdsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-migrate/ferry/lab/stretch"
)

// ProviderVC is the provider vCenter that backs the org VDC. Imports read VMs
// from it over the vSphere API, and power operations are forwarded to it.
type ProviderVC struct {
	URL      string // https://host:port/sdk
	Username string
	Password string
	RootCAs  *x509.CertPool // nil: system roots
	Name     string         // display name in vCD; default "provider-vc"
	// ResourcePool is the org VDC's resource pool (its parent is the
	// provider VDC's); Datastores back the provider VDC (pvdc.go).
	ResourcePool string
	Datastores   []string
	// StoragePolicies are the VM storage policies the provider VDC and the
	// org VDC offer, the first the org VDC's default (SetDefaultStoragePolicy
	// changes it). Default: "*", backed by every datastore in Datastores.
	StoragePolicies []StoragePolicy
}

// Config describes the simulated Cloud Director. Zero fields get lab defaults.
type Config struct {
	Addr string // listen address; default 127.0.0.1:0

	SystemUser     string // default "administrator"
	SystemPassword string // default "VMware1!"

	TenantOrg      string // default "Company"
	TenantUser     string // an Organization Administrator of TenantOrg; default "companyadmin"
	TenantPassword string // default "VMware1!"

	// OtherOrg is a second tenant organization (default "Globex") with its
	// own Organization Administrator OtherUser (default "globexadmin"): the
	// Default Rights Bundle and the global roles are published to it as to
	// TenantOrg, so that what is granted to TenantOrg can be checked not to
	// reach it. It has no VDC.
	OtherOrg  string
	OtherUser string

	VDC         string // org VDC of TenantOrg; default "Company-VDC"
	EdgeGateway string // NSX-T edge gateway in VDC; default "company-edge"
	// UplinkCIDR is the subnet of the edge gateway's external uplink
	// (default 203.0.113.0/24). The gateway is its first address.
	UplinkCIDR string
	// UplinkIPs are the addresses allocated to the edge gateway on the
	// uplink; the first is the primary IP. Default: .10 to .14 of UplinkCIDR.
	UplinkIPs []string

	// Fabric receives the L2 VPN server tunnels and reports their status.
	// Default: a new, empty fabric.
	Fabric *stretch.Fabric

	// ProviderVC is needed for import and for power operations on imported VMs.
	ProviderVC *ProviderVC

	// IsolatedNetworks are ISOLATED org VDC networks of VDC to seed, by
	// name: their gateway and prefix ("172.16.10.1/24"). An isolated
	// network has no uplink: nothing outside it reaches a VM on it.
	IsolatedNetworks map[string]string

	// EnforceRights makes tenant users need the L2 VPN rights for tunnel
	// operations ("Organization vDC Gateway: View L2 VPN" to read,
	// "... Configure L2 VPN" to change), through their own role (the tenant
	// copy of a global role or an org-local role, limited to the rights of
	// the bundles published to the org). Off by default.
	EnforceRights bool

	// Log, when set, receives one debug record per request (method, path,
	// status, duration), like vcsim's trace.
	Log *slog.Logger

	// TaskPolls is how many times a task answers "running" before it
	// succeeds. go-vcloud-director waits 3 s between polls inside calls such
	// as CreateL2VpnTunnel, so the default is 0: tasks complete on their
	// first poll. SetTaskPolls changes it at run time.
	TaskPolls int

	// TaskTime is how long every task runs at least (queued and running
	// in Cloud Director: a real task takes from a second to minutes).
	// While it runs, its entities are busy: another change of one of them
	// is refused with BUSY_ENTITY (busy.go). Default DefaultTaskTime; negative:
	// none, tasks end as soon as they are polled and nothing is ever
	// busy. go-vcloud-director's own waits poll every 3 s, so a client
	// that leaves its waits to the library pays 3 s per task.
	TaskTime time.Duration

	// CopyRate is how many bytes per second Cloud Director's vCenter copies
	// when an import moves a VM's disks (sourceMove=false, or a VM on a
	// datastore outside the VDC's storage policy): the import task takes
	// the disks' size over this rate. Default 200 MiB/s.
	CopyRate int64

	// SessionIdle is how long a session may go unused before Cloud
	// Director ends it: its token then answers 401, and the client must
	// log in again. Default DefaultSessionIdle (Cloud Director's own
	// default, reported as sessionIdleTimeoutMinutes by
	// /cloudapi/1.0.0/sessions/current).
	SessionIdle time.Duration

	// MaxAPIVersion plays an older Cloud Director: /api/versions lists
	// no version above it, and a request asking for one is refused 406
	// (e.g. "36.3", Cloud Director 10.3). Default: 38.1 (10.5.1).
	MaxAPIVersion string
}

// DefaultTaskTime is Config.TaskTime's default. Cloud Director's quickest
// tasks (a VM's guest customization or network connection section, a vApp
// network section) take a second or so, an org VDC network or an L2 VPN
// tunnel a few seconds, an import longer. The lab's tasks take a tenth of
// a second: not a second, which would make every cutover in the tests
// seconds longer, but long enough that a client sees every task running
// (the answer that names it and a poll at once) and must wait for it: a
// change of an entity a task holds, sent before the task ended, is
// refused BUSY_ENTITY as Cloud Director refuses it. 100 ms is also
// ferry's first poll interval, so a task costs ferry one poll.
const DefaultTaskTime = 100 * time.Millisecond

// DefaultCopyRate is Config.CopyRate's default.
const DefaultCopyRate = 200 << 20

// DefaultSessionIdle is Cloud Director's default idle session timeout.
const DefaultSessionIdle = 30 * time.Minute

func (c *Config) defaults() {
	if c.CopyRate <= 0 {
		c.CopyRate = DefaultCopyRate
	}
	switch {
	case c.TaskTime == 0:
		c.TaskTime = DefaultTaskTime
	case c.TaskTime < 0:
		c.TaskTime = 0
	}
	if c.SessionIdle <= 0 {
		c.SessionIdle = DefaultSessionIdle
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.Addr, "127.0.0.1:0")
	def(&c.SystemUser, "administrator")
	def(&c.SystemPassword, "VMware1!")
	def(&c.TenantOrg, "Company")
	def(&c.TenantUser, "companyadmin")
	def(&c.TenantPassword, "VMware1!")
	def(&c.OtherOrg, "Globex")
	def(&c.OtherUser, "globexadmin")
	def(&c.VDC, "Company-VDC")
	def(&c.EdgeGateway, "company-edge")
	def(&c.UplinkCIDR, "203.0.113.0/24")
	if c.Fabric == nil {
		c.Fabric = stretch.New()
	}
	if c.ProviderVC != nil {
		pv := *c.ProviderVC // the caller's struct stays as it was
		if pv.Name == "" {
			pv.Name = "provider-vc"
		}
		c.ProviderVC = &pv
	}
}

// Server is a running (or ready to run) simulator.
type Server struct {
	// Faults holds the fault injection rules; see Fault.
	Faults *Faults
	// Fabric is the stretch model shared with the edge simulator.
	Fabric *stretch.Fabric

	cfg  Config
	mux  *http.ServeMux
	http *http.Server
	url  string

	ss sessions

	busyRefusals atomic.Int64

	mu sync.Mutex
	m  *model
}

// New builds the model. It does not listen yet: see Start.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	if strings.EqualFold(cfg.TenantOrg, "System") {
		return nil, errors.New(`vcdsim: the tenant org cannot be named "System" (the provider's org)`)
	}
	if strings.EqualFold(cfg.OtherOrg, "System") || strings.EqualFold(cfg.OtherOrg, cfg.TenantOrg) {
		return nil, fmt.Errorf("vcdsim: the second tenant org cannot be named %q (System or the tenant org)", cfg.OtherOrg)
	}
	m, err := newModel(&cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{Faults: &Faults{}, Fabric: cfg.Fabric, cfg: cfg, m: m, mux: http.NewServeMux()}
	s.ss.byToken = map[string]*session{}
	s.routes()
	return s, nil
}

// Start listens on cfg.Addr and serves HTTPS with tlsCfg (which must hold a
// certificate valid for that address).
func (s *Server) Start(tlsCfg *tls.Config) error {
	if tlsCfg == nil {
		return errors.New("vcdsim: a TLS configuration is required (Cloud Director is HTTPS only)")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("vcdsim: listen %s: %w", s.cfg.Addr, err)
	}
	s.url = "https://" + ln.Addr().String() + "/api"
	s.http = &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         tlsCfg.Clone(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // clients hanging up mid-handshake are not news
	}
	go func() { _ = s.http.ServeTLS(ln, "", "") }()
	return nil
}

// URL is the API endpoint for govcd.NewVCDClient, ending in /api.
func (s *Server) URL() string { return s.url }

// Close stops the listener and any open connections.
func (s *Server) Close() error {
	if s.http == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = s.http.Close()
	}
	s.mu.Lock()
	s.m.closeVC()
	s.mu.Unlock()
	return err
}

// SetTaskPolls sets how many polls new tasks stay "running" before success.
func (s *Server) SetTaskPolls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.TaskPolls = n
}

// Handler is the whole API (faults, authentication and routes), for use
// with a caller-managed listener.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Log != nil {
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			start := time.Now()
			defer func() {
				s.cfg.Log.Debug("vcdsim", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
			}()
			w = rec
		}
		w.Header().Set("X-VMWARE-VCLOUD-REQUEST-ID", newUUID())
		if strings.HasPrefix(r.URL.Path, "/lab/") {
			s.mux.ServeHTTP(w, r)
			return
		}
		if s.Faults.intercept(w, r) {
			return
		}
		if !s.checkVersion(w, r) {
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// reqCtx is one request being served: handlers run with the model lock
// held (including calls to the provider vCenter, which never calls back).
type reqCtx struct {
	s    *Server
	r    *http.Request
	w    http.ResponseWriter
	sess *session
	m    *model
}

type handlerFunc func(c *reqCtx)

// handle registers a route; unless it is public, it requires a session
// (and for provider routes a System administrator's).
func (s *Server) handle(pattern string, h handlerFunc, opts ...routeOpt) {
	var o routeOptions
	for _, f := range opts {
		f(&o)
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c := &reqCtx{s: s, r: r, w: w}
		if !o.public {
			sess := s.sessionFor(r)
			if sess == nil {
				c.fail(http.StatusUnauthorized, "UNAUTHORIZED", "Not authenticated: missing or expired access token")
				return
			}
			if o.provider && !sess.provider {
				c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "This operation is denied: provider only")
				return
			}
			if sess.apiToken != "" && tokenSessionRefuses(r) {
				c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "This operation is denied: a session made from an API token may only view users, groups, roles and rights bundles")
				return
			}
			c.sess = sess
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		c.m = s.m
		s.m.settle()
		if changes(r) && c.refuseBusy(pathEntities(r.URL.Path)...) {
			return
		}
		h(c)
	})
}

type routeOptions struct{ public, provider bool }
type routeOpt func(*routeOptions)

func public(o *routeOptions)   { o.public = true }
func provider(o *routeOptions) { o.provider = true }

// abs turns a model path into an absolute https URL for this request.
func (c *reqCtx) abs(path string) string {
	if path == "" || strings.HasPrefix(path, "https://") {
		return path
	}
	return "https://" + c.r.Host + path
}

func (c *reqCtx) isOpenAPI() bool { return strings.HasPrefix(c.r.URL.Path, "/cloudapi/") }

// fail writes a vCD error in the format of the API family of the request.
func (c *reqCtx) fail(status int, code, format string, args ...any) {
	writeError(c.w, c.isOpenAPI(), status, code, fmt.Sprintf(format, args...))
}
