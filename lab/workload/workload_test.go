package workload

import (
	"context"
	"os"
	"path"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func (w *Workload) waitTicks(t *testing.T, n int) {
	t.Helper()
	w.mu.Lock()
	target := w.ticks + n
	w.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; {
		w.mu.Lock()
		done := w.ticks >= target
		w.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("workload stalled")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWritesOnlyWhilePoweredOn(t *testing.T) {
	m := simulator.VPX()
	m.Host, m.Machine = 1, 1
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	s := m.Service.NewServer()
	defer func() { s.Close(); m.Remove() }()
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, s.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	svm := m.Map().Any("VirtualMachine").(*simulator.VirtualMachine)
	var flat string
	for _, d := range svm.Config.Hardware.Device {
		if vd, ok := d.(*types.VirtualDisk); ok {
			vd.CapacityInBytes, vd.CapacityInKB = 4<<20, 4<<10
			var p object.DatastorePath
			p.FromString(vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo).FileName)
			ds := m.Map().Any("Datastore").(*simulator.Datastore)
			flat = path.Join(ds.Info.GetDatastoreInfo().Url, simulator.VirtualDiskBackingFileName(p.Path))
		}
	}
	w := Start(ctx, m, Options{VMs: []string{svm.Name}, Rate: 8 << 20, Tick: 2 * time.Millisecond})
	defer w.Stop()
	w.waitTicks(t, 5)
	if w.Written(svm.Name) == 0 {
		t.Fatal("nothing written to a running VM")
	}
	ch := w.TakeChanges(svm.Name)
	if len(ch) == 0 || ch[0].File != flat || ch[0].Length != 64<<10 || ch[0].Offset%(64<<10) != 0 {
		t.Fatalf("changes %+v", ch)
	}
	vm := object.NewVirtualMachine(c.Client, svm.Self)
	task, err := vm.PowerOff(ctx)
	if err != nil || task.Wait(ctx) != nil {
		t.Fatal("power off", err)
	}
	before := w.Written(svm.Name)
	st1, _ := os.Stat(flat)
	w.waitTicks(t, 5)
	if w.Written(svm.Name) != before {
		t.Fatal("workload wrote to a powered-off VM")
	}
	st2, _ := os.Stat(flat)
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Fatal("flat file modified while powered off")
	}
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
}
