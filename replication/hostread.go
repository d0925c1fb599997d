package replication

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-migrate/ferry/internal/netbatch"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vmdk"
)

// Reading a source disk (docs/real-world.md "Reading source disks"): the
// snapshot's base disk is read over the datastore HTTP endpoint /folder of
// the ESXi host that runs the VM, each request carrying a generic service
// ticket (AcquireGenericServiceTicket, cookie vmware_cgi_ticket) that
// vCenter issued for exactly that URL and method, used once. If the host
// cannot be used (no ticket, unreachable, untrusted certificate) the reads
// go through vCenter's /folder proxy, the slowest path there is, with a
// warning. Which file holds the data is read from the disk's descriptor
// (its extent line), never derived from the descriptor's name.

// descriptorMax bounds a descriptor read: ESXi descriptors are < 1 KiB; a
// larger file is not a descriptor (e.g. a monolithic sparse disk).
const descriptorMax = 64 << 10

// hostEndpoint is where the VM's host serves /folder.
type hostEndpoint struct {
	name string // the host's inventory name
	base url.URL
}

// hostOf finds the ESXi host that runs the VM and its /folder address:
// https://<management IP, else name>:<summary.config.port, else 443>.
func (s *VSphereSource) hostOf(ctx context.Context) (*hostEndpoint, error) {
	var vm mo.VirtualMachine
	pc := property.DefaultCollector(s.Client)
	if err := pc.RetrieveOne(ctx, s.VM, []string{"runtime.host"}, &vm); err != nil {
		return nil, err
	}
	if vm.Runtime.Host == nil {
		return nil, errors.New("the VM has no host (runtime.host is empty)")
	}
	var h mo.HostSystem
	if err := pc.RetrieveOne(ctx, *vm.Runtime.Host, []string{"name", "summary.config.port"}, &h); err != nil {
		return nil, err
	}
	ips, err := object.NewHostSystem(s.Client, *vm.Runtime.Host).ManagementIPs(ctx)
	if err != nil {
		return nil, fmt.Errorf("host %s: management address: %w", h.Name, err)
	}
	addr := h.Name
	if len(ips) > 0 {
		addr = ips[0].String()
	}
	port := int(h.Summary.Config.Port)
	if port <= 0 {
		port = 443
	}
	return &hostEndpoint{name: h.Name, base: url.URL{Scheme: "https", Host: net.JoinHostPort(addr, strconv.Itoa(port))}}, nil
}

// hostClient is the HTTP client of host-direct reads, one per source: a
// clone of the vCenter client's transport (the same TLS checks: a trusted
// CA, or the thumbprint vCenter vouches for with each ticket) that keeps an
// idle connection for each of a pass's readers. The vCenter client's
// transport keeps two per host (Go's default), so with more readers than
// that, connections closed after reads and the next read paid a new TCP
// and TLS handshake. Not the vCenter client's cookie jar either: the host
// gets the ticket, not vCenter's session cookie.
func (s *VSphereSource) hostClient() *http.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hc == nil {
		t := s.Client.Client.DefaultTransport().Clone()
		t.MaxIdleConnsPerHost = hostIdleConns
		t.IdleConnTimeout = hostIdleTimeout
		cfg := t.TLSClientConfig
		t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return s.dialHost(ctx, cfg, network, addr)
		}
		s.hc = &http.Client{Transport: t}
	}
	return s.hc
}

