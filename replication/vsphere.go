package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/vsphere"
)

// SnapshotPrefix names the snapshots ferry creates (and may delete).
const SnapshotPrefix = "ferry-pass-"

// VSphereSource reads a VM's disks through the vSphere API without VDDK:
// snapshot, QueryChangedDiskAreas, and datastore HTTP (/folder) range reads
// of the snapshot's base -flat.vmdk with the session cookie. Only flat
// (FlatVer2) disks on datastores that serve /folder are supported (not vSAN
// or vVols).
type VSphereSource struct {
	Client *vim25.Client
	VM     types.ManagedObjectReference
	// ProxyOnly reads through vCenter's /folder proxy, never host-direct.
	ProxyOnly bool
	// Warn receives warnings (reads falling back to vCenter's proxy); nil:
	// the default slog logger. Warnings hold no secrets.
	Warn func(msg string)
	// SnapshotReserve is the free space in bytes that the datastore of the
	// VM's snapshot deltas must have before a pass takes its snapshot; a
	// pass stops, removing its snapshot, when it falls below half of it
	// (snapspace.go). 0: DefaultSnapshotReserve.
	SnapshotReserve int64
	// SpaceEvery is how often that datastore is checked while a pass
	// snapshot is open (0: every 30 s).
	SpaceEvery time.Duration

	mu          sync.Mutex
	proxyWarned bool         // the fallback was reported; reset when host-direct works again
	asked       string       // the id of the VM's pending question last reported
	offWarned   bool         // a warm pass found the VM powered off and said so; reset when it runs again
	hc          *http.Client // host-direct reads (hostClient)
}

// say reports msg through Warn, or the log when nobody set Warn.
func (s *VSphereSource) say(msg string) {
	if s.Warn != nil {
		s.Warn(msg)
		return
	}
	slog.Warn(msg)
}

// warn reports a fallback to the proxy once until host-direct works again.
func (s *VSphereSource) warn(msg string) {
	s.mu.Lock()
	done := s.proxyWarned
	s.proxyWarned = true
	s.mu.Unlock()
	if done {
		return
	}
	s.say(msg)
}

// reportQuestion warns, once per question, that the VM is paused with a
// question pending in vCenter (ESXi pauses a VM whose datastore is full
// until someone frees space and answers Retry): its guest runs nothing
// meanwhile, and nothing but an answer in vSphere lets it run again.
func (s *VSphereSource) reportQuestion(vm mo.VirtualMachine) {
	q := vm.Runtime.Question
	s.mu.Lock()
	id := ""
	if q != nil {
		id = q.Id
	}
	fresh := id != "" && id != s.asked
	s.asked = id
	s.mu.Unlock()
	if !fresh {
		return
	}
	msg := fmt.Sprintf("VM %s is paused: vCenter asks %q, and its guest runs nothing until someone answers in vSphere (for a full datastore: free space there, then answer Retry); ferry does not answer it", vm.Name, q.Text)
	s.say(msg)
}

// reportPower warns, once until the VM runs again, that a pass before
// the cutover found the VM powered off: shut down outside ferry (in
// vSphere or in its guest), or left off by a rollback that could not
// power it on, so its services are down. The pass goes on: a powered-off
// VM's disks replicate as a running one's (QA: the dashboard read "ok"
// and nothing said the VM was down until the cutover's plan). When a
// later pass finds it running again, it says so (the dashboard shows the
// latest such news under the VM).
func (s *VSphereSource) reportPower(vm mo.VirtualMachine) {
	off := vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOff
	s.mu.Lock()
	was := s.offWarned
	s.offWarned = off
	s.mu.Unlock()
	var msg string
	switch {
	case off && !was:
		msg = fmt.Sprintf("VM %s is powered off, and not by a cutover: its services are down. Replication goes on from its disks; if that was not meant, power it on in vSphere", vm.Name)
	case !off && was:
		msg = fmt.Sprintf("VM %s is powered on again (an earlier pass found it powered off)", vm.Name)
	default:
		return
	}
	s.say(msg)
}

func (s *VSphereSource) hostDirectWorks() {
	s.mu.Lock()
	s.proxyWarned = false
	s.mu.Unlock()
}

// NewVSphereSource returns a source for vm.
func NewVSphereSource(c *vim25.Client, vm types.ManagedObjectReference) *VSphereSource {
	return &VSphereSource{Client: c, VM: vm}
}

