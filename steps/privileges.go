package steps

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/session"
	"github.com/ferry-migrate/ferry/vsphere"
)

// The vCenter privileges the journey uses (vsphere/privileges.go), checked
// before step 5 replicates and before a cutover: a privilege missing from
// the role of ferry's account is a conflict of the step's plan, so the run
// stops there with nothing changed, naming each privilege, the object and
// what it is for. Without the check, a missing one surfaces mid-journey: a
// pass that cannot take its snapshot, a replica disk that cannot be made,
// or a cutover that shut the source down and cannot power it on again.

// Source VM privileges (on-prem vCenter).
var (
	needCBT        = vsphere.Need{Privilege: "VirtualMachine.Config.ChangeTracking", For: "turn on its changed block tracking (it is off)"}
	needSnapshot   = vsphere.Need{Privilege: "VirtualMachine.State.CreateSnapshot", For: "take each replication pass's snapshot"}
	needUnsnapshot = vsphere.Need{Privilege: "VirtualMachine.State.RemoveSnapshot", For: "remove each pass's snapshot after it"}
	needChanged    = vsphere.Need{Privilege: "VirtualMachine.Provisioning.DiskRandomRead", For: "ask which blocks changed since the last pass (QueryChangedDiskAreas)"}
	needPowerOff   = vsphere.Need{Privilege: "VirtualMachine.Interact.PowerOff", For: "shut the source down at its cutover"}
	needPowerOn    = vsphere.Need{Privilege: "VirtualMachine.Interact.PowerOn", For: "power the source on again if its cutover rolls back"}
	// On the datastores of the source disks: HTTP access to a datastore's
	// files needs what any other access would (vSphere Web Services SDK
	// Programming Guide, "Privilege Requirements for HTTP Access"), for
	// the passes' reads and the cutover's final pass and verify alike.
	needBrowse = vsphere.Need{Privilege: "Datastore.Browse", For: "read the source disks on it (HTTP /folder: from the ESXi host with a service ticket, or through vCenter)"}
)

// sourceNeeds are the privileges ferry needs on the source vm: for its
// warm replication when replicate (changed block tracking turned on when
// it is off, a snapshot per pass, the changed blocks), and for its cutover
// when the source runs (shut it down, and power it on again on a rollback).
func sourceNeeds(vm vsphere.VM, replicate bool) []vsphere.Need {
	var n []vsphere.Need
	if replicate {
		if !vm.CBT {
			n = append(n, needCBT)
		}
		n = append(n, needSnapshot, needUnsnapshot, needChanged)
	}
	if vm.PoweredOn() {
		n = append(n, needPowerOff, needPowerOn)
	}
	return n
}

// privilegeItems checks that ferry's accounts hold, on the on-prem vCenter,
// what each source in sources needs (sourceNeeds, replicate says whether
// its replication is still to run) and, on the provider vCenter, what its
// replica disks and its cutover need there, and guest operations when a
// probe pings from a VM in guestFrom (cut over: the ping then runs in its
// target); one conflict item per privilege missing. It changes nothing.
func (e *Env) privilegeItems(ctx context.Context, sources []vsphere.VM, replicate []bool, guestFrom ...string) ([]Item, error) {
	if len(sources) == 0 {
		return nil, nil
	}
	onprem, err := e.OnPrem(ctx)
	if err != nil {
		return nil, err
	}
	var demands []vsphere.Demand
	datastores := map[vsphere.Ref]bool{}
	for i, vm := range sources {
		if needs := sourceNeeds(vm, replicate[i]); len(needs) > 0 {
			demands = append(demands, vsphere.Demand{Ref: vm.Ref, Object: "VM " + vm.Name, Needs: needs})
		}
		for _, d := range vm.Disks {
			if d.DatastoreRef != (vsphere.Ref{}) && !datastores[d.DatastoreRef] {
				datastores[d.DatastoreRef] = true
				demands = append(demands, vsphere.Demand{Ref: d.DatastoreRef, Object: "datastore " + d.Datastore, Needs: []vsphere.Need{needBrowse}})
			}
		}
	}
	missing, err := onprem.MissingPrivileges(ctx, demands)
	if err != nil {
		return nil, err
	}
	items := privilegeConflicts(ctx, "on-prem", onprem, missing)

	needs := providerNeeds{
		datastore: []vsphere.Need{
			{Privilege: "Datastore.FileManagement", For: "create the replica disks there, and extend them when a source disk grows"},
			{Privilege: "Datastore.AllocateSpace", For: "create each target VM there at its cutover"},
		},
		folder: []vsphere.Need{
			{Privilege: "VirtualMachine.Inventory.Create", For: "create each target VM over its replica disks at its cutover"},
			{Privilege: "VirtualMachine.Config.AddExistingDisk", For: "give a target VM its replica disks"},
			{Privilege: "VirtualMachine.Inventory.Delete", For: "remove a target VM again (its disks kept) when its cutover rolls back"},
		},
		pool:    []vsphere.Need{{Privilege: "Resource.AssignVMToPool", For: "place each target VM there"}},
		network: []vsphere.Need{{Privilege: "Network.Assign", For: "connect each target VM to it"}},
		appliance: []vsphere.Need{
			{Privilege: "VirtualMachine.Config.AddExistingDisk", For: "hot-add the replica disks to it"},
			{Privilege: "VirtualMachine.Config.RemoveDisk", For: "detach them from it for each cutover"},
		},
	}
	if len(guestFrom) > 0 {
		// The target VM is created in this folder; its permissions come
		// from there (Cloud Director may move it into its own folder
		// under the datacenter: grant at the datacenter to cover both).
		what := "run the guest ping from " + strings.Join(guestFrom, ", ") + " in the target once the source is off"
		needs.folder = append(needs.folder, guestOpNeeds(what)...)
	}
	provider, err := e.providerPrivilegeItems(ctx, needs)
	if err != nil {
		return nil, err
	}
	return append(items, provider...), nil
}

