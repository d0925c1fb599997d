package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/probe"
	"github.com/ferry-migrate/ferry/vsphere"
)

// Guest login environment variables for guest-operation probes.
const (
	EnvGuestUser     = "FERRY_GUEST_USER"
	EnvGuestPassword = "FERRY_GUEST_PASSWORD"
)

// Moved finds a VM that no longer runs on-prem (cut over): the vCenter it
// runs in now and its reference there; ok false when it is nowhere else.
type Moved func(ctx context.Context) (c *vsphere.Client, vm vsphere.Ref, ok bool, err error)

// GuestPing is a probe that pings to from inside the VM from through VMware
// Tools, logged in with the configured guest login (a missing user or
// password is asked for through Secret). It pings from where from runs:
// the on-prem VM while it is powered on, else the VM moved finds (its
// cutover target, in the provider vCenter) once that is powered on; a
// from: VM running in neither fails the probe saying so. moved may be nil
// (from is not migrated).
func (s *Session) GuestPing(ctx context.Context, from, to string, moved Moved) (probe.Prober, error) {
	auth, err := s.GuestAuth()
	if err != nil {
		return nil, err
	}
	onprem, err := s.OnPrem(ctx)
	if err != nil {
		return nil, err
	}
	vm, err := onprem.VMByName(ctx, from)
	if err != nil {
		return nil, err
	}
	w := &guestWhere{name: from, onprem: onprem, vm: vm.Ref, moved: moved}
	return probe.Func{
		Name: fmt.Sprintf("guest ping %s -> %s", from, to),
		F: func(ctx context.Context) error {
			c, ref, err := w.find(ctx)
			if err != nil {
				return err
			}
			return c.GuestPing(ctx, ref, auth, to)
		},
	}, nil
}

// guestWhere finds where a guest probe's from: VM runs now.
type guestWhere struct {
	name   string
	onprem *vsphere.Client
	vm     vsphere.Ref
	moved  Moved

	mu     sync.Mutex
	there  *vsphere.Client // where moved found it, once found
	target vsphere.Ref
	// missed is when moved last found nothing (or failed), and why: a
	// lookup may list a vCenter's VMs, so a probe hurried to every few
	// milliseconds in a cutover window asks again at most every
	// movedEvery.
	missed    time.Time
	missedErr error
}

// movedEvery bounds how often a guest probe looks for its moved VM.
const movedEvery = time.Second

func (w *guestWhere) find(ctx context.Context) (*vsphere.Client, vsphere.Ref, error) {
	st, err := w.onprem.PowerState(ctx, w.vm)
	if err != nil || st == vsphere.PoweredOn || w.moved == nil {
		// Unreadable: try there anyway, and fail with its own reason.
		return w.onprem, w.vm, nil
	}
	there, target, err := w.located(ctx, st)
	if err != nil {
		return nil, vsphere.Ref{}, err
	}
	st2, err := there.PowerState(ctx, target)
	switch {
	case err != nil:
		// Gone (a rolled-back cutover removed it; a retry makes another):
		// the next probe looks for it again.
		w.mu.Lock()
		w.there = nil
		w.mu.Unlock()
		return nil, vsphere.Ref{}, fmt.Errorf("%s is %s on-prem; where it was cut over to: %w", w.name, st, err)
	case st2 != vsphere.PoweredOn:
		return nil, vsphere.Ref{}, fmt.Errorf("%s is %s on-prem and %s where it was cut over to (%s): no guest to ping from", w.name, st, st2, there.Endpoint)
	}
	return there, target, nil
}

// located is where moved found the VM (st on-prem), looked up when not
// known, at most every movedEvery.
func (w *guestWhere) located(ctx context.Context, st vsphere.PowerState) (*vsphere.Client, vsphere.Ref, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.there != nil {
		return w.there, w.target, nil
	}
	if time.Since(w.missed) < movedEvery {
		return nil, vsphere.Ref{}, w.missedErr
	}
	c, ref, ok, err := w.moved(ctx)
	switch {
	case err != nil:
		err = fmt.Errorf("%s is %s on-prem; finding it where it was cut over to: %w", w.name, st, err)
	case !ok:
		err = fmt.Errorf("%s is %s on-prem and runs nowhere else: no guest to ping from", w.name, st)
	}
	if err != nil {
		w.missed, w.missedErr = time.Now(), err
		return nil, vsphere.Ref{}, err
	}
	w.there, w.target = c, ref
	return c, ref, nil
}

// GuestAuth is the guest OS login of guest operations: the configured one,
// or what Secret gives for a missing user or password.
func (s *Session) GuestAuth() (vsphere.GuestAuth, error) {
	user, err := s.orSecret(s.Config.Guest.Username, EnvGuestUser, "the guest OS login for guest-operation probes")
	if errors.Is(err, ErrSecretMissing) {
		return vsphere.GuestAuth{}, fmt.Errorf("%w (or guest.username in the config)", err)
	}
	if err != nil {
		return vsphere.GuestAuth{}, err
	}
	pass, err := s.orSecret(s.Config.Guest.Password, EnvGuestPassword, "the guest OS password for guest-operation probes")
	if errors.Is(err, ErrSecretMissing) {
		return vsphere.GuestAuth{}, fmt.Errorf("%w (or guest.password in the config)", err)
	}
	if err != nil {
		return vsphere.GuestAuth{}, err
	}
	return vsphere.GuestAuth{Username: user, Password: pass}, nil
}
