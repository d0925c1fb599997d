// Package cbt adds changed block tracking to a vcsim (govmomi simulator)
// model: changeIds on snapshots' disk backings, QueryChangedDiskAreas, a
// ranged PUT on the datastore /folder endpoint, and the write path the lab's
// guests write through.
//
// Usage (after m.Create(), before or after m.Service.NewServer()):
//
//	t := cbt.Install(m)
//	...
//	t.WriteAt(flatFile, p, off) // a guest write: ESXi sees it, so does the tracker
//	t.Reset(vmName)             // a CBT reset (host crash): old changeIds become invalid
//
// Emulation (docs/lab.md, "Changed block tracking"): vcsim disks are plain flat files and its
// snapshots freeze nothing; the tracker freezes a snapshotted VM's base
// (freeze.go: copy-on-write images, served to readers of the base) and
// names the snapshot's delta in the VM's disk backing (deltas.go). As
// ESXi's CBT filter does, the tracker records
// changes as they are written, never by reading the disk: every lab write
// into a source flat file goes through it (WriteAt for the guest workload,
// the ranged PUT, a whole-file PUT), and marks the written BlockSize blocks
// in the disk's open change set. At each CreateSnapshot of a VM with
// changeTrackingEnabled the open set of each disk is closed as the changes
// of a new epoch, and the disk backings' ChangeId becomes
// "52 <tracking-id>/<epoch>" before the snapshot copies the VM config.
// QueryChangedDiskAreas(snapshot, key, start, changeId) answers the union of
// the change sets after changeId's epoch up to the snapshot's (up to now,
// open set included, when snapshot is nil); "*" answers the disk's allocated
// areas (from the file system's extent map: SEEK_DATA / SEEK_HOLE, no data
// read), as vSphere answers a thin disk's. Both answer as of the snapshot
// asked about, as ESXi does (the guest writes into a delta since): for "*",
// the tracker notes the epoch in which a write first allocated a block that
// was a hole, and leaves out of a snapshot's answer the blocks allocated
// after it. As real vSphere's, an answer
// runs from StartOffset to the disk's end unless it holds MaxExtents
// extents: then it ends with its last one, so clients must loop on
// StartOffset+Length (one call misses the rest, as against real vSphere).
// Flat files shorter than their disk's capacity (vcsim creates them empty)
// are extended to it (sparse) at the first snapshot or query, as a real
// -flat.vmdk always has that size.
//
// Nothing may write a tracked flat file behind the tracker's back (ESXi sees
// every write of its VMs). Should something do it anyway, the tracker notices
// at the next snapshot or query (the file's size or modification time is not
// the one its own last write left) and does what ESXi does when it cannot
// vouch for its change log: a CBT reset, so the old changeIds are refused and
// the client falls back to a full compare instead of silently missing the
// write.
package cbt

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/dsfile"
	"github.com/ferry-migrate/ferry/lab/simwrap"
)

const (
	BlockSize = 64 << 10 // tracking granularity
	// FileBlock is VMFS6's file block: a thin disk takes space in whole
	// 1 MiB blocks, each allocated when first written (vSphere Storage,
	// "VMFS Datastores": VMFS6 uses 1 MB file blocks). The lab's datastores
	// holding thin disks behave like VMFS.
	FileBlock = 1 << 20
	// MaxExtents bounds the extents of one QueryChangedDiskAreas answer, as
	// real vSphere answers at most about 2,000 (kubevirt CDI PR 3534);
	// with fewer an answer covers the rest of the disk in one call.
	MaxExtents = 2000
	// MaxEpochs bounds the memory of a long-running lab: changes since an
	// older changeId are refused (clients fall back to a full compare).
	MaxEpochs = 256
)

var (
	maxEpochs  = MaxEpochs  // tests lower it
	maxExtents = MaxExtents // tests lower it
)

