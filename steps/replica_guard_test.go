package steps

import (
	"context"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/vmware/govmomi/object"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCutOverVMsDisksAreNotReplicatedAgain (QA: the corrupt-state advice,
// "move it aside and run again", after a cutover made ferry replicate the
// old source into the replica disks the migrated VM runs on): a run that
// does not know the VM was cut over (its state file gone) refuses to write
// replica disks another VM at the provider uses, powered off or not, names
// it and says what to do; the migrated VM keeps its disks and the receiver
// appliance does not get them.
func TestCutOverVMsDisksAreNotReplicatedAgain(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Confirmed: true, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target, ok, err := labtest.ProviderVM(ctx, provider, "WebApp2")
	if err != nil || !ok {
		t.Fatalf("migrated VM at the provider: %v %v", ok, err)
	}
	// Powered on, vCenter would refuse the hot-add (the disk is locked);
	// powered off (maintenance), nothing but ferry stops it.
	if err := provider.PowerOff(ctx, target); err != nil {
		t.Fatal(err)
	}
	env.Close(ctx)

	fresh := NewEnv(l.Config(), env.Plan(), NewState(filepath.Join(t.TempDir(), "state.json")))
	t.Cleanup(func() { fresh.Close(context.Background()) })
	// Its plan and the run's preflight say so before step 1 (QA: steps 1
	// to 5 ran again, and step 6 refused).
	p, err := (&Replicate{}).Plan(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if s := p.String(); !strings.Contains(s, `! conflict replica "WebApp2": WebApp2: its replica disk`) {
		t.Errorf("step 6's plan without the state of the cutover: want a conflict naming the migrated VM\n%s", s)
	}
	// Named as Cloud Director renamed it when it adopted it.
	name, err := object.NewVirtualMachine(provider.Client.Client, target.Reference()).ObjectName(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again := &Runner{Itinerary: NewItinerary(), Env: fresh, Emit: func(Event) {}}
	if err := again.Preflight(ctx); err == nil || !strings.Contains(err.Error(), "is used by VM "+name+" at the provider") {
		t.Errorf("preflight without the state of the cutover: %v; want it refused", err)
	}
	_, err = again.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "is used by VM "+name+" at the provider, so ferry does not write it") ||
		!strings.Contains(err.Error(), "take WebApp2 out of the plan") {
		t.Fatalf("a run without the state of the cutover: %v; want it refused, naming the migrated VM", err)
	}
	paths := replicaPaths(t, fresh)
	if provider, err = fresh.ProviderVC(ctx); err != nil {
		t.Fatal(err)
	}
	users, err := provider.DiskUsers(ctx, env.Plan().Provider.Datacenter, paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if !slices.Equal(users[p], []string{name}) {
			t.Errorf("replica disk %s used by %v after the refused run; want the migrated VM alone", p, users[p])
		}
	}
}

// replicaPaths are WebApp2's replica disk paths at the provider.
func replicaPaths(t *testing.T, env *Env) []string {
	t.Helper()
	ctx := context.Background()
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range env.replicaFiles("WebApp2", vm.Disks) {
		out = append(out, f.Path)
	}
	return out
}
