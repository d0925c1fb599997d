package lab_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/probe"
)

// An idle lab leaves its vCenters nearly alone: its pollers read a vCenter
// again only when it changed (or once a second), where they used to read
// every VM twenty times a second (481 calls to the on-prem vCenter and 180
// to the provider's in this test's window, a third of a core with nothing
// happening). A change is still seen: a VM powered off stops answering.
func TestIdleLabLeavesItsVCentersAlone(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	ctx := context.Background()
	time.Sleep(time.Second) // the start's own calls are done
	const window = 3 * time.Second
	onprem, provider := l.OnPrem.Calls(), l.Provider.Calls()
	time.Sleep(window)
	onprem, provider = l.OnPrem.Calls()-onprem, l.Provider.Calls()-provider
	t.Logf("calls in %v of an idle lab: on-prem vCenter %d, provider vCenter %d", window, onprem, provider)
	// A read is three to five calls (a container view made, read and
	// destroyed): 22 and 6 were seen with the pollers reading once a second.
	if onprem > 60 || provider > 60 {
		t.Errorf("an idle lab made %d calls to the on-prem vCenter and %d to the provider's in %v: want at most 60 each", onprem, provider, window)
	}

	var addr string
	for _, r := range l.Reach.Plan() {
		if r.Name == "WebApp2" {
			addr = r.Addr
		}
	}
	web2 := probe.TCP{Addr: addr, Timeout: time.Second}
	if _, err := web2.Probe(ctx); err != nil {
		t.Fatalf("WebApp2 does not answer while powered on: %v", err)
	}
	c, f := labtest.OnPrem(t, l)
	defer c.Logout(ctx)
	vm, err := f.VirtualMachine(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	task, err := vm.PowerOff(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "WebApp2 to stop answering", func() bool { _, err := web2.Probe(ctx); return err != nil })
}
