package vcdsim

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
)

func TestLoginAndLookups(t *testing.T) {
	trace := &syncBuffer{}
	env := start(t, Config{Log: slog.New(slog.NewTextHandler(trace, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	defer func() {
		if !strings.Contains(trace.String(), "path=/api/versions status=200") {
			t.Errorf("no request trace:\n%s", trace.String())
		}
	}()

	if err := env.client(t).Authenticate("administrator", "wrong", "System"); err == nil {
		t.Fatal("provider login with a bad password succeeded")
	}
	if err := env.client(t).Authenticate("companyadmin", "VMware1!", "Other"); err == nil {
		t.Fatal("tenant login to an unknown org succeeded")
	}

	for _, login := range []string{"provider", "tenant"} {
		t.Run(login, func(t *testing.T) {
			c := env.provider(t)
			if login == "tenant" {
				c = env.tenant(t)
			}
			org := must(c.GetOrgByName("Company"))(t)
			if org.Org.Name != "Company" || !strings.HasPrefix(org.Org.HREF, "https://127.0.0.1:") {
				t.Fatalf("org = %q %q", org.Org.Name, org.Org.HREF)
			}
			vdc := must(org.GetVDCByName("Company-VDC", false))(t)
			if vdc.Vdc.ID == "" || !strings.HasPrefix(vdc.Vdc.ID, "urn:vcloud:vdc:") {
				t.Fatalf("vdc id %q", vdc.Vdc.ID)
			}
			if _, err := org.GetVDCByName("nope", false); err == nil {
				t.Fatal("unknown VDC found")
			}
			egw := must(vdc.GetNsxtEdgeGatewayByName("company-edge"))(t)
			if egw.EdgeGateway.GatewayBacking.GatewayType != "NSXT_BACKED" {
				t.Fatalf("edge backing %+v", egw.EdgeGateway.GatewayBacking)
			}
			used := must(egw.GetUsedIpAddresses(nil))(t)
			if len(used) == 0 || used[0].IPAddress != "203.0.113.10" {
				t.Fatalf("used IPs %+v", used)
			}
			adminOrg := must(c.GetAdminOrgByName("Company"))(t)
			if adminOrg.AdminOrg.ID != org.Org.ID {
				t.Fatalf("admin org id %q != %q", adminOrg.AdminOrg.ID, org.Org.ID)
			}
		})
	}

	c := env.provider(t)
	v, err := c.Client.GetVcdShortVersion()
	if err != nil || v != "10.5.1" {
		t.Fatalf("vcd version %q, %v", v, err)
	}
	if !c.Client.APIVCDMaxVersionIs(">= 38.1") {
		t.Fatal("max API version is below 38.1")
	}
	// A client pinned to the highest advertised version works too.
	u, _ := url.Parse(env.srv.URL())
	c381 := govcd.NewVCDClient(*u, false, govcd.WithAPIVersion("38.1"))
	c381.Client.Http.Transport.(*http.Transport).TLSClientConfig.RootCAs = env.pool
	if err := c381.Authenticate("companyadmin", "VMware1!", "Company"); err != nil {
		t.Fatal(err)
	}
	vdc381 := must(must(c381.GetOrgByName("Company"))(t).GetVDCByName("Company-VDC", false))(t)
	must(vdc381.GetNsxtEdgeGatewayByName("company-edge"))(t)

	// An endpoint the simulator lacks answers a vCD error naming it.
	var x struct{}
	if _, err := c.Client.ExecuteRequest(strings.TrimSuffix(env.srv.URL(), "/api")+"/api/admin/extension/providerVdcReferences", http.MethodGet,
		"", "unimplemented: %s", nil, &x); err == nil || !strings.Contains(err.Error(), "does not implement") {
		t.Fatalf("unimplemented endpoint: %v", err)
	}

	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetOrgByName("Company"); err == nil {
		t.Fatal("the session still works after Disconnect")
	}
}

// syncBuffer is a bytes.Buffer the server's goroutines can write to while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
