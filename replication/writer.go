package replication

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vmware/govmomi/vmdk"
	"golang.org/x/sys/unix"
)

// Receiver kinds: how the receiver reaches the replica disks that the
// provider vCenter created.
const (
	// KindAppliance: the receiver runs in the receiver appliance VM; ferry
	// hot-adds each replica disk to it and the receiver writes the block
	// device the guest kernel lists under /dev/disk/by-id by disk UUID.
	KindAppliance = "appliance"
	// KindNFS: an NFS datastore is mounted as a directory on the receiver
	// host; the receiver writes the flat extent named by each disk's
	// descriptor (created by vCenter, never by ferry).
	KindNFS = "nfs"
)

// ReplicasFolder is the datastore folder under which ferry asks vCenter to
// create replica disks: ReplicasFolder/<org>/<vm>/<vm>_<n>.vmdk.
const ReplicasFolder = "ferry-replicas"

// ReplicaDiskPath is the datastore-relative path of replica disk n (the
// source's disk order) of org/vm.
func ReplicaDiskPath(org, vm string, n int) string {
	return path.Join(ReplicasFolder, org, vm, fmt.Sprintf("%s_%d.vmdk", vm, n))
}

// ReplicaWriter opens the replica disks a receiver writes. It never creates
// a disk, a descriptor or a file: the disks are made by the provider vCenter.
type ReplicaWriter interface {
	// Kind is KindAppliance or KindNFS.
	Kind() string
	// Check verifies the kind's preconditions; the receiver refuses to
	// start when it fails, and the error says what is missing.
	Check() error
	// Open opens the replica disk ref (a disk UUID for the appliance, the
	// datastore path of its descriptor for nfs) of namespace org/vm for a
	// source disk of size bytes.
	Open(org, vm, ref string, size int64) (*ReplicaDevice, error)
}

// ReplicaDevice is an opened replica disk.
type ReplicaDevice struct {
	File *os.File
	Path string // what messages name: the device or flat file path
	// ID identifies the disk at this receiver (device name or flat file):
	// one ID belongs to one replica only.
	ID string
	// Present fails when the disk is no longer the one opened (detached
	// from the appliance); nil means it cannot go away.
	Present func() error

	// Syncs of the device's connections are grouped (syncGroup).
	sg syncGroup
}

// Sync makes what was written before the call durable (fdatasync), then
// checks that the disk is still the one opened: data written to a detached
// device is not acknowledged. Calls from several connections at once share
// one fdatasync that started after the last of them was made. Once a sync
// failed, every later one fails too: Linux reports a failed writeback to
// one fdatasync only, and a later one that succeeds says nothing of the
// pages that were lost.
func (d *ReplicaDevice) Sync() error {
	return d.sg.sync(func() error {
		if err := unix.Fdatasync(int(d.File.Fd())); err != nil {
			return fmt.Errorf("fdatasync %s: %w", d.Path, err)
		}
		if d.Present != nil {
			return d.Present()
		}
		return nil
	})
}

// syncGroup runs one sync at a time for any number of callers: a caller
// waits for a sync that started after its call (the running one may not
// cover its writes) and starts it when none runs.
type syncGroup struct {
	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	started uint64 // syncs started
	done    uint64 // the last sync finished (syncs finish in order)
	err     error  // sticky
}

func (g *syncGroup) sync(do func() error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	want := g.started + 1
	for g.done < want && g.err == nil {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		gen := g.started
		g.mu.Unlock()
		err := do()
		g.mu.Lock()
		g.running = false
		g.done = gen
		if err != nil && g.err == nil {
			g.err = err
		}
		g.cond.Broadcast()
	}
	return g.err
}

// ErrDetached is matched (errors.Is) by a failure because a replica disk
// was detached from the receiver appliance while it was written.
var ErrDetached = errors.New("replica disk detached from the receiver appliance")

// ErrNoReplicaDisk is matched by a failure because the replica disk a
// sender names is not there (not hot-added, or no descriptor).
var ErrNoReplicaDisk = errors.New("replica disk not found at the receiver")

// ApplianceWriter writes replica disks hot-added to the receiver appliance,
// found by disk UUID under ByID (normally /dev/disk/by-id).
type ApplianceWriter struct {
	ByID string
}

// DefaultByID is where Linux lists disks by identity.
const DefaultByID = "/dev/disk/by-id"

func (w ApplianceWriter) Kind() string { return KindAppliance }

func (w ApplianceWriter) Check() error {
	root := w.ByID
	if root == "" {
		root = DefaultByID
	}
	fi, err := os.Stat(root)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("appliance receiver: %s does not exist: run the receiver inside the receiver appliance VM (a Linux guest with udev, disk.EnableUUID=TRUE in its configuration), or give --by-id", root)
	case err != nil:
		return fmt.Errorf("appliance receiver: %s: %w", root, err)
	case !fi.IsDir():
		return fmt.Errorf("appliance receiver: %s is not a directory", root)
	}
	if err := unix.Access(root, unix.R_OK|unix.X_OK); err != nil {
		return fmt.Errorf("appliance receiver: cannot read %s: %w (run the receiver as a user that may open disk devices)", root, err)
	}
	return nil
}

// DeviceNames are the names a Linux guest gives a SCSI disk whose VMware
// disk UUID is uuid (disk.EnableUUID=TRUE): the NAA WWN, as udev lists it.
func DeviceNames(uuid string) ([]string, error) {
	hex := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(uuid))
	if len(hex) != 32 || strings.Trim(hex, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("disk UUID %q: want 32 hexadecimal digits", uuid)
	}
	return []string{"wwn-0x" + hex, "scsi-3" + hex}, nil
}

