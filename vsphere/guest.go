package vsphere

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/guest"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// GuestAuth is a guest OS login for VMware Tools guest operations.
type GuestAuth struct {
	Username string
	Password string
}

// GuestPing runs `ping -c 1 -W 1 target` inside vm through VMware Tools and
// returns nil when the ping got an answer (exit code 0).
func (c *Client) GuestPing(ctx context.Context, vm Ref, auth GuestAuth, target string) error {
	code, err := c.guestRun(ctx, vm, auth, "/bin/ping", "-c 1 -W 1 "+target)
	if err != nil {
		return fmt.Errorf("ping in guest %s: %w", vmName(ctx, c, vm), err)
	}
	if code != 0 {
		return fmt.Errorf("ping %s from guest %s: no answer (exit code %d)", target, vmName(ctx, c, vm), code)
	}
	return nil
}

// GuestTCPTimeout bounds a GuestTCP connection attempt inside the guest.
const GuestTCPTimeout = 5 * time.Second

// GuestTCP opens a TCP connection from inside vm (a Linux guest, through
// VMware Tools) to addr (host:port): `timeout 5 /bin/bash -c 'exec
// 3<>/dev/tcp/HOST/PORT'`, bash's own connect, bounded by coreutils'
// timeout. nil when the connection was accepted (exit code 0).
func (c *Client) GuestTCP(ctx context.Context, vm Ref, auth GuestAuth, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("tcp probe address %q: %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("tcp probe address %q: port %q is not 1 to 65535", addr, port)
	}
	// The host goes into a shell word: only what an address or a DNS name
	// holds.
	if host == "" || strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") != "" {
		return fmt.Errorf("tcp probe address %q: host %q is not an IP address or DNS name", addr, host)
	}
	args := fmt.Sprintf("%d /bin/bash -c 'exec 3<>/dev/tcp/%s/%s'", int(GuestTCPTimeout/time.Second), host, port)
	code, err := c.guestRun(ctx, vm, auth, "/usr/bin/timeout", args)
	if err != nil {
		return fmt.Errorf("tcp %s from guest %s: %w", addr, vmName(ctx, c, vm), err)
	}
	switch code {
	case 0:
		return nil
	case 124:
		return fmt.Errorf("tcp %s from guest %s: no answer within %s", addr, vmName(ctx, c, vm), GuestTCPTimeout)
	}
	return fmt.Errorf("tcp %s from guest %s: refused or unreachable (exit code %d)", addr, vmName(ctx, c, vm), code)
}

// ErrGuestLogin is a guest OS login that a VM's VMware Tools refused.
var ErrGuestLogin = errors.New("the guest OS refused the login")

// ValidateGuestAuth checks auth against vm's guest OS through VMware Tools
// (GuestAuthManager.ValidateCredentialsInGuest): nil when it logs in; an
// error wrapping ErrGuestLogin when the guest refuses it; other errors
// (VM off, Tools not running) as they come.
func (c *Client) ValidateGuestAuth(ctx context.Context, vm Ref, auth GuestAuth) error {
	am, err := guest.NewOperationsManager(c.Client.Client, vm.Reference()).AuthManager(ctx)
	if err != nil {
		return fmt.Errorf("guest operations on %s: %w", vm.Value, err)
	}
	err = am.ValidateCredentials(ctx, &types.NamePasswordAuthentication{Username: auth.Username, Password: auth.Password})
	if fault.Is(err, &types.InvalidGuestLogin{}) {
		return fmt.Errorf("guest %s, user %q: %w", vmName(ctx, c, vm), auth.Username, ErrGuestLogin)
	}
	return err
}

// guestRun starts program with args inside vm through VMware Tools and
// waits for it to end: its exit code.
func (c *Client) guestRun(ctx context.Context, vm Ref, auth GuestAuth, program, args string) (int32, error) {
	ops := guest.NewOperationsManager(c.Client.Client, vm.Reference())
	pm, err := ops.ProcessManager(ctx)
	if err != nil {
		return 0, fmt.Errorf("guest operations on %s: %w", vm.Value, err)
	}
	a := &types.NamePasswordAuthentication{Username: auth.Username, Password: auth.Password}
	pid, err := pm.StartProgram(ctx, a, &types.GuestProgramSpec{ProgramPath: program, Arguments: args})
	if fault.Is(err, &types.InvalidGuestLogin{}) {
		return 0, fmt.Errorf("start %s as %q: %w", program, auth.Username, ErrGuestLogin)
	}
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", program, err)
	}
	for {
		procs, err := pm.ListProcesses(ctx, a, []int64{pid})
		if err != nil {
			return 0, err
		}
		if len(procs) == 1 && procs[0].EndTime != nil {
			return procs[0].ExitCode, nil
		}
		select {
		case <-ctx.Done():
			_ = pm.TerminateProcess(context.WithoutCancel(ctx), a, pid)
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func vmName(ctx context.Context, c *Client, ref Ref) string {
	name, err := object.NewVirtualMachine(c.Client.Client, ref.Reference()).ObjectName(ctx)
	if err != nil {
		return ref.Value
	}
	return name
}
