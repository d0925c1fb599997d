package vsphere_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestPrivilegesAfterTheSessionEnded: vCenter ends a session nobody used
// for a while (30 minutes; this lab: 2 s), and its currentSession then
// reads as null, with no fault (anyone may read it). ferry's first call
// after a long wait can be the privilege check of step 7 or of a
// cutover, which asks vCenter for its own session: it logs in again and
// checks, instead of failing "not logged in".
func TestPrivilegesAfterTheSessionEnded(t *testing.T) {
	t.Parallel()
	const idle = 2 * time.Second
	l := labtest.Start(t, lab.Options{SessionIdle: idle, WorkloadRate: -1})
	ctx := context.Background()
	c := connectTo(t, l, l.OnPrem)
	vm, err := c.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	demands := []vsphere.Demand{{Ref: vm.Ref, Object: "VM WebApp1", Needs: []vsphere.Need{{Privilege: "VirtualMachine.Interact.PowerOn", For: "power it on"}}}}
	if missing, err := c.MissingPrivileges(ctx, demands); err != nil || len(missing) > 0 {
		t.Fatalf("privileges with a live session: %v %v", missing, err)
	}
	time.Sleep(idle + idle/2)
	if missing, err := c.MissingPrivileges(ctx, demands); err != nil || len(missing) > 0 {
		t.Fatalf("privileges after vCenter ended the session: %v %v, want them checked (ferry logs in again)", missing, err)
	}
	time.Sleep(idle + idle/2)
	if got := c.UserName(ctx); got == "" {
		t.Errorf("user after vCenter ended the session: none, want ferry's account (%s)", l.OnPrem.Username)
	}
}

// TestRefusedReloginDoesNotLockTheAccount: ferry serve holds its vCenter
// session for days; when vCenter ended it and ferry's password was
// changed meanwhile, every call would log in again with the old one, and
// vCenter's SSO locks an account after 5 refused logins in 3 minutes:
// ferry would lock its service account for everyone who uses it. ferry
// tries once, says why its calls fail, and does not try again for
// minutes.
func TestRefusedReloginDoesNotLockTheAccount(t *testing.T) {
	t.Parallel()
	const idle = 2 * time.Second
	l := labtest.Start(t, lab.Options{SessionIdle: idle, WorkloadRate: -1})
	ctx := context.Background()
	c, err := vsphere.Connect(ctx, vsphere.Config{URL: l.OnPrem.URL, Username: lab.FerryUser, Password: l.OnPrem.FerryPassword, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.VMByName(ctx, "WebApp1"); err != nil {
		t.Fatal(err)
	}
	// An admin changes ferry's password; ferry's session ends later.
	l.OnPrem.SetPassword(lab.FerryUser, "Changed-By-The-Admin-1")
	time.Sleep(idle + idle/2)
	for i := range 2 * lab.LockoutFailures {
		_, err := c.VMByName(ctx, "WebApp1")
		if !errors.Is(err, vsphere.ErrLogin) {
			t.Fatalf("call %d after the session ended, with the password changed: %v, want the refused login (ErrLogin)", i+1, err)
		}
		if i > 0 && !strings.Contains(err.Error(), "so as not to lock the account") {
			t.Errorf("call %d: %v, want why ferry does not log in again", i+1, err)
		}
	}
	if n := l.OnPrem.RefusedLogins(lab.FerryUser); n != 1 {
		t.Errorf("vCenter refused %d logins of ferry's account, want 1", n)
	}
	if l.OnPrem.LockedOut(lab.FerryUser) {
		t.Error("ferry's account is locked out")
	}
}
