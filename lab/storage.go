package lab

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"golang.org/x/sys/unix"

	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/dsfile"
	"github.com/ferry-migrate/ferry/lab/simwrap"
)

// Storage as vCenter reports it. A datastore's free space is its capacity
// less what its files take on disk, and it shrinks as thin disks are
// written (stock vcsim reports every datastore as 1 TiB per host, all of
// it free, whatever is written). ESXi allocates a thin disk as it is
// written, in VMFS's 1 MiB file blocks (inFileBlocks): a datastore counts
// its thin disks' flat extents in those blocks (an NFS datastore, in what
// its server's file system takes), and a VM's storage layout lists each
// thin disk's extent at them, where vcsim lists its apparent size, the
// disk's capacity. Both
// are as of their last refresh, as in vCenter: the lab's start, then
// RefreshDatastore and RefreshStorageInfo. (Not on a timer: vcsim reads a
// datastore's summary without its lock, so a write in the background
// races its tasks.)

// DefaultDatastoreCapacity is a lab datastore's capacity unless its
// vCenter's spec says another.
const DefaultDatastoreCapacity = 2 << 40

type storage struct {
	reg      *simulator.Registry
	capacity atomic.Int64
	// deltas, when set, is what the snapshot deltas of the disks under a
	// datastore's directory take (cbt.Tracker.DeltaBytes): the lab keeps
	// no delta files.
	deltas atomic.Pointer[func(dir string) int64]
	// swaps, when set, is the swap its powered-on VMs take (swap.go).
	swaps atomic.Pointer[swaps]
	// nfs: by datastore directory, whether it is an NFS datastore (isNFS).
	nfs sync.Map
	// refreshes counts RefreshDatastore calls (DatastoreRefreshes).
	refreshes atomic.Int64

	// taken estimates, by datastore directory, what guest writes found
	// taken there (room): its last walk, plus what writes took since.
	takenMu sync.Mutex
	taken   map[string]takenEstimate
}

// used is what a datastore whose files are under dir has taken: its files
// and its VMs' snapshot deltas.
func (s *storage) used(dir string) int64 {
	n := allocatedUnder(dir, !s.isNFS(dir))
	if f := s.deltas.Load(); f != nil && dir != "" {
		n += (*f)(dir)
	}
	if w := s.swaps.Load(); w != nil && dir != "" {
		n += w.in(dir)
	}
	return n
}

// installStorage makes vc's datastores report capacity and the free space
// their files leave, and its VMs' thin extents the bytes they take.
func installStorage(vc *VCenter, capacity int64) *storage {
	s := &storage{reg: vc.Model.Map()}
	s.capacity.Store(capacity)
	simwrap.Wrap(s.reg, "Datastore", []string{"RefreshDatastore"}, func(ctx *simulator.Context, obj mo.Reference) mo.Reference {
		if ds, ok := obj.(*simulator.Datastore); ok {
			return &spaceDatastore{Datastore: ds, s: s, OwnEntity: simwrap.Entity(ctx, ds)}
		}
		return nil
	})
	simwrap.Wrap(s.reg, "VirtualMachine", []string{"RefreshStorageInfo"}, func(ctx *simulator.Context, obj mo.Reference) mo.Reference {
		if vm, ok := obj.(*simulator.VirtualMachine); ok {
			return &storageVM{VirtualMachine: vm, model: vc.Model, OwnEntity: simwrap.Entity(ctx, vm)}
		}
		return nil
	})
	s.refresh()
	return s
}

// SetDatastoreCapacity changes the capacity of every datastore of vc (an
// admin grew or shrank them), in bytes, as vCenter reports it from the
// next RefreshDatastore.
func (vc *VCenter) SetDatastoreCapacity(capacity int64) {
	vc.storage.capacity.Store(capacity)
}

// DatastoreUse is the named datastore's free space as the lab counts it
// now (its capacity less its files, snapshot deltas and running VMs' swap
// files) and what the swap files take of it; ok is false when vc has no
// datastore of that name.
func (vc *VCenter) DatastoreUse(name string) (free, swap int64, ok bool) {
	s := vc.storage
	for _, o := range s.reg.All("Datastore") {
		ds, isDS := o.(*simulator.Datastore)
		if !isDS {
			continue
		}
		var dsName, dir string
		s.reg.WithLock(&simulator.Context{Map: s.reg}, ds, func() { dsName, dir = ds.Name, ds.Info.GetDatastoreInfo().Url })
		if dsName != name {
			continue
		}
		if w := s.swaps.Load(); w != nil {
			swap = w.in(dir)
		}
		return max(s.capacity.Load()-s.used(dir), 0), swap, true
	}
	return 0, 0, false
}

// refresh sets every datastore's space (before the vCenter is used: see
// above).
func (s *storage) refresh() {
	for _, o := range s.reg.All("Datastore") {
		ds, ok := o.(*simulator.Datastore)
		if !ok {
			continue
		}
		var dir string
		ctx := &simulator.Context{Map: s.reg}
		s.reg.WithLock(ctx, ds, func() { dir = ds.Info.GetDatastoreInfo().Url })
		used := s.used(dir)
		s.reg.WithLock(ctx, ds, func() { s.setSpace(ds, used) })
	}
}

