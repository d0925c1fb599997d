package steps

import (
	"context"
	"testing"

	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/lab/vcdsim"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestCutoverRidesOutFailedTaskPolls: Cloud Director answers a few polls
// of its import and power-on tasks with 503 (a cell or load balancer
// restarting), as real ones do. The tasks go on in Cloud Director whatever
// the client saw, so the cutover follows them through and finishes; it
// used to take the first failed poll for a failed import and roll back
// around the VM Cloud Director had imported (the target destroyed under
// its vApp).
func TestCutoverRidesOutFailedTaskPolls(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.VCD.Faults.Add(vcdsim.Fault{Method: "GET", Path: "/api/task/", Status: 503, Message: "cell restarting", Times: 3}); err != nil {
		t.Fatal(err)
	}
	r.Confirmed = true
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover with failed task polls: %v", err)
	}
	if n := len(l.VCD.Faults.List()); n != 0 {
		t.Fatalf("%d fault rule(s) left: the cutover polled no task", n)
	}
	sys, _ := env.VCD(ctx)
	vdc, err := sys.VDCByName("Company", "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vdc.VApp("WebApp2"); err != nil {
		t.Errorf("vApp WebApp2 after the cutover: %v", err)
	}
	provider, _ := env.ProviderVC(ctx)
	ref, ok, err := labtest.ProviderVM(ctx, provider, "WebApp2")
	if err != nil || !ok {
		t.Fatalf("target WebApp2 at the provider: found %v, %v", ok, err)
	}
	if st, err := provider.PowerState(ctx, ref); err != nil || st != vsphere.PoweredOn {
		t.Errorf("target WebApp2 at the provider: %v %v, want it running", st, err)
	}
}