type vsDisk struct {
	Disk
	fileName string // "[ds] dir/name.vmdk"
	changeID string
	ds, flat string // datastore and path of the flat extent named by the descriptor
}

// flatDisks are the disks among devices whose chain ends at a flat base
// disk: the base's file, the current backing's changeId. While the VM has a
// snapshot, ESXi reports its disks as deltas over that base (SEsparse on
// VMFS6), which a pass does not read; the snapshot's own devices are the
// base disks.
func flatDisks(devices []types.BaseVirtualDevice) []vsDisk {
	var out []vsDisk
	for _, d := range devices {
		vd, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		base, deltas := vd.Backing, 0
		for p := vsphere.ParentBacking(base); p != nil; p = vsphere.ParentBacking(base) {
			base, deltas = p, deltas+1
		}
		var fileName, changeID string
		switch b := base.(type) {
		case *types.VirtualDiskFlatVer2BackingInfo:
			fileName, changeID = b.FileName, b.ChangeId
		case *types.VirtualDiskSeSparseBackingInfo:
			// The base of an SEsparse chain is typed as one whatever its
			// format (its descriptor tells, when a pass reads it).
			if deltas == 0 {
				continue
			}
			fileName = b.FileName
		default:
			continue
		}
		switch top := vd.Backing.(type) {
		case *types.VirtualDiskFlatVer2BackingInfo:
			changeID = top.ChangeId
		case *types.VirtualDiskSeSparseBackingInfo:
			changeID = top.ChangeId
		}
		capacity := vd.CapacityInBytes
		if capacity == 0 {
			capacity = vd.CapacityInKB * 1024
		}
		label := ""
		if info := vd.DeviceInfo; info != nil {
			label = info.GetDescription().Label
		}
		out = append(out, vsDisk{Disk: Disk{Key: strconv.Itoa(int(vd.Key)), Capacity: capacity, Label: label}, fileName: fileName, changeID: changeID})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (s *VSphereSource) vm(ctx context.Context, props ...string) (mo.VirtualMachine, error) {
	var vm mo.VirtualMachine
	err := property.DefaultCollector(s.Client).RetrieveOne(ctx, s.VM, props, &vm)
	return vm, err
}

// Disks implements Source.
func (s *VSphereSource) Disks(ctx context.Context) ([]Disk, error) {
	vm, err := s.vm(ctx, "config.hardware.device")
	if err != nil {
		return nil, err
	}
	var out []Disk
	for _, d := range flatDisks(vm.Config.Hardware.Device) {
		out = append(out, d.Disk)
	}
	if len(out) == 0 {
		return nil, errors.New("VM has no flat virtual disks")
	}
	return out, nil
}

func snapshotTree(tree []types.VirtualMachineSnapshotTree, f func(types.VirtualMachineSnapshotTree)) {
	for _, t := range tree {
		f(t)
		snapshotTree(t.ChildSnapshotList, f)
	}
}

// runTask starts a task with start and returns its result once it
// succeeded; a task another task kept from running is started again
// (vsphere.RunTask).
func (s *VSphereSource) runTask(ctx context.Context, start func() (*object.Task, error)) (types.AnyType, error) {
	info, err := vsphere.RunTask(ctx, start)
	if err != nil {
		return nil, err
	}
	return info.Result, nil
}

// removeSnapshot removes (consolidates) the snapshot ref. A snapshot that
// no longer exists is removed: an earlier removal of it (one a pass
// interrupted in its release phase stopped waiting for) may still have
// been consolidating when this one was asked for, with the snapshot still
// listed; vCenter refused this one TaskInProgress while that ran
// (taskRetry waits it out), and by the time it was sent again the
// snapshot was gone.
func (s *VSphereSource) removeSnapshot(ctx context.Context, ref types.ManagedObjectReference) error {
	_, err := s.runTask(ctx, func() (*object.Task, error) {
		res, err := methods.RemoveSnapshot_Task(ctx, s.Client, &types.RemoveSnapshot_Task{This: ref, RemoveChildren: false, Consolidate: types.NewBool(true)})
		if err != nil {
			return nil, err
		}
		return object.NewTask(s.Client, res.Returnval), nil
	})
	if snapshotGone(err, ref) {
		return nil
	}
	var locked *types.FileLocked
	if _, ok := fault.As(err, &locked); ok {
		// vCenter took the snapshot out of the tree but could not merge
		// its delta (a backup proxy holds the base disk hot-added): the
		// VM runs on the delta, runtime.consolidationNeeded set, and the
		// next pass consolidates first (consolidate).
		return fmt.Errorf("%w: %s is locked (usually by a backup proxy that still has the disk hot-added); the snapshot is gone, but the VM runs on its delta disk until its disks are consolidated, which the next pass tries first: %w", ErrNotConsolidated, locked.File, err)
	}
	return err
}

// ErrNotConsolidated: a snapshot removal took the snapshot away but could
// not consolidate its delta disk.
var ErrNotConsolidated = errors.New("snapshot removed but its disks not consolidated")

// consolidate merges the delta disks a snapshot removal whose
// consolidation failed left under the VM's disks (runtime.consolidationNeeded:
// vCenter shows "Virtual machine disks consolidation is needed"), with
// ConsolidateVMDisks_Task, as backup products do themselves (Veeam's
// Snapshot Hunter). The usual cause is a backup proxy that still has the
// VM's base disk hot-added: the task then fails FileLocked ("Unable to
// access file ... since it is locked", VMware KB 2003638) and the pass
// fails saying so; the next pass tries again.
func (s *VSphereSource) consolidate(ctx context.Context, name string) error {
	s.say(fmt.Sprintf("VM %s needs its disks consolidated: a snapshot removal (ferry's or another tool's) could not merge its delta disk, and the VM runs on it with no snapshot listed (vCenter: \"Virtual machine disks consolidation is needed\"); ferry consolidates them before this pass", name))
	_, err := s.runTask(ctx, func() (*object.Task, error) {
		res, err := methods.ConsolidateVMDisks_Task(ctx, s.Client, &types.ConsolidateVMDisks_Task{This: s.VM})
		if err != nil {
			return nil, err
		}
		return object.NewTask(s.Client, res.Returnval), nil
	})
	if err == nil {
		return nil
	}
	var locked *types.FileLocked
	if _, ok := fault.As(err, &locked); ok {
		file := locked.File
		if file == "" {
			file = "a disk file of the VM"
		}
		// A lock comes and goes (the backup job ends): waited out, not
		// a failure to pause the job for (waitsOutside).
		return fmt.Errorf("VM %s needs its disks consolidated (a snapshot removal left a delta disk the VM runs on), and consolidating them failed: %w: %s (usually by a backup proxy that still has the disk hot-added: end its job or detach the disk from it); ferry tries again at the next pass, or consolidate them in the vSphere Client (the VM's Snapshots > Consolidate)", name, ErrConsolidationLocked, file)
	}
	return fmt.Errorf("VM %s needs its disks consolidated (a snapshot removal left a delta disk the VM runs on), and consolidating them failed: %w; consolidate them in the vSphere Client (the VM's Snapshots > Consolidate), then resume the job", name, err)
}

// ErrConsolidationLocked: a pass could not consolidate the VM's disks
// because a file of theirs is locked (a backup proxy holds it); the
// scheduler tries again later without pausing the job.
var ErrConsolidationLocked = errors.New("a disk file is locked")

// snapshotGone says whether err is vCenter's word that the snapshot ref
// does not exist (ManagedObjectNotFound naming it).
func snapshotGone(err error, ref types.ManagedObjectReference) bool {
	var nf *types.ManagedObjectNotFound
	if _, ok := fault.As(err, &nf); ok {
		return nf.Obj == ref
	}
	return false
}

// Open implements Source.
func (s *VSphereSource) Open(ctx context.Context, resume string, final bool) (Snapshot, error) {
	// A final pass's VM must stay off: vCenter's clock before its power
	// state is read, for the power-ons Held looks for since.
	var offSince time.Time
	if final {
		now, err := methods.GetCurrentTime(ctx, s.Client)
		if err != nil {
			return nil, fmt.Errorf("vCenter's time: %w", err)
		}
		offSince = *now
	}
	props := []string{"name", "snapshot", "runtime.powerState", "runtime.question", "runtime.consolidationNeeded", "config.hardware.device", "config.keyId", "config.changeTrackingEnabled"}
	vm, err := s.vm(ctx, props...)
	if err != nil {
		return nil, err
	}
	s.reportQuestion(vm)
	if !final {
		s.reportPower(vm)
	}
	if vm.Runtime.ConsolidationNeeded {
		// A snapshot removal (a pass's, a backup job's) could not merge
		// its delta: the VM runs on it with no snapshot listed, and its
		// base disk, which a pass reads, is not current. Merged first,
		// then the disks are judged as they are now.
		if err := s.consolidate(ctx, vm.Name); err != nil {
			return nil, err
		}
		if vm, err = s.vm(ctx, props...); err != nil {
			return nil, err
		}
	}
	// Disks this transport cannot read are refused before any snapshot.
	dsTypes, err := vsphere.DatastoreTypes(ctx, s.Client, []mo.VirtualMachine{vm})
	if err != nil {
		return nil, err
	}
	if r := vsphere.UnreadableDisks(&vm, dsTypes); len(r) > 0 {
		return nil, fmt.Errorf("VM %s cannot be replicated by ferry: %s", vm.Name, strings.Join(r, "; "))
	}
	var snaps []types.VirtualMachineSnapshotTree
	var names []string
	if vm.Snapshot != nil {
		snapshotTree(vm.Snapshot.RootSnapshotList, func(t types.VirtualMachineSnapshotTree) {
			snaps, names = append(snaps, t), append(names, t.Name)
		})
	}
	vs := &vsSnapshot{s: s, vmName: vm.Name}
	devices := vm.Config.Hardware.Device
	switch {
	case final:
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
			return nil, fmt.Errorf("final pass needs VM %s powered off (it is %s)", vm.Name, vm.Runtime.PowerState)
		}
		// A pass snapshot left by an interrupted precopy is ours to delete;
		// any other snapshot means the base disk is not current.
		if other := ForeignSnapshots(names); len(other) > 0 {
			return nil, fmt.Errorf("final pass needs VM %s without snapshots (it has %q): the base disk is not current", vm.Name, other[0])
		}
		for _, t := range snaps {
			if err := s.removeSnapshot(ctx, t.Snapshot); err != nil {
				return nil, fmt.Errorf("remove stale snapshot %s: %w", t.Name, err)
			}
		}
		if len(snaps) > 0 {
			// Backings point at the base disks again after consolidation.
			if vm, err = s.vm(ctx, "config.hardware.device"); err != nil {
				return nil, err
			}
			devices = vm.Config.Hardware.Device
		}
		vs.id = "final-" + time.Now().UTC().Format("20060102T150405.000")
		vs.offSince = offSince
	case resume != "":
		for _, t := range snaps {
			if t.Snapshot.Value == resume {
				ref := t.Snapshot
				vs.snap, vs.taken = &ref, t.CreateTime
			}
		}
		if vs.snap == nil {
			return nil, ErrSnapshotGone
		}
		// Resumed in a snapshot whose delta has grown since: below half
		// the reserve it is removed, not resumed.
		if err := s.lowRoom(ctx, vm.Name); err != nil {
			if rerr := s.removeSnapshot(ctx, *vs.snap); rerr != nil {
				return nil, fmt.Errorf("%w (and removing the snapshot failed: %v)", err, rerr)
			}
			return nil, err
		}
	default:
		// Someone else's snapshot (a backup job's, an admin's): while it
		// exists ESXi writes the guest's changes into its delta, so the
		// base disk a pass reads is not current. No snapshot of ours on top
		// of it; the pass waits until it is gone.
		if err := foreignSnapshot(vm.Name, names); err != nil {
			return nil, err
		}
		// A snapshot of ours left by a crash after a commit: delete it first.
		for _, t := range snaps {
			if strings.HasPrefix(t.Name, SnapshotPrefix) {
				if err := s.removeSnapshot(ctx, t.Snapshot); err != nil {
					return nil, fmt.Errorf("remove stale snapshot %s: %w", t.Name, err)
				}
			}
		}
		// Room for the snapshot's deltas (after removing a stale one of
		// ours, which frees its delta's space).
		if err := s.roomForSnapshot(ctx, vm.Name); err != nil {
			if q := vm.Runtime.Question; q != nil {
				// Said where the wait is recorded (ferry status), not
				// only in the pass's warning.
				err = fmt.Errorf("%w; VM %s is paused meanwhile: vCenter asks %q (answer Retry once space is free)", err, vm.Name, q.Text)
			}
			return nil, err
		}
		if cbt := vm.Config.ChangeTrackingEnabled; cbt == nil || !*cbt {
			// Changed block tracking was turned off behind ferry's back
			// (ferry turned it on at VM selection): on again, so that the
			// snapshot below activates it and the passes after this one
			// (a full compare: no changeId of before holds) send only
			// changes again, the cutover's final pass among them.
			if err := s.enableCBT(ctx); err != nil {
				return nil, err
			}
			vs.cbtReenabled = true
		}
		name := SnapshotPrefix + time.Now().UTC().Format("20060102T150405")
		r, err := s.runTask(ctx, func() (*object.Task, error) {
			return object.NewVirtualMachine(s.Client, s.VM).CreateSnapshot(ctx, name, "ferry replication pass (deleted after the pass)", false, false)
		})
		if err != nil {
			return nil, fmt.Errorf("create snapshot: %w", err)
		}
		ref, ok := r.(types.ManagedObjectReference)
		if !ok {
			return nil, fmt.Errorf("create snapshot: unexpected result %T", r)
		}
		vs.snap = &ref
	}
	if vs.snap != nil {
		vs.id = vs.snap.Value
		var sm mo.VirtualMachineSnapshot
		if err := property.DefaultCollector(s.Client).RetrieveOne(ctx, *vs.snap, []string{"config.hardware.device"}, &sm); err != nil {
			return nil, fmt.Errorf("snapshot disks: %w", err)
		}
		// The snapshot's own disk backings: its base disks and their changeIds.
		devices = sm.Config.Hardware.Device
	}
	vs.disks = map[string]vsDisk{}
	for _, d := range flatDisks(devices) {
		vs.disks[d.Key] = d
	}
	if vs.dcPath, err = s.datacenterPath(ctx); err != nil {
		return nil, err
	}
	if err := vs.openReader(ctx); err != nil {
		if vs.snap != nil && resume == "" {
			_ = vs.Release(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	if vs.snap != nil {
		vs.watchSpace(ctx)
	}
	return vs, nil
}

// datacenterPath is the inventory path of the VM's datacenter (dcPath).
func (s *VSphereSource) datacenterPath(ctx context.Context) (string, error) {
	pc := property.DefaultCollector(s.Client)
	var names []string
	ref := s.VM
	inDC := false
	for {
		var e mo.ManagedEntity
		if err := pc.RetrieveOne(ctx, ref, []string{"name", "parent"}, &e); err != nil {
			return "", fmt.Errorf("datacenter of VM: %w", err)
		}
		if ref.Type == "Datacenter" {
			inDC = true
		}
		if e.Parent == nil {
			break // root folder: not part of the path
		}
		if inDC {
			names = append([]string{e.Name}, names...)
		}
		ref = *e.Parent
	}
	if !inDC {
		return "", errors.New("VM is not in a datacenter")
	}
	return strings.Join(names, "/"), nil
}

type vsSnapshot struct {
	s      *VSphereSource
	vmName string
	id     string
	snap   *types.ManagedObjectReference // nil: final pass on the powered-off VM
	taken  time.Time                     // a resumed snapshot's creation (zero: taken now)
	// offSince is vCenter's time when a final pass opened the powered-off
	// VM, before it read its power state (zero: not a final pass).
	offSince time.Time
	// cbtReenabled: changed block tracking was found off and turned on
	// again before this snapshot (no earlier changeId holds).
	cbtReenabled bool
	disks        map[string]vsDisk
	dcPath       string
	host         *hostEndpoint // nil: through vCenter's /folder proxy
	// streams are the open host-direct GETs of runs of changed blocks.
	streams hostStreams
	// space checks the free space of the snapshot's datastore while it
	// is open (nil: no snapshot).
	space *spaceWatch
}

func (v *vsSnapshot) ID() string { return v.id }

// PlanReads implements runReader: host-direct GETs cover the runs of
// what the pass reads.
func (v *vsSnapshot) PlanReads(key string, reads []Extent) {
	if v.host != nil {
		v.streams.planReads(key, reads)
	}
}

// ReadRun implements runReader: a host-direct reader takes the blocks one
// ranged GET (one service ticket) serves, so the pass's readers each read
// their own response in order rather than queue on one another's.
func (v *vsSnapshot) ReadRun() int {
	if v.host == nil {
		return 1
	}
	return streamSpan / HashBlock
}

func (v *vsSnapshot) ChangeID(key string) string { return v.disks[key].changeID }

// changeEpoch is a changeId's tracking identity, the part before its
// sequence number ("52 de c0 ... 3f/12" -> "52 de c0 ... 3f"): a new one
// after every CBT reset (VDDK Programming Guide: compare it before asking
// for the changes since a changeId).
func changeEpoch(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[:i]
	}
	return id
}

// cbtFault says whether a QueryChangedDiskAreas failure means CBT cannot
// answer (reset, noEpoch, cannotGetChanges, noTrack, bad changeId).
func cbtFault(err error) bool {
	if !soap.IsSoapFault(err) {
		return false
	}
	switch soap.ToSoapFault(err).VimFault().(type) {
	case types.InvalidArgument, *types.InvalidArgument, types.FileFault, *types.FileFault,
		types.NotSupported, *types.NotSupported, types.FileNotFound, *types.FileNotFound:
		return true
	}
	return false
}

// Extents implements Snapshot: QueryChangedDiskAreas from offset 0, advancing
// to StartOffset+Length of each answer until the whole disk is covered (an
// answer holds a bounded number of extents and may hold none).
func (v *vsSnapshot) Extents(ctx context.Context, key, base string) ([]Extent, error) {
	if err := v.spaceErr(); err != nil {
		return nil, err
	}
	d, ok := v.disks[key]
	if !ok {
		return nil, fmt.Errorf("no disk %s", key)
	}
	if base == "" {
		return nil, fmt.Errorf("disk %s: no base changeId: %w", key, ErrCBTReset)
	}
	if v.cbtReenabled {
		// Off since the last pass: no changeId of before holds.
		return nil, fmt.Errorf("disk %s: changed block tracking had been turned off on VM %s; ferry turned it on again, and the passes after this one send only changes: %w", key, v.vmName, ErrCBTReset)
	}
	if v.ChangeID(key) == "" {
		return nil, fmt.Errorf("disk %s has no changeId (CBT not active): %w", key, ErrCBTReset)
	}
	if now := v.ChangeID(key); base != AllChanged && changeEpoch(now) != changeEpoch(base) {
		// Tracking restarted since base (CBT turned off and on again,
		// a backup tool's "CBT reset"): what was written meanwhile is
		// known to nobody, whatever an answer for base would say.
		return nil, fmt.Errorf("disk %s: changed block tracking was reset since the last pass (changeId %s, now %s): %w", key, base, now, ErrCBTReset)
	}
	devKey, _ := strconv.Atoi(key)
	var out []Extent
	for off := int64(0); off < d.Capacity; {
		res, err := methods.QueryChangedDiskAreas(ctx, v.s.Client, &types.QueryChangedDiskAreas{
			This: v.s.VM, Snapshot: v.snap, DeviceKey: int32(devKey), StartOffset: off, ChangeId: base})
		if err != nil {
			if cbtFault(err) {
				return nil, fmt.Errorf("disk %s: QueryChangedDiskAreas(%q) at %d: %v: %w", key, base, off, err, ErrCBTReset)
			}
			return nil, fmt.Errorf("disk %s: QueryChangedDiskAreas at %d: %w", key, off, err)
		}
		info := res.Returnval
		for _, a := range info.ChangedArea {
			out = append(out, Extent{a.Start, a.Length})
		}
		next := info.StartOffset + info.Length
		if next <= off {
			return nil, fmt.Errorf("disk %s: QueryChangedDiskAreas at %d made no progress", key, off)
		}
		off = next
	}
	out = normalize(out, d.Capacity)
	v.streams.setRuns(key, out, d.Capacity)
	return out, nil
}

// ReadAt implements Snapshot with a Range GET (host-direct, one GET may
// serve a run of reads: hoststream.go); the 206's Content-Range must match
// the request exactly.
func (v *vsSnapshot) ReadAt(ctx context.Context, key string, p []byte, off int64) error {
	if err := v.spaceErr(); err != nil {
		return err
	}
	d, ok := v.disks[key]
	if !ok {
		return fmt.Errorf("no disk %s", key)
	}
	if off < 0 || off+int64(len(p)) > d.Capacity {
		return fmt.Errorf("read %d bytes at %d beyond disk %s (%d bytes)", len(p), off, key, d.Capacity)
	}
	if v.host != nil {
		if done, err := v.streamRead(ctx, d, p, off); done {
			return v.explain(ctx, err)
		}
	}
	last := off + int64(len(p)) - 1
	return v.explain(ctx, v.get(ctx, d.ds, d.flat, fmt.Sprintf("bytes=%d-%d", off, last), func(res *http.Response) error {
		if err := checkRange(res, d.flat, off, last); err != nil {
			return err
		}
		if _, err := io.ReadFull(res.Body, p); err != nil {
			return fmt.Errorf("GET %s range %d-%d: %w", d.flat, off, last, err)
		}
		return nil
	}))
}

// Held implements heldSnapshot: ErrSnapshotRemoved when the pass snapshot
// no longer exists, ErrPoweredOnDuringFinal when a final pass's VM runs.
// Once a running VM's snapshot is removed, ESXi consolidates it into the
// base disk and the guest writes there: a /folder read then fails (the
// running VM locks the file), or a read already under way goes on with
// data from after the snapshot.
func (v *vsSnapshot) Held(ctx context.Context) error {
	vm, err := v.s.vm(ctx, "snapshot", "runtime.powerState")
	if err != nil {
		return fmt.Errorf("check that the pass snapshot of VM %s still exists: %w", v.vmName, err)
	}
	if v.snap == nil {
		if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
			return fmt.Errorf("%w: VM %s is %s: its disks changed while the final pass read them; the cutover cannot use this replica", ErrPoweredOnDuringFinal, v.vmName, vm.Runtime.PowerState)
		}
		// Powered on and off again meanwhile: vCenter's events say so.
		if !v.offSince.IsZero() {
			on, err := v.s.poweredOnSince(ctx, v.offSince)
			if err != nil {
				return fmt.Errorf("check that VM %s stayed powered off during the final pass: %w", v.vmName, err)
			}
			if !on.IsZero() {
				return fmt.Errorf("%w: VM %s was powered on at %s, and off again: its disks changed while the final pass read them; the cutover cannot use this replica", ErrPoweredOnDuringFinal, v.vmName, on.UTC().Format(time.RFC3339))
			}
		}
		return nil
	}
	found := false
	if vm.Snapshot != nil {
		snapshotTree(vm.Snapshot.RootSnapshotList, func(t types.VirtualMachineSnapshotTree) {
			found = found || t.Snapshot.Value == v.snap.Value
		})
	}
	if !found {
		return fmt.Errorf("%w: ferry's snapshot %s of VM %s was removed while the pass read it (not by this pass: a backup job's or an admin's snapshot cleanup, or another ferry working this VM?); nothing of this pass is committed; the next pass, in a new snapshot, sends again only what the VM wrote since where this one's data is durable at the receiver (all of it after a changed block tracking reset)", ErrSnapshotRemoved, v.snap.Value, v.vmName)
	}
	return nil
}

// poweredOnSince is when vCenter last recorded the VM powered on after
// since (zero: not since), from its events (VmPoweredOnEvent).
func (s *VSphereSource) poweredOnSince(ctx context.Context, since time.Time) (time.Time, error) {
	res, err := methods.QueryEvents(ctx, s.Client, &types.QueryEvents{
		This: *s.Client.ServiceContent.EventManager,
		Filter: types.EventFilterSpec{
			Entity: &types.EventFilterSpecByEntity{Entity: s.VM, Recursion: types.EventFilterSpecRecursionOptionSelf},
			Time:   &types.EventFilterSpecByTime{BeginTime: &since},
			// The class and its subclasses a DRS cluster and HA log
			// (the filter matches exact types).
			EventTypeId: []string{"VmPoweredOnEvent", "DrsVmPoweredOnEvent", "VmRestartedOnAlternateHostEvent"},
		},
	})
	if err != nil {
		return time.Time{}, err
	}
	var last time.Time
	for _, e := range res.Returnval {
		if t := e.GetEvent().CreatedTime; t.After(last) {
			last = t
		}
	}
	return last, nil
}

// explain returns why a read of the snapshot failed when its point in time
// no longer holds (Held), err otherwise.
func (v *vsSnapshot) explain(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	if herr := v.Held(ctx); errors.Is(herr, ErrSnapshotRemoved) || errors.Is(herr, ErrPoweredOnDuringFinal) {
		return fmt.Errorf("%w (the read failed: %v)", herr, err)
	}
	return err
}

// Release implements Snapshot: deletes the pass snapshot.
func (v *vsSnapshot) Release(ctx context.Context) error {
	v.stopWatch()
	v.streams.closeAll()
	if v.snap == nil {
		return nil
	}
	return v.s.removeSnapshot(ctx, *v.snap)
}

// Taken is when a snapshot a pass resumed in was taken (zero for one
// taken by this pass): the point in time its data is from.
func (s *vsSnapshot) Taken() time.Time { return s.taken }
