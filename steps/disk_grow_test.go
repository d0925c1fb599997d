package steps

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/dsfile"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// sourceDevices is the on-prem VM vm and its devices.
func sourceDevices(t *testing.T, env *Env, vm string) (*object.VirtualMachine, object.VirtualDeviceList) {
	t.Helper()
	ctx := context.Background()
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref, ok, err := onprem.FindVM(ctx, vm)
	if err != nil || !ok {
		t.Fatalf("on-prem VM %s: %v", vm, err)
	}
	v := object.NewVirtualMachine(onprem.Client.Client, ref.Reference())
	devices, err := v.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return v, devices
}

// reconfigureDevice reconfigures the on-prem VM vm with the device change
// that spec builds from its devices, as an admin does in the vSphere
// Client: again a moment later, from the devices read again, while vSphere
// refuses because the VM has a snapshot (a pass of ferry's runs). The
// devices are read again because a disk's backing names its snapshot
// delta while the snapshot is open and its base file once it is removed.
func reconfigureDevice(t *testing.T, env *Env, vm string, spec func(object.VirtualDeviceList) *types.VirtualDeviceConfigSpec) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(30 * time.Second); ; {
		v, devices := sourceDevices(t, env, vm)
		if len(devices.SelectByType((*types.VirtualDisk)(nil))) == 0 {
			t.Fatalf("%s: no disk in its devices: %v", vm, devices)
		}
		task, err := v.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{spec(devices)}})
		if err == nil {
			_, err = vsphere.WaitTask(ctx, task)
		}
		if err == nil {
			return
		}
		// Refused while a snapshot exists; the pass may have removed it
		// by now, so the refusal is not judged by the snapshot seen
		// after it: a refusal that lasts past the deadline fails. A
		// FileNotFound is the same race the other way: the devices were
		// read with a pass's snapshot open, and their delta backing was
		// gone by the reconfigure (read again).
		if !(fault.Is(err, &types.InvalidDeviceOperation{}) || fault.Is(err, &types.FileNotFound{})) || time.Now().After(deadline) {
			var m mo.VirtualMachine
			_ = v.Properties(ctx, v.Reference(), []string{"snapshot"}, &m)
			t.Fatalf("%s %s: %v (snapshot now: %v)", vm, v.Reference().Value, err, m.Snapshot != nil)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// baseFile is the file at the bottom of the disk d's backing chain (its
// own file when no snapshot is open).
func baseFile(d types.BaseVirtualDevice) string {
	b, ok := d.GetVirtualDevice().Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if !ok {
		return ""
	}
	for b.Parent != nil {
		b = b.Parent
	}
	return b.FileName
}

// extendSourceDisk extends the first disk (lowest key) of the on-prem VM
// vm to capacity bytes: a reconfigure of the running VM (hot-extend).
func extendSourceDisk(t *testing.T, env *Env, vm string, capacity int64) {
	t.Helper()
	reconfigureDevice(t, env, vm, func(devices object.VirtualDeviceList) *types.VirtualDeviceConfigSpec {
		disk := slices.MinFunc(devices.SelectByType((*types.VirtualDisk)(nil)), func(a, b types.BaseVirtualDevice) int {
			return int(a.GetVirtualDevice().Key - b.GetVirtualDevice().Key)
		}).(*types.VirtualDisk)
		disk.CapacityInBytes, disk.CapacityInKB = capacity, capacity/1024
		return &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: disk}
	})
}

// guestWrite writes n random bytes at off into vm's disk, as its guest does.
func guestWrite(t *testing.T, l *lab.Lab, vm string, off int64, n int) {
	t.Helper()
	p := make([]byte, n)
	rand.Read(p)
	if err := l.CBT.WriteAt(l.OnPrem.FlatFile(vm), p, off); err != nil {
		t.Fatal(err)
	}
}

// diskCapacityOf is the capacity of the first disk of the provider VM vm.
func diskCapacityOf(t *testing.T, env *Env, vm string) int64 {
	t.Helper()
	disks := providerDisks(t, env, vm)
	if len(disks) == 0 {
		t.Fatalf("provider VM %s has no disk", vm)
	}
	return disks[0].CapacityInBytes
}

// diskChangeJourney is WebApp2 replicated in the lab with warm
// replication on, stopped before its cutover, with the lab's workload
// stopped (only the test writes from then on), and what the scheduler and
// the steps reported.
type diskChangeJourney struct {
	l     *lab.Lab
	env   *Env
	sched *replication.Scheduler
	r     *Runner

	mu       sync.Mutex
	passes   []replication.Event
	warnings []string
	lines    []string
}

