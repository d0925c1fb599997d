package steps

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/lab/vcdsim"
	"github.com/ferry-migrate/ferry/replication"
)

// coldLab is migrationLab for vm with only vm's own TCP probe.
func coldLab(t *testing.T, vm string) (*lab.Lab, *Env) {
	t.Helper()
	l, env := migrationLab(t, vm)
	env.Plan().Probes = slices.DeleteFunc(env.Plan().Probes, func(p ProbePlan) bool { return p.TCP == "" })
	return l, env
}

func reportOf(t *testing.T, env *Env) string {
	t.Helper()
	md, err := os.ReadFile(env.State.Get("cutover").Outputs["report"])
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	return string(md)
}

// TestColdMigrationOfPoweredOffVM: the lab's powered-off Archive1 is
// replicated in one pass by step 6 (no refusal, nothing for the wizard's
// scheduler) and cut over: it runs in Company-VDC over its replica, answers
// its probe, the source stays off, and the report says it went cold.
func TestColdMigrationOfPoweredOffVM(t *testing.T) {
	t.Parallel()
	l, env := coldLab(t, "Archive1")
	ctx := context.Background()
	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }}
	out, err := r.Run(ctx)
	if err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("run: %v, stopped before %q\n%s", err, out.StoppedBefore, strings.Join(lines, "\n"))
	}
	log := strings.Join(lines, "\n")
	if !strings.Contains(log, "cold migration (powered off: one pass without a snapshot)") {
		t.Errorf("steps 5-6 do not say Archive1 goes cold:\n%s", log)
	}
	replica := "[provider-ds] " + replication.ReplicaDiskPath("Company", "Archive1", 0)
	if fileHash(t, l.OnPrem.FlatFile("Archive1")) != fileHash(t, l.ReplicaFlatFile(replica)) {
		t.Fatal("after step 6 the replica differs from the powered-off source")
	}
	// ferry status: a cold VM has no RPO to miss, however long ago its pass.
	sts, err := env.ReplicationStatus(time.Now().Add(2 * time.Hour))
	if err != nil || len(sts) != 1 || !strings.HasPrefix(sts[0].Summary, "cold migration: replica of the powered-off VM") || sts[0].Health != replication.HealthNone {
		t.Errorf("status %+v (%v): want Archive1's replica shown as cold", sts, err)
	}

	r.Confirmed = true
	lines = nil
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover: %v\n%s", err, strings.Join(lines, "\n"))
	}
	onprem, _ := env.OnPrem(ctx)
	if src, err := onprem.VMByName(ctx, "Archive1"); err != nil || src.PoweredOn() {
		t.Errorf("source Archive1 after a cold cutover: %v, %s", err, src.PowerState)
	}
	if got := diskFilesOf(t, env, "Archive1"); !slices.Equal(got, []string{replica}) {
		t.Errorf("target Archive1's disks %v, want the replica %s", got, replica)
	}
	vapp, err := tenantVDC(t, l).GetVAppByName("Archive1", true)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := vapp.GetVMByName("Archive1", true)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := vm.GetStatus(); st != "POWERED_ON" {
		t.Errorf("Archive1 in vCD is %s", st)
	}
	if why := l.Reach.BootFailure("Archive1"); why != "" {
		t.Errorf("Archive1's guest did not boot at the provider: %s", why)
	}
	md := reportOf(t, env)
	for _, want := range []string{"| Archive1 | migrated |", "Cold migration: powered off", "| cold pass |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| shutdown |") || strings.Contains(md, "| pre-cutover pass |") {
		t.Errorf("a powered-off VM's cold cutover shut it down or passed it while running:\n%s", md)
	}
}

