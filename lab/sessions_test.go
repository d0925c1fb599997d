package lab_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestSessionsEndWhenIdle: as vCenter and Cloud Director do (30 minutes by
// default), the lab ends an API session nobody used for its idle timeout.
// A client that keeps calling keeps its session; once it ended, every call
// is refused as not authenticated (property reads too, which stock vcsim
// answers without a session) until the client logs in again; only the
// SessionManager's currentSession can be read, and is null. The clients
// here are govmomi's and go-vcloud-director's own, which never log in
// again by themselves.
func TestSessionsEndWhenIdle(t *testing.T) {
	t.Parallel()
	// Long enough that a loaded machine's stalls stay well inside it.
	const idle = 2 * time.Second
	l := labtest.Start(t, lab.Options{SessionIdle: idle, WorkloadRate: -1})
	ctx := context.Background()
	for _, vc := range []*lab.VCenter{l.OnPrem, l.Provider} {
		u, err := soap.ParseURL(vc.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(vc.Username, vc.Password)
		c, err := govmomi.NewClient(ctx, u, true)
		if err != nil {
			t.Fatal(err)
		}
		read := func() error {
			var sm mo.SessionManager
			return property.DefaultCollector(c.Client).RetrieveOne(ctx, *c.ServiceContent.SessionManager, []string{"currentSession"}, &sm)
		}
		call := func() error {
			_, err := methods.GetCurrentTime(ctx, c.Client)
			return err
		}
		// In use for longer than the idle timeout: kept.
		for range 6 {
			time.Sleep(idle / 5)
			if err := read(); err != nil {
				t.Fatalf("%s: a session in use was ended: %v", vc.Spec.Name, err)
			}
		}
		// vCenter's /folder answers a live session only (a missing file:
		// 404 to a session, 401 without one).
		folder := func() int {
			u := *c.URL()
			u.User = nil
			u.Path, u.RawQuery = "/folder/no-such-file", url.Values{"dcPath": {vc.Spec.Datacenter}, "dsName": {vc.Spec.Datastore}}.Encode()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var status int
			if err := c.Client.Do(ctx, req, func(r *http.Response) error { status = r.StatusCode; return nil }); err != nil {
				t.Fatal(err)
			}
			return status
		}
		if got := folder(); got != http.StatusNotFound {
			t.Errorf("%s: /folder read with a live session: %d, want 404 (a missing file)", vc.Spec.Name, got)
		}
		time.Sleep(idle + idle/2)
		view := func() error {
			var f mo.Folder
			return property.DefaultCollector(c.Client).RetrieveOne(ctx, c.ServiceContent.RootFolder, []string{"name"}, &f)
		}
		for what, f := range map[string]func() error{"property read": view, "call": call} {
			if err := f(); !fault.Is(err, &types.NotAuthenticated{}) {
				t.Errorf("%s: %s with a session idle for %v: %v, want NotAuthenticated", vc.Spec.Name, what, idle+idle/2, err)
			}
		}
		// But anyone may read the SessionManager's currentSession
		// (System.Anonymous): null when not logged in, with no fault.
		if us, err := session.NewManager(c.Client).UserSession(ctx); err != nil || us != nil {
			t.Errorf("%s: currentSession with an ended session: %+v %v, want null and no fault", vc.Spec.Name, us, err)
		}
		// The read itself is answered (no fault a client would log in
		// again on), without a value.
		res, err := methods.RetrievePropertiesEx(ctx, c.Client, &types.RetrievePropertiesEx{This: c.ServiceContent.PropertyCollector, SpecSet: []types.PropertyFilterSpec{{
			PropSet:   []types.PropertySpec{{Type: "SessionManager", PathSet: []string{"currentSession"}}},
			ObjectSet: []types.ObjectSpec{{Obj: *c.ServiceContent.SessionManager}},
		}}})
		if err != nil {
			t.Errorf("%s: reading currentSession with an ended session: %v, want an answer", vc.Spec.Name, err)
		} else if res.Returnval != nil {
			for _, oc := range res.Returnval.Objects {
				if len(oc.PropSet) > 0 {
					t.Errorf("%s: currentSession with an ended session: %+v, want null", vc.Spec.Name, oc.PropSet)
				}
			}
		}
		if got := folder(); got != http.StatusUnauthorized {
			t.Errorf("%s: /folder read with an ended session: %d, want 401", vc.Spec.Name, got)
		}
		if err := c.Login(ctx, u.User); err != nil {
			t.Fatal(err)
		}
		if err := call(); err != nil {
			t.Errorf("%s: logged in again: %v", vc.Spec.Name, err)
		}
		_ = c.Logout(ctx)
	}

	pem, err := os.ReadFile(l.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	e := l.Config().Tenant
	u, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := govcd.NewVCDClient(*u, false)
	c.Client.Http.Transport.(*http.Transport).TLSClientConfig.RootCAs = pool
	if err := c.Authenticate(e.Username, e.Password, e.Org); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		time.Sleep(idle / 3)
		if _, err := c.Client.GetSessionInfo(); err != nil {
			t.Fatalf("Cloud Director: a session in use was ended: %v", err)
		}
	}
	time.Sleep(idle + idle/2)
	if _, err := c.GetOrgList(); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Cloud Director: a call with a session idle for %v: %v, want 401", idle+idle/2, err)
	}
	if err := c.Authenticate(e.Username, e.Password, e.Org); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetOrgList(); err != nil {
		t.Errorf("Cloud Director: logged in again: %v", err)
	}
}
