package steps

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// VMPhase is where one VM of the plan is in its migration, read from the
// state file. It is the one answer the wizard's screens (dashboard, sidebar,
// VM table, cutover prompt) and the headless runner share.
type VMPhase string

const (
	// VMSelected: in the plan, no replica yet.
	VMSelected VMPhase = "selected"
	// VMReplicating: a replica follows the running source.
	VMReplicating VMPhase = "replicating"
	// VMDecisionNeeded: a cutover stopped after the target's power-on was
	// requested; the operator decides (--finish / --rollback).
	VMDecisionNeeded VMPhase = "decision needed"
	// VMCutOver: the VM runs in Cloud Director. Its source is off and must
	// stay off: both on the stretched network would share a MAC and an IP.
	VMCutOver VMPhase = "cut over"
)

// VMPhase is the phase of vm.
func (e *Env) VMPhase(vm string) VMPhase {
	switch e.State.Get("cutover").Outputs[cutoverKey(vm)] {
	case cutoverDone:
		return VMCutOver
	case cutoverPowerOnRequested:
		return VMDecisionNeeded
	}
	if hasResource(e.State.Get("replication").Resources, "replica", vm) {
		return VMReplicating
	}
	return VMSelected
}

// Migrating are the plan's VMs that are not cut over, in plan order: the
// ones replication and the cutover still work on.
func (e *Env) Migrating() []VMPlan {
	var out []VMPlan
	for _, vm := range e.Plan().VMs {
		if e.VMPhase(vm.Name) != VMCutOver {
			out = append(out, vm)
		}
	}
	return out
}

// CutOverVMs names the plan's VMs that are cut over, in plan order.
func (e *Env) CutOverVMs() []string {
	var out []string
	for _, vm := range e.Plan().VMs {
		if e.VMPhase(vm.Name) == VMCutOver {
			out = append(out, vm.Name)
		}
	}
	return out
}

func hasResource(rs []Resource, kind, name string) bool {
	return slices.ContainsFunc(rs, func(r Resource) bool { return r.Kind == kind && r.Name == name })
}

// coverKind is, per step that works VM by VM, the kind of resource it
// records for each VM it has handled.
var coverKind = map[string]string{"vm-selection": "VM", "replication": "replica"}

