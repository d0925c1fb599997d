package cbt_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// TestSnapshotFreezesTheBase: while the VM has a snapshot, a reader of its
// base gets the disk as of the snapshot, whatever the guest writes since;
// once the snapshot is removed it gets the disk as it is. The snapshot's
// image stays, so a copy of the disk can be told to hold the source as of
// that snapshot.
func TestSnapshotFreezesTheBase(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	f.write(t, 0, 128<<10) // 0x5a in the first two blocks
	if f.tr.Reader(f.flat) != nil {
		t.Fatal("a disk without snapshot is served frozen")
	}
	snap, _ := f.snapshot(t)
	if err := f.tr.WriteAt(f.flat, bytes.Repeat([]byte{0xa5}, 100<<10), 32<<10); err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Repeat([]byte{0x5a}, 128<<10), make([]byte, 64<<10)...)
	r := f.tr.Reader(f.flat)
	if r == nil {
		t.Fatal("the base of a snapshotted VM is not frozen")
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("frozen base differs from the disk at the snapshot (%v)", err)
	}
	ims := f.tr.Images(f.flat)
	if len(ims) != 1 {
		t.Fatalf("%d images, want 1", len(ims))
	}
	if st := f.tr.Stats(); st.CopiedOnWrite != 3*64<<10 || st.BytesRead != 0 {
		t.Errorf("stats %+v: want the three blocks the write overwrote copied first, nothing read to track changes", st)
	}

	res, err := methods.RemoveSnapshot_Task(ctx, f.c, &types.RemoveSnapshot_Task{This: snap, RemoveChildren: false})
	if err != nil || object.NewTask(f.c, res.Returnval).Wait(ctx) != nil {
		t.Fatal("remove snapshot", err)
	}
	if f.tr.Reader(f.flat) != nil {
		t.Error("the base is still frozen after its snapshot was removed")
	}
	// The image still holds the disk as of the snapshot.
	if _, err := ims[0].ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Errorf("image after removal differs from the disk at the snapshot (%v)", err)
	}
}
