package steps

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/ferry-migrate/ferry/internal/nearname"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

// VMSelection is step 5: the VMs to warm-migrate exist, run, and have
// changed block tracking on every disk (enabled here if not); their disks
// are ones ferry can read (not independent, RDM, vSAN/vVols, encrypted or a
// delta chain) and they have no snapshots of their own; their RPO is
// valid; the receiver is configured; the target network exists.
type VMSelection struct{}

// ID implements Step.
func (*VMSelection) ID() string { return "vm-selection" }

// Title implements Step.
func (*VMSelection) Title() string { return "VM selection" }

// Fields implements Step.
func (*VMSelection) Fields() []Field { return vmFields() }

type vmCheck struct {
	plan   VMPlan
	vm     vsphere.VM
	report replication.PreflightReport
	config vsphere.VMConfig
	// networks is the org VDC network of each of config.NICs, in order.
	networks []string
	// mode is how the VM is migrated (ModeWarm, ModeCold), why says why.
	mode, why string
	// policy is the storage policy its import will name.
	policy *vcd.StoragePolicy
}

// check reads every selected VM; it fails on what ferry cannot fix.
func (s *VMSelection) check(ctx context.Context, env *Env) ([]vmCheck, error) {
	pf := env.Plan()
	if len(pf.VMs) == 0 {
		return nil, errors.New("no VMs selected (vms: in the plan)")
	}
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		return nil, err
	}
	all, err := onprem.VMs(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]vsphere.VM{}
	var running, poweredOff []string
	for _, v := range all {
		byName[v.Name] = v
		if env.ownedRefusal(v.Name) != "" {
			continue // not one to offer (ferry's appliance, a VM cut over)
		}
		switch v.PowerState {
		case vsphere.PoweredOn:
			running = append(running, v.Name)
		case vsphere.PoweredOff:
			poweredOff = append(poweredOff, v.Name)
		}
	}
	if _, err := receiverTLS(env.Config.Receiver); err != nil {
		return nil, err
	}
	// Where replication puts the replicas, checked here (step 5's answers),
	// not first when step 6 plans after this step was applied.
	kind, err := env.receiverKind()
	if err != nil {
		return nil, err
	}
	if err := env.checkReplicaPlace(ctx, kind); err != nil {
		return nil, err
	}
	if _, err := env.limiter(); err != nil {
		return nil, err
	}
	networks, err := targetNetworks(ctx, env)
	if err != nil {
		return nil, err
	}
	// Placement Cloud Director's import would move is refused now.
	if err := checkPlacement(ctx, env); err != nil {
		return nil, err
	}
	var out []vmCheck
	seen := map[string]bool{}
	// What the VMs checked so far take of the storage policies they
	// resolve to ("" and the default's name are one).
	var uses policyUses
	// Every name vCenter does not know, at once (a name differing only
	// in case said as such: vCenter's names are case-sensitive).
	var missing []string
	for _, p := range pf.VMs {
		if _, ok := byName[p.Name]; ok || env.VMPhase(p.Name) == VMCutOver {
			continue
		}
		missing = append(missing, strconv.Quote(p.Name)+nearname.Hint(p.Name, slices.Sorted(slices.Values(slices.Concat(running, poweredOff)))))
	}
	if len(missing) > 0 {
		what := "VM " + missing[0]
		if len(missing) > 1 {
			what = "VMs " + strings.Join(missing, ", ")
		}
		return nil, fmt.Errorf("%s not found on vCenter %s (running VMs: %s; powered off, for a cold migration: %s)", what, onprem.Endpoint, listOrNone(running), listOrNone(poweredOff))
	}
	for _, p := range pf.VMs {
		if seen[p.Name] {
			return nil, fmt.Errorf("VM %q is listed twice in the plan", p.Name)
		}
		seen[p.Name] = true
		if env.VMPhase(p.Name) == VMCutOver {
			continue // an earlier wave: it runs in Cloud Director now
		}
		if why := env.ownedRefusal(p.Name); why != "" {
			return nil, errors.New(why)
		}
		if err := p.RPO.Validate(); err != nil {
			return nil, fmt.Errorf("VM %s: %w", p.Name, err)
		}
		// The stretched network may still be ahead, created by step 2.
		willExist := p.TargetNetwork == pf.Network.Name && !slices.Contains(pf.Skip, "trunk-network")
		if !networks[p.TargetNetwork] && !willExist {
			return nil, fmt.Errorf("VM %s: target network %q not found in VDC %s (networks: %s)", p.Name, p.TargetNetwork, pf.VDC, strings.Join(slices.Sorted(maps.Keys(networks)), ", "))
		}
		vm, ok := byName[p.Name]
		if !ok {
			return nil, fmt.Errorf("VM %q not found on vCenter %s (running VMs: %s; powered off, for a cold migration: %s)", p.Name, onprem.Endpoint, listOrNone(running), listOrNone(poweredOff))
		}
		mode, why, err := vmMode(p, vm)
		if err != nil {
			return nil, fmt.Errorf("%w (running: %s)", err, strings.Join(running, ", "))
		}
		rep, err := replication.Preflight(ctx, onprem.Client.Client, vm.Ref.Reference())
		if err != nil {
			return nil, fmt.Errorf("VM %s: preflight: %w", p.Name, err)
		}
		// Disks the transport cannot read, and snapshots of the VM's own,
		// are refused here, before anything changes.
		if err := rep.Refused(); err != nil {
			return nil, err
		}
		cfg, err := onprem.VMConfig(ctx, vm.Ref)
		if err != nil {
			return nil, fmt.Errorf("VM %s: %w", p.Name, err)
		}
		nets, err := nicNetworks(pf, p, cfg, networks)
		if err != nil {
			return nil, err
		}
		policy, err := checkStoragePolicy(ctx, env, p)
		if err != nil {
			return nil, err
		}
		if u := uses.add(policy, p.Name, vm.DiskBytes()); u.full() {
			return nil, u.refusal(env)
		}
		// The target gets the source's hardware version: refused here when
		// the provider cluster cannot run it, not at cutover.
		if pp := pf.Provider; pp.Datacenter != "" && pp.ResourcePool != "" && env.Config != nil && env.Config.Provider.URL != "" {
			provider, err := env.ProviderVC(ctx)
			if err != nil {
				return nil, err
			}
			if err := provider.CheckHWVersion(ctx, pp.Datacenter, pp.ResourcePool, cfg.HWVersion); err != nil {
				return nil, fmt.Errorf("VM %s: %w", p.Name, err)
			}
			if err := checkHWPolicy(ctx, env, p.Name, cfg.HWVersion); err != nil {
				return nil, err
			}
		}
		out = append(out, vmCheck{plan: p, vm: vm, report: rep, config: cfg, networks: nets, mode: mode, why: why, policy: policy})
	}
	// The VMs' own NICs were judged above, with their names; what is left
	// is an entry no VM's NIC uses.
	if err := checkNetworkMap(pf, all, networks); err != nil {
		return nil, err
	}
	if err := refuseMigratedElsewhere(ctx, env, out); err != nil {
		return nil, err
	}
	return out, nil
}

