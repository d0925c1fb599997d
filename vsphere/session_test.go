package vsphere_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestPrivilegesAfterTheSessionEnded: vCenter ends a session nobody used
// for a while (30 minutes; this lab: 2 s), and its currentSession then
// reads as null, with no fault (anyone may read it). ferry's first call
// after a long wait can be the privilege check of step 7 or of a
// cutover, which asks vCenter for its own session: it logs in again and
// checks, instead of failing "not logged in".
func TestPrivilegesAfterTheSessionEnded(t *testing.T) {
	t.Parallel()
	const idle = 2 * time.Second
	l := labtest.Start(t, lab.Options{SessionIdle: idle, WorkloadRate: -1})
	ctx := context.Background()
	c := connectTo(t, l, l.OnPrem)
	vm, err := c.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	demands := []vsphere.Demand{{Ref: vm.Ref, Object: "VM WebApp1", Needs: []vsphere.Need{{Privilege: "VirtualMachine.Interact.PowerOn", For: "power it on"}}}}
	if missing, err := c.MissingPrivileges(ctx, demands); err != nil || len(missing) > 0 {
		t.Fatalf("privileges with a live session: %v %v", missing, err)
	}
	time.Sleep(idle + idle/2)
	if missing, err := c.MissingPrivileges(ctx, demands); err != nil || len(missing) > 0 {
		t.Fatalf("privileges after vCenter ended the session: %v %v, want them checked (ferry logs in again)", missing, err)
	}
	time.Sleep(idle + idle/2)
	if got := c.UserName(ctx); got == "" {
		t.Errorf("user after vCenter ended the session: none, want ferry's account (%s)", l.OnPrem.Username)
	}
}
