package lab_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vmdk"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestOldDirectWritePathFails: what ferry's receiver used to do — write its
// own monolithicFlat descriptor and flat file into the provider datastore's
// directory, then have vCenter build a VM over them — cannot work against
// the lab: the lab's receiver has no directory to write into, and the
// provider vCenter refuses a disk whose descriptor ESXi would refuse, for a
// new VM and for a hot-add to the receiver appliance alike, so no device
// for it ever appears in the appliance.
func TestOldDirectWritePathFails(t *testing.T) {
	t.Parallel()
	l, c := providerLab(t)
	ctx := context.Background()
	if strings.Contains(l.Config().Receiver.URL, "/") {
		t.Fatalf("the lab's receiver endpoint names a directory: %q", l.Config().Receiver.URL)
	}
	// The old receiver's files, as it wrote them.
	dir := filepath.Join(l.Provider.DatastoreDir, "WebApp2")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	desc := vmdk.NewDescriptor(vmdk.Extent{Size: (16 << 20) / 512, Info: "WebApp2-flat.vmdk"})
	desc.Type = "monolithicFlat"
	desc.DDB["adapterType"] = "lsilogic"
	f, err := os.Create(filepath.Join(dir, "WebApp2.vmdk"))
	if err != nil {
		t.Fatal(err)
	}
	if err := desc.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(dir, "WebApp2-flat.vmdk"), make([]byte, 16<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	pv := lab.ProviderSpec()
	before, _ := os.ReadDir(l.Appliance.ByID) // its boot disk
	disk := vsphere.DiskFile{Path: "[" + pv.Datastore + "] WebApp2/WebApp2.vmdk", Capacity: 16 << 20}
	if _, err := c.CreateVMOverDisks(ctx, vsphere.VMOverDisks{Name: "WebApp2", Datacenter: pv.Datacenter, Pool: pv.Pool,
		Datastore: pv.Datastore, Disks: []vsphere.DiskFile{disk}}); err == nil {
		t.Fatal("the provider vCenter built a VM over a descriptor ESXi would refuse")
	}
	if _, err := c.AttachDisks(ctx, pv.Datacenter, lab.ApplianceVM, []vsphere.DiskFile{disk}); err == nil {
		t.Fatal("the provider vCenter hot-added a descriptor ESXi would refuse")
	}
	refusals := strings.Join(l.ProviderDisks.Refusals(), "\n")
	if strings.Count(refusals, "monolithicFlat") != 2 {
		t.Errorf("refusal reasons: %s", refusals)
	}
	if entries, _ := os.ReadDir(l.Appliance.ByID); len(entries) != len(before) {
		t.Errorf("devices in the appliance: %v, before: %v", entries, before)
	}
}

// TestReplicaDiskHotAddDetach: a replica disk created by the provider
// vCenter (ESXi's descriptor format, in its own folder) and hot-added to
// the receiver appliance appears under the appliance's by-id directory,
// backed by the disk's flat file; the lab's receiver writes it for the
// sender of the right namespace only; detached, the device is gone and a
// pass fails saying so.
func TestReplicaDiskHotAddDetach(t *testing.T) {
	t.Parallel()
	l, c := providerLab(t)
	ctx := context.Background()
	pv := lab.ProviderSpec()
	disk := newReplica(t, c, "WebApp2", 8<<20)
	path := disk.Path
	if err := c.CreateReplicaDisks(ctx, pv.Datacenter, []vsphere.DiskFile{disk}); err != nil {
		t.Fatalf("second create (the disk exists): %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(l.Provider.DatastoreDir, filepath.FromSlash(replication.ReplicaDiskPath(lab.TenantOrg, "WebApp2", 0))))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`createType="vmfs"`, "parentCID=ffffffff", "ddb.uuid", `ddb.thinProvisioned = "1"`, `VMFS "WebApp2_0-flat.vmdk"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("descriptor lacks %s:\n%s", want, raw)
		}
	}
	uuid, dev := hotAdd(t, l, c, disk)
	fi, err := os.Stat(dev)
	if err != nil || fi.Size() != 8<<20 {
		t.Fatalf("hot-added disk in the appliance: %v %v", fi, err)
	}
	if again, err := c.AttachDisks(ctx, pv.Datacenter, lab.ApplianceVM, []vsphere.DiskFile{disk}); err != nil || again[path] != uuid {
		t.Fatalf("second hot-add: %v %v", again, err)
	}

	// The lab's receiver writes it for the tenant's sender.
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i % 251)
	}
	job := senderJob(t, l, "WebApp2", data, uuid)
	job.Retries = 1
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dev); err != nil || string(got) != string(data) {
		t.Fatalf("replica disk differs from the source (%v)", err)
	}
	other := *job
	other.Org = "Globex"
	if _, err := other.RunPass(ctx, false); !errors.Is(err, replication.ErrForbidden) {
		t.Fatalf("the Company sender writing Globex's namespace: %v", err)
	}

	// While the running appliance holds the disk, a VM built over it
	// cannot power on (ESXi's file lock).
	target, err := c.CreateVMOverDisks(ctx, vsphere.VMOverDisks{Name: "WebApp2", Datacenter: pv.Datacenter, Pool: pv.Pool,
		Datastore: pv.Datastore, Disks: []vsphere.DiskFile{disk}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnsurePoweredOn(ctx, target); err == nil {
		t.Fatal("a VM powered on over a disk the receiver appliance holds")
	}

	if err := c.DetachDiskFiles(ctx, pv.Datacenter, lab.ApplianceVM, []string{path}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dev); err == nil {
		t.Fatal("the detached disk is still a device in the appliance")
	}
	if err := c.EnsurePoweredOn(ctx, target); err != nil {
		t.Fatalf("power on after the detach: %v", err)
	}
	if _, err := job.RunPass(ctx, false); !errors.Is(err, replication.ErrNoReplicaDisk) {
		t.Fatalf("a pass with the disk detached: %v", err)
	}
}

// restartSource restarts the lab's receiver before the n-th read.
type restartSource struct {
	replication.Source
	l     *lab.Lab
	n     int
	reads atomic.Int64
}

func (s *restartSource) Open(ctx context.Context, resume string, final bool) (replication.Snapshot, error) {
	snap, err := s.Source.Open(ctx, resume, final)
	return &restartSnap{Snapshot: snap, s: s}, err
}

type restartSnap struct {
	replication.Snapshot
	s *restartSource
}

func (r *restartSnap) ReadAt(ctx context.Context, key string, p []byte, off int64) error {
	if r.s.reads.Add(1) == int64(r.s.n) {
		if err := r.s.l.RestartReceiver(); err != nil {
			return err
		}
	}
	return r.Snapshot.ReadAt(ctx, key, p, off)
}

// TestReceiverRestartResumesOnHotAddedDevice: the receiver in the
// appliance restarts in the middle of a pass; the sender reconnects and
// the pass finishes on the same hot-added device, from the durable
// watermark.
func TestReceiverRestartResumesOnHotAddedDevice(t *testing.T) {
	t.Parallel()
	l, c := providerLab(t)
	ctx := context.Background()
	const size = 24 << 20
	uuid, dev := hotAdd(t, l, c, newReplica(t, c, "WebApp3", size))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i/4093)
	}
	job := senderJob(t, l, "WebApp3", data, uuid)
	rs := &restartSource{Source: job.Source, l: l, n: 12}
	job.Source, job.Conns, job.Window = rs, 1, 4<<20
	res, err := job.RunPass(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts < 2 || rs.reads.Load() < int64(rs.n) {
		t.Fatalf("attempts %d, reads %d: the receiver was not restarted mid-pass", res.Attempts, rs.reads.Load())
	}
	if got, err := os.ReadFile(dev); err != nil || string(got) != string(data) {
		t.Fatalf("replica disk differs from the source after the restart (%v)", err)
	}
	if err := job.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestApplianceWithoutEnableUUID: without disk.EnableUUID=TRUE the
// appliance's guest lists no disk by UUID, and ferry refuses to hot-add to
// the running appliance, naming the setting.
func TestApplianceWithoutEnableUUID(t *testing.T) {
	t.Parallel()
	l, c := providerLab(t)
	ctx := context.Background()
	pv := lab.ProviderSpec()
	ref, ok, err := c.FindVM(ctx, lab.ApplianceVM)
	if err != nil || !ok {
		t.Fatalf("receiver appliance: %v", err)
	}
	task, err := object.NewVirtualMachine(c.Client.Client, ref.Reference()).Reconfigure(ctx, types.VirtualMachineConfigSpec{
		ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: "disk.EnableUUID", Value: "FALSE"}}})
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(l.Appliance.ByID); len(entries) != 0 {
		t.Errorf("disks listed by UUID without disk.EnableUUID: %v", entries)
	}
	disk := newReplica(t, c, "WebApp1", 4<<20)
	if _, err := c.AttachDisks(ctx, pv.Datacenter, lab.ApplianceVM, []vsphere.DiskFile{disk}); err == nil || !strings.Contains(err.Error(), "disk.EnableUUID=TRUE") {
		t.Fatalf("hot-add to an appliance without disk.EnableUUID: %v", err)
	}
}

