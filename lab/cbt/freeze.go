package cbt

import (
	"io"
	"os"
	"path"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// Snapshots freeze a disk's base. Once a VM has a snapshot, ESXi writes the
// guest's changes into a delta disk, and the base (-flat.vmdk) keeps what it
// held at the snapshot: that is what a reader of the base (the datastore
// /folder endpoint) gets. vcsim creates no delta disk, so the tracker plays
// it: each CreateSnapshot opens an image of each of the VM's flat files,
// and every write through the tracker first saves the blocks it overwrites
// into the images that do not hold them yet (copy-on-write). While the VM
// has a snapshot, Reader serves a flat file as of the first snapshot of the
// VM's current snapshot chain. Images outlive their snapshot (the last
// MaxImages per disk, within MaxImageBytes of saved blocks): Images lets the
// lab's guest model ask whether a disk holds the source as of one of its
// snapshots, i.e. a consistent replication pass.
const (
	MaxImages     = 8
	MaxImageBytes = 256 << 20
)

// image is a flat file as of one snapshot.
type image struct {
	seq   int64            // the snapshot's number: the images of one snapshot share it
	saved map[int64][]byte // BlockSize block index -> its content at the snapshot
	// chain is set on an image taken when the VM had no snapshot: the base
	// is frozen at it until the VM has no snapshot again.
	chain bool
	// overwritten counts the saved blocks that held data (were not holes)
	// when saved: what ESXi's delta takes beyond what the base grows by.
	overwritten int64
}

// frozen is the images of one flat file, oldest first.
type frozen struct {
	vm     types.ManagedObjectReference
	size   int64
	images []*image
	bytes  int64 // saved bytes, all images (shared blocks counted once per image)
}

// freeze opens an image of each flat file of vm (held by the caller, in
// CreateSnapshot, before the snapshot is taken).
func (t *Tracker) freeze(vm *simulator.VirtualMachine) {
	// A delta a failed consolidation left keeps the base frozen at the
	// chain it began: a snapshot taken over it starts no new chain.
	t.mu.Lock()
	left := t.left[vm.Self] > 0
	t.mu.Unlock()
	t.image(vm, !left && (vm.Snapshot == nil || len(vm.Snapshot.RootSnapshotList) == 0), true)
}

// image opens an image of each flat file of vm (held by the caller) as it
// is now; chain: the base is frozen at it (a snapshot's, taken when the VM
// had none), otherwise it is only kept for Images (powerOnImages); first:
// a disk that has no image yet gets one (a snapshot's), otherwise only
// disks with images do (a power-on's).
func (t *Tracker) image(vm *simulator.VirtualMachine, chain, first bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.frozen == nil {
		t.frozen = map[string]*frozen{}
	}
	t.snapSeq++
	for key, b := range flatBackings(vm.Config.Hardware.Device) {
		p := t.flatPath(BaseFile(b))
		if p == "" {
			continue
		}
		fz := t.frozen[p]
		if fz == nil && !first {
			// Only the disks of VMs that were ever snapshotted (their
			// replicas are what the guest model compares): a lab of 100
			// VMs keeps no image of the others.
			continue
		}
		if fz == nil {
			fz = &frozen{vm: vm.Self}
			t.frozen[p] = fz
		}
		fz.size = diskCapacity(vm.Config.Hardware.Device, key)
		fz.images = append(fz.images, &image{seq: t.snapSeq, saved: map[int64][]byte{}, chain: chain})
		fz.trim()
	}
}

// trim drops the oldest images beyond MaxImages or MaxImageBytes, keeping
// the newest chain start (the base of a snapshot chain that may still be
// read).
func (fz *frozen) trim() {
	for len(fz.images) > 1 && (len(fz.images) > MaxImages || fz.bytes > MaxImageBytes) {
		old := fz.images[0]
		if old.chain && !anyChain(fz.images[1:]) {
			return
		}
		fz.bytes -= int64(len(old.saved)) * BlockSize
		fz.images = fz.images[1:]
	}
}

func anyChain(ims []*image) bool {
	for _, im := range ims {
		if im.chain {
			return true
		}
	}
	return false
}

// cow saves, before a write of [off, off+n) into f (the flat file p), the
// blocks it overwrites into every image of p that does not hold them yet.
// t.mu is held.
func (t *Tracker) cow(p string, f *os.File, off, n int64) error {
	fz := t.frozen[path.Clean(p)]
	if fz == nil || n <= 0 {
		return nil
	}
	for b := off / BlockSize; b*BlockSize < off+n; b++ {
		var old []byte
		held := false
		for _, im := range fz.images {
			if _, ok := im.saved[b]; ok {
				continue
			}
			if old == nil {
				old = make([]byte, BlockSize)
				k, err := f.ReadAt(old, b*BlockSize)
				if err != nil && err != io.EOF {
					return err
				}
				clear(old[k:])
				t.stats.CopiedOnWrite += BlockSize
				d, ok := NextData(f, b*BlockSize)
				held = ok && d < (b+1)*BlockSize
			}
			im.saved[b] = old
			if held {
				im.overwritten++
			}
			fz.bytes += BlockSize
		}
	}
	fz.trim()
	return nil
}

// view is a flat file as of one image.
type view struct {
	t    *Tracker
	p    string
	im   *image
	size int64
}

// ReadAt implements io.ReaderAt: saved blocks from the image, the others
// from the file (unchanged since the image was taken).
func (v *view) ReadAt(b []byte, off int64) (int, error) {
	v.t.mu.Lock()
	defer v.t.mu.Unlock()
	f, err := os.Open(v.p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if off >= v.size {
		return 0, io.EOF
	}
	want := min(int64(len(b)), v.size-off)
	n, err := f.ReadAt(b[:want], off)
	if err != nil && err != io.EOF {
		return n, err
	}
	clear(b[n:want]) // past the file's end: zeros up to the disk's size
	for blk := off / BlockSize; blk*BlockSize < off+want; blk++ {
		s, ok := v.im.saved[blk]
		if !ok {
			continue
		}
		lo := max(off, blk*BlockSize)
		hi := min(off+want, (blk+1)*BlockSize)
		copy(b[lo-off:hi-off], s[lo-blk*BlockSize:hi-blk*BlockSize])
	}
	if want < int64(len(b)) {
		return int(want), io.EOF
	}
	return int(want), nil
}

// Image is a flat file as of one snapshot of its VM; the images of one
// snapshot (of the VM's several disks) share Seq.
type Image struct {
	io.ReaderAt
	Size int64
	Seq  int64
}

// Images are the retained images of the flat file at local path p, oldest
// first (none for a disk whose VM never had a snapshot).
func (t *Tracker) Images(p string) []Image {
	t.mu.Lock()
	defer t.mu.Unlock()
	fz := t.frozen[path.Clean(p)]
	if fz == nil {
		return nil
	}
	var out []Image
	for _, im := range fz.images {
		out = append(out, Image{ReaderAt: &view{t: t, p: path.Clean(p), im: im, size: fz.size}, Size: fz.size, Seq: im.seq})
	}
	return out
}

// Reader is what a reader of the flat file at local path p gets now: the
// base as frozen by the VM's current snapshot chain while the VM has a
// snapshot or a delta a failed consolidation left (LeaveDelta), else nil
// (read the file itself).
func (t *Tracker) Reader(p string) io.ReadSeeker {
	p = path.Clean(p)
	t.mu.Lock()
	fz := t.frozen[p]
	var vm types.ManagedObjectReference
	if fz != nil {
		vm = fz.vm
	}
	t.mu.Unlock()
	if fz == nil {
		return nil
	}
	// The VM's lock, not ours: writers hold it and then take t.mu.
	snapped := false
	reg := t.model.Map()
	if obj, ok := reg.Get(vm).(*simulator.VirtualMachine); ok {
		reg.WithLock(&simulator.Context{}, obj, func() {
			snapped = obj.Snapshot != nil && len(obj.Snapshot.RootSnapshotList) > 0
		})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// A delta a failed consolidation left: the guest writes it, the base
	// stays as the snapshot froze it.
	if !snapped && t.left[vm] == 0 {
		return nil
	}
	for i := len(fz.images) - 1; i >= 0; i-- {
		if fz.images[i].chain {
			v := &view{t: t, p: p, im: fz.images[i], size: fz.size}
			return io.NewSectionReader(v, 0, fz.size)
		}
	}
	return nil
}