// TestColdMigrationRolledBack: a cold cutover whose import Cloud Director
// refuses is rolled back: nothing at the provider or in vCD, the replica
// disk kept (back on the receiver appliance), and the source, which was
// off, stays off.
func TestColdMigrationRolledBack(t *testing.T) {
	t.Parallel()
	l, env := coldLab(t, "Archive1")
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	l.VCD.Faults.Add(vcdsim.Fault{Method: "POST", Path: "importVmAsVApp", Status: 500, Message: "import refused by the lab"})
	r.Confirmed = true
	_, err := r.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "import into vCD") || !strings.Contains(err.Error(), "stays powered off") {
		t.Fatalf("cutover error %v: want a rolled-back import that leaves the source off", err)
	}
	onprem, _ := env.OnPrem(ctx)
	if src, _ := onprem.VMByName(ctx, "Archive1"); src.PoweredOn() {
		t.Error("the rollback powered on a source that was off")
	}
	provider, _ := env.ProviderVC(ctx)
	if _, ok, _ := labtest.ProviderVM(ctx, provider, "Archive1"); ok {
		t.Error("target VM left at the provider")
	}
	if _, err := tenantVDC(t, l).GetVAppByName("Archive1", true); err == nil {
		t.Error("vApp left in vCD")
	}
	replica := "[provider-ds] " + replication.ReplicaDiskPath("Company", "Archive1", 0)
	if got := diskFilesOf(t, env, lab.ApplianceVM); !slices.Contains(got, replica) {
		t.Errorf("receiver appliance disks %v: the replica %s is not back", got, replica)
	}
	if fileHash(t, l.OnPrem.FlatFile("Archive1")) != fileHash(t, l.ReplicaFlatFile(replica)) {
		t.Error("the replica changed in the rollback")
	}
	if md := reportOf(t, env); !strings.Contains(md, "| Archive1 | rolled back |") || !strings.Contains(md, "Cold migration") {
		t.Errorf("report:\n%s", md)
	}

	// A run that died in the window (state "running") is cleaned up and
	// retried: the source, off when the window began, is never powered on.
	l.VCD.Faults.Clear()
	if err := env.State.SetOutput("cutover", cutoverKey("Archive1"), cutoverRunning); err != nil {
		t.Fatal(err)
	}
	// Its rollback as decided would leave the source off, and says so
	// (QA: the plan of a --rollback said it powers the source on).
	env.CutoverDecision = CutoverRollback
	plan, err := (&Cutover{}).Plan(ctx, env)
	env.CutoverDecision = ""
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(plan.Items, func(it Item) bool {
		return it.Name == "Archive1" && strings.Contains(it.Detail, "the source left powered off") && !strings.Contains(it.Detail, "powered on")
	}) {
		t.Errorf("the plan of the cold VM's rollback as decided: %+v", plan.Items)
	}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("retried cutover: %v", err)
	}
	md := reportOf(t, env)
	if !strings.Contains(md, "| Archive1 | migrated |") || strings.Contains(md, "| shutdown |") {
		t.Errorf("retried cold cutover of a powered-off VM: want migrated without a shutdown:\n%s", md)
	}
	if src, _ := onprem.VMByName(ctx, "Archive1"); src.PoweredOn() {
		t.Error("the retry powered on the source")
	}
}

// TestColdMigrationOfRunningVM: a running VM the plan marks mode: cold is
// not replicated while it runs (no replica, no scheduler job); its confirmed
// cutover shuts it down, replicates it in one pass without a snapshot and
// brings it up in Company-VDC, where its guest boots from the replica.
func TestColdMigrationOfRunningVM(t *testing.T) {
	t.Parallel()
	l, env := coldLab(t, "WebApp3")
	env.Plan().VMs[0].Mode = ModeCold
	ctx := context.Background()
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("run: %v, stopped before %q", err, out.StoppedBefore)
	}
	if store, err := env.replicationStore(); err != nil {
		t.Fatal(err)
	} else if ok, _ := synced(store, "WebApp3"); ok {
		t.Error("a running VM marked cold was replicated before its cutover window")
	}
	// A test migration of it says why there is nothing to test (QA: "run
	// the replication step first", which could never help).
	env.Plan().TestMigration.Network = lab.BubbleNetwork
	if _, err := env.TestMigrate(ctx, []string{"WebApp3"}, func(Event) {}); err == nil || !strings.Contains(err.Error(), "WebApp3 is migrated cold and runs: its one pass is in its cutover window") {
		t.Errorf("test migration of a running cold VM: %v", err)
	}
	// Run again, unconfirmed: nothing to do (QA: every such run ran step 6
	// again, "WebApp3 added to the plan since this step ran", 1 change).
	if out, err := r.Run(ctx); err != nil || out.Done != 0 || out.StoppedBefore != "cutover" {
		t.Errorf("second run before the cutover: %+v, %v; want nothing done", out, err)
	}
	r.Confirmed = true
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover: %v", err)
	}
	onprem, _ := env.OnPrem(ctx)
	if src, _ := onprem.VMByName(ctx, "WebApp3"); src.PoweredOn() {
		t.Error("source WebApp3 still runs after its cold cutover")
	}
	// ferry status --json: cut over, and not a paused job (QA: "paused":
	// true, "held": "cutover" for good, which a monitor alerts on).
	if sts, err := env.ReplicationStatus(time.Now()); err != nil || len(sts) != 1 || sts[0].Phase != replication.JobCutOver || sts[0].Paused || sts[0].Held != "" || sts[0].Reason != "" {
		t.Errorf("status after the cutover: %+v (%v)", sts, err)
	}
	replica := "[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp3", 0)
	if fileHash(t, l.OnPrem.FlatFile("WebApp3")) != fileHash(t, l.ReplicaFlatFile(replica)) {
		t.Error("replica differs from the source shut down for it")
	}
	if why := l.Reach.BootFailure("WebApp3"); why != "" {
		t.Errorf("WebApp3's guest did not boot at the provider: %s", why)
	}
	md := reportOf(t, env)
	for _, want := range []string{"| WebApp3 | migrated |", "Cold migration: mode: cold in the plan", "| shutdown |", "| cold pass |", "initial pass without a snapshot"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| pre-cutover pass |") {
		t.Errorf("a cold cutover ran a pass while the VM ran:\n%s", md)
	}
}