// refuseMigratedElsewhere refuses a VM whose replica disk a VM at the
// provider other than the receiver appliance holds: the VM a cutover made
// of it, by another plan or a state file moved aside (this state's own
// are skipped above). Its source is off since, so it read as a cold
// migration to make, a second copy with the migrated VM's MAC and IP
// addresses (QA: a second plan's wizard listed a VM the first had cut
// over as "off, cold"; only step 6's plan refused it, refuseUsedReplicas).
// As step 6 would, but for all the VMs at once, from one read of the
// provider vCenter; nothing changes.
func refuseMigratedElsewhere(ctx context.Context, env *Env, checks []vmCheck) error {
	pp := env.Plan().Provider
	if pp.Datacenter == "" || pp.Datastore == "" || env.Config == nil || env.Config.Provider.URL == "" || len(checks) == 0 {
		return nil
	}
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		return err
	}
	owner := map[string]string{} // replica disk path -> its VM
	var paths []string
	for _, c := range checks {
		if env.State.Get("cutover").Outputs[cutoverKey(c.plan.Name)] == cutoverRunning {
			continue // its own interrupted cutover's target may hold them
		}
		for _, f := range env.replicaFiles(c.plan.Name, c.vm.Disks) {
			owner[f.Path] = c.plan.Name
			paths = append(paths, f.Path)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	users, err := provider.DiskUsers(ctx, pp.Datacenter, paths)
	if err != nil {
		return fmt.Errorf("who uses the replica disks at the provider: %w", err)
	}
	var refused []error
	done := map[string]bool{}
	for _, p := range paths {
		vm := owner[p]
		if done[vm] || len(users[p]) == 0 || slices.Contains(users[p], pp.ReceiverVM) {
			continue
		}
		done[vm] = true
		refused = append(refused, usedReplica(vm, p, users[p][0]))
	}
	return errors.Join(refused...)
}

// Plan implements Step.
func (s *VMSelection) Plan(ctx context.Context, env *Env) (Plan, error) {
	p := Plan{Step: s.ID()}
	checks, err := s.check(ctx, env)
	if err != nil {
		return p, err
	}
	space, err := spaceFor(ctx, env, checks)
	if err != nil {
		return p, err
	}
	if err := space.refusal(); err != nil {
		return p, err
	}
	for _, c := range checks {
		detail := fmt.Sprintf("%s migration (%s), %s, %d disk(s), %s, RPO %s", c.mode, c.why, c.vm.GuestIP, len(c.vm.Disks), Bytes(c.vm.DiskBytes()), c.plan.RPO)
		if c.mode == ModeCold {
			detail = fmt.Sprintf("%s migration (%s), %d disk(s), %s", c.mode, c.why, len(c.vm.Disks), Bytes(c.vm.DiskBytes()))
		}
		if c.vm.CBT {
			p.Items = append(p.Items, Item{Action: ActionExists, Kind: "VM", Name: c.vm.Name, Detail: detail + ", changed block tracking on"})
		} else {
			p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "VM", Name: c.vm.Name, Detail: detail + ": enable changed block tracking"})
		}
		p.Items = append(p.Items, configItems(c)...)
	}
	if it, ok := space.item(); ok {
		p.Items = append(p.Items, it)
	}
	if it, _, ok, err := selectionQuota(ctx, env, checks); err != nil {
		return p, err
	} else if ok {
		p.Items = append(p.Items, it)
	}
	p.Items = append(p.Items, selectionPolicies(env, checks)...)
	// The probes this step asks, of VMs running on-prem, answer now, or
	// the step is refused here, not at step 7 after replication.
	tried, err := env.tryProbesNow(ctx, true)
	if err != nil {
		return p, err
	}
	for i, pr := range env.Plan().Probes {
		if it, ok := tried[pr.label(i)]; ok {
			p.Items = append(p.Items, it)
		}
	}
	return p, nil
}