func (w ApplianceWriter) Open(org, vm, uuid string, size int64) (*ReplicaDevice, error) {
	root := w.ByID
	if root == "" {
		root = DefaultByID
	}
	names, err := DeviceNames(uuid)
	if err != nil {
		return nil, err
	}
	var p string
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(root, n)); err == nil {
			p = filepath.Join(root, n)
			break
		}
	}
	if p == "" {
		return nil, fmt.Errorf("%w: %s/%s's disk with UUID %s is not attached to the receiver appliance (no %s): detached by hand? resuming the job has ferry hot-add it again; if the appliance holds it, check disk.EnableUUID=TRUE on the appliance VM",
			ErrNoReplicaDisk, org, vm, uuid, filepath.Join(root, names[0]))
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() && fi.Mode()&os.ModeDevice == 0 {
		err = fmt.Errorf("%s is neither a block device nor a file", p)
	}
	var n int64
	if err == nil {
		n, err = f.Seek(0, io.SeekEnd)
	}
	if err == nil && n < size {
		err = fmt.Errorf("device %s holds %d bytes, the source disk %d: the replica disk is too small", p, n, size)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &ReplicaDevice{File: f, Path: p, ID: filepath.Base(p), Present: func() error {
		now, err := os.Stat(p)
		if err != nil || !os.SameFile(now, fi) {
			// The disk's UUID once: the device's name (wwn-0x...) is the
			// same UUID again, and the receiver's paths are not the
			// sender's to show (QA: "wwn-0x6944... (disk UUID 6944...-...)").
			return fmt.Errorf("%w during the pass: %s/%s's disk with UUID %s (detached by hand? resuming the job has ferry hot-add it again)", ErrDetached, org, vm, uuid)
		}
		return nil
	}}, nil
}

// NFSWriter writes the flat extents of replica disks on an NFS datastore
// mounted at Dir.
type NFSWriter struct {
	Dir string
}

func (w NFSWriter) Kind() string { return KindNFS }

func (w NFSWriter) Check() error {
	if w.Dir == "" {
		return errors.New("nfs receiver: no datastore mount given (--datastore-dir)")
	}
	fi, err := os.Stat(w.Dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("nfs receiver: %s does not exist: mount the NFS export of the provider datastore there (read-write)", w.Dir)
	case err != nil:
		return fmt.Errorf("nfs receiver: %s: %w", w.Dir, err)
	case !fi.IsDir():
		return fmt.Errorf("nfs receiver: %s is not a directory", w.Dir)
	}
	if err := unix.Access(w.Dir, unix.R_OK|unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("nfs receiver: %s is not writable: %w (mount the export read-write, with the receiver's user allowed to write)", w.Dir, err)
	}
	return nil
}

func (w NFSWriter) Open(org, vm, desc string, size int64) (*ReplicaDevice, error) {
	folder := path.Join(ReplicasFolder, org, vm) + "/"
	clean := path.Clean(desc)
	if clean != desc || !strings.HasPrefix(desc, folder) || strings.Contains(strings.TrimPrefix(desc, folder), "/") || !strings.HasSuffix(desc, ".vmdk") {
		return nil, fmt.Errorf("replica disk %q is not a descriptor in %s", desc, folder)
	}
	dp := filepath.Join(w.Dir, filepath.FromSlash(desc))
	f, err := os.Open(dp)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no descriptor %s: ferry has the provider vCenter create it first", ErrNoReplicaDisk, dp)
	}
	if err != nil {
		return nil, err
	}
	d, err := vmdk.ParseDescriptor(io.LimitReader(f, 64<<10))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("descriptor %s: %w", dp, err)
	}
	if len(d.Extent) != 1 || d.Extent[0].Info == "" {
		return nil, fmt.Errorf("descriptor %s: want one flat extent, found %d", dp, len(d.Extent))
	}
	x := d.Extent[0]
	switch {
	case d.Type != "vmfs" || x.Type != "VMFS":
		return nil, fmt.Errorf("descriptor %s: createType %q with a %s extent: not a flat base disk this receiver can write", dp, d.Type, x.Type)
	case x.Permission != "RW":
		return nil, fmt.Errorf("descriptor %s: extent is %s", dp, x.Permission)
	case strings.ContainsAny(x.Info, `/\`):
		return nil, fmt.Errorf("descriptor %s: extent %q is not in the descriptor's folder", dp, x.Info)
	case x.Size*vmdk.SectorSize < size:
		return nil, fmt.Errorf("descriptor %s: %d bytes, the source disk %d: the replica disk is too small", dp, x.Size*vmdk.SectorSize, size)
	}
	flat := filepath.Join(filepath.Dir(dp), x.Info)
	ff, err := os.OpenFile(flat, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("flat extent of %s: %w", dp, err)
	}
	// A thin flat extent may be shorter than the disk: it reads as zeros
	// there, and is extended sparsely to the size the descriptor declares.
	if fi, err := ff.Stat(); err == nil && fi.Size() < x.Size*vmdk.SectorSize {
		err = ff.Truncate(x.Size * vmdk.SectorSize)
		if err != nil {
			ff.Close()
			return nil, fmt.Errorf("flat extent %s: %w", flat, err)
		}
	}
	return &ReplicaDevice{File: ff, Path: flat, ID: path.Join(path.Dir(desc), x.Info)}, nil
}