func startDiskChangeJourney(t *testing.T) *diskChangeJourney {
	t.Helper()
	return startDiskChangeJourneyWith(t, nil)
}

// startDiskChangeJourneyWith is startDiskChangeJourney with prepare
// (unless nil) called on the env before anything runs.
func startDiskChangeJourneyWith(t *testing.T, prepare func(*Env)) *diskChangeJourney {
	t.Helper()
	j := &diskChangeJourney{}
	j.l, j.env = migrationLab(t, "WebApp2")
	if prepare != nil {
		prepare(j.env)
	}
	ctx := context.Background()
	var err error
	j.sched, err = j.env.EnableWarm(ctx, func(ev replication.Event) {
		j.mu.Lock()
		defer j.mu.Unlock()
		switch ev.Kind {
		case replication.EventPassDone:
			j.passes = append(j.passes, ev)
		case replication.EventWarning:
			j.warnings = append(j.warnings, ev.Msg)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	j.r = &Runner{Itinerary: NewItinerary(), Env: j.env, Emit: func(ev Event) {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.lines = append(j.lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error)
	}}
	if out, err := j.r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("steps 1-7: %v %+v\n%s", err, out, j.log())
	}
	j.l.Workload.Stop()
	return j
}

// log is what the steps reported, one line per event.
func (j *diskChangeJourney) log() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return strings.Join(j.lines, "\n")
}

// warned says whether the scheduler reported the warning w.
func (j *diskChangeJourney) warned(w string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Contains(j.warnings, w)
}

// cutOver runs the confirmed cutover and checks that it ended done.
func (j *diskChangeJourney) cutOver(t *testing.T) {
	t.Helper()
	j.r.Confirmed = true
	if _, err := j.r.Run(context.Background()); err != nil {
		t.Fatalf("cutover: %v\n%s", err, j.log())
	}
	if got := j.env.State.Get("cutover").Outputs[cutoverKey("WebApp2")]; got != cutoverDone {
		t.Fatalf("cutover of WebApp2: %q\n%s", got, j.log())
	}
}

// TestSourceDiskExtendedDuringReplication: an admin extends WebApp2's disk
// while ferry replicates it, twice (16 MiB to 16.5 MiB, which ends inside
// a 1 MiB block, then to 20 MiB), and the guest writes into the new space.
// Each next pass extends the replica disk through the
// provider vCenter and goes on incrementally (no full sync, nothing paused);
// the cutover's final pass and its check of the digest maps pass (no
// whole-disk verify in the window), and the target VM
// gets a 20 MiB disk equal to the source's.
func TestSourceDiskExtendedDuringReplication(t *testing.T) {
	t.Parallel()
	j := startDiskChangeJourney(t)
	l, env, sched := j.l, j.env, j.sched
	ctx := context.Background()
	replica := "[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 0)
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pass := func(what string, capacity int64) {
		t.Helper()
		j.mu.Lock()
		n := len(j.passes)
		j.mu.Unlock()
		if err := sched.PassNow("WebApp2"); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := sched.WaitPass(ctx, "WebApp2"); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		if len(j.passes) == n {
			t.Fatalf("%s: no pass completed", what)
		}
		ev := j.passes[len(j.passes)-1]
		if ev.Pass != replication.PassIncremental || ev.Counters.Planned >= 8<<20 {
			t.Errorf("%s: a %s pass of %d bytes, want an incremental one of what the guest wrote", what, ev.Pass, ev.Counters.Planned)
		}
		if got, err := provider.DiskCapacity(ctx, "Provider-DC", replica); err != nil || got != capacity {
			t.Errorf("%s: replica disk %s holds %d bytes (%v), want %d", what, replica, got, err, capacity)
		}
	}

	extendSourceDisk(t, env, "WebApp2", 16<<20+512<<10)
	guestWrite(t, l, "WebApp2", 16<<20+100<<10, 64<<10)
	pass("after the first extension", 16<<20+512<<10)

	extendSourceDisk(t, env, "WebApp2", 20<<20)
	// Nothing writes the block the disk ended in: the pass sends it all
	// the same (its digest covered 512 KiB of it).
	guestWrite(t, l, "WebApp2", 19<<20, 64<<10)
	pass("after the second extension", 20<<20)
	if w := "Hard disk 1 was extended at the source from 16.5 MiB to 20 MiB: extending its replica disk to match (no full sync)"; !j.warned(w) {
		t.Errorf("no warning %q", w)
	}
	if got := diskFilesOf(t, env, lab.ApplianceVM); !slices.Contains(got, replica) {
		t.Fatalf("receiver appliance disks %v after the extensions, want %s hot-added again", got, replica)
	}

	// The cutover: its final pass, the check of the digest maps, and a
	// target with the extended disk.
	j.cutOver(t)
	if log := j.log(); strings.Contains(log, "verifying whole disks") {
		t.Errorf("the cutover verified whole disks inside the downtime:\n%s", log)
	}
	if got := diskCapacityOf(t, env, "WebApp2"); got != 20<<20 {
		t.Errorf("target WebApp2's disk: %d bytes, want the extended 20 MiB", got)
	}
	if fileHash(t, l.OnPrem.FlatFile("WebApp2")) != fileHash(t, l.ReplicaFlatFile(replica)) {
		t.Error("replica differs from the extended source")
	}
}

// changeSourceDisk adds (file made by vCenter when create) or removes a
// disk of the on-prem VM vm at unit 1 of its first disk's controller.
func changeSourceDisk(t *testing.T, env *Env, vm string, op types.VirtualDeviceConfigSpecOperation, create bool, file string, capacity int64) {
	t.Helper()
	reconfigureDevice(t, env, vm, func(devices object.VirtualDeviceList) *types.VirtualDeviceConfigSpec {
		spec := &types.VirtualDeviceConfigSpec{Operation: op}
		if op == types.VirtualDeviceConfigSpecOperationRemove {
			for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
				if baseFile(d) == file {
					spec.Device = d
				}
			}
			if spec.Device == nil {
				t.Fatalf("on-prem VM %s has no disk %s", vm, file)
			}
		} else {
			first := devices.SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
			ds := first.Backing.(*types.VirtualDiskFlatVer2BackingInfo).Datastore
			unit := int32(1)
			spec.Device = &types.VirtualDisk{
				VirtualDevice: types.VirtualDevice{Key: -1, ControllerKey: first.ControllerKey, UnitNumber: &unit,
					Backing: &types.VirtualDiskFlatVer2BackingInfo{DiskMode: string(types.VirtualDiskModePersistent), ThinProvisioned: types.NewBool(true),
						VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: file, Datastore: ds}}},
				CapacityInKB: capacity / 1024, CapacityInBytes: capacity,
			}
			if create {
				spec.FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
			}
		}
		return spec
	})
}

