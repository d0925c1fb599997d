package lab_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestESXiHostFolderNeedsTicket: each on-prem ESXi host serves /folder on
// the address vCenter reports for it (management IP, summary.config.port),
// with a lab-CA certificate, and answers only a request carrying a ticket
// vCenter issued for that URL and method, once. vCenter's own /folder reads
// are counted apart.
func TestESXiHostFolderNeedsTicket(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	ctx := context.Background()
	vm, err := c.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	host := hostOf(t, c, vm.Ref.Reference())
	ips, err := object.NewHostSystem(c.Client.Client, host.Self).ManagementIPs(ctx)
	if err != nil || len(ips) == 0 {
		t.Fatalf("management IPs of %s: %v %v", host.Name, ips, err)
	}
	addr := net.JoinHostPort(ips[0].String(), strconv.Itoa(int(host.Summary.Config.Port)))
	if got := l.OnPrem.ESX.Addr(host.Name); got != addr {
		t.Fatalf("host %s: vCenter reports %s, the lab serves it at %s", host.Name, addr, got)
	}
	// A running VM's base disk is readable once a snapshot freezes it
	// (TestRunningVMsDiskIsLocked).
	snapshot(ctx, t, object.NewVirtualMachine(c.Client.Client, vm.Ref.Reference()), "pass")
	flat := l.OnPrem.FlatFile("WebApp1")
	want, err := os.ReadFile(flat)
	if err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "https", Host: addr, Path: "/folder/WebApp1/WebApp1-flat.vmdk", RawQuery: url.Values{"dsName": {"onprem-ds"}}.Encode()}
	ticket := func(u url.URL, method string) string {
		t.Helper()
		res, err := methods.AcquireGenericServiceTicket(ctx, c.Client.Client, &types.AcquireGenericServiceTicket{
			This: *c.Client.ServiceContent.SessionManager,
			Spec: &types.SessionManagerHttpServiceRequestSpec{Url: u.String(), Method: method},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Returnval.HostName != host.Name {
			t.Errorf("ticket names host %q, want %q", res.Returnval.HostName, host.Name)
		}
		return res.Returnval.Id
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: l.CA.Pool}}}
	get := func(u url.URL, id, rng string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		if id != "" {
			req.AddCookie(&http.Cookie{Name: "vmware_cgi_ticket", Value: id})
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		res, err := hc.Do(req) // verified against the lab CA
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}

	proxy0 := l.OnPrem.ESX.ProxyReads()
	id := ticket(u, "httpGet")
	code, b := get(u, id, "bytes=4096-8191")
	if code != http.StatusPartialContent || !bytes.Equal(b, want[4096:8192]) {
		t.Fatalf("GET with a ticket: %d, %d bytes (want 206 and the flat file's bytes)", code, len(b))
	}
	if code, _ := get(u, id, "bytes=0-1"); code != http.StatusUnauthorized {
		t.Errorf("second use of a ticket: %d, want 401", code)
	}
	if code, _ := get(u, "", "bytes=0-1"); code != http.StatusUnauthorized {
		t.Errorf("no ticket: %d, want 401", code)
	}
	other := u
	other.Path = "/folder/WebApp2/WebApp2-flat.vmdk"
	if code, _ := get(other, ticket(u, "httpGet"), "bytes=0-1"); code != http.StatusUnauthorized {
		t.Errorf("ticket for another file: %d, want 401", code)
	}
	if code, _ := get(u, ticket(u, "httpPut"), "bytes=0-1"); code != http.StatusUnauthorized {
		t.Errorf("ticket for another method: %d, want 401", code)
	}
	if code, _ := get(u, "made-up", "bytes=0-1"); code != http.StatusUnauthorized {
		t.Errorf("made-up ticket: %d, want 401", code)
	}
	if l.OnPrem.ESX.ProxyReads() != proxy0 || l.OnPrem.ESX.HostReads() != 1 {
		t.Errorf("proxy reads %d -> %d, host reads %d: want no proxy read and 1 host read", proxy0, l.OnPrem.ESX.ProxyReads(), l.OnPrem.ESX.HostReads())
	}

	// A URL naming no host of this vCenter gets no ticket.
	bad := u
	bad.Host = "127.0.0.1:1"
	if _, err := methods.AcquireGenericServiceTicket(ctx, c.Client.Client, &types.AcquireGenericServiceTicket{
		This: *c.Client.ServiceContent.SessionManager,
		Spec: &types.SessionManagerHttpServiceRequestSpec{Url: bad.String(), Method: "httpGet"},
	}); err == nil {
		t.Error("ticket for a URL of no host: issued")
	}

	// vCenter's proxy still answers with the session cookie, and is counted.
	pu := *c.Client.Client.URL()
	pu.User = nil
	pu.Path, pu.RawQuery = u.Path, url.Values{"dsName": {"onprem-ds"}, "dcPath": {"OnPrem-DC"}}.Encode()
	req, _ := http.NewRequest(http.MethodGet, pu.String(), nil)
	req.Header.Set("Range", "bytes=0-15")
	if err := c.Client.Client.Client.Do(ctx, req, func(res *http.Response) error {
		if res.StatusCode != http.StatusPartialContent {
			t.Errorf("proxy GET: %s", res.Status)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if l.OnPrem.ESX.ProxyReads() != proxy0+1 {
		t.Errorf("proxy reads %d -> %d after one proxied GET", proxy0, l.OnPrem.ESX.ProxyReads())
	}
}

// TestLabDescriptorsAreESXi: every disk descriptor on the on-prem datastores
// is one ESXi would write, and ferry's parser finds each base disk's flat
// extent (of the disk's size) and refuses every other kind.
func TestLabDescriptorsAreESXi(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	// The descriptor itself says what the disk is for these kinds; an
	// independent disk, or the base under a snapshot or a linked clone, is
	// a plain base disk on the datastore (the VM's configuration refuses it).
	refused := map[string]bool{}
	for _, vm := range lab.RefusedVMs {
		switch vm.Disk {
		case lab.DiskRDMPhysical, lab.DiskRDMVirtual, lab.DiskVSAN, lab.DiskVVol, lab.DiskEncrypted:
			refused[vm.Name] = true
		}
	}
	n := 0
	for _, vm := range lab.OnPremSpec(16 << 20).VMs {
		matches, _ := filepath.Glob(filepath.Join(filepath.Dir(l.OnPrem.DatastoreDir), "onprem-*", vm.Name, "*.vmdk"))
		for _, p := range matches {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(raw, []byte("# Disk DescriptorFile")) {
				continue // an extent
			}
			n++
			delta := bytes.Contains(raw, []byte("parentFileNameHint="))
			if !bytes.Contains(raw, []byte("ddb.uuid = ")) || !bytes.Contains(raw, []byte("CID=")) {
				t.Errorf("%s: no ddb.uuid or CID:\n%s", p, raw)
			}
			flat, err := replication.FlatExtent(raw, vm.DiskSize)
			switch {
			case delta && err == nil:
				t.Errorf("%s (%s): a delta disk parsed as a flat disk %q", p, vm.Disk, flat)
			case delta:
			case refused[vm.Name] && err == nil:
				t.Errorf("%s (%s): parsed as a flat disk %q", p, vm.Disk, flat)
			case !refused[vm.Name] && err != nil:
				t.Errorf("%s: %v", p, err)
			case !refused[vm.Name]:
				if !bytes.Contains(raw, []byte(`createType="vmfs"`)) || !bytes.Contains(raw, []byte("parentCID=ffffffff")) {
					t.Errorf("%s: not an ESXi base disk descriptor:\n%s", p, raw)
				}
				fi, err := os.Stat(filepath.Join(filepath.Dir(p), flat))
				if err != nil || fi.Size() != vm.DiskSize {
					t.Errorf("%s: flat extent %s: %v %v (want %d bytes)", p, flat, err, fi, vm.DiskSize)
				}
			}
		}
	}
	if want := len(lab.OnPremSpec(16 << 20).VMs); n < want {
		t.Errorf("found %d descriptors, want at least %d", n, want)
	}
}

// hostOf is the host that runs the VM ref: its name and port.
func hostOf(t *testing.T, c *vsphere.Client, ref types.ManagedObjectReference) mo.HostSystem {
	t.Helper()
	ctx := context.Background()
	var mvm mo.VirtualMachine
	pc := property.DefaultCollector(c.Client.Client)
	if err := pc.RetrieveOne(ctx, ref, []string{"runtime.host"}, &mvm); err != nil {
		t.Fatal(err)
	}
	var host mo.HostSystem
	if err := pc.RetrieveOne(ctx, *mvm.Runtime.Host, []string{"name", "summary.config.port"}, &host); err != nil {
		t.Fatal(err)
	}
	return host
}

// TestRunningVMsDiskIsLocked: a running VM without a snapshot writes its
// base disk, and ESXi holds that flat file locked: its /folder (host-direct
// with a valid ticket, and vCenter's proxy) cannot open it. A snapshot
// freezes the base (readable, as it was at the snapshot); removing the
// snapshot locks it again; a powered-off VM's disk is readable.
func TestRunningVMsDiskIsLocked(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	ctx := context.Background()
	vm, err := c.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	if vm.PowerState != vsphere.PoweredOn {
		t.Fatalf("WebApp1 is %s, want it running", vm.PowerState)
	}
	ref := vm.Ref.Reference()
	want, err := os.ReadFile(l.OnPrem.FlatFile("WebApp1"))
	if err != nil {
		t.Fatal(err)
	}
	host := hostOf(t, c, ref)
	u := url.URL{Scheme: "https", Host: l.OnPrem.ESX.Addr(host.Name), Path: "/folder/WebApp1/WebApp1-flat.vmdk", RawQuery: url.Values{"dsName": {"onprem-ds"}}.Encode()}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: l.CA.Pool}}}
	// hostGet reads the first 4 KiB from the host with a fresh ticket.
	hostGet := func() (int, string) {
		t.Helper()
		res, err := methods.AcquireGenericServiceTicket(ctx, c.Client.Client, &types.AcquireGenericServiceTicket{
			This: *c.Client.ServiceContent.SessionManager,
			Spec: &types.SessionManagerHttpServiceRequestSpec{Url: u.String(), Method: "httpGet"},
		})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		req.AddCookie(&http.Cookie{Name: "vmware_cgi_ticket", Value: res.Returnval.Id})
		req.Header.Set("Range", "bytes=0-4095")
		hres, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer hres.Body.Close()
		b, _ := io.ReadAll(hres.Body)
		return hres.StatusCode, string(b)
	}
	// proxyGet reads the first 4 KiB through vCenter's /folder.
	proxyGet := func() int {
		t.Helper()
		pu := *c.Client.Client.URL()
		pu.User = nil
		pu.Path, pu.RawQuery = u.Path, url.Values{"dsName": {"onprem-ds"}, "dcPath": {"OnPrem-DC"}}.Encode()
		req, _ := http.NewRequest(http.MethodGet, pu.String(), nil)
		req.Header.Set("Range", "bytes=0-4095")
		code := 0
		if err := c.Client.Client.Client.Do(ctx, req, func(res *http.Response) error { code = res.StatusCode; return nil }); err != nil {
			t.Fatal(err)
		}
		return code
	}
	locked := func(when string) {
		t.Helper()
		if code, body := hostGet(); code != http.StatusInternalServerError || !strings.Contains(body, "locked by the running virtual machine WebApp1") {
			t.Errorf("%s: host GET %d %.80q, want 500 naming the lock", when, code, body)
		}
		if code := proxyGet(); code != http.StatusInternalServerError {
			t.Errorf("%s: proxy GET %d, want 500", when, code)
		}
	}
	readable := func(when string) {
		t.Helper()
		if code, body := hostGet(); code != http.StatusPartialContent || body != string(want[:4096]) {
			t.Errorf("%s: host GET %d (%d bytes), want 206 and the disk's first 4 KiB", when, code, len(body))
		}
		if code := proxyGet(); code != http.StatusPartialContent {
			t.Errorf("%s: proxy GET %d, want 206", when, code)
		}
	}
	locked0 := l.OnPrem.ESX.Locked()
	locked("running, no snapshot")
	if n := l.OnPrem.ESX.Locked() - locked0; n != 2 {
		t.Errorf("%d GETs counted locked, want 2", n)
	}
	vmo := object.NewVirtualMachine(c.Client.Client, ref)
	snapshot(ctx, t, vmo, "pass")
	readable("running, with a snapshot")
	task, err := vmo.RemoveAllSnapshot(ctx, nil)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	locked("running, snapshot removed")
	if task, err = vmo.PowerOff(ctx); err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	readable("powered off")
}
