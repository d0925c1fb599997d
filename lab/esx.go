package lab

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/internal/netbatch"
	"github.com/ferry-migrate/ferry/lab/simwrap"
)

// TicketLifetime is how long a generic service ticket the lab's vCenter
// issues may wait for its one use.
const TicketLifetime = time.Minute

// ESXHosts plays the ESXi hosts of one lab vCenter on the data path, as
// ESXi does (docs/real-world.md "Reading source disks"):
//
//   - every host serves the datastore HTTP endpoint /folder on its own
//     address (127.0.0.1, the management IP vcsim reports, and the port the
//     host's summary.config.port reports), with a certificate from the lab
//     CA for its name and address;
//   - a host answers only a request that carries a generic service ticket
//     (cookie vmware_cgi_ticket) vCenter issued for exactly that URL and
//     method; a ticket is used once (SessionManagerGenericServiceTicket: "may
//     be used only once and is valid only for the spec with which it was
//     acquired") and expires after TicketLifetime;
//   - a host serves only datastores mounted on it;
//   - vCenter's own /folder GETs (its proxy, the slow path) are counted, so
//     a test can tell which path a reader used.
type ESXHosts struct {
	model *simulator.Model

	mu      sync.Mutex
	tickets map[string]serviceTicket
	hosts   map[string]*esxHost // by "127.0.0.1:port"

	proxyReads atomic.Int64 // GET/HEAD /folder answered by vCenter
	hostReads  atomic.Int64 // GET/HEAD /folder answered by a host with a valid ticket
	refused    atomic.Int64 // host requests refused (no, used, expired or mismatched ticket)
	locked     atomic.Int64 // GETs refused: the file is a running VM's disk (disklock.go)
	taken      atomic.Int32 // tickets to issue as already used (TakeNextTickets)

	// frozen, when set (SetFrozen), gives the content of a flat file (local
	// path) whose VM has a snapshot: the base as of the snapshot
	// (cbt.Tracker.Reader), nil for the file itself.
	frozen atomic.Pointer[func(path string) io.ReadSeeker]
}

// SetFrozen makes the hosts and vCenter's proxy serve a snapshotted VM's
// base as f says the snapshot froze it.
func (e *ESXHosts) SetFrozen(f func(path string) io.ReadSeeker) { e.frozen.Store(&f) }

// serveFrozen serves the file at local path p as its VM's snapshot froze
// it, and reports whether it did (false: serve the file itself).
func (e *ESXHosts) serveFrozen(w http.ResponseWriter, r *http.Request, p string) bool {
	f := e.frozen.Load()
	if f == nil {
		return false
	}
	rs := (*f)(p)
	if rs == nil {
		return false
	}
	serveFile(w, r, time.Time{}, rs)
	return true
}

// serveFile serves a datastore file's content (ranges included), handing
// the body to the connection in netbatch.Size writes.
func serveFile(w http.ResponseWriter, r *http.Request, mod time.Time, rs io.ReadSeeker) {
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(largeWrites{w}, r, "", mod, rs)
}

// largeWrites copies a response body in netbatch.Size reads and writes
// (http.ServeContent's copy moves 32 KiB at a time).
type largeWrites struct{ http.ResponseWriter }

var copyBufs = sync.Pool{New: func() any { return new([netbatch.Size]byte) }}

func (l largeWrites) ReadFrom(src io.Reader) (int64, error) {
	b := copyBufs.Get().(*[netbatch.Size]byte)
	defer copyBufs.Put(b)
	buf := b[:]
	var n int64
	for {
		k, err := io.ReadFull(src, buf)
		if k > 0 {
			if _, werr := l.ResponseWriter.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return n, nil
		case err != nil:
			return n, err
		}
	}
}

// connKey is the request context key of a host's connection.
type connKey struct{}

// datastoreDir is the directory of the named datastore ("" if none).
func (e *ESXHosts) datastoreDir(name string) string {
	for _, o := range e.model.Map().All("Datastore") {
		if ds, ok := o.(*simulator.Datastore); ok && ds.Name == name {
			return ds.Info.GetDatastoreInfo().Url
		}
	}
	return ""
}

type serviceTicket struct {
	url     *url.URL
	method  string // "httpGet", "httpHead", ...
	expires time.Time
}

type esxHost struct {
	ref  types.ManagedObjectReference
	name string
	addr string
	// thumbprint is the SHA-1 thumbprint of the host's certificate, which
	// vCenter gives with each service ticket for the host.
	thumbprint string
	srv        *http.Server
	ln         net.Listener
}

// ProxyReads is the number of /folder reads vCenter proxied.
func (e *ESXHosts) ProxyReads() int64 { return e.proxyReads.Load() }

// HostReads is the number of /folder reads hosts answered directly.
func (e *ESXHosts) HostReads() int64 { return e.hostReads.Load() }

// Locked is how many /folder GETs were refused because the file is a
// running VM's disk (the top of its chain).
func (e *ESXHosts) Locked() int64 { return e.locked.Load() }