// policyAny is the name of Cloud Director's "any" storage policy (vCenter's
// "*" profile), a provider VDC's first and often its default.
const policyAny = "*"

// policyWhat says what a storage policy whose name says nothing to a reader
// is ("" for the others): the plan printed `storage policy "*"` alone (QA h3).
func policyWhat(name string) string {
	if name == policyAny {
		return `"any": every datastore of the provider VDC`
	}
	return ""
}

// selectionPolicies are VM selection's lines for the storage policies the
// selected VMs' imports will name: which one (the VDC's default when the
// plan names none) and what their disks take of its limit. The checks
// refused what would not do already.
func selectionPolicies(env *Env, checks []vmCheck) []Item {
	var uses policyUses
	for _, c := range checks {
		uses.add(c.policy, c.plan.Name, c.vm.DiskBytes())
	}
	var out []Item
	for _, u := range uses {
		which := "named by storage_profile"
		if u.sp.Default {
			which = fmt.Sprintf("VDC %s's default, what an import naming none gets", env.Plan().VDC)
		}
		if what := policyWhat(u.sp.Name); what != "" {
			which = what + "; " + which
		}
		limit := "no storage limit"
		if u.sp.LimitMB > 0 {
			limit = fmt.Sprintf("%s left of its %s limit", Bytes(max(0, (u.sp.LimitMB-u.sp.UsedMB)<<20)), Bytes(u.sp.LimitMB<<20))
		}
		out = append(out, Item{Action: ActionCheck, Kind: "storage policy", Name: u.sp.Name,
			Detail: fmt.Sprintf("%s: the imports of %s name it, their disks take %s of it (%s)", which, strings.Join(u.names, ", "), Bytes(u.bytes), limit)})
	}
	return out
}

// Apply implements Step.
func (s *VMSelection) Apply(ctx context.Context, env *Env, emit Emit) (Result, error) {
	var res Result
	checks, err := s.check(ctx, env)
	if err != nil {
		return res, err
	}
	// The replicas must fit the provider datastore before anything changes.
	space, err := spaceFor(ctx, env, checks)
	if err != nil {
		return res, err
	}
	if err := space.refusal(); err != nil {
		return res, err
	}
	for _, w := range space.warnings() {
		emit(Warning(w))
	}
	if _, w, _, err := selectionQuota(ctx, env, checks); err != nil {
		return res, err
	} else if w != "" {
		emit(Warning(w))
	}
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		return res, err
	}
	for _, c := range checks {
		r := Resource{Kind: "VM", Name: c.vm.Name, ID: c.vm.Ref.Value}
		// The target is built from the configuration selected, not from
		// whatever the source looks like at cutover.
		if err := saveVMConfig(env.State, c.config); err != nil {
			return res, err
		}
		if !c.vm.CBT {
			emit(Progress("enabling changed block tracking on "+c.vm.Name, -1))
			if err := replication.EnableCBT(ctx, onprem.Client.Client, c.vm.Ref.Reference()); err != nil {
				return res, fmt.Errorf("enable changed block tracking on %s: %w", c.vm.Name, err)
			}
			it := Item{Action: ActionUpdate, Kind: "VM", Name: c.vm.Name, Detail: "changed block tracking enabled", Resource: &r}
			emit(Changed(it))
			res.Changes = append(res.Changes, it)
		}
		res.Resources = append(res.Resources, r)
	}
	return res, nil
}

// Verify implements Step.
func (s *VMSelection) Verify(ctx context.Context, env *Env) error {
	checks, err := s.check(ctx, env)
	if err != nil {
		return err
	}
	for _, c := range checks {
		if !c.vm.CBT {
			return fmt.Errorf("VM %s: changed block tracking is off", c.vm.Name)
		}
	}
	return nil
}

