package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ferry-migrate/ferry/replication"
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
}

// check reads every selected VM; it fails on what ferry cannot fix.
func (s *VMSelection) check(ctx context.Context, env *Env) ([]vmCheck, error) {
	pf := env.Plan
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
	var running []string
	for _, v := range all {
		byName[v.Name] = v
		if v.PoweredOn() {
			running = append(running, v.Name)
		}
	}
	if _, err := receiverTLS(env.Config.Receiver); err != nil {
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
		if err := ValidRPO(p.RPO, pf); err != nil {
			return nil, fmt.Errorf("VM %s: RPO %w", p.Name, err)
		}
		// The stretched network may still be ahead, created by step 2.
		willExist := p.TargetNetwork == pf.Network.Name && !slices.Contains(pf.Skip, "trunk-network")
		if !networks[p.TargetNetwork] && !willExist {
			return nil, fmt.Errorf("VM %s: target network %q not found in VDC %s (networks: %s)", p.Name, p.TargetNetwork, pf.VDC, strings.Join(slices.Sorted(maps.Keys(networks)), ", "))
		}
		vm, ok := byName[p.Name]
		if !ok {
			return nil, fmt.Errorf("VM %q not found on vCenter %s (running VMs: %s)", p.Name, onprem.Endpoint, strings.Join(running, ", "))
		}
		mode, why, err := vmMode(p, vm)
		if err != nil {
			return nil, fmt.Errorf("%w (running: %s)", err, strings.Join(running, ", "))
		}
		rep, err := replication.Preflight(ctx, onprem.Client.Client, vm.Ref)
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
		if err := checkStorageProfile(ctx, env, p); err != nil {
			return nil, err
		}
		if err := checkStoragePolicy(ctx, env, p); err != nil {
			return nil, err
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
		out = append(out, vmCheck{plan: p, vm: vm, report: rep, config: cfg, networks: nets, mode: mode, why: why})
	}
	return out, nil
}

// Plan implements Step.
func (s *VMSelection) Plan(ctx context.Context, env *Env) (Plan, error) {
	p := Plan{Step: s.ID()}
	checks, err := s.check(ctx, env)
	if err != nil {
		return p, err
	}
	for _, c := range checks {
		detail := fmt.Sprintf("%s migration (%s), %s, %d disk(s), %s, RPO %s", c.mode, c.why, c.vm.GuestIP, len(c.vm.Disks), mib(c.vm.DiskBytes()), c.plan.RPO)
		if c.mode == ModeCold {
			detail = fmt.Sprintf("%s migration (%s), %d disk(s), %s", c.mode, c.why, len(c.vm.Disks), mib(c.vm.DiskBytes()))
		}
		if c.vm.CBT {
			p.Items = append(p.Items, Item{Action: ActionExists, Kind: "VM", Name: c.vm.Name, Detail: detail + ", changed block tracking on"})
		} else {
			p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "VM", Name: c.vm.Name, Detail: detail + ": enable changed block tracking"})
		}
		p.Items = append(p.Items, configItems(c)...)
	}
	return p, nil
}

// Apply implements Step.
func (s *VMSelection) Apply(ctx context.Context, env *Env, emit Emit) (Result, error) {
	var res Result
	checks, err := s.check(ctx, env)
	if err != nil {
		return res, err
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
			if err := replication.EnableCBT(ctx, onprem.Client.Client, c.vm.Ref); err != nil {
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
	vdc, err := c.VDCByName(env.Plan.Org, env.Plan.VDC)
	if err != nil {
		return nil, err
	}
	nets, err := vdc.GetAllOpenApiOrgVdcNetworks(nil)
	if err != nil {
		return nil, fmt.Errorf("networks of VDC %s: %w", env.Plan.VDC, err)
	}
	out := map[string]bool{}
	for _, n := range nets {
		out[n.OpenApiOrgVdcNetwork.Name] = true
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
			return nil, fmt.Errorf("VM %s: NIC %s %s is on port group %q, which maps to no org VDC network: add it to the plan's networks: (e.g. networks: {%s: <org VDC network>}; networks in VDC %s: %s)",
				p.Name, nic.Type, nic.MAC, nic.Portgroup, nic.Portgroup, pf.VDC, strings.Join(slices.Sorted(maps.Keys(existing)), ", "))
		}
		if !existing[n] && !willExist(n) {
			return nil, fmt.Errorf("VM %s: NIC %s %s on port group %q maps to org VDC network %q, which VDC %s does not have (networks: %s)",
				p.Name, nic.Type, nic.MAC, nic.Portgroup, n, pf.VDC, strings.Join(slices.Sorted(maps.Keys(existing)), ", "))
		}
		out = append(out, n)
	}
	return out, nil
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