// setSpace sets ds's capacity and free space (its lock held).
func (s *storage) setSpace(ds *simulator.Datastore, used int64) {
	capacity := s.capacity.Load()
	free := max(capacity-used, 0)
	ds.Summary.Capacity, ds.Summary.FreeSpace = capacity, free
	info := ds.Info.GetDatastoreInfo()
	info.FreeSpace, info.MaxFileSize = free, capacity
	info.Timestamp = types.NewTime(time.Now())
}

// allocatedUnder is what the files under dir take on disk; with vmfs, the
// thin disks' flat extents in whole file blocks (inFileBlocks), as VMFS
// allocates them (an NFS datastore takes what the server's file system
// allocates).
func allocatedUnder(dir string, vmfs bool) int64 {
	var n int64
	if dir == "" {
		return 0
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if vmfs && strings.HasSuffix(d.Name(), "-flat.vmdk") {
			if b, err := inFileBlocks(p); err == nil {
				n += b
				return nil
			}
		}
		if info, err := d.Info(); err == nil {
			n += allocated(info)
		}
		return nil
	})
	return n
}

// isNFS says whether the datastore whose files are under dir is an NFS
// one (a datastore's type does not change once made).
func (s *storage) isNFS(dir string) bool {
	if v, ok := s.nfs.Load(dir); ok {
		return v.(bool)
	}
	nfs := false
	s.eachDir(func(_, d, typ string) bool {
		if d == dir {
			nfs = strings.HasPrefix(typ, "NFS")
		}
		return d != dir
	})
	s.nfs.Store(dir, nfs)
	return nfs
}

// allocated is what a file takes on disk (its apparent size where the
// platform does not say).
func allocated(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}

// fileBlock is VMFS6's file block (cbt.FileBlock).
const fileBlock = cbt.FileBlock

// inFileBlocks is what the file p takes in whole file blocks: those that
// hold data (SEEK_DATA / SEEK_HOLE), as a VM's storage layout reports a
// thin disk extent on VMFS; where the platform cannot say, what it
// allocated (allocated).
func inFileBlocks(p string) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := info.Size()
	var n, next int64 // blocks counted; the first block not counted yet
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if err != nil {
			if errors.Is(err, unix.ENXIO) {
				break // no data after off
			}
			return allocated(info), nil
		}
		hole, err := unix.Seek(int(f.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return allocated(info), nil
		}
		first, last := max(data/fileBlock, next), (hole-1)/fileBlock
		if last >= first {
			n += last - first + 1
			next = last + 1
		}
		off = hole
	}
	return n * fileBlock, nil
}

type spaceDatastore struct {
	*simulator.Datastore
	s *storage
	simwrap.OwnEntity
}

// DatastoreRefreshes is how many RefreshDatastore calls vc has answered
// (each makes a real vCenter ask its hosts): a test can see that a client
// does not refresh one datastore once per VM.
func (vc *VCenter) DatastoreRefreshes() int64 { return vc.storage.refreshes.Load() }

// RefreshDatastore is called with the datastore's lock held.
func (w *spaceDatastore) RefreshDatastore(ctx *simulator.Context, req *types.RefreshDatastore) (res soap.HasFault) {
	body := &methods.RefreshDatastoreBody{}
	defer simwrap.Recovered(&res, body, &body.Fault_)
	dir := w.Info.GetDatastoreInfo().Url
	if _, err := os.Stat(dir); err != nil {
		body.Fault_ = simulator.Fault(err.Error(), &types.HostConfigFault{})
		return body
	}
	w.s.refreshes.Add(1)
	w.s.setSpace(w.Datastore, w.s.used(dir))
	body.Res = &types.RefreshDatastoreResponse{}
	return body
}

type storageVM struct {
	*simulator.VirtualMachine
	model *simulator.Model
	simwrap.OwnEntity
}

// RefreshStorageInfo is called with the VM's lock held: vcsim's, then each
// disk extent at the bytes it takes.
func (w *storageVM) RefreshStorageInfo(ctx *simulator.Context, req *types.RefreshStorageInfo) (res soap.HasFault) {
	body := &methods.RefreshStorageInfoBody{}
	defer simwrap.Recovered(&res, body, &body.Fault_)
	if r := w.VirtualMachine.RefreshStorageInfo(ctx, req); r.Fault() != nil {
		return r
	}
	vm := w.VirtualMachine
	for i, f := range vm.LayoutEx.File {
		if f.Type != string(types.VirtualMachineFileLayoutExFileTypeDiskExtent) {
			continue
		}
		local, err := dsfile.Local(w.model, f.Name)
		if err != nil {
			continue
		}
		if n, err := inFileBlocks(local); err == nil {
			vm.LayoutEx.File[i].Size, vm.LayoutEx.File[i].UniqueSize = n, n
		}
	}
	body.Res = &types.RefreshStorageInfoResponse{}
	return body
}
