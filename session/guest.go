package session

import (
	"context"
	"fmt"

	"github.com/ferry-migrate/ferry/probe"
	"github.com/ferry-migrate/ferry/vsphere"
)

// Guest login environment variables for guest-operation probes.
const (
	EnvGuestUser     = "FERRY_GUEST_USER"
	EnvGuestPassword = "FERRY_GUEST_PASSWORD"
)

// GuestPing is a probe that pings to from inside the on-prem VM from
// through VMware Tools, logged in with the configured guest login (a missing
// user or password is asked for through Secret).
func (s *Session) GuestPing(ctx context.Context, from, to string) (probe.Prober, error) {
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
	return probe.Func{
		Name: fmt.Sprintf("guest ping %s -> %s", from, to),
		F:    func(ctx context.Context) error { return onprem.GuestPing(ctx, vm.Ref, auth, to) },
	}, nil
}

// GuestAuth is the guest OS login of guest operations: the configured one,
// or what Secret gives for a missing user or password.
func (s *Session) GuestAuth() (vsphere.GuestAuth, error) {
	user, err := s.orSecret(s.Config.Guest.Username, EnvGuestUser, "the guest OS login for guest-operation probes")
	if err != nil {
		return vsphere.GuestAuth{}, err
	}
	pass, err := s.orSecret(s.Config.Guest.Password, EnvGuestPassword, "the guest OS password for guest-operation probes")
	if err != nil {
		return vsphere.GuestAuth{}, err
	}
	return vsphere.GuestAuth{Username: user, Password: pass}, nil
}
