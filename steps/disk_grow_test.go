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