// Tracker holds the change sets of every tracked disk of one model.
type Tracker struct {
	model *simulator.Model

	mu      sync.Mutex
	disks   map[string]*disk   // by flat file path
	frozen  map[string]*frozen // snapshot images, by flat file path (freeze.go)
	snapSeq int64              // snapshots frozen so far
	stats   Stats
	// snapped holds the VMs that have a snapshot now, or a delta a
	// failed consolidation left (deltas.go).
	snapped map[types.ManagedObjectReference]bool
	// left counts, by VM, the deltas a snapshot removal whose
	// consolidation failed left under the VM's disks (deltas.go).
	left map[types.ManagedObjectReference]int
	// deltas keeps the VMs' disk chains (deltas.go).
	deltas *deltaHandler
}

// Stats counts what the tracker did: tests check with them that it tracks
// changes without reading the disks.
type Stats struct {
	// BytesRead is how many bytes of flat-file content the tracker read to
	// find changes or allocated areas (none: it tracks writes as they
	// happen and asks the file system for allocation).
	BytesRead int64
	// Writes and BytesWritten count the writes that went through the
	// tracker (WriteAt and the ranged PUT).
	Writes, BytesWritten int64
	// Epochs is how many change sets snapshots closed.
	Epochs int64
	// Untracked counts disks whose flat file was written behind the
	// tracker's back: each one's tracking was reset.
	Untracked int64
	// CopiedOnWrite is how many bytes writes saved into snapshot images
	// before overwriting them (freeze.go): the delta disks ESXi would write.
	CopiedOnWrite int64
}

type disk struct {
	id       string
	capacity int64
	// sets[i] holds the blocks written between epochs first+i-1 and
	// first+i, sorted (sets[0] is never read: no changeId before first).
	sets  [][]uint32
	first int      // epoch number of sets[0] (older ones were pruned)
	open  []uint64 // bitmap of the blocks written since the last epoch
	// born maps a block a tracked write found unallocated (a hole) to the
	// epoch of that write (last()+1 then): a snapshot of an older epoch
	// did not have it. Blocks absent were allocated before tracking began.
	born map[uint32]int
	// size and mtime of the flat file after the tracker's last write: a
	// different one means someone else wrote it.
	size  int64
	mtime time.Time
}

func newDisk(capacity int64) *disk {
	blocks := (capacity + BlockSize - 1) / BlockSize
	return &disk{id: uuid.NewString(), capacity: capacity, open: make([]uint64, (blocks+63)/64)}
}

func (d *disk) last() int { return d.first + len(d.sets) - 1 }

// mark records a write of [off, off+n) in the open change set.
func (d *disk) mark(off, n int64) {
	if n <= 0 {
		return
	}
	lo, hi := off/BlockSize, (off+n+BlockSize-1)/BlockSize
	for b := lo; b < hi && b/64 < int64(len(d.open)); b++ {
		d.open[b/64] |= 1 << (b % 64)
	}
}

func (d *disk) markAll() { d.mark(0, d.capacity) }

func (d *disk) isOpen(b int) bool { return b/64 < len(d.open) && d.open[b/64]&(1<<(b%64)) != 0 }

// close turns the open change set into the change set of a new epoch.
func (d *disk) close() {
	var set []uint32
	for w, bits := range d.open {
		for bits != 0 {
			i := 0
			for bits&(1<<i) == 0 {
				i++
			}
			set = append(set, uint32(w*64+i))
			bits &^= 1 << i
		}
		d.open[w] = 0
	}
	d.sets = append(d.sets, set)
	if len(d.sets) > maxEpochs {
		d.sets[0] = nil
		d.sets = d.sets[1:]
		d.first++
		// Every snapshot still answered is of epoch first or later.
		for b, e := range d.born {
			if e <= d.first {
				delete(d.born, b)
			}
		}
	}
}

// noteHoles records, before a write of [off, off+n) into f, the blocks it
// will allocate (holes so far) as born in the open epoch. It asks the file
// system's extent map; it reads no data.
func (d *disk) noteHoles(f *os.File, off, n int64) {
	for b := off / BlockSize; b*BlockSize < off+n; b++ {
		if _, ok := d.born[uint32(b)]; ok {
			continue
		}
		if data, ok := NextData(f, b*BlockSize); ok && data < (b+1)*BlockSize {
			continue // allocated already
		}
		if d.born == nil {
			d.born = map[uint32]int{}
		}
		d.born[uint32(b)] = d.last() + 1
	}
}

