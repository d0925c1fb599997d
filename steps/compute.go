package steps

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

// planVDC is the provider's client and the plan's org VDC.
func (e *Env) planVDC(ctx context.Context) (*vcd.Client, *vcd.VDC, error) {
	sys, err := e.VCD(ctx)
	if err != nil {
		return nil, nil, err
	}
	vdc, err := sys.VDCByName(e.Plan().Org, e.Plan().VDC)
	if err != nil {
		return nil, nil, err
	}
	return sys, vdc, nil
}

// vdcCompute reads the plan's org VDC's compute quota and use.
func (e *Env) vdcCompute(ctx context.Context) (vcd.Compute, error) {
	sys, vdc, err := e.planVDC(ctx)
	if err != nil {
		return vcd.Compute{}, err
	}
	cc, err := sys.VDCCompute(vdc)
	if err != nil {
		return cc, fmt.Errorf("compute quota of VDC %s: %w", e.Plan().VDC, err)
	}
	return cc, nil
}

// computeTally sums what VMs take of an org VDC's quota when they run:
// vCPUs and memory, the VMs' names, and each said with its share.
type computeTally struct {
	vcpus, memMB int64
	names, each  []string
	mems         []int64 // each VM's memory in MB, as names
}

func (t *computeTally) add(name string, cfg vsphere.VMConfig) {
	t.vcpus += int64(cfg.CPUs)
	t.memMB += cfg.MemoryMB
	t.names = append(t.names, name)
	t.mems = append(t.mems, cfg.MemoryMB)
	t.each = append(t.each, fmt.Sprintf("%s %d vCPU, %d MB", name, cfg.CPUs, cfg.MemoryMB))
}

// computeNeed is what vms take of the org VDC's quota when they run, from
// their configurations as VM selection captured them.
func (e *Env) computeNeed(vms []string) computeTally {
	var t computeTally
	for _, vm := range e.Plan().VMs {
		if !slices.Contains(vms, vm.Name) {
			continue
		}
		if cfg, ok, err := savedVMConfig(e.State, vm.Name); err == nil && ok {
			t.add(vm.Name, cfg) // without it, its cutover refuses
		}
	}
	return t
}

// computeRoomItem is the plan's line for the org VDC's compute quota that
// vms take when they power on there (cutover targets, test copies): Cloud
// Director refuses a power-on past the VDC's CPU or memory limit. A
// conflict, saying what would happen (fails), when they would not fit.
func (e *Env) computeRoomItem(ctx context.Context, vms []string, fails string) (Item, bool, error) {
	t := e.computeNeed(vms)
	if len(t.names) == 0 {
		return Item{}, false, nil
	}
	cc, err := e.vdcCompute(ctx)
	if err != nil {
		return Item{}, false, err
	}
	what := fmt.Sprintf("powered on there they take %d vCPU and %d MB (%s)", t.vcpus, t.memMB, strings.Join(t.each, "; "))
	if ok, why := cc.Admits(t.vcpus, t.memMB); !ok {
		return Item{Action: ActionConflict, Kind: "VDC", Name: e.Plan().VDC,
			Detail: fmt.Sprintf("Cloud Director refuses to power VMs on past the VDC's allocation, and %s: short of %s; so %s. Power VMs off in %s, or have the provider raise its allocation, first",
				what, why, fails, e.Plan().VDC)}, true, nil
	}
	return Item{Action: ActionCheck, Kind: "VDC", Name: e.Plan().VDC,
		Detail: fmt.Sprintf("%s; %s", cc.Summary(), what)}, true, nil
}

// selectionQuota is VM selection's line for the org VDC's compute quota:
// what the selected VMs' targets will take of it when the cutover powers
// them on, and a warning when, as things stand, they would not fit (the
// cutover refuses then). ok is false when no selected VM powers on there.
func selectionQuota(ctx context.Context, env *Env, checks []vmCheck) (it Item, warning string, ok bool, err error) {
	var t computeTally
	for _, c := range checks {
		if c.plan.Power() != LeaveOff && c.config.MemoryMB > 0 {
			t.add(c.vm.Name, c.config)
		}
	}
	if len(t.names) == 0 {
		return Item{}, "", false, nil
	}
	cc, err := env.vdcCompute(ctx)
	if err != nil {
		return Item{}, "", false, err
	}
	what := fmt.Sprintf("the targets of %s will take %d vCPU and %d MB when the cutover powers them on", strings.Join(t.names, ", "), t.vcpus, t.memMB)
	it = Item{Action: ActionCheck, Kind: "VDC", Name: env.Plan().VDC, Detail: cc.Summary() + "; " + what}
	if fits, why := cc.Admits(t.vcpus, t.memMB); !fits {
		it.Detail += " (more than its allocation leaves: the cutover refuses until there is room)"
		warning = fmt.Sprintf("VDC %s: %s, and Cloud Director refuses to power VMs on past the VDC's allocation: short of %s as things stand; the cutover refuses until there is room: power VMs off there, or have the provider raise its allocation, before the cutover",
			env.Plan().VDC, what, why)
	}
	return it, warning, true, nil
}

// CutoverReadiness is what would make a cutover of every VM not cut over
// yet refuse, as things stand: the room its targets need at the provider
// (their swap files on the provider datastore, the org VDC's compute
// quota), as conflicts; none when they fit. The cutover's plan checks the
// same again when it is confirmed: this is for the confirmation, to say it
// before the operator types the names.
func (e *Env) CutoverReadiness(ctx context.Context) ([]Item, error) {
	var names []string
	for _, vm := range e.Migrating() {
		if vm.Power() != LeaveOff {
			names = append(names, vm.Name)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	const fails = "the cutover would refuse, before shutting any source down"
	var out []Item
	// A test migration left running holds every confirmed cutover (its
	// snapshot freezes the replicas on the receiver appliance; CheckTestLeft):
	// said before the names are typed (QA: a plain ferry run said only
	// "stopped before Cutover", the wizard nothing until the confirmation).
	if left := e.TestsLeftRunning(); len(left) > 0 {
		out = append(out, Item{Action: ActionConflict, Kind: "test migration", Name: strings.Join(left, ", "),
			Detail: "left running: the cutover waits until `ferry run --test-cleanup` removes it (in the wizard: x on step 6's dashboard)"})
	}
	for _, check := range []func(context.Context, []string, string) (Item, bool, error){e.swapRoomItem, e.computeRoomItem} {
		it, ok, err := check(ctx, names, fails)
		if err != nil {
			return out, err
		}
		if ok && it.Action == ActionConflict {
			out = append(out, it)
		}
	}
	// The storage policies' limits the targets are imported into.
	full, err := e.storageRoomItems(ctx, e.Migrating(), fails)
	if err != nil {
		return out, err
	}
	out = append(out, full...)
	// The networks and the stretch the targets need (QA: the wizard's
	// confirmation showed none of it until the names were typed).
	wire, err := e.wireItems(ctx, e.Migrating())
	if err != nil {
		return out, err
	}
	return append(out, wire...), nil
}