// targetNetworks lists the org VDC networks of the plan's VDC.
func targetNetworks(ctx context.Context, env *Env) (map[string]bool, error) {
	c, err := env.VCD(ctx)
	if err != nil {
		return nil, err
	}
	vdc, err := c.VDCByName(env.Plan().Org, env.Plan().VDC)
	if err != nil {
		return nil, err
	}
	nets, err := vdc.NetworkNames()
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, n := range nets {
		out[n] = true
	}
	return out, nil
}

// vmConfigKey is the vm-selection output holding a VM's captured
// configuration (JSON of vsphere.VMConfig).
func vmConfigKey(vm string) string { return "config." + vm }

// saveVMConfig persists a captured configuration with the step state.
func saveVMConfig(st *State, cfg vsphere.VMConfig) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return st.SetOutput("vm-selection", vmConfigKey(cfg.Name), string(b))
}

// savedVMConfig is the configuration captured at VM selection (ok=false
// when none was: a state written before ferry captured it).
func savedVMConfig(st *State, vm string) (vsphere.VMConfig, bool, error) {
	var cfg vsphere.VMConfig
	s := st.Get("vm-selection").Outputs[vmConfigKey(vm)]
	if s == "" {
		return cfg, false, nil
	}
	if err := json.Unmarshal([]byte(s), &cfg); err != nil {
		return cfg, false, fmt.Errorf("VM %s: captured configuration in the state file: %w", vm, err)
	}
	return cfg, true, nil
}

// stretchedPortgroup is the source port group stretched to the org VDC
// network (appliance.stretched_portgroup, default network.name).
func stretchedPortgroup(pf *PlanFile) string {
	if pf.Appliance.StretchedPortgroup != "" {
		return pf.Appliance.StretchedPortgroup
	}
	return pf.Network.Name
}

// NICNetwork is the org VDC network a NIC on the source port group pg is
// connected to after the cutover of vm: the plan's networks: entry, or, for
// the stretched port group, the VM's target network. ok=false: no mapping.
func (pf *PlanFile) NICNetwork(vm VMPlan, pg string) (string, bool) {
	if n, ok := pf.Networks[pg]; ok && n != "" {
		return n, true
	}
	if pg != "" && pg == stretchedPortgroup(pf) {
		if vm.TargetNetwork != "" {
			return vm.TargetNetwork, true
		}
		return pf.Network.Name, pf.Network.Name != ""
	}
	return "", false
}

// ErrNoNetworkMapping: a NIC of a VM is on a port group that maps to no org
// VDC network. Only the plan's networks: says where it goes (the wizard asks
// it as VM selection's "Other networks", NetworksKey): running the step
// again with the same plan does not help.
var ErrNoNetworkMapping = errors.New("maps to no org VDC network")