// allocatedAt reports whether block b, allocated now, was allocated as of
// epoch e.
func (d *disk) allocatedAt(b int64, e int) bool {
	born, ok := d.born[uint32(b)]
	return !ok || born <= e
}

// Install adds the extension to m (which must have been created).
func Install(m *simulator.Model) *Tracker {
	t := &Tracker{model: m, disks: map[string]*disk{}}
	reg := m.Map()
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			if req, ok := method.Body.(*types.ReconfigVM_Task); ok && method.This.Type == "VirtualMachine" &&
				req.Spec.ChangeTrackingEnabled != nil && !*req.Spec.ChangeTrackingEnabled {
				// Turning CBT off deletes the disks' change tracking files:
				// writes while it is off are tracked by nobody, and turned
				// on again it starts anew (a new tracking id), so no
				// changeId of before is answered (VDDK Programming Guide,
				// "About Changed Block Tracking").
				if vm, ok := ctx.Map.Get(method.This).(*simulator.VirtualMachine); ok {
					_ = t.Reset(vm.Name)
				}
			}
			if method.This.Type == "VirtualMachine" {
				switch method.Name {
				case "QueryChangedDiskAreas", "CreateSnapshot_Task", "CreateSnapshotEx_Task":
					if vm, ok := ctx.Map.Get(method.This).(*simulator.VirtualMachine); ok {
						w := &trackedVM{OwnEntity: simwrap.Entity(ctx, vm), VirtualMachine: vm, t: t}
						// A logged-in session's registry wins over the handler.
						simwrap.Put(ctx, w)
						return w, nil
					}
				default:
					if ctx.Session != nil {
						if _, ok := ctx.Session.Registry.Get(method.This).(*trackedVM); ok {
							ctx.Session.Registry.Remove(ctx, method.This)
						}
					}
				}
			}
			if prev != nil {
				return prev(ctx, method)
			}
			return nil, nil
		}
	})
	t.deltas = &deltaHandler{t: t, made: map[string]bool{}}
	t.deltas.install(reg)
	reg.AddHandler(&powerOnImages{t: t, self: types.ManagedObjectReference{Type: "FerryLabPowerOnImages", Value: "power-on-images"}})
	if m.Service.ServeMux == nil {
		m.Service.ServeMux = http.NewServeMux()
	}
	m.Service.Handle("PUT /folder/", http.HandlerFunc(t.servePut))
	return t
}

// Stats returns the tracker's counters.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

// WriteAt writes p at off into the flat file at path (a local path, as the
// lab's datastore directories hold them), the way a guest's write reaches
// the disk through ESXi: the tracker records the blocks it touches. It
// never extends the file past its disk's capacity.
func (t *Tracker) WriteAt(file string, p []byte, off int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.disks[path.Clean(file)]
	if d != nil && off+int64(len(p)) > d.capacity {
		return fmt.Errorf("write of %d bytes at %d: past the end of the %d-byte disk %s", len(p), off, d.capacity, file)
	}
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if d != nil {
		t.checkLocked(file, d)
	}
	// A snapshot froze the base: what this write overwrites goes to the
	// snapshot's images first.
	if err := t.cow(file, f, off, int64(len(p))); err != nil {
		return err
	}
	if d := t.disks[path.Clean(file)]; d != nil {
		d.noteHoles(f, off, int64(len(p)))
	}
	if _, err := f.WriteAt(p, off); err != nil {
		return err
	}
	t.stats.Writes++
	t.stats.BytesWritten += int64(len(p))
	if d := t.disks[path.Clean(file)]; d != nil {
		d.mark(off, int64(len(p)))
		return d.baseline(f)
	}
	return nil
}

// baseline records the file's size and time after a write of the tracker.
func (d *disk) baseline(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	d.size, d.mtime = fi.Size(), fi.ModTime()
	return nil
}

// checkLocked resets the tracking of the disk at p if its flat file was
// written behind the tracker's back (see the package doc). t.mu is held.
func (t *Tracker) checkLocked(p string, d *disk) {
	fi, err := os.Stat(p)
	if err == nil && fi.Size() == d.size && fi.ModTime().Equal(d.mtime) {
		return
	}
	delete(t.disks, p)
	t.stats.Untracked++
}

