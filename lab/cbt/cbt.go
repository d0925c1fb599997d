// Package cbt adds changed block tracking to a vcsim (govmomi simulator)
// model: changeIds on snapshots' disk backings, QueryChangedDiskAreas, and a
// ranged PUT on the datastore /folder endpoint.
//
// Usage (after m.Create(), before or after m.Service.NewServer()):
//
//	t := cbt.Install(m)
//	...
//	t.Reset(vmName) // simulate a CBT reset (host crash): old changeIds become invalid
//
// Emulation (docs/vcsim-lab.md): vcsim disks are plain flat files and
// snapshots freeze nothing. At each CreateSnapshot of a VM with
// changeTrackingEnabled, the tracker hashes every BlockSize block of each
// disk's -flat.vmdk (an epoch) and sets the disk backings' ChangeId to
// "52 <tracking-id>/<epoch>" before the snapshot copies the VM config.
// QueryChangedDiskAreas(snapshot, key, start, changeId) answers the blocks
// that differ between any two consecutive epochs from changeId's epoch to the
// snapshot's (or to the live file when snapshot is nil); "*" answers non-zero
// blocks. Each answer covers at most Window bytes, so clients must loop on
// StartOffset+Length as against real vSphere. Flat files shorter than their
// disk's capacity (vcsim creates them empty) are extended to it (sparse) at
// the first snapshot or query, as a real -flat.vmdk always has that size.
package cbt

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/zeebo/xxh3"

	"github.com/ferry-migrate/ferry/lab/simwrap"
)

const (
	BlockSize = 64 << 10 // tracking granularity
	Window    = 16 << 20 // bytes of disk covered by one QueryChangedDiskAreas answer
	// MaxEpochs bounds the memory of a long-running lab: changes since an
	// older changeId are refused (clients fall back to a full compare).
	MaxEpochs = 256
)

var maxEpochs = MaxEpochs // tests lower it

// Tracker holds the epochs of every tracked disk of one model.
type Tracker struct {
	model *simulator.Model

	mu    sync.Mutex
	disks map[string]*disk // by flat file path
}

type disk struct {
	id     string     // tracking id, new after Reset
	epochs [][]uint64 // block hashes at each snapshot, oldest first
	first  int        // epoch number of epochs[0] (older ones were pruned)
}

