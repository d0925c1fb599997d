package steps

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

// A test migration brings a copy of each named VM up at the provider from
// its replica as of the last completed pass, without touching the source
// or stopping replication, checks that it boots and answers inside an
// isolated network, deletes it, and writes a report.
//
// The replica disks are hot-added to the receiver appliance, which writes
// them. With the VMs' passes idle, a snapshot of the appliance freezes them
// (its later writes go to the appliance's deltas, the block devices the
// receiver writes are unchanged); the copy runs on child disks (linked
// clones) of the frozen replicas, so nothing is copied and the replica is
// never written. The copy is imported into Cloud Director as a vApp of its
// own, its NICs on the plan's isolated org VDC network (no uplink: the
// copy keeps the source's MAC and address without clashing with the
// running source), powered on, watched until VMware Tools run in it, and
// the plan's probes that can run inside the isolated network run there.
// Then the copy is deleted through Cloud Director (which deletes its child
// disks, never their parents) and the snapshot removed (consolidated).
//
// The state records a test before anything is changed at the provider, so
// that `ferry run --test-cleanup` removes what a killed test left.

// TestMigrationPlan tunes test migrations.
type TestMigrationPlan struct {
	// Network is the ISOLATED org VDC network of the VDC the copies'
	// NICs are connected to.
	Network string `yaml:"network,omitempty"`
	// BootTimeout bounds the wait for VMware Tools in a copy (default 3m).
	BootTimeout string `yaml:"boot_timeout,omitempty"`
}

// TestNetworkKey is the plan's answer naming the isolated network of
// test copies (TestMigrationPlan.Network).
const TestNetworkKey = "test_migration.network"

// testNetworkRefusal is the rule for test_migration.network, one for the
// test migration and for what a front end offers (testNetworkChoices):
// name's networkType typ must be ISOLATED. nil: it is.
func testNetworkRefusal(name, typ string) error {
	if typ == "ISOLATED" {
		return nil
	}
	return fmt.Errorf("%s is a %s network: a test copy keeps the source's MAC and address, so it must run on an ISOLATED org VDC network (no uplink, not stretched)", name, typ)
}

// testNetworkAdvice is what test_migration.network may name: "an ISOLATED
// org VDC network ...", with the VDC's ISOLATED networks when nets (its
// networks and their types; nil: not read) is given.
func testNetworkAdvice(vdcName string, nets map[string]string) string {
	s := "name the ISOLATED org VDC network (no uplink) the test copies run on, so that they cannot clash with the running sources"
	if nets == nil {
		return s
	}
	var isolated, others []string
	for _, n := range slices.Sorted(maps.Keys(nets)) {
		if testNetworkRefusal(n, nets[n]) == nil {
			isolated = append(isolated, n)
		} else {
			others = append(others, n+" ("+nets[n]+")")
		}
	}
	if len(isolated) == 0 {
		return s + fmt.Sprintf("; VDC %s has none (its networks: %s): create one in Cloud Director (no uplink)", vdcName, listOrNone(others))
	}
	return s + fmt.Sprintf(" (VDC %s's ISOLATED networks: %s)", vdcName, strings.Join(isolated, ", "))
}

// CheckTestPlan refuses, before anything runs (and before a front end
// opens the replication store or a log, or an engine takes its step lock),
// a test migration the plan cannot run: test_migration.network not named,
// not a network of the plan's VDC or not ISOLATED;
// test_migration.boot_timeout not a duration; a receiver other than the
// appliance. The error, a *FieldError, names the field and what would be
// valid (the VDC's ISOLATED networks, as Cloud Director lists them: a
// missing network is refused without the list when it cannot); other
// errors are Cloud Director's. TestMigrate checks the same.
func (e *Env) CheckTestPlan(ctx context.Context) error {
	tp := e.Plan().TestMigration
	if tp.Network == "" {
		nets, _, _ := e.testVDCNetworks(ctx) // the valid names, when they can be read
		return &FieldError{TestNetworkKey, errors.New("is not set: " + testNetworkAdvice(e.Plan().VDC, nets))}
	}
	if _, err := durationOr(tp.BootTimeout, testBootTimeout); err != nil {
		return &FieldError{"test_migration.boot_timeout", err}
	}
	if kind, err := e.receiverKind(); err != nil {
		return err
	} else if kind != replication.KindAppliance {
		return &FieldError{"provider.receiver_kind", fmt.Errorf("%s: a test migration freezes the replica disks with a snapshot of the receiver appliance; it needs receiver_kind appliance", kind)}
	}
	nets, _, err := e.testVDCNetworks(ctx)
	if err != nil {
		return err
	}
	return testNetworkCheck(tp.Network, e.Plan().VDC, nets)
}