// Refused is the number of host /folder requests refused for their ticket.
func (e *ESXHosts) Refused() int64 { return e.refused.Load() }

// TakeNextTickets makes the next n service tickets vCenter issues reach
// their host used already, as a request replayed with its ticket's cookie
// finds it (net/http replays an idempotent GET on a reused connection that
// failed, cookie and all): the host refuses them (401), counted in Refused.
func (e *ESXHosts) TakeNextTickets(n int) { e.taken.Add(int32(n)) }

// Addr returns the address (127.0.0.1:port) of the named host, "" if none.
func (e *ESXHosts) Addr(host string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, h := range e.hosts {
		if h.name == host {
			return h.addr
		}
	}
	return ""
}

// Close stops every host's server.
func (e *ESXHosts) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, h := range e.hosts {
		_ = h.srv.Close()
	}
}

// startESXHosts starts one /folder server per host of m, wraps vCenter's
// AcquireGenericServiceTicket and counts vCenter's own /folder reads.
// folderAccess says whether vCenter serves a /folder request: nil when the
// request's session may, otherwise why not and the HTTP status.
func startESXHosts(m *simulator.Model, ca *CA, folderAccess func(*http.Request) (int, error)) (_ *ESXHosts, err error) {
	e := &ESXHosts{model: m, tickets: map[string]serviceTicket{}, hosts: map[string]*esxHost{}}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	reg := m.Map()
	for _, o := range reg.All("HostSystem") {
		hs, ok := o.(*simulator.HostSystem)
		if !ok {
			continue
		}
		tlsCfg, err := ca.ServerTLS("esx "+hs.Name, hs.Name, "127.0.0.1")
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("lab ESXi host %s: %w", hs.Name, err)
		}
		leaf, err := x509.ParseCertificate(tlsCfg.Certificates[0].Certificate[0])
		if err != nil {
			ln.Close()
			return nil, err
		}
		h := &esxHost{ref: hs.Self, name: hs.Name, addr: ln.Addr().String(), ln: ln, thumbprint: soap.ThumbprintSHA1(leaf)}
		h.srv = &http.Server{Handler: e.hostHandler(h), ReadHeaderTimeout: 10 * time.Second,
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				return context.WithValue(ctx, connKey{}, c)
			}}
		e.hosts[h.addr] = h
		port := ln.Addr().(*net.TCPAddr).Port
		reg.WithLock(&simulator.Context{}, hs, func() { hs.Summary.Config.Port = int32(port) })
		// TLS over netbatch: once a request's ticket is taken, a response
		// body goes out in 256 KiB writes instead of one per TLS record.
		go func() { _ = h.srv.Serve(netbatch.TLSListener(ln, tlsCfg)) }()
	}

	simwrap.Wrap(reg, "SessionManager", []string{"AcquireGenericServiceTicket"}, func(ctx *simulator.Context, obj mo.Reference) mo.Reference {
		if sm, ok := obj.(*simulator.SessionManager); ok {
			// The wrapper stays in the session's registry, where the
			// property collector finds it too: as vcsim's own session view
			// of the SessionManager (Session.Get), a copy that reports the
			// caller's session as currentSession (vCenter always does).
			if ctx.Session != nil {
				ref := sm.Reference()
				if ctx.Session.Registry.Get(ref) != nil {
					ctx.Session.Registry.Remove(ctx, ref) // an earlier call's wrapper
				}
				if view, ok := ctx.Session.Get(ref).(*simulator.SessionManager); ok {
					sm = view
				}
			}
			return &ticketingSessionManager{SessionManager: sm, e: e}
		}
		return nil
	})
	folder := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// vCenter serves /folder to a session only (its cookie), whose
		// user holds Datastore.Browse (folderAccess): stock vcsim checks
		// nothing.
		if status, err := folderAccess(r); err != nil {
			http.Error(w, err.Error(), status)
			return
		}
		e.proxyReads.Add(1)
		rel := strings.TrimPrefix(r.URL.Path, "/folder/")
		if dir := e.datastoreDir(r.URL.Query().Get("dsName")); dir != "" && !strings.Contains(rel, "..") {
			if p := filepath.Join(dir, filepath.FromSlash(rel)); e.serveFrozen(w, r, p) || e.refuseLocked(w, p) {
				return
			}
		}
		m.Service.ServeDatastore(w, r)
	})
	// Reads (GET and HEAD; writes go to vcsim's handler, or to the CBT
	// model's where it runs).
	m.Service.Handle("GET /folder/", folder)
	return e, nil
}

// ticketingSessionManager issues tickets the lab's hosts check.
type ticketingSessionManager struct {
	*simulator.SessionManager
	e *ESXHosts
	simwrap.Own
}