// TestWavePlanCountsItsColdVMs (QA: a wave of five, two of them cold, read
// "Confirmed together, the 3 VMs are one wave", written after a cold VM's
// line): the plan counts every VM the wave cuts over, and says its
// projection is the warm VMs'.
func TestWavePlanCountsItsColdVMs(t *testing.T) {
	t.Parallel()
	_, env := coldLab(t, "WebApp2")
	ctx := context.Background()
	env.EditPlan(func(pf *PlanFile) {
		cold := pf.VMs[0]
		cold.Name, cold.TargetVApp = "Archive1", "Archive1"
		pf.VMs = append(pf.VMs, cold)
	})
	replicateToCutover(t, env)
	p, err := (&Cutover{}).Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if s := p.String(); !strings.Contains(s, "Confirmed together, the 2 VMs are one wave") || !strings.Contains(s, "(of its 1 warm VMs; a cold VM's window") {
		t.Errorf("cutover plan of a warm and a cold VM:\n%s", s)
	}
}

// TestWavePlanLeftOffVM: a wave with a VM whose target stays off
// (power_on: false) projects the VMs powered on only, and says why the
// other is not projected (its outage lasts until someone powers it on),
// beside a cold VM and without one.
func TestWavePlanLeftOffVM(t *testing.T) {
	t.Parallel()
	_, env := coldLab(t, "WebApp2")
	ctx := context.Background()
	env.EditPlan(func(pf *PlanFile) {
		off, cold := pf.VMs[0], pf.VMs[0]
		off.Name, off.TargetVApp = "WebApp3", "WebApp3"
		off.SetPower(LeaveOff)
		cold.Name, cold.TargetVApp = "Archive1", "Archive1"
		pf.VMs = append(pf.VMs, off, cold)
	})
	replicateToCutover(t, env)
	p, err := (&Cutover{}).Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if s := p.String(); !strings.Contains(s, "Confirmed together, the 3 VMs are one wave") ||
		!strings.Contains(s, "(of its 1 warm VMs powered on; a cold VM's window, its shutdown and whole-disk pass, and a target left off, down until someone powers it on, are not projected)") ||
		!strings.Contains(s, "left powered off; down from its shutdown until someone powers it on (power_on: false)") {
		t.Errorf("cutover plan of a warm VM, one left off and a cold one:\n%s", s)
	}
	env.EditPlan(func(pf *PlanFile) { pf.VMs = pf.VMs[:2] })
	if p, err = (&Cutover{}).Plan(ctx, env); err != nil {
		t.Fatal(err)
	}
	if s := p.String(); !strings.Contains(s, "Confirmed together, the 2 VMs are one wave") ||
		!strings.Contains(s, "(of its 1 VMs powered on; a target left off is down until someone powers it on)") {
		t.Errorf("cutover plan of a warm VM and one left off:\n%s", s)
	}
}