// testVDCNetworks reads the networks of the plan's VDC and their types.
func (e *Env) testVDCNetworks(ctx context.Context) (map[string]string, *vcd.VDC, error) {
	_, vdc, err := e.planVDC(ctx)
	if err != nil {
		return nil, nil, err
	}
	nets, err := vdc.NetworkTypes()
	if err != nil {
		return nil, nil, err
	}
	return nets, vdc, nil
}

// testNetworkCheck refuses name as test_migration.network of VDC vdcName
// whose networks are nets: a *FieldError naming the VDC's ISOLATED ones.
func testNetworkCheck(name, vdcName string, nets map[string]string) error {
	typ, ok := nets[name]
	if !ok {
		return &FieldError{TestNetworkKey, fmt.Errorf("%s is not an org VDC network of VDC %s: %s", name, vdcName, testNetworkAdvice(vdcName, nets))}
	}
	if err := testNetworkRefusal(name, typ); err != nil {
		return &FieldError{TestNetworkKey, fmt.Errorf("%w: %s", err, testNetworkAdvice(vdcName, nets))}
	}
	return nil
}

// testBootTimeout is test_migration.boot_timeout's default.
const testBootTimeout = 3 * time.Minute

// testNetworkChoices are the networks of vdc (named vdcName) that
// test_migration.network may name (testNetworkRefusal), for a front end to
// pick from (Env.Choices). When there is none, the error names the VDC,
// the networks it has and what to do.
func testNetworkChoices(vdc *vcd.VDC, vdcName string) ([]Choice, error) {
	nets, err := vdc.NetworkTypes()
	if err != nil {
		return nil, err
	}
	var out []Choice
	var others []string
	for _, n := range slices.Sorted(maps.Keys(nets)) {
		if testNetworkRefusal(n, nets[n]) == nil {
			out = append(out, Choice{Value: n})
		} else {
			others = append(others, n+" ("+nets[n]+")")
		}
	}
	if len(out) == 0 {
		return nil, &FieldError{TestNetworkKey, fmt.Errorf("VDC %s has no ISOLATED org VDC network for the test copies (its networks: %s): create one in Cloud Director (no uplink)", vdcName, listOrNone(others))}
	}
	return out, nil
}

const (
	// testStep is the state record of test migrations.
	testStep = "test-migration"
	// TestSnapshot is the receiver appliance's snapshot during a test.
	TestSnapshot = "ferry-test-migration"
)

func testKey(vm string) string { return "test." + vm }

// TestCopyName is the provider vCenter name of vm's test copy.
func TestCopyName(vm string) string { return vm + "-ferry-test" }

// TestVApp is the Cloud Director vApp of vm's test copy.
func TestVApp(vm string) string { return "ferry-test-" + vm }

// TestsLeftRunning lists the VMs whose test migration is recorded in the
// state and not cleaned up (a test still running, or killed).
func (e *Env) TestsLeftRunning() []string {
	var out []string
	for k, v := range e.State.Get(testStep).Outputs {
		if vm, ok := strings.CutPrefix(k, "test."); ok && v != "" {
			out = append(out, vm)
		}
	}
	slices.Sort(out)
	return out
}

// ErrTestLeftRunning says a test migration's copy or snapshot may still be
// at the provider.
var ErrTestLeftRunning = errors.New("a test migration is left running")

// checkNoTestLeft refuses what must not run while a test is left running.
func (e *Env) checkNoTestLeft(what string) error {
	if left := e.TestsLeftRunning(); len(left) > 0 {
		return fmt.Errorf("%w (%s): %s waits until `ferry run --test-cleanup` removed it", ErrTestLeftRunning, strings.Join(left, ", "), what)
	}
	return nil
}

