package vsphere

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/internal/lockout"
)

// relogin logs in to vCenter again when vCenter ended ferry's session, and
// retries the call that found out. vCenter ends an API session nobody used
// for 30 minutes (KB 1031039, config.vmacore.soap.sessionTimeout), or when
// it restarts or an admin terminates it; ferry holds its sessions for as
// long as it runs (ferry serve: days, with hours between a VM's last pass
// and its cutover). A NotAuthenticated fault means vCenter did not run the
// call, so running it again is safe. The credentials stay in this
// process's memory, as the login needs them; they are never written.
type relogin struct {
	rt    soap.RoundTripper
	login func(ctx context.Context) error

	mu      sync.Mutex
	logins  uint64          // logins done again (mu)
	refused lockout.Backoff // no login again at once after a refused one (mu)
}

// lockedBy says why a refused login is not tried again at once
// (lockout.Backoff).
var lockedBy = lockout.Account("vCenter locks one after a few refused logins")

func (r *relogin) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	switch req.(type) {
	case *methods.LoginBody, *methods.LoginByTokenBody, *methods.LoginExtensionByCertificateBody, *methods.LogoutBody:
		return r.rt.RoundTrip(ctx, req, res)
	}
	r.mu.Lock()
	seen := r.logins
	r.mu.Unlock()
	err := r.rt.RoundTrip(ctx, req, res)
	if !fault.Is(err, &types.NotAuthenticated{}) {
		return privilegeError(req, err)
	}
	if lerr := r.again(ctx, seen); lerr != nil {
		return fmt.Errorf("%w (vCenter ended ferry's session, and logging in again failed: %w)", err, lerr)
	}
	// The response holds the fault: a new one for the retry.
	if v := reflect.ValueOf(res); v.Kind() == reflect.Pointer && !v.IsNil() {
		v.Elem().Set(reflect.Zero(v.Elem().Type()))
	}
	return privilegeError(req, r.rt.RoundTrip(ctx, req, res))
}

// again logs in, unless another call did since seen (calls refused
// together log in once).
func (r *relogin) again(ctx context.Context, seen uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.logins != seen {
		return nil
	}
	if err := r.refused.Wait(lockedBy); err != nil {
		return err
	}
	if err := r.login(ctx); err != nil {
		if !errors.Is(err, ErrLogin) {
			return err
		}
		return r.refused.Refused(err, lockedBy)
	}
	r.refused.LoggedIn()
	r.logins++
	return nil
}

// userSession is the client's session as vCenter keeps it. Anyone may read
// it (privilege System.Anonymous): when vCenter ended the session it reads
// as null, with no NotAuthenticated fault for RoundTrip to log in again
// on. So a null session logs in again here, once, and is read again.
func (c *Client) userSession(ctx context.Context) (*types.UserSession, error) {
	var seen uint64
	if c.relogin != nil {
		c.relogin.mu.Lock()
		seen = c.relogin.logins
		c.relogin.mu.Unlock()
	}
	m := session.NewManager(c.Client.Client)
	us, err := m.UserSession(ctx)
	if err != nil || us != nil || c.relogin == nil {
		return us, err
	}
	if err := c.relogin.again(ctx, seen); err != nil {
		return nil, fmt.Errorf("vCenter ended ferry's session, and logging in again failed: %w", err)
	}
	return m.UserSession(ctx)
}