// dialHost opens a TLS connection to an ESXi host and checks its
// certificate as govmomi's client does: against the configured trust
// first; when that does not trust it, against the thumbprint vCenter
// vouched for with a service ticket (SetThumbprint), checked during the
// handshake. Its reads are batched beneath TLS (netbatch) once the
// handshake is done: a range read's TLS records arrive in 256 KiB read(2)s
// instead of one each. Writes (requests) are not batched.
func (s *VSphereSource) dialHost(ctx context.Context, cfg *tls.Config, network, addr string) (net.Conn, error) {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	c, err := dialBatched(ctx, cfg, network, addr)
	if err == nil || !soap.IsCertificateUntrusted(err) {
		return c, err
	}
	tp := s.Client.Client.Thumbprint(addr)
	if tp == "" {
		return nil, err
	}
	pinned := cfg.Clone()
	// Not trusted by the chain: the thumbprint check below replaces it.
	pinned.InsecureSkipVerify = true
	pinned.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("host %s sent no certificate", addr)
		}
		if c := cs.PeerCertificates[0]; tp != soap.ThumbprintSHA256(c) && tp != soap.ThumbprintSHA1(c) {
			return fmt.Errorf("host %s: certificate thumbprint does not match %s, the one vCenter gave", addr, tp)
		}
		return nil
	}
	return dialBatched(ctx, pinned, network, addr)
}

// dialBatched dials addr and completes a TLS handshake over a netbatch.Conn
// whose reads are batched afterwards.
func dialBatched(ctx context.Context, cfg *tls.Config, network, addr string) (net.Conn, error) {
	raw, err := (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	b := &netbatch.Conn{Conn: raw}
	tc := tls.Client(b, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	b.BatchReads()
	return tc, nil
}

// A source keeps at most hostIdleConns idle connections to its ESXi host,
// each for hostIdleTimeout after its last read: a pass's readers reuse
// them, and they close between passes.
const (
	hostIdleConns   = 16
	hostIdleTimeout = 15 * time.Second
)

// fileURL is the /folder URL of a datastore file, on the host (direct) or
// on vCenter (proxy, which needs dcPath).
func (v *vsSnapshot) fileURL(ds, p string) *url.URL {
	if v.host != nil {
		u := v.host.base
		u.Path = path.Join("/folder", p)
		u.RawQuery = url.Values{"dsName": {ds}}.Encode()
		return &u
	}
	u := *v.s.Client.URL()
	u.User = nil
	u.Path = path.Join("/folder", p)
	u.RawQuery = url.Values{"dcPath": {v.dcPath}, "dsName": {ds}}.Encode()
	return &u
}

// get issues one GET of a datastore file (with a Range header when rng is
// set) and hands the response to f.
func (v *vsSnapshot) get(ctx context.Context, ds, p, rng string, f func(*http.Response) error) error {
	if v.host == nil {
		// vCenter's proxy: the session cookie authenticates the request.
		u := v.fileURL(ds, p)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		return v.s.Client.Client.Do(ctx, req, f)
	}
	res, err := v.do(ctx, ds, p, rng)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	return f(res)
}

// do issues one host-direct GET of a datastore file (with a Range header
// when rng is set): it first acquires a one-time service ticket for the
// URL; the ticket is sent as a cookie only and never logged. A GET the
// host refuses as unauthorized is made once more with a new ticket: a
// one-time ticket is spent by the first request that reaches the host, and
// net/http replays an idempotent GET, cookie and all, when a reused
// connection fails under it. The caller closes the response body.
func (v *vsSnapshot) do(ctx context.Context, ds, p, rng string) (*http.Response, error) {
	u := v.fileURL(ds, p)
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		res, err := methods.AcquireGenericServiceTicket(ctx, v.s.Client, &types.AcquireGenericServiceTicket{
			This: *v.s.Client.ServiceContent.SessionManager,
			Spec: &types.SessionManagerHttpServiceRequestSpec{Url: u.String(), Method: "httpGet"},
		})
		if err != nil {
			return nil, fmt.Errorf("service ticket for host %s: %w", v.host.name, err)
		}
		t := res.Returnval
		if t.SslThumbprint != "" {
			// vCenter vouches for the host's certificate (govmomi does the same).
			v.s.Client.Client.SetThumbprint(u.Host, t.SslThumbprint)
		}
		req.AddCookie(&http.Cookie{Name: "vmware_cgi_ticket", Value: t.Id})
		resp, err := v.s.hostClient().Do(req)
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", v.host.name, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
			continue
		}
		return resp, nil
	}
}

