package steps

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/dsfile"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// extendSourceDisk extends the first disk of the on-prem VM vm to capacity
// bytes as an admin does in the vSphere Client: a reconfigure of the
// running VM (hot-extend).
func extendSourceDisk(t *testing.T, env *Env, vm string, capacity int64) {
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
	disk := devices.SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
	disk.CapacityInBytes, disk.CapacityInKB = capacity, capacity/1024
	task, err := v.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{
		&types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: disk},
	}})
	if err == nil {
		_, err = vsphere.WaitTask(ctx, task)
	}
	if err != nil {
		t.Fatalf("extend %s's disk to %d bytes: %v", vm, capacity, err)
	}
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
	ctx := context.Background()
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref, ok, err := provider.FindVM(ctx, vm)
	if err != nil || !ok {
		t.Fatalf("provider VM %s: %v", vm, err)
	}
	devices, err := object.NewVirtualMachine(provider.Client.Client, ref.Reference()).Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		return d.(*types.VirtualDisk).CapacityInBytes
	}
	t.Fatalf("provider VM %s has no disk", vm)
	return 0
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
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	var mu sync.Mutex
	var passes []replication.Event
	var warnings []string
	sched, err := env.EnableWarm(ctx, func(ev replication.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Kind {
		case replication.EventPassDone:
			passes = append(passes, ev)
		case replication.EventWarning:
			warnings = append(warnings, ev.Msg)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }}
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("steps 1-7: %v %+v\n%s", err, out, strings.Join(lines, "\n"))
	}
	// Only this test's writes from here: the lab's workload would write
	// anywhere on the disk.
	l.Workload.Stop()
	replica := "[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 0)
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pass := func(what string, capacity int64) replication.Event {
		t.Helper()
		mu.Lock()
		n := len(passes)
		mu.Unlock()
		if err := sched.PassNow("WebApp2"); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := sched.WaitPass(ctx, "WebApp2"); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		mu.Lock()
		defer mu.Unlock()
		st := sched.Status()[0]
		if len(passes) == n || st.Paused {
			t.Fatalf("%s: no pass completed; job %+v", what, st)
		}
		ev := passes[len(passes)-1]
		if ev.Pass != replication.PassIncremental || ev.Counters.Planned >= 8<<20 {
			t.Errorf("%s: a %s pass of %d bytes, want an incremental one of what the guest wrote", what, ev.Pass, ev.Counters.Planned)
		}
		if got, err := provider.DiskCapacity(ctx, "Provider-DC", replica); err != nil || got != capacity {
			t.Errorf("%s: replica disk %s holds %d bytes (%v), want %d", what, replica, got, err, capacity)
		}
		return ev
	}

	extendSourceDisk(t, env, "WebApp2", 16<<20+512<<10)
	guestWrite(t, l, "WebApp2", 16<<20+100<<10, 64<<10)
	pass("after the first extension", 16<<20+512<<10)

	extendSourceDisk(t, env, "WebApp2", 20<<20)
	// Nothing writes the block the disk ended in: the pass sends it all
	// the same (its digest covered 512 KiB of it).
	guestWrite(t, l, "WebApp2", 19<<20, 64<<10)
	pass("after the second extension", 20<<20)
	mu.Lock()
	if !slices.ContainsFunc(warnings, func(w string) bool {
		return strings.Contains(w, "Hard disk 1 was extended at the source from 16.5 MiB to 20 MiB: extending its replica disk to match (no full sync)")
	}) {
		t.Errorf("no warning said the disk was extended: %q", warnings)
	}
	mu.Unlock()
	if got := diskFilesOf(t, env, lab.ApplianceVM); !slices.Contains(got, replica) {
		t.Fatalf("receiver appliance disks %v after the extensions, want %s hot-added again", got, replica)
	}

	// The cutover: its final pass, the check of the digest maps, and a
	// target with the extended disk.
	r.Confirmed = true
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if got := env.State.Get("cutover").Outputs[cutoverKey("WebApp2")]; got != cutoverDone {
		t.Fatalf("cutover of WebApp2: %q\n%s", got, strings.Join(lines, "\n"))
	}
	for _, line := range lines {
		if strings.Contains(line, "verifying whole disks") {
			t.Errorf("the cutover verified whole disks inside the downtime: %q", line)
		}
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
	spec := &types.VirtualDeviceConfigSpec{Operation: op}
	if op == types.VirtualDeviceConfigSpecOperationRemove {
		for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
			if b, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo); ok && b.GetVirtualDeviceFileBackingInfo().FileName == file {
				spec.Device = d
			}
		}
	} else {
		first := devices.SelectByType((*types.VirtualDisk)(nil))[0].(*types.VirtualDisk)
		ds := first.Backing.(*types.VirtualDiskFlatVer2BackingInfo).Datastore
		unit := int32(1)
		disk := &types.VirtualDisk{
			VirtualDevice: types.VirtualDevice{Key: -1, ControllerKey: first.ControllerKey, UnitNumber: &unit,
				Backing: &types.VirtualDiskFlatVer2BackingInfo{DiskMode: string(types.VirtualDiskModePersistent), ThinProvisioned: types.NewBool(true),
					VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: file, Datastore: ds}}},
			CapacityInKB: capacity / 1024, CapacityInBytes: capacity,
		}
		spec.Device = disk
		if create {
			spec.FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
		}
	}
	task, err := v.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: []types.BaseVirtualDeviceConfigSpec{spec}})
	if err == nil {
		_, err = vsphere.WaitTask(ctx, task)
	}
	if err != nil {
		t.Fatalf("%s disk %s of %s: %v", op, file, vm, err)
	}
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
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	var mu sync.Mutex
	var passes []replication.Event
	var warnings []string
	sched, err := env.EnableWarm(ctx, func(ev replication.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Kind {
		case replication.EventPassDone:
			passes = append(passes, ev)
		case replication.EventWarning:
			warnings = append(warnings, ev.Msg)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }}
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("steps 1-7: %v %+v\n%s", err, out, strings.Join(lines, "\n"))
	}
	l.Workload.Stop()

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
	mu.Lock()
	if !slices.Contains(warnings, "Hard disk 2 (4 MiB) added to the source: making its replica disk; it gets an initial sync") {
		t.Errorf("no warning said the disk was added: %q", warnings)
	}
	mu.Unlock()
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

	// Attached again: the target gets both disks.
	changeSourceDisk(t, env, "WebApp2", types.VirtualDeviceConfigSpecOperationAdd, false, data, 4<<20)
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if got := env.State.Get("cutover").Outputs[cutoverKey("WebApp2")]; got != cutoverDone {
		t.Fatalf("cutover of WebApp2: %q\n%s", got, strings.Join(lines, "\n"))
	}
	want := []string{"[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 0), replica}
	if got := diskFilesOf(t, env, "WebApp2"); !slices.Equal(got, want) {
		t.Errorf("target WebApp2's disks %v, want %v", got, want)
	}
	if fileHash(t, flat) != fileHash(t, l.ReplicaFlatFile(replica)) {
		t.Error("the added disk's replica differs from it after the cutover")
	}
}