// providerNeeds are what ferry's work asks of its account on the provider
// vCenter, by object of the plan's provider placement: its datastore, the
// VM folder of its datacenter, its resource pool and network (when the
// plan names them), and the receiver appliance VM (receiver kind
// appliance).
type providerNeeds struct {
	datastore, folder, pool, network, appliance []vsphere.Need
}

// providerPrivilegeItems checks that ferry's provider account holds needs;
// one conflict item per privilege missing. A placement not answered or not
// found is left to the step's own checks, which name the field (no
// items). It changes nothing.
func (e *Env) providerPrivilegeItems(ctx context.Context, needs providerNeeds) ([]Item, error) {
	pp := e.Plan().Provider
	if err := e.replicaPlaceAnswered(); err != nil {
		return nil, nil
	}
	kind, err := e.receiverKind()
	if err != nil {
		return nil, err
	}
	provider, err := e.ProviderVC(ctx)
	if err != nil {
		return nil, err
	}
	appliance := ""
	if kind == replication.KindAppliance {
		appliance = pp.ReceiverVM
	}
	refs, err := provider.Refs(ctx, pp.Datacenter, pp.ResourcePool, pp.Datastore, pp.Network, appliance)
	if err != nil {
		return nil, nil
	}
	demands := []vsphere.Demand{
		{Ref: refs.Datastore, Object: "datastore " + pp.Datastore, Needs: needs.datastore},
		{Ref: refs.Folder, Object: "the VM folder of datacenter " + pp.Datacenter, Needs: needs.folder},
	}
	if pp.ResourcePool != "" {
		demands = append(demands, vsphere.Demand{Ref: refs.Pool, Object: "resource pool " + pp.ResourcePool, Needs: needs.pool})
	}
	if pp.Network != "" {
		demands = append(demands, vsphere.Demand{Ref: refs.Network, Object: "network " + pp.Network, Needs: needs.network})
	}
	if appliance != "" {
		if slices.ContainsFunc(needs.appliance, func(n vsphere.Need) bool { return n.Privilege == "VirtualMachine.Config.AddExistingDisk" }) {
			// Hot-adding to an appliance that is off without
			// disk.EnableUUID sets it in the same reconfigure.
			sets, err := provider.SetsEnableUUID(ctx, refs.VM)
			if err != nil {
				return nil, err
			}
			if sets {
				needs.appliance = append(slices.Clip(needs.appliance), vsphere.Need{Privilege: "VirtualMachine.Config.AdvancedConfig",
					For: "set " + vsphere.EnableUUIDKey + "=TRUE on it (powered off without it), so that its guest finds the replica disks by UUID"})
			}
		}
		demands = append(demands, vsphere.Demand{Ref: refs.VM, Object: "the receiver appliance VM " + appliance, Needs: needs.appliance})
	}
	missing, err := provider.MissingPrivileges(ctx, demands)
	if err != nil {
		return nil, err
	}
	return privilegeConflicts(ctx, "provider", provider, missing), nil
}

// privilegeConflicts makes one conflict item per missing privilege of the
// account of vCenter c (which: "on-prem" or "provider").
func privilegeConflicts(ctx context.Context, which string, c *vsphere.Client, missing []vsphere.Missing) []Item {
	if len(missing) == 0 {
		return nil
	}
	user := c.UserName(ctx)
	var items []Item
	for _, m := range missing {
		items = append(items, Item{Action: ActionConflict, Kind: "privilege", Name: m.Privilege, Detail: fmt.Sprintf(
			"ferry's account %s on the %s vCenter %s lacks it on %s, needed to %s: add it to the account's role in vCenter, granted on that object or above it",
			user, which, c.Endpoint, m.Object, m.For)})
	}
	return items
}

