package steps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
)

// testMigrationLab is migrationLab for WebApp1 and WebApp2 (the plan's
// guest ping runs from WebApp1 to WebApp2), replicated by step 6, with the
// lab's isolated network for test copies.
func testMigrationLab(t *testing.T) (*lab.Lab, *Env) {
	t.Helper()
	return testMigrationLabWith(t, lab.Options{})
}

// testMigrationLabWith is testMigrationLab with a lab of opts.
func testMigrationLabWith(t *testing.T, opts lab.Options) (*lab.Lab, *Env) {
	t.Helper()
	l, env := migrationLabWith(t, "WebApp2", opts)
	env.Plan().VMs = append(env.Plan().VMs, VMPlan{Name: "WebApp1"})
	env.Plan().ApplyDefaults(NewItinerary())
	env.Plan().TestMigration = TestMigrationPlan{Network: lab.BubbleNetwork, BootTimeout: "20s"}
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if out, err := r.Run(context.Background()); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("replication: %v (stopped before %q)", err, out.StoppedBefore)
	}
	return l, env
}

// providerHoldsNothing fails the test if the provider vCenter, its
// datastore, Cloud Director or the receiver appliance keeps anything of
// vm's test copy.
func providerHoldsNothing(t *testing.T, l *lab.Lab, env *Env, vm string) {
	t.Helper()
	ctx := context.Background()
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := labtest.ProviderVM(ctx, provider, TestCopyName(vm)); err != nil || ok {
		t.Errorf("the provider vCenter still has %s (%v)", TestCopyName(vm), err)
	}
	if _, err := tenantVDC(t, l).GetVAppByName(TestVApp(vm), true); err == nil {
		t.Errorf("Cloud Director still has vApp %s", TestVApp(vm))
	}
	if entries, _ := os.ReadDir(filepath.Join(l.Provider.DatastoreDir, TestCopyName(vm))); len(entries) > 0 {
		t.Errorf("the copy's files are still on the datastore: %v", entries)
	}
	if snap, err := provider.HasSnapshot(ctx, "Provider-DC", lab.ApplianceVM, TestSnapshot); err != nil || snap {
		t.Errorf("the receiver appliance still has its test snapshot (%v)", err)
	}
	if left := env.TestsLeftRunning(); len(left) > 0 {
		t.Errorf("state lists tests left running: %v", left)
	}
}