// Reset forgets the tracking of every disk of the named VM, as a CBT reset
// does: previously issued changeIds become invalid.
func (t *Tracker) Reset(vmName string) error {
	vm := t.findVM(vmName)
	if vm == nil {
		return fmt.Errorf("cbt reset: no VM %q", vmName)
	}
	var files []string
	t.model.Map().WithLock(&simulator.Context{}, vm, func() { files = t.flatFiles(vm) })
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range files {
		delete(t.disks, p)
	}
	return nil
}

func (t *Tracker) findVM(name string) *simulator.VirtualMachine {
	for _, o := range t.model.Map().All("VirtualMachine") {
		if vm, ok := o.(*simulator.VirtualMachine); ok && vm.Name == name {
			return vm
		}
	}
	return nil
}

// flatPath maps "[ds] dir/x.vmdk" to the local path of the flat extent its
// descriptor names ("" when it names none).
func (t *Tracker) flatPath(fileName string) string {
	p, err := dsfile.Flat(t.model, fileName)
	if err != nil {
		return ""
	}
	return p
}

func flatBackings(devices []types.BaseVirtualDevice) map[int32]*types.VirtualDiskFlatVer2BackingInfo {
	out := map[int32]*types.VirtualDiskFlatVer2BackingInfo{}
	for _, d := range devices {
		if vd, ok := d.(*types.VirtualDisk); ok {
			if b, ok := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				out[vd.Key] = b
			}
		}
	}
	return out
}

func diskCapacity(devices []types.BaseVirtualDevice, key int32) int64 {
	for _, d := range devices {
		if vd, ok := d.(*types.VirtualDisk); ok && vd.Key == key {
			if vd.CapacityInBytes != 0 {
				return vd.CapacityInBytes
			}
			return vd.CapacityInKB * 1024
		}
	}
	return 0
}

// ensureSize extends a flat file to the disk's capacity: vcsim creates flat
// files empty, a real -flat.vmdk always has the capacity's size. A tracked
// disk's baseline follows.
func (t *Tracker) ensureSize(p string, capacity int64) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.Size() >= capacity {
		return nil
	}
	if err := os.Truncate(p, capacity); err != nil {
		return err
	}
	if d := t.disks[p]; d != nil {
		if fi, err = os.Stat(p); err != nil {
			return err
		}
		d.size, d.mtime = fi.Size(), fi.ModTime()
	}
	return nil
}

// Grow records that the disk whose flat file is at p was extended to
// capacity bytes (the file already has that size, or gets it here), as
// ESXi's CBT does since 6.0: its changeIds stay valid and the new area is
// not a change until something writes it. An extension is not a write
// behind the tracker's back. undo puts the file's size and the tracking
// back as they were, for a call vCenter then refused (an extension that
// did not happen; tracking stays valid).
func (t *Tracker) Grow(p string, capacity int64) (undo func(), err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p = path.Clean(p)
	d := t.disks[p]
	if d != nil {
		t.checkLocked(p, d)
		d = t.disks[p]
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	size, old, blocks := fi.Size(), int64(0), 0
	if d != nil {
		old, blocks = d.capacity, len(d.open)
	}
	undo = func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		cut := false
		if fi, err := os.Stat(p); err == nil && fi.Size() > size {
			cut = os.Truncate(p, size) == nil
		}
		if d := t.disks[p]; d != nil {
			if d.capacity > old && old > 0 {
				d.capacity, d.open = old, d.open[:min(len(d.open), blocks)]
			}
			if fi, err := os.Stat(p); err == nil && cut {
				d.size, d.mtime = fi.Size(), fi.ModTime()
			}
		}
	}
	if err := t.ensureSize(p, capacity); err != nil {
		return nil, err
	}
	if d == nil || capacity <= d.capacity {
		return undo, nil
	}
	d.capacity = capacity
	n := (capacity + BlockSize - 1) / BlockSize
	for int64(len(d.open)) < (n+63)/64 {
		d.open = append(d.open, 0)
	}
	if fi, err = os.Stat(p); err != nil {
		return nil, err
	}
	d.size, d.mtime = fi.Size(), fi.ModTime()
	return undo, nil
}

