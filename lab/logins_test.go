package lab_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestAccountsLockAfterRefusedLogins: as vCenter's SSO (its default
// lockout policy), an account refused 5 logins within 3 minutes is locked,
// and then its right password is refused too. An admin may change an
// account's password: the old one is refused from then on.
func TestAccountsLockAfterRefusedLogins(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{WorkloadRate: -1})
	ctx := context.Background()
	login := func(user, pass string) error {
		u, err := soap.ParseURL(l.OnPrem.URL)
		if err != nil {
			t.Fatal(err)
		}
		c, err := vim25.NewClient(ctx, soap.NewClient(u, true))
		if err != nil {
			t.Fatal(err)
		}
		m := session.NewManager(c)
		if err := m.Login(ctx, url.UserPassword(user, pass)); err != nil {
			return err
		}
		return m.Logout(ctx)
	}
	if err := login(lab.FerryUser, l.OnPrem.FerryPassword); err != nil {
		t.Fatalf("ferry's account: %v", err)
	}
	l.OnPrem.SetPassword(lab.FerryUser, "New-Password-1")
	if err := login(lab.FerryUser, l.OnPrem.FerryPassword); err == nil {
		t.Fatal("the old password still logs in after the admin changed it")
	}
	if err := login(lab.FerryUser, "New-Password-1"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	for range lab.LockoutFailures {
		if err := login(lab.FerryUser, "wrong"); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}
	if !l.OnPrem.LockedOut(lab.FerryUser) {
		t.Errorf("not locked after %d refused logins", lab.LockoutFailures)
	}
	if err := login(lab.FerryUser, "New-Password-1"); err == nil {
		t.Error("a locked account logged in with its right password")
	}
	if n := l.OnPrem.RefusedLogins(lab.FerryUser); n != lab.LockoutFailures+2 {
		t.Errorf("refused logins: %d, want %d", n, lab.LockoutFailures+2)
	}
	// Another account is not locked.
	if err := login(l.OnPrem.Username, l.OnPrem.Password); err != nil {
		t.Errorf("the administrator: %v", err)
	}
}
