package lab_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"golang.org/x/sys/unix"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/probe"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestFullDatastorePausesTheVM: a guest write that needs space its
// datastore no longer has (here a snapshot's delta growing) pauses the VM
// as ESXi does: still powered on, a question pending (out of space,
// Retry/Cancel), its guest's services and VMware Tools silent, later
// writes refused. Space freed (the snapshot removed) and Retry answered,
// it runs again.
func TestFullDatastorePausesTheVM(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	vm, err := c.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	obj := object.NewVirtualMachine(c.Client.Client, vm.Ref.Reference())
	mib := bytes.Repeat([]byte{0xa5}, 1<<20)
	for off := int64(0); off < 4<<20; off += 1 << 20 { // the guest's data, allocated
		if err := l.GuestWrite("WebApp1", mib, off); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(task *object.Task, err error) {
		t.Helper()
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	wait(obj.CreateSnapshot(ctx, "backup", "", false, false))
	room, err := vsphere.SnapshotRoomOf(ctx, c.Client.Client, vm.Ref.Reference())
	if err != nil {
		t.Fatal(err)
	}
	l.OnPrem.SetDatastoreCapacity(room.Capacity - room.Free + 2<<20) // 2 MiB free

	var addr string
	for _, r := range l.Reach.Plan() {
		if r.Name == "WebApp1" {
			addr = r.Addr
		}
	}
	web1 := probe.TCP{Addr: addr, Timeout: time.Second}
	answers := func() bool { _, err := web1.Probe(ctx); return err == nil }
	if !answers() {
		t.Fatal("WebApp1 does not answer before the datastore fills")
	}
	question := func() *mo.VirtualMachine {
		t.Helper()
		var m mo.VirtualMachine
		if err := obj.Properties(ctx, obj.Reference(), []string{"runtime"}, &m); err != nil {
			t.Fatal(err)
		}
		return &m
	}

	// The guest rewrites its data: the delta takes 1 MiB a write.
	for off := int64(0); off < 2<<20; off += 1 << 20 {
		if err := l.GuestWrite("WebApp1", mib, off); err != nil {
			t.Fatalf("write %d MiB into the delta with 2 MiB free: %v", off>>20+1, err)
		}
	}
	err = l.GuestWrite("WebApp1", mib, 2<<20)
	if err == nil || !strings.Contains(err.Error(), "no more space") {
		t.Fatalf("a third MiB with 2 MiB free: %v, want no more space", err)
	}
	m := question()
	if m.Runtime.Question == nil || !strings.Contains(m.Runtime.Question.Text, "There is no more space for virtual disk") || m.Runtime.PowerState != "poweredOn" {
		t.Fatalf("WebApp1 after its write found the datastore full: %s, question %+v; want powered on with ESXi's out-of-space question", m.Runtime.PowerState, m.Runtime.Question)
	}
	eventually(t, "WebApp1 to stop answering while paused", func() bool { return !answers() })
	if err := l.GuestWrite("WebApp1", mib, 0); err == nil || !strings.Contains(err.Error(), "paused") {
		t.Errorf("a write to the paused VM: %v, want refused", err)
	}
	auth := vsphere.GuestAuth{Username: lab.GuestUser, Password: lab.GuestPassword}
	if err := c.GuestPing(ctx, vm.Ref, auth, "172.16.10.12"); err == nil {
		t.Error("a guest ping from the paused VM succeeded (VMware Tools run nothing there)")
	}

	// Space freed (the snapshot's delta merged back) and Retry answered.
	wait(obj.RemoveAllSnapshot(ctx, nil))
	if err := obj.Answer(ctx, m.Runtime.Question.Id, "1"); err != nil {
		t.Fatal(err)
	}
	if m := question(); m.Runtime.Question != nil {
		t.Fatalf("question still pending after Retry: %+v", m.Runtime.Question)
	}
	if err := l.GuestWrite("WebApp1", mib, 2<<20); err != nil {
		t.Errorf("a write after Retry with the space back: %v", err)
	}
	eventually(t, "WebApp1 to answer again", answers)
	if err := c.GuestPing(ctx, vm.Ref, auth, "172.16.10.12"); err != nil {
		t.Errorf("a guest ping from WebApp1 running again: %v", err)
	}
}

// TestGuestWriteTakesWholeFileBlocks: on VMFS a thin disk grows in 1 MiB
// file blocks, so 4 KiB written into a block that holds no data needs a
// whole one: with half a MiB free such a write pauses the VM, where the
// same write into a block that holds data goes through.
func TestGuestWriteTakesWholeFileBlocks(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	c := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	vm, err := c.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	mib := bytes.Repeat([]byte{0x5a}, 1<<20)
	if err := l.GuestWrite("WebApp1", mib, 0); err != nil { // block 0 holds data
		t.Fatal(err)
	}
	// A 1 MiB block of the flat file with no data in it.
	f, err := os.Open(l.OnPrem.FlatFile("WebApp1"))
	if err != nil {
		t.Fatal(err)
	}
	empty := int64(-1)
	for b := int64(1); b < 16 && empty < 0; b++ {
		d, err := unix.Seek(int(f.Fd()), b<<20, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) || (err == nil && d >= (b+1)<<20) {
			empty = b
		}
	}
	f.Close()
	if empty < 0 {
		t.Skip("every 1 MiB block of WebApp1's disk holds data")
	}
	room, err := vsphere.SnapshotRoomOf(ctx, c.Client.Client, vm.Ref.Reference())
	if err != nil {
		t.Fatal(err)
	}
	l.OnPrem.SetDatastoreCapacity(room.Capacity - room.Free + 512<<10) // half a MiB free

	if err := l.GuestWrite("WebApp1", mib[:4<<10], 300<<10); err != nil {
		t.Fatalf("4 KiB into a block that holds data, half a MiB free: %v, want written (it takes no new block)", err)
	}
	err = l.GuestWrite("WebApp1", mib[:4<<10], empty<<20+300<<10)
	if err == nil || !strings.Contains(err.Error(), "no more space") {
		t.Fatalf("4 KiB into an empty 1 MiB block, half a MiB free: %v, want no more space (VMFS allocates the whole block)", err)
	}
}