// readDescriptor reads and checks the descriptor of a disk's backing file
// ("[ds] dir/x.vmdk") and returns the datastore path of its flat extent.
func (v *vsSnapshot) readDescriptor(ctx context.Context, d vsDisk) (string, error) {
	var p object.DatastorePath
	if !p.FromString(d.fileName) {
		return "", descriptorRefusal{fmt.Errorf("disk %s: bad backing file name %q", d.Key, d.fileName)}
	}
	var raw []byte
	err := v.get(ctx, p.Datastore, p.Path, "", func(res *http.Response) error {
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s%s", p.Path, res.Status, refusedRead(res))
		}
		b, err := io.ReadAll(io.LimitReader(res.Body, descriptorMax+1))
		if err != nil {
			return fmt.Errorf("GET %s: %w", p.Path, err)
		}
		raw = b
		return nil
	})
	if err != nil {
		return "", err
	}
	flat, err := FlatExtent(raw, d.Capacity)
	if err != nil {
		return "", descriptorRefusal{fmt.Errorf("disk %s (%s): %w", d.Key, d.fileName, err)}
	}
	return path.Join(path.Dir(p.Path), flat), nil
}

// FlatExtent parses an ESXi disk descriptor and returns the file name of
// its single flat extent (relative to the descriptor's folder). It refuses
// what ferry's transport cannot read, saying why: RDMs, sparse and SEsparse
// deltas, vSAN and vVols objects, encrypted disks, several extents, or an
// extent smaller than the disk's capacity.
func FlatExtent(raw []byte, capacity int64) (string, error) {
	if len(raw) > descriptorMax || bytes.IndexByte(raw, 0) >= 0 && !bytes.HasPrefix(bytes.TrimLeft(raw, "\x00"), []byte("#")) {
		return "", errors.New("not a text descriptor (a monolithic or sparse disk?): ferry reads only flat disks")
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if k, _, ok := strings.Cut(strings.TrimSpace(l), "="); ok && strings.EqualFold(strings.TrimSpace(k), "encryptionKeys") {
			return "", errors.New("the disk is encrypted (encryptionKeys in its descriptor): ferry cannot read it")
		}
	}
	d, err := vmdk.ParseDescriptor(bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("descriptor: %w", err)
	}
	if hint := descriptorValue(raw, "parentFileNameHint"); hint != "" {
		return "", fmt.Errorf("a delta disk over %q (createType %q): ferry reads only flat base disks", hint, d.Type)
	}
	switch d.Type {
	case "vmfs", "monolithicFlat", "twoGbMaxExtentFlat":
	case "vmfsRawDeviceMap", "vmfsPassthroughRawDeviceMap":
		return "", fmt.Errorf("a raw device mapping (createType %q): its data is on a LUN ferry cannot read", d.Type)
	case "vsanSparse":
		return "", errors.New("a vSAN object (createType \"vsanSparse\"): no flat file to read over /folder")
	case "vmfsSparse", "seSparse", "monolithicSparse", "twoGbMaxExtentSparse", "streamOptimized":
		return "", fmt.Errorf("a sparse disk (createType %q): ferry reads only flat base disks", d.Type)
	default:
		return "", fmt.Errorf("createType %q: not a flat disk ferry can read", d.Type)
	}
	if len(d.Extent) != 1 {
		return "", fmt.Errorf("%d extents: ferry reads disks with one flat extent", len(d.Extent))
	}
	x := d.Extent[0]
	switch x.Type {
	case "VMFS", "FLAT":
	case "VVOL":
		return "", errors.New("a vVols object (VVOL extent): no flat file to read over /folder")
	case "VSANSPARSE":
		return "", errors.New("a vSAN object: no flat file to read over /folder")
	default:
		return "", fmt.Errorf("a %s extent with createType %q: not a flat extent ferry can read", x.Type, d.Type)
	}
	if x.Info == "" || strings.ContainsAny(x.Info, "/\\") || x.Info == "." || x.Info == ".." {
		return "", fmt.Errorf("extent file %q is not a file in the descriptor's folder", x.Info)
	}
	if x.Size*vmdk.SectorSize < capacity {
		return "", fmt.Errorf("extent %q holds %d bytes, less than the disk's %d", x.Info, x.Size*vmdk.SectorSize, capacity)
	}
	return x.Info, nil
}

