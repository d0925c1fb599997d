package lab

import (
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

// Account lockout as vCenter Single Sign-On's default policy has it: an
// account refused LockoutFailures logins within LockoutWindow is locked
// for LockoutUnlock, and while locked every login of it is refused, with
// the right password too. A client that logs in again with a password
// that was changed (ferry serve holds its sessions for days) locks the
// account for everyone who uses it. Stock vcsim accepts any number of
// refused logins.
const (
	LockoutFailures = 5
	LockoutWindow   = 180 * time.Second
	LockoutUnlock   = 300 * time.Second
)

// accounts are a vCenter's accounts by principal: their passwords, which
// an admin may change (VCenter.SetPassword), and their refused logins.
type accounts struct {
	mu        sync.Mutex
	passwords map[string]string      // principal -> password
	failures  map[string][]time.Time // principal -> refused logins within LockoutWindow
	locked    map[string]time.Time   // principal -> locked until
	refused   map[string]int         // principal -> refused logins in all
}

func newAccounts(passwords map[string]string) *accounts {
	return &accounts{passwords: passwords, failures: map[string][]time.Time{}, locked: map[string]time.Time{}, refused: map[string]int{}}
}

// valid is vcsim's ValidLogin: the principal's password, unless the
// account is locked; a refusal counts towards a lock.
func (a *accounts) valid(req *types.Login) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	pass, known := a.passwords[req.UserName]
	if !known {
		return false
	}
	if now.Before(a.locked[req.UserName]) {
		a.refused[req.UserName]++
		return false
	}
	if req.Password == pass {
		delete(a.failures, req.UserName)
		return true
	}
	a.refused[req.UserName]++
	recent := []time.Time{now}
	for _, t := range a.failures[req.UserName] {
		if now.Sub(t) <= LockoutWindow {
			recent = append(recent, t)
		}
	}
	a.failures[req.UserName] = recent
	if len(recent) >= LockoutFailures {
		a.locked[req.UserName] = now.Add(LockoutUnlock)
		delete(a.failures, req.UserName)
	}
	return false
}

// SetPassword changes the password of an account (its login name, e.g.
// FerryUser, or its principal), as an admin does in vCenter's SSO:
// sessions logged in before keep going; a login with the old password is
// refused.
func (vc *VCenter) SetPassword(login, password string) {
	p := vc.principal(login)
	vc.accounts.mu.Lock()
	defer vc.accounts.mu.Unlock()
	if _, ok := vc.accounts.passwords[p]; ok {
		vc.accounts.passwords[p] = password
	}
}

// RefusedLogins is how many logins of the account vCenter refused.
func (vc *VCenter) RefusedLogins(login string) int {
	vc.accounts.mu.Lock()
	defer vc.accounts.mu.Unlock()
	return vc.accounts.refused[vc.principal(login)]
}

// LockedOut says whether vCenter locked the account (LockoutFailures
// refused logins within LockoutWindow).
func (vc *VCenter) LockedOut(login string) bool {
	vc.accounts.mu.Lock()
	defer vc.accounts.mu.Unlock()
	return time.Now().Before(vc.accounts.locked[vc.principal(login)])
}

func (vc *VCenter) principal(login string) string {
	switch login {
	case vc.Username:
		return AdminPrincipal
	case FerryUser:
		return FerryPrincipal
	}
	return login
}
