package vcdsim

import (
	"testing"
)

// TestTenantLockout: the lab's tenant org locks a user after
// TenantLockoutLogins refused logins in a row (its password policy), and
// then its right password is refused too; a password an admin changed
// refuses the old one. The System administrator is not locked.
func TestTenantLockout(t *testing.T) {
	e := start(t, Config{})
	login := func(user, pass, org string) error { return e.client(t).Authenticate(user, pass, org) }
	e.srv.SetPassword("Company", "companyadmin", "New-Password-1")
	if err := login("companyadmin", "VMware1!", "Company"); err == nil {
		t.Fatal("the old password logs in after the admin changed it")
	}
	if err := login("companyadmin", "New-Password-1", "Company"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	for range TenantLockoutLogins {
		if err := login("companyadmin", "wrong", "Company"); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}
	if !e.srv.LockedOut("companyadmin") {
		t.Errorf("not locked after %d refused logins in a row", TenantLockoutLogins)
	}
	if err := login("companyadmin", "New-Password-1", "Company"); err == nil {
		t.Error("a locked user logged in with its right password")
	}
	if n := e.srv.RefusedLogins("companyadmin"); n != TenantLockoutLogins+2 {
		t.Errorf("refused logins: %d, want %d", n, TenantLockoutLogins+2)
	}
	for range TenantLockoutLogins {
		_ = login("administrator", "wrong", "System")
	}
	if err := login("administrator", "VMware1!", "System"); err != nil {
		t.Errorf("the System administrator after refused logins: %v", err)
	}
}
