package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// The replica disks at the provider: created by the provider vCenter
// (thin, [datastore] ferry-replicas/<org>/<vm>/<vm>_<n>.vmdk), never by a
// file write of ferry's; with the appliance receiver, hot-added to the
// receiver appliance VM for replication and detached from it (no file
// operation, no copy) when the cutover gives them to the target VM.

// applianceMu serializes this process's reconfigures of the receiver
// appliance: two VMs' disks hot-added at once would pick the same SCSI slot.
var applianceMu sync.Mutex

// receiverKind is the plan's receiver kind (default: the appliance).
func (e *Env) receiverKind() (string, error) {
	switch k := e.Plan().Provider.ReceiverKind; k {
	case "", replication.KindAppliance:
		if e.Plan().Provider.ReceiverVM == "" {
			return "", &FieldError{"provider.receiver_vm", errors.New("name the receiver appliance, the provider VM that runs `ferry receiver` and to which ferry hot-adds the replica disks (or set provider.receiver_kind: nfs)")}
		}
		return replication.KindAppliance, nil
	case replication.KindNFS:
		return k, nil
	default:
		return "", &FieldError{"provider.receiver_kind", fmt.Errorf("%q: want appliance or nfs", k)}
	}
}

// checkReplicaPlace proves, changing nothing, where replica disks are to be
// made: the provider vCenter answers with this login, the plan's provider
// datacenter and datastore exist there and, for the appliance receiver, so
// does the receiver appliance VM. A run's preflight finds a missing one
// before step 1 changes anything.
func (e *Env) checkReplicaPlace(ctx context.Context, kind string) error {
	pp := e.Plan().Provider
	if err := e.replicaPlaceAnswered(); err != nil {
		return err
	}
	provider, err := e.ProviderVC(ctx)
	if err != nil {
		return err
	}
	if _, err := provider.Datacenter(ctx, pp.Datacenter); err != nil {
		return &FieldError{"provider.datacenter", err}
	}
	if _, err := provider.DatastoreID(ctx, pp.Datacenter, pp.Datastore); err != nil {
		return &FieldError{"provider.datastore", err}
	}
	if kind != replication.KindAppliance {
		return nil
	}
	ref, ok, err := provider.FindVM(ctx, pp.ReceiverVM)
	if err != nil {
		return err
	} else if !ok {
		return &FieldError{"provider.receiver_vm", fmt.Errorf("no VM %q on the provider vCenter %s: deploy the receiver appliance (README: \"Deploying the receiver appliance on a real provider\") or name the VM that runs `ferry receiver`", pp.ReceiverVM, provider.Endpoint)}
	}
	if tmpl, err := provider.IsTemplate(ctx, ref); err != nil {
		return err
	} else if tmpl {
		return &FieldError{"provider.receiver_vm", fmt.Errorf("%s is a template on the provider vCenter %s, which cannot run `ferry receiver` nor take hot-added disks: deploy a VM from it and name that VM", pp.ReceiverVM, provider.Endpoint)}
	}
	if pp.ResourcePool != "" {
		pools, err := e.tenantPools(ctx, provider, pp.Datacenter, pp.ResourcePool, true)
		if err != nil {
			return err
		}
		pool, err := provider.VMPool(ctx, ref)
		if err != nil {
			return err
		}
		if tp, ok := pools[pool]; ok {
			return &FieldError{"provider.receiver_vm", fmt.Errorf("%s %s: %s", pp.ReceiverVM, tp.refusal(pp.ResourcePool, e.Plan().VDC), vdcPoolWhy)}
		}
	}
	return nil
}

// vdcPoolWhy says why step 5 refuses a receiver appliance in the org VDC's
// resource pool or in a pool inside it, and what would be valid.
const vdcPoolWhy = "Cloud Director discovers the VMs of a resource pool that backs an org VDC, and of the pools inside it (VM discovery, on by default), and manages them, so the receiver appliance, the replica disks hot-added to it and its key would be Cloud Director's; " +
	"move it to a provider resource pool outside the org VDC's (README: \"Deploying the receiver appliance on a real provider\"), or name the VM that runs `ferry receiver` there"