func (t *Tracker) flatFiles(vm *simulator.VirtualMachine) []string {
	var out []string
	for _, b := range flatBackings(vm.Config.Hardware.Device) {
		out = append(out, t.flatPath(BaseFile(b)))
	}
	return out
}

// epoch closes the open change set of every tracked disk of vm as a new
// epoch and sets the backings' ChangeId (the snapshot being created copies
// them). A disk seen for the first time starts its tracking here.
func (t *Tracker) epoch(vm *simulator.VirtualMachine) error {
	if vm.Config.ChangeTrackingEnabled == nil || !*vm.Config.ChangeTrackingEnabled {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for key, b := range flatBackings(vm.Config.Hardware.Device) {
		p := t.flatPath(BaseFile(b))
		capacity := diskCapacity(vm.Config.Hardware.Device, key)
		if d := t.disks[p]; d != nil {
			t.checkLocked(p, d)
		}
		if err := t.ensureSize(p, capacity); err != nil {
			return err
		}
		d := t.disks[p]
		if d == nil {
			d = newDisk(capacity)
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			d.size, d.mtime = fi.Size(), fi.ModTime()
			t.disks[p] = d
		}
		d.close()
		t.stats.Epochs++
		b.ChangeId = fmt.Sprintf("52 %s/%d", d.id, d.last())
	}
	return nil
}

type trackedVM struct {
	*simulator.VirtualMachine
	t *Tracker
	simwrap.OwnEntity
}

func internalFault(v any) *soap.Fault {
	return simulator.Fault(fmt.Sprintf("cbt extension: %v", v), &types.SystemError{Reason: fmt.Sprint(v)})
}

// CreateSnapshotTask records an epoch, then creates the snapshot.
func (w *trackedVM) CreateSnapshotTask(ctx *simulator.Context, req *types.CreateSnapshot_Task) (res soap.HasFault) {
	defer func() {
		if r := recover(); r != nil {
			res = &methods.CreateSnapshot_TaskBody{Fault_: internalFault(r)}
		}
	}()
	if err := w.t.epoch(w.VirtualMachine); err != nil {
		return &methods.CreateSnapshot_TaskBody{Fault_: simulator.Fault(err.Error(), &types.FileFault{})}
	}
	w.t.freeze(w.VirtualMachine)
	return w.VirtualMachine.CreateSnapshotTask(ctx, req)
}

// CreateSnapshotExTask records an epoch, then creates the snapshot.
func (w *trackedVM) CreateSnapshotExTask(ctx *simulator.Context, req *types.CreateSnapshotEx_Task) (res soap.HasFault) {
	defer func() {
		if r := recover(); r != nil {
			res = &methods.CreateSnapshotEx_TaskBody{Fault_: internalFault(r)}
		}
	}()
	if err := w.t.epoch(w.VirtualMachine); err != nil {
		return &methods.CreateSnapshotEx_TaskBody{Fault_: simulator.Fault(err.Error(), &types.FileFault{})}
	}
	w.t.freeze(w.VirtualMachine)
	return w.VirtualMachine.CreateSnapshotExTask(ctx, req)
}

func parseChangeID(s string) (id string, n int, ok bool) {
	rest, found := strings.CutPrefix(s, "52 ")
	if !found {
		return "", 0, false
	}
	id, num, found := strings.Cut(rest, "/")
	if !found {
		return "", 0, false
	}
	n, err := strconv.Atoi(num)
	return id, n, err == nil && n >= 0
}

// QueryChangedDiskAreas answers changed areas as described in the package doc.
func (w *trackedVM) QueryChangedDiskAreas(ctx *simulator.Context, req *types.QueryChangedDiskAreas) (res soap.HasFault) {
	body := &methods.QueryChangedDiskAreasBody{}
	defer func() {
		if r := recover(); r != nil {
			body.Fault_ = internalFault(r)
			res = body
		}
	}()
	info, fault := w.t.query(ctx, w.VirtualMachine, req)
	if fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	body.Res = &types.QueryChangedDiskAreasResponse{Returnval: *info}
	return body
}

func (t *Tracker) query(ctx *simulator.Context, vm *simulator.VirtualMachine, req *types.QueryChangedDiskAreas) (*types.DiskChangeInfo, types.BaseMethodFault) {
	if vm.Config.ChangeTrackingEnabled == nil || !*vm.Config.ChangeTrackingEnabled {
		return nil, &types.FileFault{File: "noTrack: change tracking is not enabled on " + vm.Name}
	}
	devices := vm.Config.Hardware.Device
	if req.Snapshot != nil {
		snap, ok := ctx.Map.Get(*req.Snapshot).(*simulator.VirtualMachineSnapshot)
		if !ok {
			return nil, &types.ManagedObjectNotFound{Obj: *req.Snapshot}
		}
		devices = snap.Config.Hardware.Device
	}
	b := flatBackings(devices)[req.DeviceKey]
	capacity := diskCapacity(devices, req.DeviceKey)
	if b == nil {
		return nil, &types.InvalidArgument{InvalidProperty: "deviceKey"}
	}
	if req.StartOffset < 0 || req.StartOffset >= capacity {
		return nil, &types.InvalidArgument{InvalidProperty: "startOffset"}
	}
	p := t.flatPath(BaseFile(b))
	t.mu.Lock()
	defer t.mu.Unlock()
	if d := t.disks[p]; d != nil {
		t.checkLocked(p, d)
	}
	if err := t.ensureSize(p, capacity); err != nil {
		return nil, &types.FileFault{File: p}
	}
	lo, hi := req.StartOffset/BlockSize, (capacity+BlockSize-1)/BlockSize
	d := t.disks[p]
	// target is the epoch the answer runs to: the snapshot's, or the open
	// change set (now) when there is no snapshot.
	target := -1
	if req.Snapshot != nil {
		id, n, ok := parseChangeID(b.ChangeId)
		if !ok || d == nil || id != d.id || n < d.first || n > d.last() {
			return nil, &types.FileFault{File: "noEpoch: snapshot " + req.Snapshot.Value + " has no tracking epoch"}
		}
		target = n
	}
	// changed: a bitmap of the blocks [lo, hi) to answer.
	changed := make([]uint64, (hi-lo+63)/64)
	mark := func(blk int64) {
		if k := blk - lo; k >= 0 && k < hi-lo {
			changed[k/64] |= 1 << (k % 64)
		}
	}
	if req.ChangeId == "*" {
		ranges, err := allocated(p, lo*BlockSize, hi*BlockSize)
		if err != nil {
			return nil, &types.FileFault{File: p}
		}
		for _, r := range ranges {
			for i := r[0] / BlockSize; i < (r[1]+BlockSize-1)/BlockSize; i++ {
				// For a snapshot: as of it, not the guest's writes since.
				if target < 0 || d.allocatedAt(i, target) {
					mark(i)
				}
			}
		}
	} else {
		id, n, ok := parseChangeID(req.ChangeId)
		if !ok || d == nil || id != d.id || n < d.first || n > d.last() || (target >= 0 && n > target) {
			return nil, &types.InvalidArgument{InvalidProperty: "changeId"}
		}
		to := target
		if to < 0 {
			to = d.last()
			for i := lo; i < hi; i++ {
				if d.isOpen(int(i)) {
					mark(i)
				}
			}
		}
		for e := n + 1; e <= to; e++ {
			set := d.sets[e-d.first]
			for j := sort.Search(len(set), func(j int) bool { return int64(set[j]) >= lo }); j < len(set) && int64(set[j]) < hi; j++ {
				mark(int64(set[j]))
			}
		}
	}
	info := &types.DiskChangeInfo{StartOffset: req.StartOffset, Length: capacity - req.StartOffset}
	for k := int64(0); k < hi-lo; k++ {
		if changed[k/64]&(1<<(k%64)) == 0 {
			continue
		}
		i := lo + k
		s, e := max(i*BlockSize, req.StartOffset), min((i+1)*BlockSize, capacity)
		n := len(info.ChangedArea)
		if n > 0 && info.ChangedArea[n-1].Start+info.ChangedArea[n-1].Length == s {
			info.ChangedArea[n-1].Length += e - s
			continue
		}
		if n == maxExtents {
			// Full: the answer ends with its last extent.
			last := info.ChangedArea[n-1]
			info.Length = last.Start + last.Length - req.StartOffset
			break
		}
		info.ChangedArea = append(info.ChangedArea, types.DiskChangeExtent{Start: s, Length: e - s})
	}
	return info, nil
}

// errNoExtentMap: the file system cannot say where a file's data is.
var errNoExtentMap = errors.New("no SEEK_DATA")

// allocated lists the allocated [start, end) ranges of the file within
// [from, to), from the file system's extent map (no data read). Where the
// file system cannot tell, all of [from, to) counts as allocated, as a thick
// disk's would.
func allocated(p string, from, to int64) ([][2]int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][2]int64
	for off := from; off < to; {
		data, err := seekData(f, off)
		if errors.Is(err, errNoExtentMap) {
			return [][2]int64{{from, to}}, nil
		}
		if errors.Is(err, syscall.ENXIO) || (err == nil && data >= to) { // no data after off
			break
		}
		if err != nil { // unknown: count it all, never less
			return [][2]int64{{from, to}}, nil
		}
		hole, err := seekHole(f, data)
		if err != nil {
			return [][2]int64{{from, to}}, nil
		}
		out = append(out, [2]int64{data, min(hole, to)})
		off = hole
	}
	return out, nil
}

