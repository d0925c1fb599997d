package steps

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// hookSource runs hook before the first read of a pass.
type hookSource struct {
	replication.Source
	once sync.Once
	hook func()
}

func (h *hookSource) Open(ctx context.Context, resume string, final bool) (replication.Snapshot, error) {
	s, err := h.Source.Open(ctx, resume, final)
	if err != nil {
		return nil, err
	}
	return &hookSnap{Snapshot: s, h: h}, nil
}

type hookSnap struct {
	replication.Snapshot
	h *hookSource
}

func (s *hookSnap) ReadAt(ctx context.Context, key string, p []byte, off int64) error {
	s.h.once.Do(s.h.hook)
	return s.Snapshot.ReadAt(ctx, key, p, off)
}

// TestDetachDuringPassPausesJob: WebApp2's replica disk is detached from
// the receiver appliance through the provider vCenter in the middle of a
// scheduled pass: the pass fails saying the disk was detached, the job is
// paused with that reason, nothing of the pass is committed; once the job
// is resumed, its next pass hot-adds the disk again (the provider vCenter
// shows the appliance holding it), replication goes on and the final pass
// makes the replica equal the source.
func TestDetachDuringPassPausesJob(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("replicate: %v %+v", err, out)
	}
	store, err := env.replicationStore()
	if err != nil {
		t.Fatal(err)
	}
	job, src, err := env.job(ctx, "WebApp2", nil)
	if err != nil {
		t.Fatal(err)
	}
	var key string // the sender's state of WebApp2's one disk
	for k := range job.Replicas {
		key = "WebApp2/" + k
	}
	before, err := store.Disk(key)
	if err != nil || before.Committed == "" {
		t.Fatalf("no committed pass before: %+v %v", before, err)
	}
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	replica := env.replicaFiles("WebApp2", src.Disks)[0].Path
	job.Source = &hookSource{Source: job.Source, hook: func() {
		if err := provider.DetachDiskFiles(ctx, "Provider-DC", lab.ApplianceVM, []string{replica}); err != nil {
			t.Error(err)
		}
	}}

	events := make(chan replication.Event, 64)
	s := replication.NewScheduler(1, func(e replication.Event) {
		if e.Kind == replication.EventPaused || e.Kind == replication.EventPassDone {
			events <- e
		}
	})
	if err := s.Add(job, time.Minute); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(sctx) }()
	defer func() { stop(); <-done }()
	if err := s.PassNow("WebApp2"); err != nil {
		t.Fatal(err)
	}
	e := <-events
	if e.Kind != replication.EventPaused || !errors.Is(e.Err, replication.ErrDetached) || !strings.Contains(e.Err.Error(), "detached") {
		t.Fatalf("after the detach: %s %v", e.Kind, e.Err)
	}
	st := s.Status()
	if len(st) != 1 || !st[0].Paused {
		t.Fatalf("job status %+v, want paused", st)
	}
	if after, _ := store.Disk(key); after.Committed != before.Committed {
		t.Fatalf("committed changeId moved from %s to %s on a detached disk", before.Committed, after.Committed)
	}
	// ferry status's line names the VM once (QA: "WebApp2: paused:
	// WebApp2: pass: receiver: ..."), and the warning the step's screen
	// shows of it too. The pass may find the detach before the disk's
	// transfer or during it ("pass: Hard disk 1: receiver: ...").
	vs := VMStatus{JobStatus: replication.JobStatus{VM: "WebApp2", Paused: true, Reason: e.Err.Error()}, Summary: "paused"}
	if h := vs.HealthLine(); !strings.HasPrefix(h, "paused: pass: ") || !strings.Contains(h, "receiver: replica disk detached") || strings.Contains(h, "WebApp2:") {
		t.Errorf("ferry status says of WebApp2 %q, want \"paused: pass: [disk: ]receiver: replica disk detached ...\", the VM not named again", h)
	}
	if w := AboutVM("WebApp2", e.Err.Error()); !strings.HasPrefix(w, "WebApp2: pass: ") || strings.Count(w, "WebApp2:") != 1 {
		t.Errorf("the step's warning reads %q, want it to name WebApp2 once", w)
	}

	// Resumed, the job's next pass hot-adds the disk again and passes
	// (QA: it failed again, "ferry hot-adds it before each pass", until
	// ferry was restarted).
	if err := s.Resume("WebApp2"); err != nil {
		t.Fatal(err)
	}
	if err := s.PassNow("WebApp2"); err != nil {
		t.Fatal(err)
	}
	if e := <-events; e.Kind != replication.EventPassDone {
		t.Fatalf("resumed job: %s %v", e.Kind, e.Err)
	}
	users, err := provider.DiskUsers(ctx, "Provider-DC", []string{replica})
	if err != nil || !slices.Contains(users[replica], lab.ApplianceVM) {
		t.Fatalf("after the resumed pass, %s is used by %v (%v), want the receiver appliance %s", replica, users[replica], err, lab.ApplianceVM)
	}
	stop()
	<-done
	done <- nil

	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := onprem.PowerOff(ctx, src.Ref); err != nil {
		t.Fatal(err)
	}
	if _, err := job.RunPass(ctx, true); err != nil {
		t.Fatal(err)
	}
	if fileHash(t, l.OnPrem.FlatFile("WebApp2")) != fileHash(t, l.ReplicaFlatFile(replica)) {
		t.Error("replica differs from the source after the detach, re-attach and final pass")
	}
}