// TestSourceDiskAddedDuringReplication: an admin adds a disk to WebApp2
// while ferry replicates it. The next pass makes its replica disk, hot-adds
// it to the receiver appliance and syncs it (the job is not paused), and
// the configuration captured at VM selection gets it. Removed again, the
// cutover refuses before the source stops (the target is built as
// captured); attached again, the cutover builds the target with both
// disks, the second one equal to the source's. Before, the cutover built a
// target without the added disk and reported it migrated.
func TestSourceDiskAddedDuringReplication(t *testing.T) {
	t.Parallel()
	j := startDiskChangeJourney(t)
	l, env, sched, r := j.l, j.env, j.sched, j.r
	ctx := context.Background()

	data := "[onprem-ds] WebApp2/data.vmdk"
	changeSourceDisk(t, env, "WebApp2", types.VirtualDeviceConfigSpecOperationAdd, true, data, 4<<20)
	flat, err := dsfile.Flat(l.OnPrem.Model, data)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 256<<10)
	rand.Read(p)
	if err := l.CBT.WriteAt(flat, p, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := sched.PassNow("WebApp2"); err != nil {
		t.Fatal(err)
	}
	if err := sched.WaitPass(ctx, "WebApp2"); err != nil {
		t.Fatalf("the pass after the disk was added: %v", err)
	}
	if w := "Hard disk 2 (4 MiB) added to the source: making its replica disk; it gets an initial sync"; !j.warned(w) {
		t.Errorf("no warning %q", w)
	}
	replica := "[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 1)
	if got := diskFilesOf(t, env, lab.ApplianceVM); !slices.Contains(got, replica) {
		t.Fatalf("receiver appliance disks %v, want the added disk's replica %s", got, replica)
	}
	if fileHash(t, flat) != fileHash(t, l.ReplicaFlatFile(replica)) {
		t.Fatal("the added disk's replica differs from it after the pass")
	}

	// Removed again: the cutover refuses before anything changes.
	changeSourceDisk(t, env, "WebApp2", types.VirtualDeviceConfigSpecOperationRemove, false, data, 0)
	r.Confirmed = true
	if _, err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "Hard disk 2 ("+data+", 4.0 MiB at pvscsi0:1) was captured at VM selection and the source has no disk there now") {
		t.Fatalf("cutover without the captured disk: %v, want it refused", err)
	}
	onprem, _ := env.OnPrem(ctx)
	if src, err := onprem.VMByName(ctx, "WebApp2"); err != nil || !src.PoweredOn() {
		t.Fatalf("source after the refused cutover: %+v %v, want it running", src, err)
	}
	if got := env.State.Get("cutover").Outputs[cutoverKey("WebApp2")]; got == cutoverRunning || got == cutoverDone {
		t.Fatalf("cutover state after the refusal: %q", got)
	}

	// Attached again, and the first disk extended (vSphere may list the
	// edited disk last then): the target gets both disks, each replica
	// its own disk's.
	changeSourceDisk(t, env, "WebApp2", types.VirtualDeviceConfigSpecOperationAdd, false, data, 4<<20)
	extendSourceDisk(t, env, "WebApp2", 20<<20)
	j.cutOver(t)
	first := "[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 0)
	if got := diskFilesOf(t, env, "WebApp2"); !slices.Equal(got, []string{first, replica}) {
		t.Errorf("target WebApp2's disks %v, want %v", got, []string{first, replica})
	}
	var capacities []int64
	for _, d := range providerDisks(t, env, "WebApp2") {
		capacities = append(capacities, d.CapacityInBytes)
	}
	if !slices.Equal(capacities, []int64{20 << 20, 4 << 20}) {
		t.Errorf("target WebApp2's disk capacities %v, want 20 MiB (extended) and 4 MiB", capacities)
	}
	firstFlat, err := dsfile.Flat(l.OnPrem.Model, "[onprem-ds] WebApp2/WebApp2.vmdk")
	if err != nil {
		t.Fatal(err)
	}
	if fileHash(t, firstFlat) != fileHash(t, l.ReplicaFlatFile(first)) {
		t.Error("the first disk's replica differs from it after the cutover")
	}
	if fileHash(t, flat) != fileHash(t, l.ReplicaFlatFile(replica)) {
		t.Error("the added disk's replica differs from it after the cutover")
	}
}