// CheckTestLeft refuses, before anything runs, a confirmed cutover of vms
// (--confirm-cutover, with or without a decision; the wizard's typed
// names) while a test migration is left running: its snapshot of the
// receiver appliance freezes every replica on it, so the cutover could
// detach none for a target. Nothing is recorded: the cutover did not fail,
// it waits for `ferry run --test-cleanup` (QA: refused inside the step,
// it was recorded failed, and ferry status said so after the cleanup).
// A run without a confirmation is never refused: steps 1 to 7 and
// replication go on beside a test left running. Nor is a decision on an
// interrupted cutover (decision: CutoverFinish or CutoverRollback): it
// detaches nothing from the appliance (--finish keeps the target; a
// rollback gives the replica disks back to the appliance, beside the
// test's snapshot), as the automatic rollback of a run that starts does
// (QA: --rollback was refused with a reason that did not apply).
func (e *Env) CheckTestLeft(vms []string, decision string) error {
	left := e.TestsLeftRunning()
	if len(vms) == 0 || len(left) == 0 || decision != "" {
		return nil
	}
	return fmt.Errorf("%w (%s): the cutover of %s waits until `ferry run --test-cleanup` removes it (the test's snapshot of the receiver appliance freezes every replica, so none could be detached for a target); nothing was changed",
		ErrTestLeftRunning, strings.Join(left, ", "), strings.Join(vms, ", "))
}

// TestNames checks --test-migrate's VM names against the plan.
func TestNames(pf *PlanFile, typed string) ([]string, error) {
	return planVMNames(pf, "--test-migrate", typed)
}

// testCopy is one VM's copy in a test migration.
type testCopy struct {
	c        *vmCutover // the cutover's target build, for the copy
	replicas []string   // the replica disks (datastore paths), source disk order
	ref      *vsphere.Ref
	vapp     *vcd.VApp
	guestID  string // the source's guest OS (the probes run Linux programs)
}

// TestMigrate runs a test migration of the named VMs (TestNames) and
// returns the report's path. The copies are always deleted and the
// snapshot removed, whatever happened; an error says what failed (a copy
// that did not boot is one).
func (e *Env) TestMigrate(ctx context.Context, names []string, emit Emit) (string, error) {
	emit = serialEmit(emit) // the copies shut down from goroutines of their own
	tp := e.Plan().TestMigration
	// The plan's fields, as the front ends check them first (CheckTestPlan).
	if tp.Network == "" {
		return "", &FieldError{TestNetworkKey, errors.New("is not set: " + testNetworkAdvice(e.Plan().VDC, nil))}
	}
	bootTimeout, err := durationOr(tp.BootTimeout, testBootTimeout)
	if err != nil {
		return "", &FieldError{"test_migration.boot_timeout", err}
	}
	if err := e.checkNoTestLeft("another test migration"); err != nil {
		return "", err
	}
	if kind, err := e.receiverKind(); err != nil {
		return "", err
	} else if kind != replication.KindAppliance {
		return "", &FieldError{"provider.receiver_kind", fmt.Errorf("%s: a test migration freezes the replica disks with a snapshot of the receiver appliance; it needs receiver_kind appliance", kind)}
	}
	nets, vdc, err := e.testVDCNetworks(ctx)
	if err != nil {
		return "", err
	}
	if err := testNetworkCheck(tp.Network, e.Plan().VDC, nets); err != nil {
		return "", err
	}
	// A VM in a state no test takes (cut over, no replica yet); the
	// front ends refuse it before anything runs (CheckTestNames).
	store, err := e.replicationStore()
	if err != nil {
		return "", err
	}
	if err := e.refuseReplicaNames(store, names, testUse); err != nil {
		return "", err
	}
	// The copies run at the provider: room for their swap files.
	if it, ok, err := e.swapRoomItem(ctx, names, "the test copies would not start"); err != nil {
		return "", err
	} else if ok && it.Action == ActionConflict {
		return "", &FieldError{"provider.datastore", errors.New("not tested: " + it.Detail)}
	}
	// And room in the org VDC's compute quota: Cloud Director powers them on.
	if it, ok, err := e.computeRoomItem(ctx, names, "the test copies would not start"); err != nil {
		return "", err
	} else if ok && it.Action == ActionConflict {
		return "", fmt.Errorf("not tested: VDC %s: %s", it.Name, it.Detail)
	}
	var copies []*testCopy
	for _, n := range names {
		i := slices.IndexFunc(e.Plan().VMs, func(v VMPlan) bool { return v.Name == n })
		c := &vmCutover{env: e, emit: emit, plan: e.Plan().VMs[i], rep: VMReport{VM: n, TargetVApp: TestVApp(n)}}
		if err := c.connect(ctx, false); err != nil {
			return "", err
		}
		if c.src, err = c.onprem.VMByName(ctx, n); err != nil {
			return "", err
		}
		tc := &testCopy{c: c}
		for _, f := range e.replicaFiles(n, c.src.Disks) {
			tc.replicas = append(tc.replicas, f.Path)
		}
		copies = append(copies, tc)
	}
	if err := e.testPrivileges(ctx); err != nil {
		return "", err
	}
	// Recorded before the provider changes: a killed test is cleaned up.
	for _, tc := range copies {
		if err := e.State.SetOutput(testStep, testKey(tc.c.plan.Name), "running"); err != nil {
			return "", err
		}
	}
	report := &CutoverReport{Kind: ReportTest, Job: e.Plan().Job, Plan: e.State.BoundPlan(), Started: time.Now(), Parallel: 1}
	for _, tc := range copies {
		tc.c.rep.Started = report.Started
	}
	runErr := e.testCopies(ctx, copies, vdc, store, bootTimeout)
	cleanErr := e.testCleanup(context.WithoutCancel(ctx), copies, emit)
	for _, tc := range copies {
		var err error
		if tc.c.rep.Error != "" {
			err = errors.New(tc.c.rep.Error)
		}
		tc.c.rep.finishTest(err)
		report.VMs = append(report.VMs, tc.c.rep)
	}
	report.Finished = time.Now()
	dir := "."
	if e.State.Path() != "" {
		dir = filepath.Dir(e.State.Path())
	}
	md, js, err := report.Save(dir)
	if err != nil {
		return "", errors.Join(runErr, cleanErr, fmt.Errorf("save the test migration report: %w", err))
	}
	emit(Progress(fmt.Sprintf("test migration report: %s (JSON: %s)", md, js), -1))
	return md, errors.Join(runErr, cleanErr)
}

