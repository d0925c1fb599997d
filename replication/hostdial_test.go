package replication

import (
	"bytes"
	"crypto/rand"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
)

// TestHostDialChecksCertificate: host-direct reads dial ESXi themselves
// (to batch reads beneath TLS), so they must check the host's certificate
// as govmomi does: a certificate the configured trust does not accept is
// refused unless its thumbprint is the one vCenter vouched for; with that
// thumbprint the read succeeds and returns every byte.
func TestHostDialChecksCertificate(t *testing.T) {
	body := make([]byte, 3<<20+17)
	_, _ = rand.Read(body)
	host := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(body)
	}))
	host.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	host.StartTLS()
	defer host.Close()
	u, _ := url.Parse("https://vcenter.invalid/sdk")
	vc := soap.NewClient(u, false)
	src := NewVSphereSource(&vim25.Client{Client: vc}, vim25.ServiceInstance)
	addr := strings.TrimPrefix(host.URL, "https://")
	get := func() ([]byte, error) {
		res, err := src.hostClient().Get(host.URL + "/folder/x-flat.vmdk")
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		return io.ReadAll(res.Body)
	}

	if _, err := get(); err == nil || !soap.IsCertificateUntrusted(err) {
		t.Fatalf("untrusted host, no thumbprint: %v, want a certificate error", err)
	}
	vc.SetThumbprint(addr, "AA:BB:CC")
	if _, err := get(); err == nil || !strings.Contains(err.Error(), "thumbprint does not match") {
		t.Fatalf("untrusted host, wrong thumbprint: %v, want a thumbprint mismatch", err)
	}
	for _, tp := range []string{soap.ThumbprintSHA1(host.Certificate()), soap.ThumbprintSHA256(host.Certificate())} {
		vc.SetThumbprint(addr, tp)
		got, err := get()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("thumbprint %s vouched for: %d bytes, %v; want the %d bytes served", tp, len(got), err, len(body))
		}
		src.hostClient().CloseIdleConnections()
	}
}