// TestReplicatePlanNamesReplicaDisks: step 6's plan lists the replica disks
// the provider vCenter will create and where they go; without a receiver
// appliance in the plan it says which key is missing.
func TestReplicatePlanNamesReplicaDisks(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	p, err := (&Replicate{}).Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	want := "[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 0)
	var found bool
	for _, it := range p.Items {
		if it.Kind == "replica disk" && it.Name == want && it.Action == ActionCreate && strings.Contains(it.Detail, lab.ApplianceVM) {
			found = true
		}
	}
	if !found {
		t.Errorf("plan items %+v: no replica disk %s hot-added to %s", p.Items, want, lab.ApplianceVM)
	}
	env.Plan().Provider.ReceiverVM = ""
	if _, err := (&Replicate{}).Plan(ctx, env); err == nil || !strings.Contains(err.Error(), "provider.receiver_vm") {
		t.Errorf("plan without a receiver appliance: %v", err)
	}
}

// TestReceiverApplianceTemplateRefused: a provider vCenter holds templates
// beside VMs (often one of the receiver appliance itself). The receiver
// appliance's pick list leaves them out and notes a VM that does not run;
// a template named anyway is refused when the replicas are placed, saying
// why, not later by "power it on" (a template cannot be).
func TestReceiverApplianceTemplateRefused(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref, ok, err := labtest.ProviderVM(ctx, provider, lab.ApplianceVM)
	if err != nil || !ok {
		t.Fatalf("receiver appliance: %v %v", ok, err)
	}
	const tmpl = "ferry-receiver-template"
	vm := object.NewVirtualMachine(provider.Client.Client, ref.Reference())
	_, folders := providerFolders(t, env)
	task, err := vm.Clone(ctx, folders.VmFolder, tmpl, types.VirtualMachineCloneSpec{Template: true})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("clone the appliance as a template: %v", err)
	}
	if err := provider.PowerOff(ctx, ref); err != nil {
		t.Fatal(err)
	}
	got, err := env.Choices(ctx, "provider.receiver_vm", nil)
	if err != nil {
		t.Fatal(err)
	}
	notes := map[string]string{}
	for _, c := range got {
		notes[c.Value] = c.Note
	}
	if _, ok := notes[tmpl]; ok {
		t.Errorf("receiver appliance choices %v: want the template %s left out", Values(got), tmpl)
	}
	if n, ok := notes[lab.ApplianceVM]; !ok || !strings.Contains(n, "poweredOff") || !strings.Contains(n, "power it on") {
		t.Errorf("receiver appliance %s (powered off) noted %q in %v: want it said to be off", lab.ApplianceVM, n, Values(got))
	}
	env.Plan().Provider.ReceiverVM = tmpl
	_, err = (&Replicate{}).Plan(ctx, env)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "provider.receiver_vm" || !strings.Contains(err.Error(), tmpl+" is a template") {
		t.Errorf("plan with the template as the receiver appliance: %v, want a FieldError on provider.receiver_vm naming the template", err)
	}
}

// TestReplicaLeftByAVMTakenOutOfThePlan (QA: WebApp2, deleted from vms:
// while it replicated, left its replica disks hot-added to the receiver
// appliance and changed block tracking on, and ferry plan said "no
// changes" everywhere): step 6's plan names the replica nothing replicates
// any more, and what ferry leaves of it.
func TestReplicaLeftByAVMTakenOutOfThePlan(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	replicateToCutover(t, env)
	env.EditPlan(func(pf *PlanFile) { pf.VMs[0].Name = "WebApp3" })
	p, err := (&Replicate{}).Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if s := p.String(); !strings.Contains(s, `= exists replica "WebApp2": no longer in the plan's vms:`) || !strings.Contains(s, "ferry removes nothing of it") {
		t.Errorf("plan of step 6 with WebApp2 taken out of the plan:\n%s", s)
	}
}