// testCopies freezes the replicas and brings every copy up; a VM's failure
// is in its report (rep.Error) and in the error returned.
func (e *Env) testCopies(ctx context.Context, copies []*testCopy, vdc *vcd.VDC, store *replication.StateStore, bootTimeout time.Duration) error {
	first := copies[0].c
	err := first.phase("freeze replicas", func() (string, error) {
		// The VMs' passes idle and held, so that the snapshot freezes a
		// completed pass; replication goes on as soon as it is taken. A
		// pass running now runs to its end: interrupted, it would leave
		// the replica holding part of it (CI: a copy frozen so, the full
		// compare after the initial sync cut short by the hold, did not
		// boot).
		var held []string
		defer func() {
			for _, vm := range held {
				_ = e.warmRelease(vm, replication.HoldTestMigration)
			}
		}()
		for _, tc := range copies {
			ok, err := e.warmHoldAfterPass(ctx, tc.c.plan.Name, replication.HoldTestMigration, testHold, func() {
				tc.c.emit(Progress(fmt.Sprintf("%s: its running pass completes before the replica is frozen (cut short, it would leave the replica holding part of it)", tc.c.plan.Name), -1))
			})
			if ok {
				held = append(held, tc.c.plan.Name)
			}
			if err != nil {
				return "", err
			}
		}
		// A pass interrupted before (the job paused during it, a ferry
		// stopped during it, a failed pass) left its replica holding part
		// of it until a pass completes.
		for _, tc := range copies {
			if p, _, _, err := storedPass(store, tc.c.plan.Name); err != nil {
				return "", err
			} else if p != nil {
				vm := tc.c.plan.Name
				return "", fmt.Errorf("%s: not tested: its replica holds part of a pass that was interrupted (%s pass, %s of %s acknowledged; the job paused, or ferry stopped, during it), which no guest could boot from; resume %s's replication (u on the replication dashboard, or ferry resume %s) and test it again once a pass has completed",
					vm, p.Kind, Bytes(p.Durable), Bytes(p.Size), vm, vm)
			}
		}
		applianceMu.Lock()
		defer applianceMu.Unlock()
		if err := first.provider.SnapshotVM(ctx, e.Plan().Provider.Datacenter, e.Plan().Provider.ReceiverVM, TestSnapshot,
			"ferry test migration of "+strings.Join(testNamesOf(copies), ", ")+": freezes the replica disks; remove with ferry run --test-cleanup"); err != nil {
			return "", err
		}
		return fmt.Sprintf("snapshot %s of receiver appliance %s; replication continues", TestSnapshot, e.Plan().Provider.ReceiverVM), nil
	})
	if err != nil {
		for _, tc := range copies[1:] {
			tc.c.rep.Error = err.Error()
		}
		first.rep.Error = err.Error()
		return err
	}
	var errs []error
	for _, tc := range copies {
		if err := e.bringUp(ctx, tc, vdc, bootTimeout); err != nil {
			tc.c.rep.Error = err.Error()
			errs = append(errs, err)
		}
	}
	e.bubbleProbes(ctx, copies)
	for _, tc := range copies {
		for _, p := range tc.c.rep.Probes {
			if p.Ran && !p.Answered {
				tc.c.rep.Error = strings.TrimPrefix(tc.c.rep.Error+"; ", "; ") + fmt.Sprintf("probe %q did not answer in the isolated network: %s", p.Name, p.Detail)
				errs = append(errs, fmt.Errorf("%s: probe %q did not answer in the isolated network", tc.c.plan.Name, p.Name))
			}
		}
	}
	if err := e.shutDownCopies(ctx, copies); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// shutDownCopies asks the guest OS of each booted copy to shut down, as a
// cutover shuts its source down (VMware Tools, ShutdownGuest), all at once,
// and records how long each took: a first cutover's projection has that
// for its shutdown instead of a 30 s default. A guest that does not stop
// within cutover.shutdown_timeout is found here, before any window; the
// phase says what its cutover would then do, and the copy is deleted
// (powered off) anyway. An error only for a shutdown ferry could not ask.
func (e *Env) shutDownCopies(ctx context.Context, copies []*testCopy) error {
	timeout, _, _, err := cutoverTimings(e.Plan().Cutover)
	if err != nil {
		return err
	}
	hard := e.Plan().Cutover.hardPowerOff()
	var wg sync.WaitGroup
	errs := make([]error, len(copies))
	for i, tc := range copies {
		if tc.ref == nil || tc.c.rep.ServiceBack.IsZero() {
			continue // not booted: nothing to measure
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := tc.c
			errs[i] = c.phase("shut down copy", func() (string, error) {
				_, err := c.provider.Shutdown(ctx, *tc.ref, timeout, false)
				switch {
				case errors.Is(err, vsphere.ErrShutdownTimeout):
					then := "powers the source off hard after as long (cutover.hard_power_off)"
					if !hard {
						then = "fails and rolls back, powering the source on again (cutover.hard_power_off: false)"
					}
					return fmt.Sprintf("the guest OS did not stop within %s (cutover.shutdown_timeout): %s's cutover waits as long, then %s; the copy is powered off with its deletion", timeout, c.plan.Name, then), nil
				case err != nil:
					return "", err
				}
				return "the guest OS shut down through VMware Tools, as the cutover shuts the source down: " + c.plan.Name + "'s projected shutdown", nil
			})
			if errs[i] != nil {
				c.rep.Error = strings.TrimPrefix(c.rep.Error+"; ", "; ") + errs[i].Error()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func testNamesOf(copies []*testCopy) []string {
	var out []string
	for _, tc := range copies {
		out = append(out, tc.c.plan.Name)
	}
	return out
}

// bringUp builds, imports, connects and powers on one copy and waits for
// its guest.
func (e *Env) bringUp(ctx context.Context, tc *testCopy, vdc *vcd.VDC, bootTimeout time.Duration) error {
	c := tc.c
	name := c.plan.Name
	if err := c.phase("create copy at provider", func() (string, error) {
		replicas := map[string]string{}
		for i, d := range c.src.Disks {
			replicas[d.File] = tc.replicas[i]
		}
		spec, cfg, err := c.targetSpec(ctx, replicas)
		if err != nil {
			return "", err
		}
		spec.Name = TestCopyName(name)
		spec.UUID = "" // a copy, never the source's identity
		for i := range spec.Disks {
			spec.Disks[i].Parent = spec.Disks[i].Path
			spec.Disks[i].Path = fmt.Sprintf("[%s] %s/%s_%d.vmdk", e.Plan().Provider.Datastore, spec.Name, spec.Name, i)
		}
		// Nothing connected until Cloud Director puts the NICs on the
		// isolated network: the copy never touches the stretched one.
		for i := range spec.NICs {
			spec.NICs[i].StartConnected = false
		}
		ref, err := c.provider.CreateVMOverDisks(ctx, spec)
		if err != nil {
			return "", err
		}
		tc.ref, tc.guestID = &ref, cfg.GuestID
		return fmt.Sprintf("%s over child disks of %d replica disk(s) (nothing copied): %s, %d NIC(s) with the source's MACs", c.nameAtProvider(ctx, ref), len(spec.Disks), cfg.Summary(), len(cfg.NICs)), nil
	}); err != nil {
		return err
	}
	if err := c.phase("import into vCD", func() (string, error) {
		u, err := vsphere.ParseURL(e.Config.Provider.URL)
		if err != nil {
			return "", fmt.Errorf("provider vCenter URL: %w", err)
		}
		vc, err := c.sys.VirtualCenterFor(u.Host)
		if err != nil {
			return "", err
		}
		opts, err := c.importOptions(vdc)
		if err != nil {
			return "", err
		}
		opts.VMName = TestCopyName(name)
		if tc.vapp, err = c.sys.ImportVMAsVApp(vc, tc.ref.Value, vdc, TestVApp(name), opts); err != nil {
			return "", err
		}
		// As the provider vCenter shows the copy now: Cloud Director
		// renamed the VM it adopted.
		return "as vApp " + TestVApp(name) + "; in the provider vCenter: " + c.nameAtProvider(ctx, *tc.ref), nil
	}); err != nil {
		return err
	}
	if err := c.phase("connect to isolated network", func() (string, error) {
		cfg, err := c.targetConfig(ctx)
		if err != nil {
			return "", err
		}
		var nics []vcd.NICConnection
		var ips []string
		for _, n := range cfg.NICs {
			ip := firstIPv4(n.IPs)
			nics = append(nics, vcd.NICConnection{MAC: n.MAC, Network: e.Plan().TestMigration.Network, IP: ip})
			if ip != "" {
				ips = append(ips, ip)
			}
		}
		if err := c.sys.ConnectNICs(tc.vapp, TestCopyName(name), nics); err != nil {
			return "", err
		}
		return fmt.Sprintf("%d NIC(s) on %s (the source's MACs; addresses %s)", len(nics), e.Plan().TestMigration.Network, strings.Join(ips, ", ")), nil
	}); err != nil {
		return err
	}
	if err := c.phase("power on", func() (string, error) {
		return "", c.sys.PowerOnVM(tc.vapp, TestCopyName(name))
	}); err != nil {
		return err
	}
	c.rep.TargetOn = time.Now()
	return c.phase("boot", func() (string, error) {
		deadline := time.Now().Add(bootTimeout)
		for {
			ok, err := c.provider.ToolsRunning(ctx, *tc.ref)
			if err != nil {
				return "", err
			}
			if ok {
				c.rep.ServiceBack = time.Now()
				return fmt.Sprintf("VMware Tools running after %s", c.rep.ServiceBack.Sub(c.rep.TargetOn).Round(time.Millisecond)), nil
			}
			if time.Now().After(deadline) {
				return "", fmt.Errorf("the copy did not boot: VMware Tools not running %s after power-on (test_migration.boot_timeout)", bootTimeout)
			}
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
	})
}

// firstIPv4 is the address a target keeps (MANUAL in Cloud Director):
// the NIC's first IPv4 address that is neither link-local (169.254/16, a
// guest's own when it has none) nor loopback; "" for none (DHCP).
func firstIPv4(ips []string) string {
	for _, a := range ips {
		if addr, err := netip.ParseAddr(a); err == nil && addr.Is4() && !addr.IsLinkLocalUnicast() && !addr.IsLoopback() {
			return a
		}
	}
	return ""
}

// TestProbe is one of the plan's probes in a test migration's report.
type TestProbe struct {
	Name     string `json:"name"`
	Ran      bool   `json:"ran"`
	Answered bool   `json:"answered,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// bubbleProbes runs the plan's probes inside the isolated network, from
// the booted copies (VMware Tools guest operations: ferry's host has no
// path into an isolated network): a guest ping from a VM's copy; a TCP or
// ICMP probe of VMs that all have a booted copy, from a peer copy (one of
// a VM the probe does not watch), or for TCP, without a peer, from the
// watched VM's own copy to its own address. What cannot run there is
// listed as not run, with why. Each probe is reported with the VMs it
// names (vm, vms, from).
func (e *Env) bubbleProbes(ctx context.Context, copies []*testCopy) {
	booted := map[string]*testCopy{}
	for _, tc := range copies {
		if !tc.c.rep.ServiceBack.IsZero() {
			booted[tc.c.plan.Name] = tc
		}
	}
	owners := e.addressOwners(ctx)
	for i, p := range e.Plan().Probes {
		name := p.label(i)
		tp := TestProbe{Name: name}
		from, why := bubbleRunner(p, booted)
		if vm, ok := owners[p.To]; from != nil && p.From != "" && ok && booted[vm] == nil {
			// Pinging a VM that has no copy in the isolated network could
			// never answer: its address is nobody's there.
			from, why = nil, fmt.Sprintf("%s is %s's address, and %s has no running copy in the isolated network", p.To, vm, vm)
		}
		var auth vsphere.GuestAuth
		var err error
		if from != nil {
			auth, err = e.GuestAuth()
			if err != nil {
				from, why = nil, fmt.Sprintf("probe %q: %v", name, err)
			}
		}
		if from == nil {
			tp.Detail = "not run: " + why
		} else {
			what, where := "", "from the copy of "+from.c.plan.Name
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			switch {
			case p.From != "":
				what = "guest ping " + p.To
				err = from.c.provider.GuestPing(pctx, *from.ref, auth, p.To)
			case p.TCP != "":
				what = "tcp " + p.TCP
				if slices.Contains(p.deps(), from.c.plan.Name) {
					where = "from the copy of " + from.c.plan.Name + " itself (no peer copy in the isolated network)"
				}
				err = from.c.provider.GuestTCP(pctx, *from.ref, auth, p.TCP)
			default:
				what = "ping " + p.ICMP
				err = from.c.provider.GuestPing(pctx, *from.ref, auth, p.ICMP)
			}
			cancel()
			tp.Ran = true
			if err != nil {
				tp.Detail = what + " " + where + ": " + err.Error()
			} else {
				tp.Answered, tp.Detail = true, what+" "+where+" answered"
			}
		}
		for _, tc := range copies {
			if p.From == tc.c.plan.Name || slices.Contains(p.deps(), tc.c.plan.Name) {
				tc.c.rep.Probes = append(tc.c.rep.Probes, tp)
			}
		}
	}
}

// addressOwners maps the guest addresses of the on-prem VMs to their names,
// for the guest pings whose target is one of them (none when the inventory
// cannot be read: the probes then run as they are).
func (e *Env) addressOwners(ctx context.Context) map[string]string {
	if !slices.ContainsFunc(e.Plan().Probes, func(p ProbePlan) bool { return p.To != "" }) {
		return nil
	}
	vms, err := e.onPremVMs(ctx)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, vm := range vms {
		if vm.GuestIP != "" {
			out[vm.GuestIP] = vm.Name
		}
	}
	return out
}

// bubbleRunner picks the booted copy a probe runs from inside the isolated
// network, or says why it cannot run there.
func bubbleRunner(p ProbePlan, booted map[string]*testCopy) (*testCopy, string) {
	if p.From != "" {
		if tc := booted[p.From]; tc != nil {
			return tc, ""
		}
		return nil, p.From + " has no running copy in the isolated network"
	}
	watched := p.deps()
	if len(watched) == 0 {
		return nil, "it names no VM (vm:), so nothing says its address is in the isolated network"
	}
	for _, vm := range watched {
		if booted[vm] == nil {
			return nil, vm + " has no running copy in the isolated network"
		}
	}
	// The probes run /bin/ping and bash in the guest: a Linux copy.
	peers := make([]string, 0, len(booted))
	for vm, tc := range booted {
		if !slices.Contains(watched, vm) && !windowsGuest(tc.guestID) {
			peers = append(peers, vm)
		}
	}
	if len(peers) > 0 {
		slices.Sort(peers)
		return booted[peers[0]], ""
	}
	switch {
	case p.TCP != "" && p.VM != "" && !windowsGuest(booted[p.VM].guestID):
		return booted[p.VM], ""
	case p.TCP != "" && p.VM != "":
		return nil, p.VM + "'s copy is a Windows guest and no Linux copy runs beside it: the probe runs bash's /dev/tcp in a Linux guest"
	}
	return nil, "no other Linux VM has a running copy in the isolated network to ping from"
}

// windowsGuest says whether a vSphere guest OS id names Windows.
func windowsGuest(guestID string) bool {
	return strings.HasPrefix(strings.ToLower(guestID), "win")
}

// testCleanup deletes the copies through Cloud Director (their child disks
// with them), any copy Cloud Director does not hold at the provider, and
// removes the appliance's snapshot; then clears the state's record.
func (e *Env) testCleanup(ctx context.Context, copies []*testCopy, emit Emit) error {
	var errs []error
	for _, tc := range copies {
		c := tc.c
		err := c.phase("delete copy", func() (string, error) {
			return e.deleteCopy(ctx, c.sys, c.provider, c.plan.Name, tc.replicas)
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// The snapshot stays while a copy may stand on it.
		return errors.Join(errs...)
	}
	first := copies[0].c
	if err := first.phase("remove snapshot", func() (string, error) { return e.removeTestSnapshot(ctx, first.provider) }); err != nil {
		return err
	}
	for _, tc := range copies {
		if err := e.State.SetOutput(testStep, testKey(tc.c.plan.Name), ""); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deleteCopy removes vm's test copy: its vApp through Cloud Director
// (undeployed first; vCD deletes the VM's disks, i.e. its children), then
// a copy Cloud Director never imported, at the provider (only if all its
// disks are children of the replicas).
func (e *Env) deleteCopy(ctx context.Context, sys *vcd.Client, provider *vsphere.Client, vm string, replicas []string) (string, error) {
	var done []string
	vdc, err := sys.VDCByName(e.Plan().Org, e.Plan().VDC)
	if err != nil {
		return "", err
	}
	if vapp, err := vdc.VApp(TestVApp(vm)); err == nil {
		if other := otherVMs(vapp, TestCopyName(vm)); len(other) > 0 {
			return "", fmt.Errorf("vApp %s holds VMs ferry did not put there (%s): not deleting it", TestVApp(vm), strings.Join(other, ", "))
		}
		if err := sys.RemoveVApp(vapp); err != nil {
			return "", err
		}
		done = append(done, "vApp "+TestVApp(vm)+" deleted in Cloud Director")
	}
	if ref, ok, err := provider.FindVM(ctx, TestCopyName(vm)); err != nil {
		return "", err
	} else if ok {
		if err := provider.DestroyLinkedClone(ctx, ref, replicas); err != nil {
			return "", err
		}
		done = append(done, "VM "+TestCopyName(vm)+" deleted at the provider")
	}
	if len(done) == 0 {
		return "nothing left", nil
	}
	return strings.Join(done, "; ") + " (its child disks only: the replica is kept)", nil
}

// removeTestSnapshot consolidates the receiver appliance's test snapshot.
func (e *Env) removeTestSnapshot(ctx context.Context, provider *vsphere.Client) (string, error) {
	applianceMu.Lock()
	defer applianceMu.Unlock()
	removed, err := provider.RemoveSnapshot(ctx, e.Plan().Provider.Datacenter, e.Plan().Provider.ReceiverVM, TestSnapshot)
	switch {
	case err != nil:
		return "", err
	case removed:
		return "the appliance's writes since the snapshot consolidated into the replica disks", nil
	}
	return "no snapshot left", nil
}

// TestCleanup removes what test migrations left (`ferry run
// --test-cleanup`): every copy the state records or the provider holds,
// and the appliance's snapshot. Running it again changes nothing.
func (e *Env) TestCleanup(ctx context.Context, emit Emit) error {
	sys, err := e.VCD(ctx)
	if err != nil {
		return err
	}
	provider, err := e.ProviderVC(ctx)
	if err != nil {
		return err
	}
	onprem, err := e.OnPrem(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range e.Plan().VMs {
		var replicas []string
		if src, err := onprem.VMByName(ctx, p.Name); err == nil {
			for _, f := range e.replicaFiles(p.Name, src.Disks) {
				replicas = append(replicas, f.Path)
			}
		}
		detail, err := e.deleteCopy(ctx, sys, provider, p.Name, replicas)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
			continue
		}
		if detail != "nothing left" {
			emit(Progress(p.Name+": "+detail, -1))
		}
	}
	if len(errs) > 0 {
		return errors.Join(append(errs, errors.New("the appliance's snapshot is kept while a copy may stand on it"))...)
	}
	detail, err := e.removeTestSnapshot(ctx, provider)
	if err != nil {
		return err
	}
	emit(Progress("receiver appliance: "+detail, -1))
	for _, vm := range e.TestsLeftRunning() {
		if err := e.State.SetOutput(testStep, testKey(vm), ""); err != nil {
			return err
		}
	}
	// A cutover refused for the test inside its step (by an older ferry,
	// or a test started after the confirmation's check) was recorded
	// failed; it only waited for this cleanup (QA: ferry status read
	// "Cutover failed: a test migration is left running" after it).
	if st := e.State.Get("cutover"); st.Status == StatusFailed && strings.Contains(st.Error, ErrTestLeftRunning.Error()) {
		if err := e.State.Pend("cutover", ""); err != nil {
			return err
		}
	}
	return nil
}
