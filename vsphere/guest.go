package vsphere

import (
	"context"
	"fmt"
	"time"

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
	ops := guest.NewOperationsManager(c.Client.Client, vm.Reference())
	pm, err := ops.ProcessManager(ctx)
	if err != nil {
		return fmt.Errorf("guest operations on %s: %w", vm.Value, err)
	}
	a := &types.NamePasswordAuthentication{Username: auth.Username, Password: auth.Password}
	pid, err := pm.StartProgram(ctx, a, &types.GuestProgramSpec{ProgramPath: "/bin/ping", Arguments: "-c 1 -W 1 " + target})
	if err != nil {
		return fmt.Errorf("start ping in guest %s: %w", vmName(ctx, c, vm), err)
	}
	for {
		procs, err := pm.ListProcesses(ctx, a, []int64{pid})
		if err != nil {
			return fmt.Errorf("ping in guest %s: %w", vmName(ctx, c, vm), err)
		}
		if len(procs) == 1 && procs[0].EndTime != nil {
			if procs[0].ExitCode != 0 {
				return fmt.Errorf("ping %s from guest %s: no answer (exit code %d)", target, vmName(ctx, c, vm), procs[0].ExitCode)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
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