// tenantPool is a resource pool of the provider vCenter whose VMs are
// Cloud Director's for the org VDC (tenantPools).
type tenantPool struct {
	path   string // "Company-VDC/infra"
	top    string // the path of the org VDC pool it is or lies inside
	plan   bool   // top is the plan's provider.resource_pool
	inside bool   // it lies inside top (false: it is top)
}

// refusal says where a VM in p runs, for step 5's refusal of the receiver
// appliance there.
func (p tenantPool) refusal(planPool, vdc string) string {
	switch {
	case p.plan && !p.inside:
		return fmt.Sprintf("runs in resource pool %s, the org VDC's (provider.resource_pool, where the cutover's imports land)", planPool)
	case p.plan:
		return fmt.Sprintf("runs in resource pool %s, which lies inside the org VDC's resource pool %s (provider.resource_pool, where the cutover's imports land) and draws on its allocation", p.path, planPool)
	case !p.inside:
		return fmt.Sprintf("runs in resource pool %s, which backs org VDC %s too (Cloud Director lists it among the VDC's resource pools, beside provider.resource_pool %s: the VDC spans clusters)", p.path, vdc, planPool)
	}
	return fmt.Sprintf("runs in resource pool %s, inside %s, which backs org VDC %s too (Cloud Director lists it among the VDC's resource pools, beside provider.resource_pool %s: the VDC spans clusters)", p.path, p.top, vdc, planPool)
}

// note says, in the receiver appliance's pick list, why a VM in p is not
// the appliance.
func (p tenantPool) note(vdc string) string {
	switch {
	case p.plan && !p.inside:
		return "in the org VDC's resource pool " + p.path + ": a VM Cloud Director runs for the tenant, not the receiver appliance"
	case p.plan:
		return "in resource pool " + p.path + ", inside the org VDC's " + p.top + ": Cloud Director's, not the receiver appliance"
	}
	return "in resource pool " + p.path + ", which backs org VDC " + vdc + " too: Cloud Director's, not the receiver appliance"
}

// tenantPools are, by managed object id, the resource pools of the
// provider vCenter whose VMs are Cloud Director's for the org VDC: the
// plan's pool (planPool in datacenter dc, when answered), every other pool Cloud Director
// lists for the VDC (a Flex org VDC spans clusters, a pool in each), and
// every pool inside them. Cloud Director discovers the VMs of a resource
// pool that backs an org VDC (VM discovery, on by default: a discovered
// vApp each) and manages them. A pool inside the org VDC's is part of it:
// vSphere carves a child pool's CPU and memory out of its parent's, and
// discovery is taken to reach the VMs of the pools under the org VDC's too
// (the admin guide speaks of the pool that backs the org VDC; that it
// stops at its children is nowhere said). strict: an error reading them
// is returned; otherwise what was read is.
func (e *Env) tenantPools(ctx context.Context, c *vsphere.Client, dc, planPool string, strict bool) (map[string]tenantPool, error) {
	out := map[string]tenantPool{}
	add := func(within []vsphere.Pool, plan bool) {
		for i, p := range within {
			if _, seen := out[p.ID]; !seen {
				out[p.ID] = tenantPool{path: p.Path, top: within[0].Path, plan: plan, inside: i > 0}
			}
		}
	}
	if planPool != "" {
		within, err := c.PoolsWithin(ctx, dc, planPool)
		if err != nil && strict {
			return nil, &FieldError{"provider.resource_pool", err}
		}
		add(within, true)
	}
	if e.Config == nil || e.Config.Provider.URL == "" {
		return out, nil
	}
	pl, err := vdcPlacement(ctx, e)
	if err != nil {
		if strict {
			return nil, err
		}
		return out, nil
	}
	for _, id := range pl.VDCPools {
		if _, seen := out[id]; seen {
			continue
		}
		others, err := c.PoolsWithinID(ctx, id)
		if err != nil && strict {
			return nil, err
		}
		add(others, false)
	}
	return out, nil
}