// Install adds the extension to m (which must have been created).
func Install(m *simulator.Model) *Tracker {
	t := &Tracker{model: m, disks: map[string]*disk{}}
	reg := m.Map()
	prev := reg.Handler
	reg.Handler = func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
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
	if m.Service.ServeMux == nil {
		m.Service.ServeMux = http.NewServeMux()
	}
	m.Service.Handle("PUT /folder/", http.HandlerFunc(t.servePut))
	return t
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

// flatPath maps "[ds] dir/x.vmdk" to the local path of dir/x-flat.vmdk.
func (t *Tracker) flatPath(fileName string) string {
	var p object.DatastorePath
	if !p.FromString(fileName) {
		return ""
	}
	for _, o := range t.model.Map().All("Datastore") {
		if ds, ok := o.(*simulator.Datastore); ok && ds.Name == p.Datastore {
			return path.Join(ds.Info.GetDatastoreInfo().Url, simulator.VirtualDiskBackingFileName(p.Path))
		}
	}
	return ""
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
// files empty, a real -flat.vmdk always has the capacity's size.
func ensureSize(p string, capacity int64) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.Size() < capacity {
		return os.Truncate(p, capacity)
	}
	return nil
}

func (t *Tracker) flatFiles(vm *simulator.VirtualMachine) []string {
	var out []string
	for _, b := range flatBackings(vm.Config.Hardware.Device) {
		out = append(out, t.flatPath(b.FileName))
	}
	return out
}

func hashFile(p string) ([]uint64, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hs []uint64
	buf := make([]byte, BlockSize)
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			hs = append(hs, xxh3.Hash(buf[:n]))
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return hs, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// epoch records a new epoch for every tracked disk of vm and sets the
// backings' ChangeId (the snapshot being created copies them).
func (t *Tracker) epoch(vm *simulator.VirtualMachine) error {
	if vm.Config.ChangeTrackingEnabled == nil || !*vm.Config.ChangeTrackingEnabled {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for key, b := range flatBackings(vm.Config.Hardware.Device) {
		p := t.flatPath(b.FileName)
		if err := ensureSize(p, diskCapacity(vm.Config.Hardware.Device, key)); err != nil {
			return err
		}
		hs, err := hashFile(p)
		if err != nil {
			return err
		}
		d := t.disks[p]
		if d == nil {
			d = &disk{id: uuid.NewString()}
			t.disks[p] = d
		}
		d.epochs = append(d.epochs, hs)
		if len(d.epochs) > maxEpochs {
			d.epochs[0] = nil
			d.epochs = d.epochs[1:]
			d.first++
		}
		b.ChangeId = fmt.Sprintf("52 %s/%d", d.id, d.first+len(d.epochs)-1)
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
	p := t.flatPath(b.FileName)
	if err := ensureSize(p, capacity); err != nil {
		return nil, &types.FileFault{File: p}
	}
	end := min(req.StartOffset+Window, capacity)
	lo, hi := int(req.StartOffset/BlockSize), int((end+BlockSize-1)/BlockSize)
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.disks[p]
	// chain holds, for the blocks [lo, hi) of this answer only, the epochs
	// from the oldest to the target (the snapshot's, or the live file's).
	var chain [][]uint64
	if d != nil {
		for _, e := range d.epochs {
			chain = append(chain, window(e, lo, hi))
		}
	}
	if req.Snapshot != nil {
		id, n, ok := parseChangeID(b.ChangeId)
		if !ok || d == nil || id != d.id || n < d.first || n-d.first >= len(d.epochs) {
			return nil, &types.FileFault{File: "noEpoch: snapshot " + req.Snapshot.Value + " has no tracking epoch"}
		}
		chain = chain[:n-d.first+1]
	} else {
		live, err := hashRange(p, lo, hi)
		if err != nil {
			return nil, &types.FileFault{File: p}
		}
		chain = append(chain, live)
	}
	target := chain[len(chain)-1]
	changed := make([]bool, hi-lo)
	if req.ChangeId == "*" {
		zero := xxh3.Hash(make([]byte, BlockSize))
		for i, h := range target {
			changed[i] = h != zero && h != 0
		}
	} else {
		id, n, ok := parseChangeID(req.ChangeId)
		if !ok || d == nil || id != d.id || n < d.first || n-d.first >= len(chain) {
			return nil, &types.InvalidArgument{InvalidProperty: "changeId"}
		}
		for e := n - d.first; e+1 < len(chain); e++ {
			for i := range changed {
				if chain[e][i] != chain[e+1][i] {
					changed[i] = true
				}
			}
		}
	}
	info := &types.DiskChangeInfo{StartOffset: req.StartOffset, Length: end - req.StartOffset}
	for k, c := range changed {
		if !c {
			continue
		}
		i := int64(lo + k)
		s, e := max(i*BlockSize, req.StartOffset), min((i+1)*BlockSize, end)
		if n := len(info.ChangedArea); n > 0 && info.ChangedArea[n-1].Start+info.ChangedArea[n-1].Length == s {
			info.ChangedArea[n-1].Length += e - s
			continue
		}
		info.ChangedArea = append(info.ChangedArea, types.DiskChangeExtent{Start: s, Length: e - s})
	}
	return info, nil
}

// window returns hs[lo:hi], with 0 (a block past the end of a shorter file)
// for missing entries.
func window(hs []uint64, lo, hi int) []uint64 {
	out := make([]uint64, hi-lo)
	for i := lo; i < hi && i < len(hs); i++ {
		out[i-lo] = hs[i]
	}
	return out
}

// hashRange hashes the blocks [lo, hi) of the file (0 past its end).
func hashRange(p string, lo, hi int) ([]uint64, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := make([]uint64, hi-lo)
	buf := make([]byte, BlockSize)
	for i := lo; i < hi; i++ {
		n, err := f.ReadAt(buf, int64(i)*BlockSize)
		if err != nil && err != io.EOF {
			return nil, err
		}
		if n > 0 {
			out[i-lo] = xxh3.Hash(buf[:n])
		}
	}
	return out, nil
}

// servePut writes a PUT with Content-Range at its offset (the stock handler
// replaces the whole file); other PUTs go to the stock handler.
func (t *Tracker) servePut(w http.ResponseWriter, r *http.Request) {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		t.model.Service.ServeDatastore(w, r)
		return
	}
	var start, end, total int64
	if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &start, &end, &total); err != nil {
		if _, err := fmt.Sscanf(cr, "bytes %d-%d/*", &start, &end); err != nil || end < start {
			http.Error(w, "bad Content-Range", http.StatusBadRequest)
			return
		}
	}
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
	if dir == "" {
		http.Error(w, "no such datastore", http.StatusNotFound)
		return
	}
	p := path.Join(dir, strings.TrimPrefix(r.URL.Path, "/folder/"))
	if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	n, err := io.Copy(io.NewOffsetWriter(f, start), io.LimitReader(r.Body, end-start+1))
	if err == nil && n != end-start+1 {
		err = fmt.Errorf("short body: %d of %d bytes", n, end-start+1)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
