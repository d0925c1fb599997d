package vcdsim

import (
	"strings"
	"time"
)

// Account lockout of the tenant org, as an org's password policy sets it
// (OrgPasswordPolicySettings: AccountLockoutEnabled,
// InvalidLoginsBeforeLockout, AccountLockoutIntervalMinutes): the lab's
// tenant org has it on, TenantLockoutLogins refused logins in a row lock
// the user for TenantLockoutInterval, and meanwhile its right password is
// refused too. A client that logs in again with a password changed since
// locks the tenant's administrator out for everyone. The System org's
// administrator is not locked (its own switch,
// AdminAccountLockoutEnabled, is off).
const (
	TenantLockoutLogins   = 5
	TenantLockoutInterval = 10 * time.Minute
)

// lockout is the tenant org's record of refused logins (under Server.mu).
type lockout struct {
	inARow  map[string]int       // user -> refused logins in a row
	until   map[string]time.Time // user -> locked until
	refused map[string]int       // user -> refused logins in all
}

// tenantLogin checks a tenant user's password against the org's lockout
// and records the outcome; it says whether the login is let in.
func (m *model) tenantLogin(user, pass string) bool {
	l := &m.lockout
	if l.inARow == nil {
		l.inARow, l.until, l.refused = map[string]int{}, map[string]time.Time{}, map[string]int{}
	}
	now := time.Now()
	if now.Before(l.until[user]) {
		l.refused[user]++
		return false
	}
	if user == m.cfg.TenantUser && pass == m.cfg.TenantPassword {
		delete(l.inARow, user)
		return true
	}
	l.refused[user]++
	l.inARow[user]++
	if l.inARow[user] >= TenantLockoutLogins {
		l.until[user] = now.Add(TenantLockoutInterval)
		delete(l.inARow, user)
	}
	return false
}

// SetPassword changes the password of the System administrator or of the
// tenant org's user (org "System" or the tenant org), as an admin does:
// sessions logged in before keep going; the old password is refused.
func (s *Server) SetPassword(org, user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.EqualFold(org, "System") && user == s.m.cfg.SystemUser:
		s.m.cfg.SystemPassword = password
	case strings.EqualFold(org, s.m.cfg.TenantOrg) && user == s.m.cfg.TenantUser:
		s.m.cfg.TenantPassword = password
	}
}

// RefusedLogins is how many logins of the tenant org's user were refused.
func (s *Server) RefusedLogins(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.lockout.refused[user]
}

// LockedOut says whether the tenant org's user is locked out.
func (s *Server) LockedOut(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Before(s.m.lockout.until[user])
}