// replicaPlaceAnswered says which answer that places the replica disks
// the plan lacks: the provider datacenter and datastore, and the org that
// names their namespace.
func (e *Env) replicaPlaceAnswered() error {
	if e.Plan().Provider.Datacenter == "" {
		return &FieldError{"provider.datacenter", errors.New("is required: the provider datacenter where the provider vCenter creates the replica disks")}
	}
	if e.Plan().Provider.Datastore == "" {
		return &FieldError{"provider.datastore", errors.New("is required: the provider datastore where the provider vCenter creates the replica disks")}
	}
	if e.Plan().Org == "" {
		return &FieldError{"org", errors.New("is required: the tenant org names the replicas' namespace")}
	}
	return nil
}

// replicaFiles are the replica disks of a source VM's disks (same order):
// <vm>_<n>.vmdk, n the disk's replica number (replicaNumbers).
func (e *Env) replicaFiles(vm string, disks []vsphere.Disk) []vsphere.DiskFile {
	nums, _, _ := e.replicaNumbers(vm, disks)
	out := make([]vsphere.DiskFile, len(disks))
	for i, d := range disks {
		out[i] = vsphere.DiskFile{
			Path:     fmt.Sprintf("[%s] %s", e.Plan().Provider.Datastore, replication.ReplicaDiskPath(e.Plan().Org, vm, nums[i])),
			Capacity: d.Capacity,
		}
	}
	return out
}

// replicaNumbersKey is the replication step's output that holds which
// replica number each of vm's disks (by device key) has.
func replicaNumbersKey(vm string) string { return "replica-numbers." + vm }

// replicaNumbers gives each of vm's disks the number of its replica disk,
// for life: the numbers recorded (replicaNumbersKey), and for a disk not
// recorded yet, with none recorded, its place in disks (by device key: the
// naming of every replica made before ferry recorded them), else the next
// number after the highest recorded. A disk added to the source, wherever
// it sits, never takes another disk's replica, and a removed disk's number
// is not given again. rec is every number, recorded or given; changed
// says whether one was given (to be recorded by recordReplicaNumbers).
func (e *Env) replicaNumbers(vm string, disks []vsphere.Disk) (nums []int, rec map[int32]int, changed bool) {
	rec = map[int32]int{}
	if s := e.State.Get("replication").Outputs[replicaNumbersKey(vm)]; s != "" {
		_ = json.Unmarshal([]byte(s), &rec) // unreadable: as if none were recorded
	}
	next := 0
	for _, n := range rec {
		next = max(next, n+1)
	}
	fresh := len(rec) == 0
	nums = make([]int, len(disks))
	for i, d := range disks {
		n, ok := rec[d.Key]
		switch {
		case ok:
		case fresh:
			n, changed = i, true
		default:
			n, changed = next, true
			next++
		}
		rec[d.Key], nums[i] = n, n
	}
	return nums, rec, changed
}