// Stale says why a step recorded as done must run again for the plan as
// it is now ("" = it need not): VMs were added to the plan after it ran (a
// second wave). Both the wizard and `ferry run` ask it.
func (e *Env) Stale(id string) string {
	st := e.State.Get(id)
	if st.Status != StatusDone {
		return ""
	}
	var missing []string
	switch id {
	case "cutover":
		for _, vm := range e.Migrating() {
			missing = append(missing, vm.Name)
		}
	case "checks":
		// Its probes answered before the first wave's cutover, not
		// necessarily now that a second one replicates. Not for a VM
		// whose cutover began (a probe of its source, shut down, must
		// not stand between it and its rollback or finish), nor for a
		// state that never recorded the VMs checked (a ferry before
		// checkedFor: its checks stay done, as they were).
		checked := e.State.Get("checks").Outputs
		if !recordsChecked(checked) {
			break
		}
		cut := e.State.Get("cutover").Outputs
		for _, vm := range e.Migrating() {
			switch cut[cutoverKey(vm.Name)] {
			case cutoverRunning, cutoverPowerOnRequested:
				continue
			}
			if checked[checkedKey(vm.Name)] == "" {
				missing = append(missing, vm.Name)
			}
		}
	default:
		kind, ok := coverKind[id]
		if !ok {
			return ""
		}
		for _, vm := range e.Migrating() {
			// A running VM step 6 found cold has no replica until its
			// cutover window: handled all the same.
			if !hasResource(st.Resources, kind, vm.Name) && (id != "replication" || !e.isCold(vm.Name) || vm.Mode == ModeWarm) {
				missing = append(missing, vm.Name)
			}
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("%s added to the plan since this step ran", strings.Join(missing, ", "))
}

// StaleNote is Stale's reason with what follows from it ("" when the
// step is not stale): "WebApp3 added to the plan since this step ran: it
// runs again for it".
func (e *Env) StaleNote(id string) string {
	why := e.Stale(id)
	switch {
	case why == "":
		return ""
	case strings.Contains(why, ", "):
		return why + ": it runs again for them"
	}
	return why + ": it runs again for it"
}

// ReplicasLost says why the replication step, recorded as done, must run
// again ("" = it need not): the plan's replication store holds no
// completed sync of a VM that step 6 replicated warm and that is not cut
// over (the store was moved aside, replaced or lost since: ferry run would
// otherwise go on with an empty store, and the cutover refuse). Running it
// again keeps the replica disks, compares them with their sources and
// sends what differs. `ferry run` asks it (it reads the store; the wizard's
// screens do not).
func (e *Env) ReplicasLost() string {
	if e.State.Status("replication") != StatusDone {
		return ""
	}
	st, done, err := e.readReplicationStore()
	if err != nil {
		return ""
	}
	defer done()
	var lost []string
	cut := e.State.Get("cutover").Outputs
	for _, vm := range e.Migrating() {
		if e.isCold(vm.Name) || cut[cutoverKey(vm.Name)] != "" && cut[cutoverKey(vm.Name)] != cutoverRolledBack {
			continue
		}
		if ok, err := synced(st, vm.Name); err == nil && !ok {
			lost = append(lost, vm.Name)
		}
	}
	if len(lost) == 0 {
		return ""
	}
	return fmt.Sprintf("the replication store %s holds no completed sync of %s (moved aside, replaced or lost since this step ran): it runs again for them, keeping the replica disks, comparing them with their sources and sending what differs",
		e.storeFiles().Path(), strings.Join(lost, ", "))
}

// PickRefusal says why vm cannot be selected for a warm migration ("" = it
// can). The wizard's VM table and step 5's check share it.
func (e *Env) PickRefusal(vm vsphere.VM) string {
	if why := e.ownedRefusal(vm.Name); why != "" {
		return why
	}
	switch {
	case vm.Template:
		return vm.Name + " is a template: only VMs can be migrated (warm while they run, cold while they are off)"
	case len(vm.Unreadable) > 0:
		return vm.Name + ": " + strings.Join(vm.Unreadable, "; ")
	}
	if _, _, err := vmMode(e.planOf(vm.Name), vm); err != nil {
		return err.Error() // suspended, or off with mode: warm
	}
	if own := replication.ForeignSnapshots(vm.SnapshotNames); len(own) > 0 {
		return fmt.Sprintf("%s has snapshots (%s): ferry reads base disks only; delete (consolidate) them in vCenter first", vm.Name, strings.Join(own, ", "))
	}
	for _, pg := range vm.Networks {
		if _, ok := e.Plan().NICNetwork(e.planOf(vm.Name), pg); !ok {
			return UnmappedPortgroup(vm.Name, pg)
		}
	}
	return ""
}

// UnmappedPortgroup says that vm has a NIC on port group pg, which maps to
// no org VDC network, and what to do: map it in the plan's networks:, which
// the wizard asks as VM selection's "Other networks".
func UnmappedPortgroup(vm, pg string) string {
	return fmt.Sprintf("%s: port group %q %v; map it in the options' Other networks as %s=<org VDC network> (the plan's networks:)", vm, pg, ErrNoNetworkMapping, pg)
}

// ownedRefusal refuses the VMs ferry must never migrate whatever their
// state: its own L2 client appliance and any VM it deployed (moving one
// would cut the stretch), and a VM already cut over (its source stays off).
func (e *Env) ownedRefusal(name string) string {
	switch e.VMPhase(name) {
	case VMCutOver:
		return name + " is cut over: it runs in Cloud Director now. Keep its source powered off: two copies on the stretched network would share a MAC and an IP"
	case VMDecisionNeeded:
		return name + ": its cutover stopped after the target's power-on was requested; " + decisionHint(name)
	}
	appliance := e.Plan().Appliance.Name
	if appliance == "" {
		appliance = "ferry-l2vpn-client"
	}
	if name == appliance {
		return name + " is ferry's L2 VPN client appliance: migrating it would cut the stretch"
	}
	if hasResource(e.State.Get("appliance").Resources, "VM", name) {
		return name + " was deployed by ferry (L2 appliance step): migrating it would cut the stretch"
	}
	return ""
}