// descriptorValue returns the value of a top-level key of a descriptor.
func descriptorValue(raw []byte, key string) string {
	for _, l := range strings.Split(string(raw), "\n") {
		k, val, ok := strings.Cut(strings.TrimSpace(l), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	return ""
}

// openReader picks how this snapshot's disks are read and finds each
// disk's flat extent: host-direct when the VM's host answers with a
// ticket, else vCenter's proxy with a warning.
func (v *vsSnapshot) openReader(ctx context.Context) error {
	keys := make([]string, 0, len(v.disks))
	for k := range v.disks {
		keys = append(keys, k)
	}
	if v.s.ProxyOnly {
		v.host = nil
	} else if h, err := v.s.hostOf(ctx); err != nil {
		v.s.warn(fmt.Sprintf("VM %s: reading disks through vCenter's /folder proxy, not host-direct: cannot find the ESXi host (%v). The proxy is the slowest read path (virt-v2v calls it so; expect several times slower passes and a longer cutover)", v.vmName, err))
	} else {
		v.host = h
	}
	defer func() {
		if v.host != nil {
			v.s.hostDirectWorks()
		}
	}()
	for i, k := range keys {
		d := v.disks[k]
		flat, err := v.readDescriptor(ctx, d)
		if err != nil && v.host != nil && i == 0 && !isDescriptorRefusal(err) {
			// The host cannot be used: fall back to vCenter's proxy.
			v.s.warn(fmt.Sprintf("VM %s: reading disks through vCenter's /folder proxy, not host-direct from ESXi host %s (%s): %v. The proxy is the slowest read path (virt-v2v calls it so; expect several times slower passes and a longer cutover); let ferry reach the host's HTTPS port and acquire service tickets to read host-direct", v.vmName, v.host.name, v.host.base.Host, err))
			v.host = nil
			flat, err = v.readDescriptor(ctx, d)
		}
		if err != nil {
			return err
		}
		d.ds, d.flat = dsName(d.fileName), flat
		v.disks[k] = d
	}
	return nil
}

// Reconnect implements reconnector, before a pass's next attempt: when the
// snapshot reads host-direct and its host no longer serves the descriptor
// (the host went down or into maintenance, its HTTPS port closed, tickets
// refused), the rest of the pass reads through vCenter's proxy, with a
// warning. Without it every attempt failed on the same host and the job was
// paused although vCenter could serve the reads. The next pass tries the
// host again (openReader).
func (v *vsSnapshot) Reconnect(ctx context.Context) {
	if v.host == nil || ctx.Err() != nil {
		return
	}
	for _, d := range v.disks {
		_, err := v.readDescriptor(ctx, d)
		if err == nil || ctx.Err() != nil || isDescriptorRefusal(err) {
			return
		}
		v.streams.closeAll()
		// What it means before the host's error, which names a URL: a
		// dashboard that has room for a few lines shows that first.
		v.s.warn(fmt.Sprintf("VM %s: reading disks through vCenter's /folder proxy, not host-direct: ESXi host %s (%s) stopped answering during a pass; the pass goes on through the proxy, the slowest read path (virt-v2v calls it so; expect several times slower passes and a longer cutover), and the next pass tries the host again. The host's error: %v", v.vmName, v.host.name, v.host.base.Host, err))
		v.host = nil
		return
	}
}

// dsName is the datastore of "[ds] path".
func dsName(fileName string) string {
	var p object.DatastorePath
	p.FromString(fileName)
	return p.Datastore
}

// descriptorRefusal marks a descriptor ferry read and refused.
type descriptorRefusal struct{ error }

func isDescriptorRefusal(err error) bool {
	var r descriptorRefusal
	return errors.As(err, &r)
}