// privilegeItems checks that ferry's on-prem account holds what step 3's
// apply will do: deploy the L2 appliance from its OVF and power it on (or
// only power it on), and create the sink port group; one conflict item per
// privilege missing. It changes nothing.
func (w *applianceWorld) privilegeItems(ctx context.Context) ([]Item, error) {
	var demands []vsphere.Demand
	switch {
	case w.vm == nil:
		// Where the deploy imports it: vCenter checks the import there,
		// and the new VM inherits that pool's permissions.
		pl, err := w.c.PlaceOnNetwork(ctx, w.dc, w.uplink, w.a.Datastore)
		if err != nil {
			return nil, nil // the step's own checks name what is wrong
		}
		pool := pl.ResourcePool.Reference()
		demands = append(demands, vsphere.Demand{Ref: vsphere.Ref{Type: pool.Type, Value: pool.Value}, Object: "the resource pool the L2 appliance is deployed into (" + pool.String() + ")", Needs: []vsphere.Need{
			{Privilege: "VApp.Import", For: "deploy the L2 appliance " + w.a.Name + " from its OVF"},
			{Privilege: "VirtualMachine.Interact.PowerOn", For: "power the L2 appliance on"},
		}})
		// The import also takes space on the datastore and connects the
		// appliance's NICs to their port groups (an OVF deployment's
		// minimum permissions: Broadcom KB 322346).
		ds := pl.Datastore.Reference()
		dsName := cmp.Or(w.a.Datastore, pl.Datastore.Name(), ds.String())
		demands = append(demands, vsphere.Demand{Ref: vsphere.Ref{Type: ds.Type, Value: ds.Value}, Object: "datastore " + dsName, Needs: []vsphere.Need{
			{Privilege: "Datastore.AllocateSpace", For: "deploy the L2 appliance's disks there"}}})
		demands = append(demands, vsphere.Demand{Ref: w.uplink, Object: "port group " + w.a.UplinkPortgroup, Needs: []vsphere.Need{
			{Privilege: "Network.Assign", For: "connect the L2 appliance's uplink NIC to it"}}})
		switch {
		case w.sink != nil:
			demands = append(demands, vsphere.Demand{Ref: w.sink.Ref, Object: "port group " + w.sink.Name, Needs: []vsphere.Need{
				{Privilege: "Network.Assign", For: "connect the L2 appliance's sink NIC to it"}}})
		case w.dvs != nil:
			// The sink does not exist yet: its switch's permissions pass to it.
			demands = append(demands, vsphere.Demand{Ref: w.dvs.Ref(), Object: "distributed switch " + w.dvs.Name(), Needs: []vsphere.Need{
				{Privilege: "Network.Assign", For: "connect the L2 appliance's sink NIC to the sink port group " + w.a.SinkPortgroup + " made on it"}}})
		}
	case !w.vm.PoweredOn():
		demands = append(demands, vsphere.Demand{Ref: w.vm.Ref, Object: "VM " + w.vm.Name, Needs: []vsphere.Need{
			{Privilege: "VirtualMachine.Interact.PowerOn", For: "power the L2 appliance on"}}})
	}
	if w.sink == nil && w.dvs != nil {
		demands = append(demands, vsphere.Demand{Ref: w.dvs.Ref(), Object: "distributed switch " + w.dvs.Name(), Needs: []vsphere.Need{
			{Privilege: "DVPortgroup.Create", For: "create the sink port group " + w.a.SinkPortgroup}}})
	}
	if w.sink != nil && len(w.sink.SinkProblems(w.policy)) > 0 {
		demands = append(demands, vsphere.Demand{Ref: w.sink.Ref, Object: "port group " + w.sink.Name, Needs: []vsphere.Need{
			{Privilege: "DVPortgroup.Modify", For: "re-apply the sink policy it drifted from"}}})
	}
	missing, err := w.c.MissingPrivileges(ctx, demands)
	if err != nil {
		return nil, err
	}
	return privilegeConflicts(ctx, "on-prem", w.c, missing), nil
}

