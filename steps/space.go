package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/replication"
)

// replicaSpace is what the replica disks of the VMs that step 5 selects
// and that have none yet ask of the provider datastore.
type replicaSpace struct {
	datastore       string
	capacity, free  int64
	need, canGrowTo int64 // what their source disks take now; their capacity
	vms             []string
	// swap is what the swap files of their targets will take when the
	// cutover powers them on (their memory: swapRoomItem), swapEach says
	// it by VM.
	swap     int64
	swapEach []string
}

// spaceFor reads the provider datastore's free space and what the replicas
// of checks' VMs without one would take. The zero value (nothing to
// say) when the plan names no provider datastore or every VM has its
// replicas already.
func spaceFor(ctx context.Context, env *Env, checks []vmCheck) (replicaSpace, error) {
	pp, ok := env.providerDatastore()
	if !ok {
		return replicaSpace{}, nil
	}
	sp := replicaSpace{datastore: pp.Datastore}
	replicas := env.State.Get("replication").Resources
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		return sp, err
	}
	for _, c := range checks {
		if hasResource(replicas, "replica", c.vm.Name) {
			continue // it takes its space already
		}
		use, err := onprem.DiskUse(ctx, c.vm.Ref)
		if err != nil {
			return sp, fmt.Errorf("VM %s: %w", c.vm.Name, err)
		}
		sp.need += use
		sp.canGrowTo += c.vm.DiskBytes()
		sp.vms = append(sp.vms, c.vm.Name)
		if c.plan.Power() != LeaveOff && c.config.MemoryMB > 0 {
			sp.swap += c.config.MemoryMB << 20
			sp.swapEach = append(sp.swapEach, fmt.Sprintf("%s %s", c.vm.Name, Bytes(c.config.MemoryMB<<20)))
		}
	}
	if len(sp.vms) == 0 {
		return replicaSpace{}, nil
	}
	prov, err := env.ProviderVC(ctx)
	if err != nil {
		return sp, err
	}
	if sp.capacity, sp.free, err = prov.DatastoreSpace(ctx, pp.Datacenter, pp.Datastore); err != nil {
		return sp, &FieldError{"provider.datastore", err}
	}
	return sp, nil
}

// refusal says why replication cannot start on this datastore (nil: it
// can): the replicas' written blocks would not fit.
func (sp replicaSpace) refusal() error {
	if len(sp.vms) == 0 || sp.need+replication.ReplicaHeadroom <= sp.free {
		return nil
	}
	return &FieldError{"provider.datastore", fmt.Errorf("datastore %s has %s free (of %s), and the replica disks of %s need %s to start (what the source disks take now; thin, they grow as the guests write, up to %s) and %s left free beside them: replication would fill it, and on a full datastore ESXi pauses the VMs whose thin disks must grow (the receiver appliance among them) and others fail to power on. Free space on %s, or set provider.datastore to another datastore of the provider VDC",
		sp.datastore, Bytes(sp.free), Bytes(sp.capacity), strings.Join(sp.vms, ", "), Bytes(sp.need), Bytes(sp.canGrowTo), Bytes(replication.ReplicaHeadroom), sp.datastore)}
}

// warning says when the replicas fit now but could outgrow the datastore
// as the guests write ("" when they cannot).
func (sp replicaSpace) warning() string {
	if len(sp.vms) == 0 || sp.canGrowTo+replication.ReplicaHeadroom <= sp.free || sp.refusal() != nil {
		return ""
	}
	return fmt.Sprintf("datastore %s has %s free: the replica disks of %s will take %s (what the source disks hold now) and can grow to %s (their disks' capacity) as the guests write; passes wait while they would leave less than %s free there: watch its free space",
		sp.datastore, Bytes(sp.free), strings.Join(sp.vms, ", "), Bytes(sp.need), Bytes(sp.canGrowTo), Bytes(replication.ReplicaHeadroom))
}

// swapWarning says when the replicas fit now but the targets' swap files
// would not fit beside them at cutover, as things stand ("" when they
// would): the cutover refuses then, before it shuts a source down.
func (sp replicaSpace) swapWarning() string {
	if len(sp.vms) == 0 || sp.swap == 0 || sp.need+sp.swap+replication.ReplicaHeadroom <= sp.free || sp.refusal() != nil {
		return ""
	}
	return fmt.Sprintf("datastore %s has %s free: beside the replica disks of %s (%s now), their targets' swap files will take %s when the cutover powers them on (ESXi makes one of each VM's memory: %s), more than is free with the %s ferry leaves free there; the cutover refuses until there is room (a VM without room for its swap file does not start): free space on %s before the cutover",
		sp.datastore, Bytes(sp.free), strings.Join(sp.vms, ", "), Bytes(sp.need), Bytes(sp.swap), strings.Join(sp.swapEach, ", "), Bytes(replication.ReplicaHeadroom), sp.datastore)
}