// recordReplicaNumbers records the replica numbers of vm's disks, before
// their replica disks are made.
func (e *Env) recordReplicaNumbers(vm string, disks []vsphere.Disk) error {
	_, rec, changed := e.replicaNumbers(vm, disks)
	if !changed {
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return e.State.SetOutput("replication", replicaNumbersKey(vm), string(b))
}

// replicaDisksFound says which of the replica disks the provider vCenter
// has already (made by an earlier run of step 6: kept as they are).
func (e *Env) replicaDisksFound(ctx context.Context, files []vsphere.DiskFile) (map[string]bool, error) {
	if e.replicaPlaceAnswered() != nil {
		return nil, nil // the step's apply says what is missing
	}
	provider, err := e.ProviderVC(ctx)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	found, err := provider.DiskFilesFound(ctx, e.Plan().Provider.Datacenter, paths)
	if err != nil {
		return nil, fmt.Errorf("replica disks: %w", err)
	}
	return found, nil
}

// prepareReplicas makes sure the provider vCenter has created vm's replica
// disks and, for the appliance receiver, that they are hot-added to the
// receiver appliance. It returns the receiver kind and what the sender
// names each disk by (its source device key): the disk UUID (appliance) or
// the descriptor's datastore path (nfs).
func (e *Env) prepareReplicas(ctx context.Context, vm vsphere.VM) (string, map[string]string, error) {
	kind, err := e.receiverKind()
	if err != nil {
		return "", nil, err
	}
	pp := e.Plan().Provider
	if err := e.replicaPlaceAnswered(); err != nil {
		return "", nil, fmt.Errorf("%s: %w", vm.Name, err)
	}
	provider, err := e.ProviderVC(ctx)
	if err != nil {
		return "", nil, err
	}
	if err := e.recordReplicaNumbers(vm.Name, vm.Disks); err != nil {
		return "", nil, err
	}
	files := e.replicaFiles(vm.Name, vm.Disks)
	if err := provider.CreateReplicaDisks(ctx, pp.Datacenter, files); err != nil {
		return "", nil, err
	}
	if err := e.refuseUsedReplicas(ctx, provider, vm.Name, files); err != nil {
		return "", nil, err
	}
	out := map[string]string{}
	if kind == replication.KindNFS {
		nums, _, _ := e.replicaNumbers(vm.Name, vm.Disks)
		for i, d := range vm.Disks {
			out[strconv.Itoa(int(d.Key))] = replication.ReplicaDiskPath(e.Plan().Org, vm.Name, nums[i])
		}
		return kind, out, nil
	}
	applianceMu.Lock()
	uuids, err := provider.AttachDisks(ctx, pp.Datacenter, pp.ReceiverVM, files)
	applianceMu.Unlock()
	if err != nil {
		return "", nil, err
	}
	for i, d := range vm.Disks {
		out[strconv.Itoa(int(d.Key))] = uuids[files[i].Path]
	}
	return kind, out, nil
}

// releaseReplicas detaches vm's replica disks from the receiver appliance
// (no file operation) so that the target VM can take them.
func (e *Env) releaseReplicas(ctx context.Context, vm string, disks []vsphere.Disk) error {
	kind, err := e.receiverKind()
	if err != nil || kind != replication.KindAppliance {
		return err
	}
	provider, err := e.ProviderVC(ctx)
	if err != nil {
		return err
	}
	var paths []string
	for _, f := range e.replicaFiles(vm, disks) {
		paths = append(paths, f.Path)
	}
	applianceMu.Lock()
	defer applianceMu.Unlock()
	return provider.DetachDiskFiles(ctx, e.Plan().Provider.Datacenter, e.Plan().Provider.ReceiverVM, paths)
}

// reattachReplicas gives vm's replica disks back to the receiver appliance
// after a rolled-back cutover, so that replication continues. unsettled: a
// VM the rollback did not account for may hold them (a CreateVM request cut
// off by a stop, whose VM was not found): then a disk another VM holds is
// not hot-added (refuseUsedReplicas), even while the cutover's state is
// running.
func (e *Env) reattachReplicas(ctx context.Context, vm string, disks []vsphere.Disk, unsettled bool) error {
	kind, err := e.receiverKind()
	if err != nil || kind != replication.KindAppliance {
		return err
	}
	provider, err := e.ProviderVC(ctx)
	if err != nil {
		return err
	}
	files := e.replicaFiles(vm, disks)
	if unsettled {
		if p, other, err := e.replicaHolder(ctx, provider, vm, files); err != nil {
			return err
		} else if other != "" {
			return fmt.Errorf("%s: its replica disk %s is held by VM %s at the provider, so it was not hot-added to the receiver appliance again: %s is the VM the cut-off create made, if it was made since the cutover began; `ferry run --confirm-cutover=%s --rollback` removes it (its replica disks kept) and gives the disks back to replication", vm, p, other, other, vm)
		}
	}
	if err := e.refuseUsedReplicas(ctx, provider, vm, files); err != nil {
		return err
	}
	applianceMu.Lock()
	defer applianceMu.Unlock()
	_, err = provider.AttachDisks(ctx, e.Plan().Provider.Datacenter, e.Plan().Provider.ReceiverVM, files)
	return err
}

// refuseUsedReplicas refuses to replicate into vm's replica disks while
// a VM at the provider other than the receiver appliance uses one the
// appliance does not hold (powered on or not): the VM a cutover made of
// them (its state file moved aside or lost, ferry would write the source's
// old data over the migrated VM's disks), or a disk attached by hand. A
// disk the appliance holds stays its own (a test migration's copies share
// it as the frozen parent of their disks).
func (e *Env) refuseUsedReplicas(ctx context.Context, provider *vsphere.Client, vm string, files []vsphere.DiskFile) error {
	if e.State.Get("cutover").Outputs[cutoverKey(vm)] == cutoverRunning {
		// A cutover a previous ferry left before power-on of the target
		// was requested: the other user is its own target, powered off,
		// which its cleanup removes; the job stays held until then.
		return nil
	}
	p, other, err := e.replicaHolder(ctx, provider, vm, files)
	if err != nil || other == "" {
		return err
	}
	return usedReplica(vm, p, other)
}

// usedReplica is the refusal of vm's replica disk p, which VM other at the
// provider uses (refuseUsedReplicas, and step 5's refuseMigratedElsewhere).
func usedReplica(vm, p, other string) error {
	return fmt.Errorf("%s: its replica disk %s is used by VM %s at the provider, so ferry does not write it: if %s was cut over, %s is the migrated VM and its disks are its own now: take %s out of the plan (ferry status shows what the state file says); otherwise detach the disk from %s first", vm, p, other, vm, other, vm, other)
}

// replicaHolder is a VM at the provider other than the receiver appliance
// that uses one of vm's replica disks files the appliance does not hold,
// and that disk ("" when none).
func (e *Env) replicaHolder(ctx context.Context, provider *vsphere.Client, vm string, files []vsphere.DiskFile) (path, other string, err error) {
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	users, err := provider.DiskUsers(ctx, e.Plan().Provider.Datacenter, paths)
	if err != nil {
		return "", "", fmt.Errorf("%s: who uses its replica disks: %w", vm, err)
	}
	appliance := e.Plan().Provider.ReceiverVM
	for _, p := range paths {
		if len(users[p]) == 0 || slices.Contains(users[p], appliance) {
			continue
		}
		return p, users[p][0], nil
	}
	return "", "", nil
}

// growReplica is vm's replication.Job.Grow: a source disk extended at the
// source gets its replica disk extended by the provider vCenter before a
// pass writes it. With the appliance receiver, the disk is detached from
// the appliance for it and hot-added again, so that the appliance's kernel
// finds it at its new size (a disk extended while attached keeps its old
// size in the guest until a rescan); no file operation, no copy. The
// configuration captured at VM selection takes the new capacity, so that
// the cutover builds the target VM with it.
func (e *Env) growReplica(vmName string) func(context.Context, replication.Disk, int64) error {
	return func(ctx context.Context, d replication.Disk, from int64) error {
		kind, err := e.receiverKind()
		if err != nil {
			return err
		}
		onprem, err := e.OnPrem(ctx)
		if err != nil {
			return err
		}
		vm, err := onprem.VMByName(ctx, vmName)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(vm.Disks, func(s vsphere.Disk) bool { return strconv.Itoa(int(s.Key)) == d.Key })
		if i < 0 {
			return fmt.Errorf("%s: the source VM has no disk with key %s any more", vmName, d.Key)
		}
		file := e.replicaFiles(vmName, vm.Disks)[i]
		file.Capacity = d.Capacity
		provider, err := e.ProviderVC(ctx)
		if err != nil {
			return err
		}
		dc, appliance := e.Plan().Provider.Datacenter, e.Plan().Provider.ReceiverVM
		if kind == replication.KindAppliance {
			applianceMu.Lock()
			defer applianceMu.Unlock()
			if err := provider.DetachDiskFiles(ctx, dc, appliance, []string{file.Path}); err != nil {
				return err
			}
		}
		if err := provider.ExtendDisk(ctx, dc, file.Path, d.Capacity); err != nil {
			if kind == replication.KindAppliance {
				// Given back as it was: replication stays paused with
				// this error, the replica where the receiver finds it.
				was := file
				was.Capacity = from
				_, _ = provider.AttachDisks(ctx, dc, appliance, []vsphere.DiskFile{was})
			}
			return err
		}
		if kind == replication.KindAppliance {
			if _, err := provider.AttachDisks(ctx, dc, appliance, []vsphere.DiskFile{file}); err != nil {
				return err
			}
		}
		return e.captureGrowth(ctx, onprem, vm, vm.Disks[i].Key, d.Capacity)
	}
}

// captureGrowth records in the configuration captured at VM selection that
// the source's disk with device key key was extended to capacity bytes.
func (e *Env) captureGrowth(ctx context.Context, onprem *vsphere.Client, vm vsphere.VM, key int32, capacity int64) error {
	cfg, ok, err := savedVMConfig(e.State, vm.Name)
	if err != nil || !ok {
		return err
	}
	now, err := onprem.VMConfig(ctx, vm.Ref)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(now.Disks, func(d vsphere.DiskConfig) bool { return d.Key == key })
	if i < 0 {
		return fmt.Errorf("%s: the source VM has no disk with key %d any more", vm.Name, key)
	}
	for j := range cfg.Disks {
		if cfg.Disks[j].Position() == now.Disks[i].Position() && cfg.Disks[j].Capacity < capacity {
			cfg.Disks[j].Capacity = capacity
			return saveVMConfig(e.State, cfg)
		}
	}
	return nil
}

// addReplicaDisks is vm's replication.Job.AddDisks: disks added to the
// source since its job was made get their replica disks and a place in the
// captured configuration (followDisks).
func (e *Env) addReplicaDisks(vmName string) func(context.Context, []replication.Disk) (map[string]string, error) {
	return func(ctx context.Context, _ []replication.Disk) (map[string]string, error) {
		onprem, err := e.OnPrem(ctx)
		if err != nil {
			return nil, err
		}
		vm, err := onprem.VMByName(ctx, vmName)
		if err != nil {
			return nil, err
		}
		_, replicas, _, err := e.followDisks(ctx, vm)
		return replicas, err
	}
}

// reattachAll is vm's replication.Job.Reattach: a job resumed after a
// pass found a replica disk detached from the receiver appliance (by hand)
// has every replica disk of the source's disks now hot-added to it again,
// as a start of ferry serve does (prepareReplicas: idempotent, and it
// refuses a disk another VM at the provider holds).
func (e *Env) reattachAll(vmName string) func(context.Context) error {
	add := e.addReplicaDisks(vmName)
	return func(ctx context.Context) error {
		_, err := add(ctx, nil)
		return err
	}
}

// followDisks prepares the replica disks of every disk the source VM has
// now (prepareReplicas) and adds to the configuration captured at VM
// selection the disks added to the source since (and any controller they
// sit on that it lacks), so that the cutover builds the target with them.
// It returns the receiver kind, the replicas, and the disks it added to
// the captured configuration.
func (e *Env) followDisks(ctx context.Context, vm vsphere.VM) (string, map[string]string, []vsphere.DiskConfig, error) {
	kind, replicas, err := e.prepareReplicas(ctx, vm)
	if err != nil {
		return "", nil, nil, err
	}
	saved, ok, err := savedVMConfig(e.State, vm.Name)
	if err != nil || !ok {
		return kind, replicas, nil, err
	}
	onprem, err := e.OnPrem(ctx)
	if err != nil {
		return "", nil, nil, err
	}
	now, err := onprem.VMConfig(ctx, vm.Ref)
	if err != nil {
		return "", nil, nil, err
	}
	cfg, added := addedDisks(saved, now)
	if len(added) == 0 {
		return kind, replicas, nil, nil
	}
	return kind, replicas, added, saveVMConfig(e.State, cfg)
}

// hasDiskAt says whether cfg has a disk at d's position (controller type,
// bus, unit): a disk keeps it while its file becomes a snapshot's delta.
func hasDiskAt(cfg vsphere.VMConfig, d vsphere.DiskConfig) bool {
	return slices.ContainsFunc(cfg.Disks, func(s vsphere.DiskConfig) bool { return s.Position() == d.Position() })
}

// addedDisks is the captured configuration saved with the disks of now at
// positions it has none at, and the controllers they sit on that it lacks.
func addedDisks(saved, now vsphere.VMConfig) (vsphere.VMConfig, []vsphere.DiskConfig) {
	var added []vsphere.DiskConfig
	for _, d := range now.Disks {
		if hasDiskAt(saved, d) {
			continue
		}
		saved.Disks = append(saved.Disks, d)
		added = append(added, d)
		for _, c := range now.Controllers {
			if c.Type == d.ControllerType && c.Bus == d.Bus && !slices.ContainsFunc(saved.Controllers, func(s vsphere.ControllerConfig) bool { return s.Type == c.Type && s.Bus == c.Bus }) {
				saved.Controllers = append(saved.Controllers, c)
			}
		}
	}
	return saved, added
}