// testPrivileges checks that ferry's provider account holds what a test
// migration does there: freeze the replica disks with a snapshot of the
// receiver appliance and remove it afterwards, create each copy over child
// disks of its replica, shut its guest down, and remove a copy Cloud
// Director did not import.
// Without the check, a missing one surfaces mid-test, and a snapshot that
// cannot be removed holds the cutover until someone grants the privilege
// and runs ferry run --test-cleanup. An error names each privilege
// missing; nothing is changed.
func (e *Env) testPrivileges(ctx context.Context) error {
	needs := providerNeeds{
		datastore: []vsphere.Need{{Privilege: "Datastore.AllocateSpace", For: "create each test copy's child disks there"}},
		folder: []vsphere.Need{
			{Privilege: "VirtualMachine.Inventory.Create", For: "create each test copy over child disks of its replica"},
			{Privilege: "VirtualMachine.Interact.PowerOff", For: "shut each test copy's guest OS down (it measures the shutdown its cutover waits for)"},
			{Privilege: "VirtualMachine.Inventory.Delete", For: "remove a test copy that Cloud Director did not import"},
		},
		pool:    []vsphere.Need{{Privilege: "Resource.AssignVMToPool", For: "place each test copy there"}},
		network: []vsphere.Need{{Privilege: "Network.Assign", For: "give each test copy its NICs (Cloud Director then moves them to the isolated network)"}},
		appliance: []vsphere.Need{
			{Privilege: "VirtualMachine.State.CreateSnapshot", For: "freeze the replica disks for the test with a snapshot"},
			{Privilege: "VirtualMachine.State.RemoveSnapshot", For: "remove that snapshot after the test (its deltas merge back into the replicas)"},
		},
	}
	if len(e.Plan().Probes) > 0 {
		needs.folder = append(needs.folder, guestOpNeeds("run the plan's probes inside the isolated network, in the copies")...)
	}
	items, err := e.providerPrivilegeItems(ctx, needs)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	var why []string
	for _, it := range items {
		why = append(why, it.Name+": "+it.Detail)
	}
	return fmt.Errorf("test migration not started, nothing changed: %s", strings.Join(why, "; "))
}

// onpremGuestItems checks that ferry's on-prem account may run the plan's
// guest pings in their from: VMs that run on-prem (one cut over pings from
// its target, checked at its cutover); one conflict item per privilege
// missing. Step 7 runs every probe, and a run checks this in its
// preflight, before the replication rather than after it. It changes
// nothing.
func (e *Env) onpremGuestItems(ctx context.Context) ([]Item, error) {
	var from []string
	for _, pr := range e.Plan().Probes {
		if pr.From != "" && !slices.Contains(from, pr.From) {
			from = append(from, pr.From)
		}
	}
	vms, err := e.onPremNamed(ctx, from)
	if err != nil || len(from) == 0 {
		return nil, err
	}
	onprem, err := e.OnPrem(ctx) // connected by onPremNamed
	if err != nil {
		return nil, err
	}
	var demands []vsphere.Demand
	for _, name := range from {
		i := slices.IndexFunc(vms, func(v vsphere.VM) bool { return v.Name == name })
		if i < 0 || !vms[i].PoweredOn() {
			continue // gone or off: the probe's own check says so, or it pings from the target
		}
		demands = append(demands, vsphere.Demand{Ref: vms[i].Ref, Object: "VM " + name, Needs: guestOpNeeds("run the plan's guest pings from it")})
	}
	missing, err := onprem.MissingPrivileges(ctx, demands)
	if err != nil {
		return nil, err
	}
	items := privilegeConflicts(ctx, "on-prem", onprem, missing)
	if len(items) > 0 || len(demands) == 0 {
		return items, nil
	}
	// The guest login, checked on a VM the pings run from (the plan's
	// preflight, before step 1, and not at step 7 after the initial sync).
	// A login not set is the probes' own to report (probeTargets), or the
	// wizard's to ask for.
	from0 := demands[0].Object
	if e.Config.Guest.Username == "" && os.Getenv(session.EnvGuestUser) == "" || e.Config.Guest.Password == "" && os.Getenv(session.EnvGuestPassword) == "" {
		return nil, nil
	}
	auth, err := e.GuestAuth()
	if err != nil {
		return nil, err
	}
	if err := onprem.ValidateGuestAuth(ctx, demands[0].Ref, auth); errors.Is(err, vsphere.ErrGuestLogin) {
		return []Item{{Action: ActionConflict, Kind: "guest login", Name: strings.TrimPrefix(from0, "VM "),
			Detail: fmt.Sprintf("%v: the plan's guest pings run inside the guest as that account; set the right one (%s)", err, guestLoginFrom)}}, nil
	}
	// Other failures (VMware Tools not running yet) are the probes' own
	// to report.
	return nil, nil
}

// guestLoginFrom names where the guest OS login of guest pings comes from.
const guestLoginFrom = "the config's guest.username and guest.password, or " + session.EnvGuestUser + " and " + session.EnvGuestPassword

// guestOpNeeds are the privileges of a guest program ferry runs to do what
// (a probe through VMware Tools): start it, and read its exit code.
func guestOpNeeds(what string) []vsphere.Need {
	return []vsphere.Need{
		{Privilege: "VirtualMachine.GuestOperations.Execute", For: what + " (VMware Tools: StartProgramInGuest)"},
		{Privilege: "VirtualMachine.GuestOperations.Query", For: what + " (VMware Tools: ListProcessesInGuest, for its exit code)"},
	}
}