// TestRedoVMSelectionAfterADiskWasRemoved: a disk added to WebApp2 while
// it replicated, then removed from it, and the source restarted without it
// (its guest no longer needs it: the lab's guest model). Its cutover
// refuses the configuration captured with the disk, and says how to
// capture anew; a run with --redo vm-selection (Runner.Redo) runs step 5
// again, and the cutover then builds the target with the one disk the
// source has. The removed disk's replica is kept.
func TestRedoVMSelectionAfterADiskWasRemoved(t *testing.T) {
	t.Parallel()
	j := startDiskChangeJourney(t)
	l, env, sched, r := j.l, j.env, j.sched, j.r
	ctx := context.Background()

	data := "[onprem-ds] WebApp2/data.vmdk"
	changeSourceDisk(t, env, "WebApp2", types.VirtualDeviceConfigSpecOperationAdd, true, data, 4<<20)
	if err := sched.PassNow("WebApp2"); err != nil {
		t.Fatal(err)
	}
	if err := sched.WaitPass(ctx, "WebApp2"); err != nil {
		t.Fatalf("the pass after the disk was added: %v", err)
	}
	changeSourceDisk(t, env, "WebApp2", types.VirtualDeviceConfigSpecOperationRemove, false, data, 0)
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	if err := onprem.PowerOff(ctx, src.Ref); err != nil {
		t.Fatal(err)
	}
	task, err := object.NewVirtualMachine(onprem.Client.Client, src.Ref.Reference()).PowerOn(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); !l.Reach.Reachable(src.GuestIP); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("WebApp2 does not answer after its restart")
		}
	}
	r.Confirmed = true
	if _, err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "ferry run --redo vm-selection") {
		t.Fatalf("cutover without the captured disk: %v, want it refused, naming --redo vm-selection", err)
	}

	r.Confirmed = false
	r.Redo = []string{"vm-selection"}
	before := len(j.log())
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("run with --redo vm-selection: %v %+v\n%s", err, out, j.log())
	}
	if got := j.log()[before:]; !strings.Contains(got, "progress vm-selection: runs again: asked for (--redo)") || !strings.Contains(got, "done vm-selection") {
		t.Fatalf("VM selection did not run again:\n%s", got)
	}
	cfg, ok, err := savedVMConfig(env.State, "WebApp2")
	if err != nil || !ok || len(cfg.Disks) != 1 {
		t.Fatalf("WebApp2's configuration captured again: %+v %v %v, want one disk", cfg.Disks, ok, err)
	}

	r.Redo = nil
	j.cutOver(t)
	first := "[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 0)
	if got := diskFilesOf(t, env, "WebApp2"); !slices.Equal(got, []string{first}) {
		t.Errorf("target WebApp2's disks %v, want %v", got, []string{first})
	}
	// The removed disk's replica is kept at the receiver appliance.
	removed := "[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 1)
	if got := diskFilesOf(t, env, lab.ApplianceVM); !slices.Contains(got, removed) {
		t.Errorf("receiver appliance disks %v: want the removed disk's replica %s kept", got, removed)
	}
}