// servePut writes a PUT into a datastore file. With Content-Range it writes
// at the offset (the stock handler replaces the whole file); other PUTs go
// to the stock handler. Either way a tracked disk's change set records the
// write, as ESXi's would.
func (t *Tracker) servePut(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "..") {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	name := r.URL.Query().Get("dsName")
	var dir string
	for _, o := range t.model.Map().All("Datastore") {
		if ds, ok := o.(*simulator.Datastore); ok && (ds.Name == name || name == "") {
			dir = ds.Info.GetDatastoreInfo().Url
			break
		}
	}
	p := ""
	if dir != "" {
		p = path.Join(dir, strings.TrimPrefix(r.URL.Path, "/folder/"))
	}
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		t.model.Service.ServeDatastore(w, r)
		// The whole file was replaced: every block of a tracked disk changed.
		t.mu.Lock()
		delete(t.frozen, p) // replaced: no image of it is known any more
		if d := t.disks[p]; d != nil {
			d.markAll()
			// What the old file held is unknown: "*" for older snapshots
			// answers what the new one holds (more, never less).
			d.born = nil
			if f, err := os.Open(p); err == nil {
				_ = d.baseline(f)
				f.Close()
			}
		}
		t.mu.Unlock()
		return
	}
	var start, end, total int64
	if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &start, &end, &total); err != nil {
		if _, err := fmt.Sscanf(cr, "bytes %d-%d/*", &start, &end); err != nil || end < start {
			http.Error(w, "bad Content-Range", http.StatusBadRequest)
			return
		}
	}
	if dir == "" {
		http.Error(w, "no such datastore", http.StatusNotFound)
		return
	}
	if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// Streamed in chunks, each written as one write of the disk.
	buf := make([]byte, 1<<20)
	for off, left := start, end-start+1; left > 0; {
		n, err := io.ReadFull(r.Body, buf[:min(left, int64(len(buf)))])
		if err != nil {
			http.Error(w, fmt.Sprintf("short body at %d of %d bytes: %v", off-start, end-start+1, err), http.StatusBadRequest)
			return
		}
		if err := t.putAt(p, buf[:n], off); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		off, left = off+int64(n), left-int64(n)
	}
	w.WriteHeader(http.StatusNoContent)
}

// putAt writes a ranged PUT: through WriteAt for a tracked disk, else
// creating the file if needed.
func (t *Tracker) putAt(p string, b []byte, off int64) error {
	t.mu.Lock()
	tracked := t.disks[p] != nil
	t.mu.Unlock()
	if tracked {
		return t.WriteAt(p, b, off)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt(b, off)
	return err
}

// NextData is the offset of the first allocated byte of f at or after off
// (SEEK_DATA), and false when f holds no data from off on. A file system
// without an extent map answers off itself (everything counts as data).
func NextData(f *os.File, off int64) (int64, bool) {
	n, err := seekData(f, off)
	switch {
	case err == nil:
		return n, true
	case errors.Is(err, syscall.ENXIO):
		return 0, false
	}
	return off, true
}
