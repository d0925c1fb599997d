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
	user, err := s.orSecret(s.Config.Guest.Username, EnvGuestUser, "the guest OS login for guest-operation probes")
	if err != nil {
		return nil, err
	}
	pass, err := s.orSecret(s.Config.Guest.Password, EnvGuestPassword, "the guest OS password for guest-operation probes")
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
	auth := vsphere.GuestAuth{Username: user, Password: pass}
	return probe.Func{
		Name: fmt.Sprintf("guest ping %s -> %s", from, to),
		F:    func(ctx context.Context) error { return onprem.GuestPing(ctx, vm.Ref, auth, to) },
	}, nil
}
