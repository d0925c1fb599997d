// Package lockout keeps ferry from locking out the accounts it logs in
// with. vCenter's SSO locks an account after 5 refused logins within 3
// minutes (its default policy), NSX its API user after 5 within 15, and a
// Cloud Director org may lock a user after a few in a row: for every tool
// and person that uses the account. A login refused for its credentials
// (a password changed since ferry started) is therefore not tried again
// at once: after a refusal ferry waits First, doubled at each refusal up
// to Max, so that at most one login is refused in any 5 minutes, and a
// password restored meanwhile works again without a restart.
package lockout

import (
	"fmt"
	"time"
)

const (
	First = 5 * time.Minute
	Max   = time.Hour
)

// Backoff is the wait after the refused logins of one login. It is not
// safe for concurrent use: its owner's lock guards it.
type Backoff struct {
	err       error         // the last refusal (nil: none since the last login)
	notBefore time.Time     // no login again before
	wait      time.Duration // the wait after the last refusal
}

// Wait is the error to give instead of logging in now, nil when a login
// may be tried. why says why ferry waits and what to do (Account).
func (b *Backoff) Wait(why string) error {
	if b.err == nil || !time.Now().Before(b.notBefore) {
		return nil
	}
	return fmt.Errorf("%w; not tried again before %s, %s", b.err, b.notBefore.Format("15:04:05"), why)
}

// Refused records a login refused for its credentials (err) and returns
// the error to give for it; why as for Wait.
func (b *Backoff) Refused(err error, why string) error {
	b.wait = min(max(2*b.wait, First), Max)
	b.err, b.notBefore = err, time.Now().Add(b.wait)
	return fmt.Errorf("%w; ferry tries again at %s, not before, %s", err, b.notBefore.Format("15:04:05"), why)
}

// Account is Wait's and Refused's why for a password login: policy says
// who locks the account ("vCenter locks one after a few refused logins").
func Account(policy string) string {
	return "so as not to lock the account (" + policy + "): if its password changed, correct it and restart ferry"
}

// LoggedIn forgets the refusals: a login went through.
func (b *Backoff) LoggedIn() { b.err, b.wait = nil, 0 }
