package vcd_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/lab/vcdsim"
	"github.com/ferry-migrate/ferry/vcd"
)

// TestEndedSessionLoggedInAgain: Cloud Director ended ferry's session (it
// went unused for the idle timeout; the lab's is short). The next
// requests, a create with a body among them and several at once, log in
// again and go through; the objects ferry fetched before stay usable.
func TestEndedSessionLoggedInAgain(t *testing.T) {
	t.Parallel()
	const idle = 500 * time.Millisecond
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, SessionIdle: idle})
	sys := labtest.VCD(t, l.Config().VCD)
	vdc, err := sys.VDCByName("Company", "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	egw, err := sys.EdgeGatewayByName(vdc, "company-edge")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * idle)
	// The first request after the session ended is a POST with a body.
	if _, err := vcd.CreateRoutedNetwork(vdc, egw, vcd.NetworkSpec{Name: "after-idle", GatewayCIDR: "172.16.40.1/24"}); err != nil {
		t.Fatalf("create a network after the session ended: %v", err)
	}
	time.Sleep(2 * idle)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = sys.VDCByName("Company", "Company-VDC") })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("request %d of 4 made together after the session ended: %v", i+1, err)
		}
	}
	// The network is there, as a new login of the tenant sees it.
	tenant := labtest.VCD(t, l.Config().Tenant)
	tvdc, err := tenant.VDCByName("Company", "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	if names, err := tvdc.NetworkNames(); err != nil || !slices.Contains(names, "after-idle") {
		t.Errorf("networks of Company-VDC %v (%v): want after-idle, created after the session ended", names, err)
	}
}

// TestRefusedReloginDoesNotLockTheTenant: the tenant's password was
// changed while ferry held its session, and Cloud Director ended the
// session later. The lab's tenant org locks a user after 5 refused logins
// in a row (its password policy): ferry logs in once, says why its
// requests fail (not "organization not found"), and does not try again
// for minutes, so the tenant's administrator is not locked out.
func TestRefusedReloginDoesNotLockTheTenant(t *testing.T) {
	t.Parallel()
	const idle = 500 * time.Millisecond
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, SessionIdle: idle})
	e := l.Config().Tenant
	c := labtest.VCD(t, e)
	if _, err := c.VDCByName(e.Org, "Company-VDC"); err != nil {
		t.Fatal(err)
	}
	l.VCD.SetPassword(e.Org, e.Username, "Changed-By-The-Admin-1")
	time.Sleep(2 * idle)
	for i := range 2 * vcdsim.TenantLockoutLogins {
		_, err := c.VDCByName(e.Org, "Company-VDC")
		if err == nil || !strings.Contains(err.Error(), "wrong username or password") {
			t.Fatalf("request %d after the session ended, with the password changed: %v, want the refused login", i+1, err)
		}
		if !strings.Contains(err.Error(), "so as not to lock the account") {
			t.Errorf("request %d: %v, want why ferry does not log in again", i+1, err)
		}
	}
	if n := l.VCD.RefusedLogins(e.Username); n != 1 {
		t.Errorf("Cloud Director refused %d logins of %s, want 1", n, e.Username)
	}
	if l.VCD.LockedOut(e.Username) {
		t.Errorf("%s is locked out", e.Username)
	}
}