// warnings are warning's and swapWarning's, those that say something.
func (sp replicaSpace) warnings() []string {
	var out []string
	for _, w := range []string{sp.warning(), sp.swapWarning()} {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// item is the plan's line for the datastore.
func (sp replicaSpace) item() (Item, bool) {
	if len(sp.vms) == 0 {
		return Item{}, false
	}
	detail := fmt.Sprintf("%s free of %s; the replica disks of %s will take %s (what the source disks hold now), up to %s as the guests write",
		Bytes(sp.free), Bytes(sp.capacity), strings.Join(sp.vms, ", "), Bytes(sp.need), Bytes(sp.canGrowTo))
	if w := sp.warning(); w != "" {
		detail += fmt.Sprintf(" (with the %s passes leave free, more than is free: watch its free space)", Bytes(replication.ReplicaHeadroom))
	}
	if sp.swap > 0 {
		detail += fmt.Sprintf("; at cutover their targets' swap files take %s more", Bytes(sp.swap))
		if sp.swapWarning() != "" {
			detail += fmt.Sprintf(" (with the replicas and the %s, more than is free: the cutover refuses until there is room)", Bytes(replication.ReplicaHeadroom))
		}
	}
	return Item{Action: ActionCheck, Kind: "datastore", Name: sp.datastore, Detail: detail}, true
}

// roomEvery is how often a running pass asks replicaRoom (0: the
// replication default); a variable for tests.
var roomEvery time.Duration

// roomMaxAge is how long the provider datastore's free space and the
// appliance's state, once read, answer every VM's passes (a variable for
// tests).
var roomMaxAge = 2 * time.Second

// replicaRoom is the replication jobs' room ledger (nil when the plan
// names no provider datastore), one for every VM whose replicas share the
// datastore and the receiver appliance: the free space of the provider
// datastore that holds the replica disks, refreshed, and, for an appliance
// receiver, whether the receiver appliance runs. On a full datastore ESXi
// pauses the appliance and every replication to it stops, so passes wait
// for room instead.
func (e *Env) replicaRoom(kind string) replication.RoomLedger {
	pp, ok := e.providerDatastore()
	if !ok {
		return nil
	}
	appliance := ""
	if kind == replication.KindAppliance {
		appliance = pp.ReceiverVM
	}
	key := pp.Datacenter + "/" + pp.Datastore + "/" + appliance
	e.rooms.mu.Lock()
	defer e.rooms.mu.Unlock()
	if l, ok := e.rooms.m[key]; ok {
		return l
	}
	var ref types.ManagedObjectReference // the appliance, once found
	l := replication.NewRoomLedger(func(ctx context.Context) (replication.ReplicaRoom, error) {
		r := replication.ReplicaRoom{Datastore: pp.Datastore, Appliance: appliance}
		prov, err := e.ProviderVC(ctx)
		if err != nil {
			return r, err
		}
		if r.Capacity, r.Free, err = prov.DatastoreSpace(ctx, pp.Datacenter, pp.Datastore); err != nil {
			return r, err
		}
		if appliance == "" {
			return r, nil
		}
		st, err := prov.VMRunStateOf(ctx, ref, appliance)
		if err != nil {
			return r, err
		}
		ref, r.Off, r.Question = st.Ref, !st.On, st.Question
		return r, nil
	}, roomMaxAge)
	if e.rooms.m == nil {
		e.rooms.m = map[string]replication.RoomLedger{}
	}
	e.rooms.m[key] = l
	return l
}

// swapRoomItem is the plan's line for the room that the swap files of
// vms (powered on at the provider: cutover targets, test copies) take on
// the provider datastore: ESXi makes a .vswp of each VM's unreserved memory
// (ferry reserves none) in its directory, and a VM without room for it
// does not start (Broadcom KB 318856). A conflict, saying what would
// happen (fails), when they would not fit beside the headroom.
func (e *Env) swapRoomItem(ctx context.Context, vms []string, fails string) (Item, bool, error) {
	pp, ok := e.providerDatastore()
	if !ok {
		return Item{}, false, nil
	}
	t := e.computeNeed(vms)
	need := t.memMB << 20
	if need == 0 {
		return Item{}, false, nil
	}
	var each []string
	for i, name := range t.names {
		each = append(each, fmt.Sprintf("%s %s", name, Bytes(t.mems[i]<<20)))
	}
	prov, err := e.ProviderVC(ctx)
	if err != nil {
		return Item{}, false, err
	}
	capacity, free, err := prov.DatastoreSpace(ctx, pp.Datacenter, pp.Datastore)
	if err != nil {
		return Item{}, false, &FieldError{"provider.datastore", err}
	}
	what := fmt.Sprintf("their swap files take %s when they power on at the provider (ESXi makes one of each VM's memory: %s)", Bytes(need), strings.Join(each, ", "))
	if free-need >= replication.ReplicaHeadroom {
		return Item{Action: ActionCheck, Kind: "datastore", Name: pp.Datastore,
			Detail: fmt.Sprintf("%s free of %s; %s", Bytes(free), Bytes(capacity), what)}, true, nil
	}
	return Item{Action: ActionConflict, Kind: "datastore", Name: pp.Datastore,
		Detail: fmt.Sprintf("%s has %s free (of %s), and %s, beside the %s ferry leaves free there: a VM without room for its swap file does not start, so %s. Free space on %s first",
			pp.Datastore, Bytes(free), Bytes(capacity), what, Bytes(replication.ReplicaHeadroom), fails, pp.Datastore)}, true, nil
}

// providerDatastore is the plan's provider side when it names the
// datastore of the replica disks and a provider vCenter is configured to
// read it from (false: nothing to check there).
func (e *Env) providerDatastore() (ProviderPlan, bool) {
	pp := e.Plan().Provider
	return pp, pp.Datacenter != "" && pp.Datastore != "" && e.Config != nil && e.Config.Provider.URL != ""
}