// TestTestMigrationOfRunningVM: a test migration of WebApp2 (and WebApp1,
// whose copy pings WebApp2's in the bubble) while both run and replicate:
// the copies boot on child disks of the frozen replicas in the isolated
// network, a pass made during the test writes the appliance's delta and
// not the frozen replica, the report says what booted and answered, and
// afterwards the provider holds nothing of the copies, the replica holds
// the pass made during the test, and the next pass is incremental.
func TestTestMigrationOfRunningVM(t *testing.T) {
	t.Parallel()
	l, env := testMigrationLab(t)
	ctx := context.Background()

	// Not on a routed (stretched) network: the copy keeps the source's
	// MAC and address.
	env.Plan().TestMigration.Network = "company-network"
	if _, err := env.TestMigrate(ctx, []string{"WebApp2"}, func(Event) {}); err == nil || !strings.Contains(err.Error(), "ISOLATED") {
		t.Fatalf("test migration onto the stretched network: %v", err)
	}
	env.Plan().TestMigration.Network = lab.BubbleNetwork

	replica := l.ReplicaFlatFile("[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 0))
	before := fileHash(t, replica)
	var during replication.PassResult
	var hookErr error
	var copyName string // the copy as the provider vCenter shows it, once imported
	env.phaseHook = func(vm, phase string) {
		if vm != "WebApp2" || phase != "boot" || hookErr != nil {
			return
		}
		if provider, err := env.ProviderVC(ctx); err != nil {
			hookErr = err
			return
		} else if ref, ok, err := labtest.ProviderVM(ctx, provider, TestCopyName("WebApp2")); err != nil || !ok {
			hookErr = fmt.Errorf("no copy of WebApp2 at the provider after its import (%v)", err)
			return
		} else if name, _, err := provider.VMByRef(ctx, ref); err != nil {
			hookErr = err
			return
		} else {
			copyName = fmt.Sprintf("%s [%s]", name, ref.Value)
		}
		// Replication goes on while the copies run.
		job, _, err := env.job(ctx, "WebApp2", nil)
		if err == nil {
			during, err = job.RunPass(ctx, false)
		}
		if err == nil && during.Counters.Sent == 0 {
			err = errors.New("the pass during the test sent nothing (the guest workload writes)")
		}
		if err == nil && fileHash(t, replica) != before {
			err = errors.New("a pass during the test changed the frozen replica base")
		}
		hookErr = err
	}
	var lines []string
	md, err := env.TestMigrate(ctx, []string{"WebApp1", "WebApp2"}, func(ev Event) { lines = append(lines, ev.Message+ev.Error) })
	if err != nil {
		t.Fatalf("test migration: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	raw, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	report := string(raw)
	// The copy is named as the provider vCenter showed it after the
	// import (Cloud Director renamed it), its moref beside it.
	if copyName == "" || strings.HasPrefix(copyName, TestCopyName("WebApp2")+" [") || !strings.Contains(report, "in the provider vCenter: "+copyName+" |") {
		t.Errorf("report does not name WebApp2's copy as the provider vCenter showed it (%q):\n%s", copyName, report)
	}
	for _, want := range []string{"# Test migration report", "| WebApp2 | booted |", "| WebApp1 | booted |",
		"| create copy at provider |", "nothing copied", "| boot |", "VMware Tools running after",
		"WebApp1 -> WebApp2: answered", "tcp WebApp2: answered (tcp 127.16.10.12:", "from the copy of WebApp1 answered)",
		"| shut down copy |", "the guest OS shut down through VMware Tools", "| delete copy |", "| remove snapshot |"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	// The copy's guest shutdown (the lab's guests take GuestShutdown) is
	// what WebApp2's first cutover projects for its shutdown, not the 30 s
	// default.
	est, err := env.ProjectDowntime("WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	if p := est.Parts[0]; p.Phase != "shutdown" || p.Default || p.Seconds < l.GuestShutdown.Seconds() || p.Seconds > 10 ||
		!strings.Contains(p.From, `"shut down copy" in test migrations of WebApp2`) {
		t.Errorf("projected shutdown after the test migration: %+v (lab guests shut down in %s)", p, l.GuestShutdown)
	}
	if why := l.Reach.BootFailure("WebApp2"); why != "" {
		t.Errorf("WebApp2's copy did not boot in the lab's guest model: %s", why)
	}
	for _, vm := range []string{"WebApp1", "WebApp2"} {
		providerHoldsNothing(t, l, env, vm)
	}
	// Replication goes on from the replica as the pass during the test left
	// it: the next pass is incremental and the replica verifies.
	job, _, err := env.job(ctx, "WebApp2", nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := job.RunPass(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if next.Kind != replication.PassIncremental {
		t.Errorf("the pass after the test is %s, want incremental", next.Kind)
	}
	// A full compare: every block of the replica (consolidated after the
	// test) holds the source's.
	cmp, err := job.RunPassWith(ctx, replication.PassOptions{Compare: true})
	if err != nil || cmp.Compare == nil || cmp.Compare.Differing != 0 {
		t.Errorf("full compare after the test: %+v %v", cmp.Compare, err)
	}
}

// TestTestMigrationCopyDoesNotBoot: a copy whose guest does not boot is
// reported so, and the cleanup still happens.
func TestTestMigrationCopyDoesNotBoot(t *testing.T) {
	t.Parallel()
	l, env := testMigrationLab(t)
	env.Plan().TestMigration.BootTimeout = "3s"
	if err := l.Reach.BreakGuest("WebApp2", "lab: the guest's boot loader is damaged"); err != nil {
		t.Fatal(err)
	}
	md, err := env.TestMigrate(context.Background(), []string{"WebApp2"}, func(Event) {})
	if err == nil || !strings.Contains(err.Error(), "did not boot") {
		t.Fatalf("test migration of a guest that does not boot: %v", err)
	}
	raw, rerr := os.ReadFile(md)
	if rerr != nil {
		t.Fatalf("no report (%v); error: %v", rerr, err)
	}
	for _, want := range []string{"| WebApp2 | did not boot |", "VMware Tools not running", "| delete copy |", "| remove snapshot |"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("report lacks %q:\n%s", want, raw)
		}
	}
	providerHoldsNothing(t, l, env, "WebApp2")
}

// TestTestCleanupAfterKill: a test killed while its copy runs leaves the
// copy and the snapshot; the state lists it, the cutover waits, and
// TestCleanup removes both (twice: the second finds nothing).
func TestTestCleanupAfterKill(t *testing.T) {
	t.Parallel()
	l, env := testMigrationLab(t)
	ctx := context.Background()
	env.phaseHook = func(vm, phase string) {
		if phase == "boot" {
			panic("killed")
		}
	}
	func() {
		defer func() {
			if r := recover(); r != "killed" {
				t.Fatalf("recovered %v", r)
			}
		}()
		_, _ = env.TestMigrate(ctx, []string{"WebApp2"}, func(Event) {})
	}()
	env.phaseHook = nil
	if left := env.TestsLeftRunning(); len(left) != 1 || left[0] != "WebApp2" {
		t.Fatalf("tests left running: %v", left)
	}
	provider, _ := env.ProviderVC(ctx)
	if _, ok, _ := labtest.ProviderVM(ctx, provider, TestCopyName("WebApp2")); !ok {
		t.Fatal("the killed test left no copy: the kill came too late to test anything")
	}
	if _, err := env.TestMigrate(ctx, []string{"WebApp2"}, func(Event) {}); !errors.Is(err, ErrTestLeftRunning) {
		t.Errorf("a second test while one is left: %v", err)
	}
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}, Confirmed: true}
	env.CutoverVMs = []string{"WebApp2"}
	if _, err := r.Run(ctx); !errors.Is(err, ErrTestLeftRunning) {
		t.Errorf("cutover while a test is left: %v", err)
	}
	// A new process on the same state (after kill -9).
	st, err := LoadState(env.State.Path())
	if err != nil {
		t.Fatal(err)
	}
	env2 := NewEnv(l.Config(), env.Plan(), st)
	t.Cleanup(func() { env2.Close(context.Background()) })
	var lines []string
	if err := env2.TestCleanup(ctx, func(ev Event) { lines = append(lines, ev.Message) }); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "consolidated") {
		t.Errorf("cleanup did not remove the snapshot:\n%s", strings.Join(lines, "\n"))
	}
	providerHoldsNothing(t, l, env2, "WebApp2")
	lines = nil
	if err := env2.TestCleanup(ctx, func(ev Event) { lines = append(lines, ev.Message) }); err != nil {
		t.Fatalf("second cleanup: %v", err)
	}
	if got := strings.Join(lines, "\n"); !strings.Contains(got, "no snapshot left") || strings.Contains(got, "deleted") {
		t.Errorf("second cleanup changed something:\n%s", got)
	}
}

// warmWithPaused starts env's scheduler (as the wizard does) and pauses
// vm's job as an operator would; paused says whether a VM's job is paused.
func warmWithPaused(t *testing.T, env *Env, vm string) (*replication.Scheduler, func(vm string) bool) {
	t.Helper()
	sched, err := env.EnableWarm(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.Pause(vm); err != nil {
		t.Fatal(err)
	}
	return sched, func(vm string) bool {
		t.Helper()
		for _, st := range sched.Status() {
			if st.VM == vm {
				return st.Paused
			}
		}
		t.Fatalf("no job of %s: %+v", vm, sched.Status())
		return false
	}
}

// TestTestMigrationKeepsAPausedJobPaused: in the wizard (the scheduler
// replicating), a test migration of a VM the operator paused leaves it
// paused (the test holds only the jobs it paused itself), and a VM whose
// replica a verify found to differ from its source is not tested: the
// error says to run the repairing full compare first.
func TestTestMigrationKeepsAPausedJobPaused(t *testing.T) {
	t.Parallel()
	_, env := testMigrationLab(t)
	ctx := context.Background()
	sched, paused := warmWithPaused(t, env, "WebApp2")
	if _, err := env.TestMigrate(ctx, []string{"WebApp1", "WebApp2"}, func(Event) {}); err != nil {
		t.Fatalf("test migration: %v", err)
	}
	if !paused("WebApp2") {
		t.Error("the test migration resumed WebApp2, which the operator had paused")
	}
	if paused("WebApp1") {
		t.Error("the test migration left WebApp1 paused")
	}

	if err := sched.PauseForMismatch("WebApp1", errors.New("block 3 differs")); err != nil {
		t.Fatal(err)
	}
	_, err := env.TestMigrate(ctx, []string{"WebApp1"}, func(Event) {})
	if err == nil || !strings.Contains(err.Error(), "block 3 differs") || !strings.Contains(err.Error(), "ferry run --verify=WebApp1") {
		t.Fatalf("test migration of a replica that differs from its source: %v", err)
	}
	if left := env.TestsLeftRunning(); len(left) != 0 {
		t.Errorf("the refused test left %v recorded as running", left)
	}
}

// TestTestMigrationOfOneVMSkipsPingToAbsentPeer: a test migration of
// WebApp1 alone does not run the plan's guest ping from WebApp1 to
// WebApp2's address: WebApp2 has no copy in the isolated network, so the
// ping could never answer. The probe is listed as not run, with why, and
// the test passes.
func TestTestMigrationOfOneVMSkipsPingToAbsentPeer(t *testing.T) {
	t.Parallel()
	_, env := testMigrationLab(t)
	md, err := env.TestMigrate(context.Background(), []string{"WebApp1"}, func(Event) {})
	if err != nil {
		t.Fatalf("test migration of WebApp1: %v", err)
	}
	raw, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| WebApp1 | booted |", "0 answered of 0 run (1 not runnable in the isolated network)",
		"172.16.10.12 is WebApp2's address, and WebApp2 has no running copy in the isolated network"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("report lacks %q:\n%s", want, raw)
		}
	}
}

// TestTestMigrationRefusedWithoutPrivileges: a test migration whose
// provider account could take the receiver appliance's snapshot but not
// remove it (nor remove a copy) is refused before anything is changed,
// naming each privilege, where it is missing and what it is for. Before,
// the test ran, and the snapshot it could not remove held the cutover.
func TestTestMigrationRefusedWithoutPrivileges(t *testing.T) {
	t.Parallel()
	l, env := testMigrationLab(t)
	for _, p := range []string{"VirtualMachine.State.RemoveSnapshot", "VirtualMachine.Inventory.Delete"} {
		if err := l.Provider.Privileges.Withhold(p); err != nil {
			t.Fatal(err)
		}
	}
	_, err := env.TestMigrate(context.Background(), []string{"WebApp2"}, func(Event) {})
	if err == nil {
		t.Fatal("test migration without VirtualMachine.State.RemoveSnapshot on the receiver appliance ran")
	}
	for _, want := range []string{"nothing changed", "VirtualMachine.State.RemoveSnapshot", "the receiver appliance VM " + lab.ApplianceVM,
		"remove that snapshot after the test", "VirtualMachine.Inventory.Delete", "the VM folder of datacenter Provider-DC"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "CreateSnapshot:") {
		t.Errorf("refusal names a privilege the account holds: %v", err)
	}
	providerHoldsNothing(t, l, env, "WebApp2")
	if reports, _ := filepath.Glob(filepath.Join(filepath.Dir(env.State.Path()), "test-migration-*")); len(reports) > 0 {
		t.Errorf("a refused test wrote reports: %v", reports)
	}
}

// TestTestMigrationGuestSlowToShutDown: a copy whose guest OS takes longer
// to shut down than cutover.shutdown_timeout is reported so (what its
// cutover would do then), the test still passes and cleans up, and the
// projection has the timeout for the shutdown.
func TestTestMigrationGuestSlowToShutDown(t *testing.T) {
	t.Parallel()
	// A guest that takes 30 times the timeout: the projection, about the
	// timeout plus a hard power-off, stays well under it however slow the
	// machine (at 5 times it did not under load: 0.54 s of 0.5 s).
	const timeout = 100 * time.Millisecond
	l, env := testMigrationLabWith(t, lab.Options{GuestShutdown: 30 * timeout})
	env.Plan().Cutover.ShutdownTimeout = timeout.String()
	md, err := env.TestMigrate(context.Background(), []string{"WebApp2"}, func(Event) {})
	if err != nil {
		t.Fatalf("test migration with a guest slow to shut down: %v", err)
	}
	raw, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	want := "the guest OS did not stop within " + timeout.String() + " (cutover.shutdown_timeout): WebApp2's cutover waits as long, then powers the source off hard"
	if !strings.Contains(string(raw), want) || !strings.Contains(string(raw), "| WebApp2 | booted |") {
		t.Errorf("report lacks %q or the copy's boot:\n%s", want, raw)
	}
	providerHoldsNothing(t, l, env, "WebApp2")
	est, err := env.ProjectDowntime("WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	if p := est.Parts[0]; p.Default || p.Seconds < timeout.Seconds() || p.Seconds >= l.GuestShutdown.Seconds() {
		t.Errorf("projected shutdown %+v, want about the %s timeout", p, timeout)
	}
}

// TestTestMigrationAfterARolledBackCutover (QA): a cutover killed after its
// final pass, rolled back by the next start: the replica holds the source
// as of its shutdown (consistent: the guest shut down cleanly), and the
// source runs again. A test migration right after it (no pass since) made a
// copy that the lab's guest model judged "caught in the middle of a pass"
// and that did not boot; it boots, as it would on real infrastructure.
func TestTestMigrationAfterARolledBackCutover(t *testing.T) {
	t.Parallel()
	l, env := crashedAfterCreate(t)
	ctx := context.Background()
	if err := env.RecoverInterruptedCutovers(ctx, func(Event) {}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.EnableWarm(ctx, nil); err != nil {
		t.Fatal(err)
	}
	env.Plan().TestMigration = TestMigrationPlan{Network: lab.BubbleNetwork, BootTimeout: "20s"}
	var lines []string
	if _, err := env.TestMigrate(ctx, []string{"WebApp2"}, func(ev Event) { lines = append(lines, ev.Message+ev.Error) }); err != nil {
		t.Fatalf("test migration after the rollback: %v\n%s\nboot failures: %+v", err, strings.Join(lines, "\n"), l.Reach.BootFailures())
	}
}
