package steps

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/vmware/govmomi/vim25/types"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/dsfile"
	"github.com/ferry-migrate/ferry/replication"
)

// replicaHash hashes a replica file of the plan's provider datastore; ok
// is false when the provider vCenter has no such file (its datastore
// browser, as any vSphere client sees it). The bytes are read from the
// lab's datastore directory: a replica attached to the running receiver
// appliance is locked, and vCenter's /folder refuses to read it, as ESXi's
// does.
func replicaHash(t *testing.T, l *lab.Lab, env *Env, file string) (sum [32]byte, ok bool) {
	t.Helper()
	ctx := context.Background()
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := provider.Finder()
	dc, err := f.Datacenter(ctx, env.Plan().Provider.Datacenter)
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	ds, err := f.Datastore(ctx, env.Plan().Provider.Datastore)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Stat(ctx, file); err != nil {
		return sum, false
	}
	local, err := dsfile.Local(l.Provider.Model, fmt.Sprintf("[%s] %s", ds.Name(), file))
	if err != nil {
		t.Fatal(err)
	}
	return fileHash(t, local), true
}

// checkReplicaResumes checks, after a rollback, that vm's replica disk is
// still at the provider (descriptor and flat file, seen through vCenter)
// and that replication resumes from it as it was: with the source stopped,
// one incremental pass (far less than the disk) makes the replica equal the
// source byte for byte. A replica that was deleted, or recreated empty,
// fails this. The guest first writes a block of its own (as the lab's
// workload would, had the test left it on): the pass must carry that
// change, so a pass that resumed past it fails this too.
func checkReplicaResumes(t *testing.T, l *lab.Lab, env *Env, vm string) {
	t.Helper()
	ctx := context.Background()
	desc := replication.ReplicaDiskPath(env.Plan().Org, vm, 0)
	flat := strings.TrimSuffix(desc, ".vmdk") + "-flat.vmdk" // as the lab's vCenter names it
	for _, f := range []string{desc, flat} {
		if _, ok := replicaHash(t, l, env, f); !ok {
			t.Fatalf("replica file [%s] %s is gone after the rollback", env.Plan().Provider.Datastore, f)
		}
	}
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src, err := onprem.VMByName(ctx, vm)
	if err != nil {
		t.Fatal(err)
	}
	if !src.PoweredOn() {
		t.Fatalf("source %s is not running after the rollback", vm)
	}
	block := make([]byte, 64<<10)
	if _, err := rand.Read(block); err != nil {
		t.Fatal(err)
	}
	if err := l.GuestWrite(vm, block, 5<<20); err != nil {
		t.Fatalf("the guest's write after the rollback: %v", err)
	}
	if err := onprem.PowerOff(ctx, src.Ref); err != nil {
		t.Fatal(err)
	}
	job, _, err := env.job(ctx, vm, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := job.RunPass(ctx, true)
	if err != nil {
		t.Fatalf("pass after the rollback: %v", err)
	}
	if r.Counters.Planned < int64(len(block)) {
		t.Errorf("the pass after the rollback planned %d bytes: not the %d bytes the guest wrote", r.Counters.Planned, len(block))
	}
	if size := src.DiskBytes(); r.Counters.Planned >= size {
		t.Errorf("the pass after the rollback planned %d bytes of a %d-byte disk: not incremental", r.Counters.Planned, size)
	}
	got, ok := replicaHash(t, l, env, flat)
	if !ok {
		t.Fatal("replica flat file gone after the pass")
	}
	if got != fileHash(t, l.OnPrem.FlatFile(vm)) {
		t.Error("after the rollback and one incremental pass, the replica differs from the source")
	}
}

// TestCutoverRefusedWithoutProviderNetwork (QA: with provider.network left
// empty, which its help said was "found from Cloud Director", plan and
// preflight were clean and every cutover shut the source down, then failed
// at "create VM": port group "" not found, and rolled back): the answers
// the cutover builds the target with are required, and a plan without them
// is refused before the source is touched, naming the answer.
func TestCutoverRefusedWithoutProviderNetwork(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	r := replicateToCutover(t, env)
	for _, key := range []string{"provider.network", "provider.resource_pool"} {
		saved := env.Plan().Provider
		if key == "provider.network" {
			env.Plan().Provider.Network = ""
		} else {
			env.Plan().Provider.ResourcePool = ""
		}
		r.Confirmed = true
		_, err := r.Run(ctx)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Key != key || !strings.Contains(err.Error(), "is required") {
			t.Errorf("cutover with %s empty: %v, want it refused naming %s", key, err, key)
		}
		if !sourceOn(t, env) {
			t.Fatalf("cutover with %s empty shut the source down", key)
		}
		env.Plan().Provider = saved
	}
}

// TestCutoverRefusedWhenTheTargetNameIsTaken (QA: an admin's VM named
// WebApp4 in the provider datacenter's VM folder; the lab made a second one
// beside it, where vCenter refuses with DuplicateName, after the source's
// shutdown): the cutover's plan shows it as a conflict, and a confirmed run
// refuses before the source is touched.
func TestCutoverRefusedWhenTheTargetNameIsTaken(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	r := replicateToCutover(t, env)
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dc, folders := providerFolders(t, env)
	finder := provider.Finder()
	finder.SetDatacenter(dc)
	pool, err := finder.ResourcePool(ctx, env.Plan().Provider.ResourcePool)
	if err != nil {
		t.Fatal(err)
	}
	spec := types.VirtualMachineConfigSpec{Name: "WebApp2", GuestId: "otherGuest64",
		Files: &types.VirtualMachineFileInfo{VmPathName: "[" + env.Plan().Provider.Datastore + "]"}}
	task, err := folders.VmFolder.CreateVM(ctx, spec, pool, nil)
	if err == nil {
		_, err = task.WaitForResult(ctx)
	}
	if err != nil {
		t.Fatalf("an admin's VM named WebApp2: %v", err)
	}
	// vCenter's rule, as the lab keeps it: no second one in the folder.
	if task, err := folders.VmFolder.CreateVM(ctx, spec, pool, nil); err == nil {
		if _, err := task.WaitForResult(ctx); err == nil {
			t.Fatal("a second VM named WebApp2 was made in the same folder")
		}
	}
	p, err := (&Cutover{}).Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if s := p.String(); !strings.Contains(s, `! conflict VM "WebApp2": a VM named WebApp2`) {
		t.Errorf("cutover plan with the name taken: want a conflict\n%s", s)
	}
	r.Confirmed = true
	if _, err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "vCenter makes no second VM of a name in a folder") {
		t.Errorf("cutover with the name taken: %v; want it refused", err)
	}
	if !sourceOn(t, env) {
		t.Error("the refused cutover shut the source down")
	}
}