// providerFolders are the plan's provider datacenter and its folders.
func providerFolders(t *testing.T, env *Env) (*object.Datacenter, *object.DatacenterFolders) {
	t.Helper()
	ctx := context.Background()
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := provider.Finder().Datacenter(ctx, env.Plan().Provider.Datacenter)
	if err != nil {
		t.Fatal(err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return dc, folders
}

// TestReceiverApplianceChoicesPutTenantVMsLast (QA walk, a second plan's
// step 5 after a first plan's wave had cut WebApp2 and WebApp3 over: the
// receiver appliance's pick list began with "WebApp2 (<uuid>)", the
// migrated VM Cloud Director runs in the org VDC's resource pool, and
// enter on the empty answer picked it; step 6 then told the operator to
// power that VM off to change its configuration): the VMs of the org
// VDC's resource pool come after the others, noted as Cloud Director's,
// so the first choice, which enter picks, is not one of them.
func TestReceiverApplianceChoicesPutTenantVMsLast(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref, ok, err := labtest.ProviderVM(ctx, provider, lab.ApplianceVM)
	if err != nil || !ok {
		t.Fatalf("receiver appliance: %v %v", ok, err)
	}
	// A VM where Cloud Director keeps the tenant's VMs, named as it names
	// them: in the org VDC's resource pool.
	dc, folders := providerFolders(t, env)
	f := provider.Finder()
	f.SetDatacenter(dc)
	pool, err := f.ResourcePool(ctx, env.Plan().Provider.ResourcePool)
	if err != nil {
		t.Fatal(err)
	}
	const tenant = "Alpha (0a5c2c59-3c55-4c0e-9f7a-8d2b8c1f2e11)"
	poolRef := pool.Reference()
	task, err := object.NewVirtualMachine(provider.Client.Client, ref.Reference()).Clone(ctx, folders.VmFolder, tenant,
		types.VirtualMachineCloneSpec{Location: types.VirtualMachineRelocateSpec{Pool: &poolRef}, PowerOn: true})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("a VM in the org VDC's resource pool: %v", err)
	}
	got, err := env.Choices(ctx, "provider.receiver_vm", nil)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(got, func(c Choice) bool { return c.Value == tenant })
	if len(got) == 0 || got[0].Value != lab.ApplianceVM || i < 0 {
		t.Fatalf("receiver appliance choices %v: want %s first (enter picks it) and %s offered after it", Values(got), lab.ApplianceVM, tenant)
	}
	if n := got[i].Note; !strings.Contains(n, "org VDC's resource pool "+env.Plan().Provider.ResourcePool) || !strings.Contains(n, "not the receiver appliance") {
		t.Errorf("%s noted %q: want it said to be a VM of the org VDC's resource pool, not the receiver appliance", tenant, n)
	}
	if n := got[0].Note; n != "" {
		t.Errorf("%s (running, outside the org VDC's pool) noted %q: want no note", lab.ApplianceVM, n)
	}
	// Named as the receiver appliance all the same, it is refused before
	// anything changes: Cloud Director discovers and manages the VMs of
	// the org VDC's resource pool (VM discovery, on by default).
	env.Plan().Provider.ReceiverVM = tenant
	_, err = (&VMSelection{}).Plan(ctx, env)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "provider.receiver_vm" || !strings.Contains(err.Error(), tenant+" runs in resource pool "+env.Plan().Provider.ResourcePool+", the org VDC's") ||
		!strings.Contains(err.Error(), "VM discovery") {
		t.Errorf("step 5 with a VM of the org VDC's resource pool as the receiver appliance: %v, want a FieldError on provider.receiver_vm saying why", err)
	}
}

// TestReceiverApplianceInAPoolInsideTheOrgVDCsIsRefused: a resource pool
// made inside the org VDC's is part of it (its CPU and memory are carved
// out of the org VDC's, and Cloud Director's VM discovery is taken to
// reach its VMs), so step 5 refuses the receiver appliance moved there as
// it refuses one in the org VDC's pool itself, naming the pool; the pool
// above the org VDC's and one beside it are fine.
func TestReceiverApplianceInAPoolInsideTheOrgVDCsIsRefused(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	vdcPool := env.Plan().Provider.ResourcePool
	orgVDC, parent, moveTo := appliancePools(t, env)
	accepted := func(where string) {
		t.Helper()
		if _, err := (&VMSelection{}).Plan(ctx, env); err != nil {
			t.Errorf("step 5 with the receiver appliance %s: %v, want it accepted", where, err)
		}
	}

	accepted("in the pool above the org VDC's")
	moveTo(parent, "ferry-infra")
	accepted("in a pool beside the org VDC's")

	moveTo(orgVDC, "infra")
	_, err := (&VMSelection{}).Plan(ctx, env)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "provider.receiver_vm" ||
		!strings.Contains(err.Error(), lab.ApplianceVM+" runs in resource pool "+vdcPool+"/infra, which lies inside the org VDC's resource pool "+vdcPool) ||
		!strings.Contains(err.Error(), "VM discovery") || !strings.Contains(err.Error(), "move it to a provider resource pool outside the org VDC's") {
		t.Errorf("step 5 with the receiver appliance in a pool inside the org VDC's: %v, want a FieldError on provider.receiver_vm naming the pool and saying why", err)
	}
	// The pick list puts it last, noted, as it does the org VDC pool's VMs.
	got, err := env.Choices(ctx, "provider.receiver_vm", nil)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(got, func(c Choice) bool { return c.Value == lab.ApplianceVM }); i < 0 ||
		!strings.Contains(got[i].Note, "inside the org VDC's "+vdcPool) || !strings.Contains(got[i].Note, "not the receiver appliance") {
		t.Errorf("receiver appliance choices %v (notes %v): want %s noted as inside the org VDC's pool, not the receiver appliance", Values(got), got, lab.ApplianceVM)
	}
}

// TestReceiverApplianceInAnotherPoolOfTheOrgVDCIsRefused: the org VDC
// spans two clusters (a Flex VDC), a resource pool in each; the plan's
// provider.resource_pool names one, and the receiver appliance runs in the
// other. Cloud Director lists both among the VDC's resource pools and its
// VM discovery reaches both: step 5 refuses the appliance there, naming
// the pool, as it does one in the plan's pool. In the same pool before the
// provider added it to the VDC, the appliance was accepted.
func TestReceiverApplianceInAnotherPoolOfTheOrgVDCIsRefused(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	_, root, moveTo := appliancePools(t, env)
	moveTo(root, "Company-VDC-2")
	if _, err := (&VMSelection{}).Plan(ctx, env); err != nil {
		t.Fatalf("step 5 with the receiver appliance in a pool of no org VDC: %v, want it accepted", err)
	}
	l.VCD.AddVDCPool("Company-VDC-2")
	_, err := (&VMSelection{}).Plan(ctx, env)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "provider.receiver_vm" ||
		!strings.Contains(err.Error(), lab.ApplianceVM+" runs in resource pool Company-VDC-2, which backs org VDC "+env.Plan().VDC+" too") ||
		!strings.Contains(err.Error(), "VM discovery") {
		t.Errorf("step 5 with the receiver appliance in another pool of the org VDC: %v, want a FieldError on provider.receiver_vm naming the pool and saying why", err)
	}
	// The pick list puts it last, noted, as it does the plan pool's VMs.
	got, err := env.Choices(ctx, "provider.receiver_vm", nil)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(got, func(c Choice) bool { return c.Value == lab.ApplianceVM }); i < 0 ||
		slices.ContainsFunc(got[i:], func(c Choice) bool { return c.Note == "" }) ||
		!strings.Contains(got[i].Note, "which backs org VDC "+env.Plan().VDC+" too") {
		t.Errorf("receiver appliance choices %v (notes %v): want %s last, noted as in a pool of the org VDC", Values(got), got, lab.ApplianceVM)
	}
}

// appliancePools finds the org VDC's resource pool in the lab's provider
// vCenter and the cluster's root pool above it; moveTo makes a resource
// pool named name in in, as an administrator would in the vSphere client,
// and relocates the receiver appliance into it.
func appliancePools(t *testing.T, env *Env) (orgVDC, root *object.ResourcePool, moveTo func(in *object.ResourcePool, name string)) {
	t.Helper()
	ctx := context.Background()
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref, ok, err := labtest.ProviderVM(ctx, provider, lab.ApplianceVM)
	if err != nil || !ok {
		t.Fatalf("receiver appliance: %v %v", ok, err)
	}
	appliance := object.NewVirtualMachine(provider.Client.Client, ref.Reference())
	dc, _ := providerFolders(t, env)
	f := provider.Finder()
	f.SetDatacenter(dc)
	if orgVDC, err = f.ResourcePool(ctx, env.Plan().Provider.ResourcePool); err != nil {
		t.Fatal(err)
	}
	if owner, err := orgVDC.Owner(ctx); err != nil {
		t.Fatal(err)
	} else if root, err = owner.(*object.ClusterComputeResource).ResourcePool(ctx); err != nil {
		t.Fatal(err)
	}
	moveTo = func(in *object.ResourcePool, name string) {
		t.Helper()
		rp, err := in.Create(ctx, name, types.DefaultResourceConfigSpec())
		if err != nil {
			t.Fatalf("resource pool %s: %v", name, err)
		}
		pool := rp.Reference()
		task, err := appliance.Relocate(ctx, types.VirtualMachineRelocateSpec{Pool: &pool}, types.VirtualMachineMovePriorityDefaultPriority)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatalf("relocate %s into %s: %v", lab.ApplianceVM, name, err)
		}
	}
	return orgVDC, root, moveTo
}