// nicNetworks maps every NIC of cfg to its org VDC network; a NIC without
// one, or mapped to a network the VDC does not have (and step 2 will not
// create), is refused here, at planning, not at cutover.
func nicNetworks(pf *PlanFile, p VMPlan, cfg vsphere.VMConfig, existing map[string]bool) ([]string, error) {
	var out []string
	willExist := func(n string) bool {
		return n == pf.Network.Name && !slices.Contains(pf.Skip, "trunk-network")
	}
	for _, nic := range cfg.NICs {
		n, ok := pf.NICNetwork(p, nic.Portgroup)
		if !ok {
			return nil, &NetworksError{fmt.Errorf("VM %s: NIC %s %s is on port group %q, which %w: add it to the plan's networks: (e.g. networks: {%s: <org VDC network>}; networks in VDC %s: %s)",
				p.Name, nic.Type, nic.MAC, nic.Portgroup, ErrNoNetworkMapping, nic.Portgroup, pf.VDC, strings.Join(slices.Sorted(maps.Keys(existing)), ", "))}
		}
		if !existing[n] && !willExist(n) {
			err := fmt.Errorf("VM %s: NIC %s %s on port group %q maps to org VDC network %q, which VDC %s does not have (networks: %s)",
				p.Name, nic.Type, nic.MAC, nic.Portgroup, n, pf.VDC, strings.Join(slices.Sorted(maps.Keys(existing)), ", "))
			if pf.Networks[nic.Portgroup] == n {
				return nil, &NetworksError{err} // the networks: entry's
			}
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// checkNetworkMap refuses a networks: entry that can only be a mistake: a
// port group no on-prem VM has a NIC on (a typo would leave the VM it was
// meant for refused for want of a mapping), or an org VDC network the VDC
// does not have (nor will, as the stretched network).
func checkNetworkMap(pf *PlanFile, vms []vsphere.VM, existing map[string]bool) error {
	used := map[string]bool{}
	for _, v := range vms {
		for _, n := range v.Networks {
			used[n] = true
		}
	}
	for _, pg := range slices.Sorted(maps.Keys(pf.Networks)) {
		n := pf.Networks[pg]
		switch {
		case !used[pg]:
			return &NetworksError{fmt.Errorf("networks: %s: no VM on the on-prem vCenter has a NIC on port group %q (port groups in use: %s)", pg, pg, strings.Join(slices.Sorted(maps.Keys(used)), ", "))}
		case n != "" && !existing[n] && !(n == pf.Network.Name && !slices.Contains(pf.Skip, "trunk-network")):
			return &NetworksError{fmt.Errorf("networks: %s: org VDC network %q is not in VDC %s (networks: %s)", pg, n, pf.VDC, strings.Join(slices.Sorted(maps.Keys(existing)), ", "))}
		}
	}
	return nil
}

// configItems show a VM's captured configuration in a plan, each NIC with
// the org VDC network it will be connected to.
func configItems(c vmCheck) []Item {
	items := []Item{{Action: ActionExists, Kind: "VM configuration", Name: c.vm.Name, Detail: c.config.Summary()}}
	lines := c.config.Lines()
	firstNIC := len(c.config.Controllers) + len(c.config.Disks)
	for i, l := range lines {
		if j := i - firstNIC; j >= 0 && j < len(c.config.NICs) && j < len(c.networks) {
			l += " -> org VDC network " + c.networks[j]
		}
		items = append(items, Item{Action: ActionExists, Kind: "VM configuration", Name: c.vm.Name, Detail: l})
	}
	return items
}

// PowerOn is what the cutover does with a target VM once it is built and
// connected (the plan's power_on).
type PowerOn int

const (
	// PowerOnTarget powers the target on and waits for its probes: the
	// default.
	PowerOnTarget PowerOn = iota
	// LeaveOff leaves the target powered off: the downtime lasts until
	// someone powers it on.
	LeaveOff
)

// Toggle is the other choice.
func (p PowerOn) Toggle() PowerOn {
	if p == LeaveOff {
		return PowerOnTarget
	}
	return LeaveOff
}

// String is p as the plan's power_on and a Bool field write it: true or
// false.
func (p PowerOn) String() string { return strconv.FormatBool(p == PowerOnTarget) }

// Power is the VM's power-on choice (power_on; default PowerOnTarget).
func (vm VMPlan) Power() PowerOn {
	if vm.PowerOn != nil && !*vm.PowerOn {
		return LeaveOff
	}
	return PowerOnTarget
}

// ProjectsDowntime reports whether a cutover that gives its target power
// choice p has a downtime to project: not one that leaves the target off,
// whose window (no power-on, no probes answering) ends when someone powers
// it on (QA: "left powered off; projected downtime ~4s"). The one rule for
// the cutover's plan, its report and the wizard's confirmation (there, the
// choice of its toggle); ProjectDowntimes projects a VM whatever its power:
// the replication dashboard shows its final pass, which a target left off
// has too.
func (p PowerOn) ProjectsDowntime() bool { return p != LeaveOff }

// SetPower writes choice p as the VM's power_on.
func (vm *VMPlan) SetPower(p PowerOn) {
	on := p == PowerOnTarget
	vm.PowerOn = &on
}

// WavePower is the power-on choice the plan gives vms: the one they all
// share, or mixed when it powers some of their targets on and leaves
// others off (p is then LeaveOff, so that one choice for all never powers
// on what the plan leaves off by default: each VM keeps its own answer
// unless someone chooses one for all).
func WavePower(vms []VMPlan) (p PowerOn, mixed bool) {
	on, off := false, false
	for _, vm := range vms {
		if vm.Power() == LeaveOff {
			off = true
		} else {
			on = true
		}
	}
	if off {
		return LeaveOff, on
	}
	return PowerOnTarget, false
}

// SetPower gives the plan's VMs named in names the power-on choice p; the
// others keep theirs.
func (pf *PlanFile) SetPower(names []string, p PowerOn) {
	for i := range pf.VMs {
		if slices.Contains(names, pf.VMs[i].Name) {
			pf.VMs[i].SetPower(p)
		}
	}
}

// JobOptions are VM selection's answers besides the VMs: one set for every
// VM selected together, except the per-VM options (target network, storage
// policy, RPO, power-on choice) while the VMs' own differ (the Each flags).
type JobOptions struct {
	Job, RPO, VDC, Network, Storage string
	Power                           PowerOn
	// EachPower: each VM keeps its own power-on choice (the plan's; power
	// on for a VM new to it), and Power is not written. It starts so when
	// the plan's VMs to migrate differ (QA: confirming step 5 with WebApp1
	// to power on and WebApp3 to be left off wrote the last VM's choice to
	// both); choosing on or off for all ends it.
	EachPower bool
	// EachNetwork, EachStorage and EachRPO are the same for the VMs'
	// target_network, storage_profile and rpo (QA: confirming step 5 with
	// WebApp1 on company-network and WebApp3 on dmz put both on the last
	// VM's): each VM keeps its own (SelectionOption; a VM new to the plan
	// gets the default), and Network, Storage, RPO are not written. They
	// are states of their own, not an empty value: an empty storage policy
	// is the VDC default for all, an empty network network.name's, an
	// empty RPO the default one. Typing a value for all ends them;
	// clearing it again while the selected VMs differ comes back to them.
	EachNetwork, EachStorage, EachRPO bool
}

// each is the value and Each flag of the per-VM option key
// (target_network, storage_profile, rpo), nils for any other.
func (o *JobOptions) each(key string) (value *string, each *bool) {
	switch key {
	case "target_network":
		return &o.Network, &o.EachNetwork
	case "storage_profile":
		return &o.Storage, &o.EachStorage
	case "rpo":
		return &o.RPO, &o.EachRPO
	}
	return nil, nil
}

// Option is the per-VM option key (target_network, storage_profile, rpo)
// as o gives it to the VMs named: the value for all (while its Each flag
// is set, the one their own share), or, while the flag is set and theirs
// differ, "" and how each keeps its own, in words: "as each VM has it:
// company-network for WebApp1; dmz for WebApp3".
func (o *JobOptions) Option(pf *PlanFile, names []string, key string) (v, each string) {
	value, b := o.each(key)
	switch {
	case b == nil:
		return "", ""
	case !*b:
		return *value, ""
	}
	shared, words := SelectionOption(pf, names, key)
	if words != "" {
		return "", "as each VM has it: " + words
	}
	return shared, ""
}

// JobOptions are the job's options as the plan has them: the plan's job
// and VDC; the RPO, target network, storage policy and power-on choice its
// VMs to migrate share (the network and policy of the last VM, as they
// were written together; the plan's RPO unless they share another), or,
// for each option on which they differ, each VM's own (the Each flags).
func (e *Env) JobOptions() JobOptions {
	pf := e.Plan()
	o := JobOptions{Job: pf.Job, RPO: pf.RPO, VDC: pf.VDC, Network: pf.Network.Name}
	// The VMs still to migrate say them; an earlier wave's, cut over, only
	// when none is left (a new wave starts from the last one's choices):
	// a hand-written plan may list a VM cut over last.
	from := e.Migrating()
	if len(from) == 0 {
		from = pf.VMs
	}
	for _, vm := range from {
		if vm.TargetNetwork != "" {
			o.Network = vm.TargetNetwork
		}
		o.Storage = vm.StorageProfile
		if vm.PowerOn != nil {
			o.Power = vm.Power()
		}
	}
	if p, mixed := WavePower(e.Migrating()); mixed {
		o.Power, o.EachPower = p, true
	}
	var names []string
	for _, vm := range e.Migrating() {
		names = append(names, vm.Name)
	}
	for _, key := range []string{"target_network", "storage_profile", "rpo"} {
		if _, each := SelectionOption(pf, names, key); each != "" {
			_, each := o.each(key)
			*each = true
		}
	}
	// An RPO every VM has but the plan's (each VM's rpo in the file):
	// confirming writes theirs, not the plan's, to them.
	if shared, each := SelectionOption(pf, names, "rpo"); len(names) > 0 && each == "" && shared != pf.defaultRPO().String() {
		o.RPO = shared
	}
	return o
}

// selectionVMs are the VMs named, each once: the plan's entry of each, a
// bare one for a VM new to it.
func selectionVMs(pf *PlanFile, names []string) []VMPlan {
	var vms []VMPlan
	for _, n := range names {
		if slices.ContainsFunc(vms, func(vm VMPlan) bool { return vm.Name == n }) {
			continue
		}
		vm := VMPlan{Name: n}
		if pf != nil {
			if i := slices.IndexFunc(pf.VMs, func(vm VMPlan) bool { return vm.Name == n }); i >= 0 {
				vm = pf.VMs[i]
			}
		}
		vms = append(vms, vm)
	}
	return vms
}

// vmOption is a VM's own value of a per-VM option as the plan gives it
// (its default where it names none), and that value in words.
func vmOption(pf *PlanFile, vm VMPlan, key string) (v, words string) {
	if pf == nil {
		pf = &PlanFile{}
	}
	switch key {
	case "target_network":
		v = cmp.Or(vm.TargetNetwork, pf.Network.Name)
		return v, cmp.Or(v, "no network")
	case "storage_profile":
		return vm.StorageProfile, cmp.Or(vm.StorageProfile, "the VDC default")
	case "rpo":
		rpo := vm.RPO
		if rpo == 0 {
			rpo = pf.defaultRPO()
		}
		return rpo.String(), rpo.String()
	}
	return "", ""
}

// SelectionOption is the per-VM option key (target_network,
// storage_profile, rpo) of the VMs named, each the plan's (a VM new to it,
// or one that names none, gets the default): the value they share, with
// each "", or, when they differ, each in words, in the order of names:
// "company-network for WebApp1 and db01; dmz for WebApp3" (an empty
// storage policy as "the VDC default").
func SelectionOption(pf *PlanFile, names []string, key string) (shared, each string) {
	var values []string
	who := map[string][]string{}
	words := map[string]string{}
	for _, vm := range selectionVMs(pf, names) {
		v, w := vmOption(pf, vm, key)
		if _, ok := who[v]; !ok {
			values = append(values, v)
		}
		who[v], words[v] = append(who[v], vm.Name), w
	}
	switch len(values) {
	case 0:
		return "", ""
	case 1:
		return values[0], ""
	}
	var parts []string
	for _, v := range values {
		parts = append(parts, words[v]+" for "+AndList(who[v]))
	}
	return "", strings.Join(parts, "; ")
}

// SelectionPower is the power-on choice of the VMs named (each the plan's,
// power on for one not in it): the one they share, with each "", or, when
// they differ, each in words: "on for WebApp1 and db01; off for WebApp3".
func SelectionPower(pf *PlanFile, names []string) (p PowerOn, each string) {
	vms := selectionVMs(pf, names)
	var on, off []string
	for _, vm := range vms {
		if vm.Power() == LeaveOff {
			off = append(off, vm.Name)
		} else {
			on = append(on, vm.Name)
		}
	}
	p, mixed := WavePower(vms)
	if !mixed {
		return p, ""
	}
	return p, "on for " + AndList(on) + "; off for " + AndList(off)
}

// Fields are the job's options as Fields over o, checked by the plan's
// validators; defaultJob names the job when the operator does not, and
// selected names the VMs selected (the per-VM options offer each VM's own
// when theirs differ: Field.Each).
func (o *JobOptions) Fields(defaultJob func() string, selected func() []string) []Field {
	f := func(key, title, desc string, req bool, p *string, v func(string, *PlanFile) error, def func(*PlanFile) string) Field {
		return Field{Key: key, Title: title, Description: desc, Required: req, Validate: v, Default: def,
			Get: func(*PlanFile) string { return *p }, Set: func(_ *PlanFile, v string) { *p = v }}
	}
	// perVM is f for a per-VM option whose Each flag (o.each) keeps each
	// VM's own: while it is set and the selected VMs' own differ, the
	// value is empty and Each says whose is what; while they agree, the
	// value is theirs. A value typed is for all; cleared again, it is
	// each VM's own while theirs differ, else what empty always is (the
	// default, the VDC default policy).
	perVM := func(key, title, desc string, req bool, v func(string, *PlanFile) error, def func(*PlanFile) string) Field {
		p, each := o.each(key)
		fl := f(key, title, desc, req, p, v, def)
		fl.Get = func(pf *PlanFile) string {
			v, _ := o.Option(pf, selected(), key)
			return v
		}
		fl.Set = func(pf *PlanFile, v string) {
			_, differ := SelectionOption(pf, selected(), key)
			*p, *each = v, strings.TrimSpace(v) == "" && differ != ""
		}
		fl.Each = func(pf *PlanFile) string {
			_, words := o.Option(pf, selected(), key)
			return words
		}
		return fl
	}
	// storagePolicy is the storage policy's perVM field with its answer
	// PolicyDefaultForAll: while the selected VMs' own policies differ,
	// empty keeps each VM's own, and that answer (offered in the pick
	// list, shown while the VDC's default is for all) gives every VM an
	// empty storage_profile, the VDC's default (the only way to it was
	// typing the default policy's name, which stays when the default
	// changes).
	storagePolicy := func(fl Field) Field {
		get, set := fl.Get, fl.Set
		differ := func(pf *PlanFile) bool {
			_, each := SelectionOption(pf, selected(), "storage_profile")
			return each != ""
		}
		fl.Get = func(pf *PlanFile) string {
			if v := get(pf); v != "" || o.EachStorage || !differ(pf) {
				return v
			}
			return PolicyDefaultForAll
		}
		fl.Set = func(pf *PlanFile, v string) {
			if strings.TrimSpace(v) == PolicyDefaultForAll {
				o.Storage, o.EachStorage = "", false
				return
			}
			set(pf, v)
		}
		fl.Offer = func(pf *PlanFile, listed []Choice) []Choice { return offerPolicies(listed, differ(pf)) }
		return fl
	}
	return []Field{
		f("job", "Job name", "a name for this migration job", false, &o.Job, ValidName, func(*PlanFile) string { return defaultJob() }),
		perVM("rpo", "RPO", "how old the replica may get: 1m to 24h (Extender's best was 5m); empty: the default, or each VM's own while theirs differ", false, ValidRPO, fixed(DefaultRPO)),
		f("vdc", "Target VDC", "the org VDC that receives the VMs", true, &o.VDC, ValidName, nil),
		perVM("target_network", "Target network", "the stretched org VDC network the VMs attach to (empty: the default, or each VM's own while theirs differ)", true, ValidName,
			func(pf *PlanFile) string { return pf.Network.Name }),
		storagePolicy(perVM("storage_profile", "Storage policy", "the VDC storage policy for the disks (empty: the VDC default, or each VM's own while theirs differ)", false, ValidName, nil)),
		{Key: "power_on", Title: "Power on", Description: "power the VMs on in Cloud Director after the cutover (space toggles)", Bool: true,
			Validate: ValidBool,
			// Empty (each VM's own) while the selected VMs differ;
			// otherwise the choice they share, which keeping each is.
			Default: func(pf *PlanFile) string {
				p, each := SelectionPower(pf, selected())
				if each != "" {
					return ""
				}
				return p.String()
			},
			Each: func(pf *PlanFile) string {
				if _, each := SelectionPower(pf, selected()); each != "" {
					return "as each VM has it: " + each
				}
				return ""
			},
			Get: func(*PlanFile) string {
				if o.EachPower {
					return ""
				}
				return o.Power.String()
			},
			Set: func(_ *PlanFile, v string) {
				// The field refuses anything but a boolean; empty keeps
				// each VM's own.
				v = strings.TrimSpace(v)
				o.EachPower = v == ""
				if on, err := strconv.ParseBool(v); err == nil && !on {
					o.Power = LeaveOff
				} else if err == nil {
					o.Power = PowerOnTarget
				}
			}},
	}
}

// DefaultJobName names a wave's job after its VMs: the selected ones not
// yet cut over, in order, each once. A VM cut over in an earlier wave is
// not this job's (QA: a second wave of WebApp1 and WebApp3 was named
// "WebApp2-and-2-more-Migration" after the WebApp2 of the first).
func (e *Env) DefaultJobName(selected []string) string {
	cut := e.CutOverVMs()
	var names []string
	for _, n := range selected {
		if !slices.Contains(cut, n) && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return jobName(names)
}

func jobName(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0] + "-Migration"
	case 2:
		return names[0] + "-" + names[1] + "-Migration"
	}
	return fmt.Sprintf("%s-and-%d-more-Migration", names[0], len(names)-1)
}

// IsDefaultJobName says whether job is a name ferry gave, not one typed:
// the default for selected, or one an earlier wave's default left in the
// plan (a name that starts with a VM cut over since: that wave's, or the
// form older ferry versions gave, which counted the cut-over VMs too). A
// default name follows the selection; a typed one is kept.
func (e *Env) IsDefaultJobName(job string, selected []string) bool {
	switch job {
	case "":
		return false
	case e.DefaultJobName(selected):
		return true
	}
	all := len(e.Plan().VMs) + len(selected)
	for _, c := range e.CutOverVMs() {
		rest, ok := strings.CutPrefix(job, c+"-")
		switch {
		case !ok:
			continue
		case rest == "Migration":
			return true
		}
		if mid, ok := strings.CutSuffix(rest, "-Migration"); ok {
			if slices.ContainsFunc(e.Plan().VMs, func(vm VMPlan) bool { return vm.Name == mid }) {
				return true
			}
			var n int
			if _, err := fmt.Sscanf(mid, "and-%d-more", &n); err == nil && fmt.Sprintf("and-%d-more", n) == mid && n > 0 && n < all {
				return true
			}
		}
	}
	return false
}

// SelectVMs writes a selection and its options into the plan: the VMs cut
// over in earlier waves stay as they were (the record of what moved, and
// what keeps them out of replication); every other VM of the plan is
// replaced by names, each with the options (an empty RPO: DefaultRPO). A
// VM the plan had already keeps what the options do not set (its vApp,
// mode, BIOS UUID choice) and, with the options' Each flags, its target
// network, storage policy, RPO and power-on choice (a VM new to the plan
// gets their defaults; with EachRPO the plan's rpo stays).
func (e *Env) SelectVMs(names []string, o JobOptions) {
	rpo := RPOOrDefault(o.RPO)
	typed, _ := replication.ParseRPO(rpo) // the form checked it; zero (the plan's, at save) otherwise
	e.EditPlan(func(pf *PlanFile) {
		pf.VDC, pf.Job = o.VDC, o.Job
		if !o.EachRPO {
			pf.RPO = rpo
		}
		var vms []VMPlan
		had := map[string]VMPlan{}
		for _, vm := range pf.VMs {
			if e.VMPhase(vm.Name) == VMCutOver {
				vms = append(vms, vm)
			} else {
				had[vm.Name] = vm
			}
		}
		for _, n := range names {
			vm, ok := had[n]
			if !ok {
				vm = VMPlan{Name: n, TargetVApp: n}
			}
			if !o.EachNetwork {
				vm.TargetNetwork = o.Network
			}
			if !o.EachStorage {
				vm.StorageProfile = o.Storage
			}
			switch {
			case !o.EachRPO:
				vm.RPO = typed
			case vm.RPO == 0:
				vm.RPO = pf.defaultRPO() // as the words said
			}
			if o.EachPower {
				vm.SetPower(vm.Power()) // its own, written
			} else {
				vm.SetPower(o.Power)
			}
			vms = append(vms, vm)
		}
		pf.VMs = vms
	})
}

// listOrNone joins names with commas, or says none.
func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