// AcquireGenericServiceTicket issues a one-time ticket for an HTTP request
// to one of the hosts, refusing specs that name no host of this vCenter.
func (w *ticketingSessionManager) AcquireGenericServiceTicket(ctx *simulator.Context, req *types.AcquireGenericServiceTicket) (res soap.HasFault) {
	body := &methods.AcquireGenericServiceTicketBody{}
	defer simwrap.Recovered(&res, body, &body.Fault_)
	if ctx.Session == nil {
		body.Fault_ = simulator.Fault("", &types.NotAuthenticated{})
		return body
	}
	spec, ok := req.Spec.(*types.SessionManagerHttpServiceRequestSpec)
	if !ok {
		body.Fault_ = simulator.Fault("only HTTP service tickets are supported", &types.InvalidArgument{InvalidProperty: "spec"})
		return body
	}
	u, err := url.Parse(spec.Url)
	if err != nil || u.Scheme != "https" {
		body.Fault_ = simulator.Fault("bad URL", &types.InvalidArgument{InvalidProperty: "spec.url"})
		return body
	}
	w.e.mu.Lock()
	h := w.e.hosts[u.Host]
	if h == nil && u.Port() == "" {
		// https://host/ means port 443: only a host listening there matches.
		h = w.e.hosts[net.JoinHostPort(u.Hostname(), "443")]
	}
	if h == nil {
		w.e.mu.Unlock()
		body.Fault_ = simulator.Fault("URL names no host of this vCenter", &types.InvalidArgument{InvalidProperty: "spec.url"})
		return body
	}
	id := randomSecret() + randomSecret()
	if n := w.e.taken.Load(); n > 0 && w.e.taken.CompareAndSwap(n, n-1) {
		// Issued, and used already (TakeNextTickets): the host refuses it.
	} else {
		w.e.tickets[id] = serviceTicket{url: u, method: spec.Method, expires: time.Now().Add(TicketLifetime)}
	}
	w.e.mu.Unlock()
	body.Res = &types.AcquireGenericServiceTicketResponse{Returnval: types.SessionManagerGenericServiceTicket{Id: id, HostName: h.name, SslThumbprint: h.thumbprint}}
	return body
}

// take removes and returns the ticket id if it is valid for r.
func (e *ESXHosts) take(id string, h *esxHost, r *http.Request) error {
	e.mu.Lock()
	t, ok := e.tickets[id]
	delete(e.tickets, id)
	now := time.Now()
	for k, o := range e.tickets {
		if now.After(o.expires) {
			delete(e.tickets, k)
		}
	}
	e.mu.Unlock()
	switch {
	case id == "" || !ok:
		return errors.New("no valid service ticket")
	case now.After(t.expires):
		return errors.New("service ticket expired")
	case t.method != "http"+r.Method[:1]+strings.ToLower(r.Method[1:]):
		return fmt.Errorf("service ticket is for %s, not %s", t.method, r.Method)
	case e.hosts[t.url.Host] != h && !(t.url.Port() == "" && e.hosts[net.JoinHostPort(t.url.Hostname(), "443")] == h):
		return errors.New("service ticket is for another host")
	case path.Clean(t.url.Path) != path.Clean(r.URL.Path) || t.url.Query().Get("dsName") != r.URL.Query().Get("dsName"):
		return errors.New("service ticket is for another file")
	}
	return nil
}

// hostHandler serves /folder/<path>?dsName=<ds> of one host.
func (e *ESXHosts) hostHandler(h *esxHost) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/folder/") {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Reads only: the lab's hosts take no writes.
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var id string
		if c, err := r.Cookie("vmware_cgi_ticket"); err == nil {
			id = c.Value
		}
		if err := e.take(id, h, r); err != nil {
			e.refused.Add(1)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		// Authorized: the connection may hold write buffers now.
		if c, ok := r.Context().Value(connKey{}).(*netbatch.TLSConn); ok {
			c.BatchWrites()
		}
		rel := strings.TrimPrefix(r.URL.Path, "/folder/")
		if strings.Contains(rel, "..") {
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		}
		dir, err := e.mountedDatastore(h, r.URL.Query().Get("dsName"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		e.hostReads.Add(1)
		if e.serveFrozen(w, r, filepath.Join(dir, filepath.FromSlash(rel))) || e.refuseLocked(w, filepath.Join(dir, filepath.FromSlash(rel))) {
			return
		}
		serveFile(w, r, fi.ModTime(), f)
	})
}

// mountedDatastore returns the directory of the named datastore if host h mounts it.
func (e *ESXHosts) mountedDatastore(h *esxHost, name string) (string, error) {
	for _, o := range e.model.Map().All("Datastore") {
		ds, ok := o.(*simulator.Datastore)
		if !ok || ds.Name != name {
			continue
		}
		for _, m := range ds.Host {
			if m.Key == h.ref {
				return ds.Info.GetDatastoreInfo().Url, nil
			}
		}
		return "", fmt.Errorf("datastore %s is not mounted on %s", name, h.name)
	}
	return "", fmt.Errorf("no datastore %q", name)
}