// TestReplicaExtendRefusedGivesDiskBack: the provider vCenter refuses to
// extend a replica disk (here ferry's role lost Datastore.FileManagement
// after replication started, the lab refusing ExtendVirtualDisk as vCenter
// does): the pass fails naming the privilege, the job pauses, and the
// replica disk, detached from the receiver appliance for the extension, is
// hot-added to it again at its old size with what it holds. Given the
// privilege back, resuming extends it and replication goes on incrementally.
func TestReplicaExtendRefusedGivesDiskBack(t *testing.T) {
	t.Parallel()
	j := startDiskChangeJourney(t)
	l, env, sched := j.l, j.env, j.sched
	ctx := context.Background()
	replica := "[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 0)
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Replication catches up with the guest (its workload stopped), so no
	// scheduled pass writes the replica while the test looks at it: one
	// still in flight when the hash was taken made this test fail in CI.
	if err := sched.PassNow("WebApp2"); err != nil {
		t.Fatal(err)
	}
	if err := sched.WaitPass(ctx, "WebApp2"); err != nil {
		t.Fatal(err)
	}
	before := fileHash(t, l.ReplicaFlatFile(replica))
	if err := l.Provider.Privileges.Withhold("Datastore.FileManagement"); err != nil {
		t.Fatal(err)
	}
	extendSourceDisk(t, env, "WebApp2", 20<<20)
	guestWrite(t, l, "WebApp2", 19<<20, 64<<10)
	if err := sched.PassNow("WebApp2"); err != nil {
		t.Fatal(err)
	}
	err = sched.WaitPass(ctx, "WebApp2")
	if !errors.Is(err, replication.ErrPaused) || !strings.Contains(err.Error(), "ExtendVirtualDisk_Task") || !strings.Contains(err.Error(), "lacks the privilege Datastore.FileManagement") {
		t.Fatalf("pass with the extension refused: %v, want a paused job naming the call and the privilege", err)
	}
	if got := diskFilesOf(t, env, lab.ApplianceVM); !slices.Contains(got, replica) {
		t.Fatalf("receiver appliance disks %v after the refused extension, want %s given back", got, replica)
	}
	if got, err := provider.DiskCapacity(ctx, "Provider-DC", replica); err != nil || got != 16<<20 {
		t.Fatalf("replica disk holds %d bytes (%v) after the refused extension, want its old 16 MiB", got, err)
	}
	if fileHash(t, l.ReplicaFlatFile(replica)) != before {
		t.Fatal("the refused extension changed what the replica holds")
	}

	l.Provider.Privileges.Grant("Datastore.FileManagement")
	if err := sched.Resume("WebApp2"); err != nil {
		t.Fatal(err)
	}
	if err := sched.WaitPass(ctx, "WebApp2"); err != nil {
		t.Fatalf("pass after the privilege came back: %v", err)
	}
	if got, err := provider.DiskCapacity(ctx, "Provider-DC", replica); err != nil || got != 20<<20 {
		t.Fatalf("replica disk holds %d bytes (%v), want the extended 20 MiB", got, err)
	}
	j.mu.Lock()
	last := j.passes[len(j.passes)-1]
	j.mu.Unlock()
	if last.Pass != replication.PassIncremental {
		t.Errorf("the pass after the extension was %s, want incremental", last.Pass)
	}
	if fileHash(t, l.OnPrem.FlatFile("WebApp2")) != fileHash(t, l.ReplicaFlatFile(replica)) {
		t.Error("replica differs from the extended source")
	}
}
