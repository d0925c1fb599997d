package steps

import (
	"context"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
)

// TestInterruptedCutoverFindsItsRenamedTarget: Cloud Director names the VMs
// it manages in vCenter after their id ("WebApp2 (uuid)") and may rename a
// VM it adopts. A cutover killed after the import leaves such a target; the
// next run finds it by the reference the cutover recorded when it created
// it, removes it (the replica disks detached and kept), and cuts over.
// Before, it looked for the target by name, did not find it, and stopped
// ("nothing deleted ... detach them and remove the VM by hand").
func TestInterruptedCutoverFindsItsRenamedTarget(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	next := crashCutoverIn(t, l, env, false, func(ev Event) bool {
		return strings.HasPrefix(ev.Message, "WebApp2: import into vCD done")
	}, cutoverRunning)
	ctx := context.Background()
	provider, err := next.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref, ok, err := labtest.ProviderVM(ctx, provider, "WebApp2")
	if err != nil || !ok {
		t.Fatalf("no target at the provider after the crash (%v)", err)
	}
	task, err := object.NewVirtualMachine(provider.Client.Client, ref.Reference()).Rename(ctx, "WebApp2 (5b0e3f0c-2a9e-4c1d-9d55-0c7f4e1a2b3c)")
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}

	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: next, Confirmed: true, Emit: func(ev Event) { lines = append(lines, ev.Message+ev.Error) }}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover after the interrupted one: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if _, ok, err := provider.VMByRef(ctx, ref); err != nil || ok {
		t.Errorf("the interrupted cutover's renamed target is still at the provider (%v)", err)
	}
	if st, ok := targetStatus(t, l, next); st != "POWERED_ON" || !ok {
		t.Errorf("target after the retried cutover: vCD %q, at the provider %v; want it running", st, ok)
	}
	if sourceOn(t, next) {
		t.Error("the source runs after the cutover")
	}
}