// providerLab starts a lab for a test of the provider side (16 MiB disks,
// no workload) and logs in to its provider vCenter.
func providerLab(t *testing.T) (*lab.Lab, *vsphere.Client) {
	t.Helper()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	return l, connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
}

// newReplica has the provider vCenter create the replica disk of vm's
// first disk (capacity bytes) on the provider datastore, as step 6 does.
func newReplica(t *testing.T, c *vsphere.Client, vm string, capacity int64) vsphere.DiskFile {
	t.Helper()
	pv := lab.ProviderSpec()
	disk := vsphere.DiskFile{Path: "[" + pv.Datastore + "] " + replication.ReplicaDiskPath(lab.TenantOrg, vm, 0), Capacity: capacity}
	if err := c.CreateReplicaDisks(context.Background(), pv.Datacenter, []vsphere.DiskFile{disk}); err != nil {
		t.Fatal(err)
	}
	return disk
}

// hotAdd hot-adds disk to the receiver appliance: its UUID, and the
// device the appliance's guest lists it as (by UUID).
func hotAdd(t *testing.T, l *lab.Lab, c *vsphere.Client, disk vsphere.DiskFile) (uuid, dev string) {
	t.Helper()
	uuids, err := c.AttachDisks(context.Background(), lab.ProviderSpec().Datacenter, lab.ApplianceVM, []vsphere.DiskFile{disk})
	if err != nil {
		t.Fatalf("hot-add %s: %v", disk.Path, err)
	}
	names, err := replication.DeviceNames(uuids[disk.Path])
	if err != nil {
		t.Fatal(err)
	}
	return uuids[disk.Path], filepath.Join(l.Appliance.ByID, names[0])
}

// senderJob is the tenant's sender (the lab's sender certificate, the
// lab's CA) replicating a source disk holding data to the lab's receiver,
// into the hot-added replica disk replica, with its state in a temporary
// store.
func senderJob(t *testing.T, l *lab.Lab, vm string, data []byte, replica string) *replication.Job {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(l.SenderCert, l.SenderKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(l.CA.CertPEM)
	src := filepath.Join(t.TempDir(), "src.img")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := replication.OpenState(filepath.Join(t.TempDir(), "sender.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fs := replication.NewFileSource(src)
	disks, err := fs.Disks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &replication.Job{VM: vm, Org: lab.TenantOrg, Kind: replication.KindAppliance,
		Replicas: map[string]string{disks[0].Key: replica}, Source: fs, Addr: l.ReceiverAddr,
		TLS: replication.CATLS(cert, pool, false, "127.0.0.1"), State: st}
}
