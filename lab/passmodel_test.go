package lab_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestGuestModelConsistentPass: while a source runs, a copy of it at the
// provider boots only from a consistent pass: disks holding the source as
// of one of its snapshots (whose base the snapshot froze while the guest
// kept writing). A copy mixing that snapshot with a block written since, as
// a replica caught in the middle of a pass would, does not boot.
func TestGuestModelConsistentPass(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: 2 << 20})
	ctx := context.Background()
	onprem := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	provider := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	const name = "WebApp2"
	src, err := onprem.VMByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	flat := l.OnPrem.FlatFile(name)
	before := len(l.CBT.Images(flat))
	task, err := object.NewVirtualMachine(onprem.Client.Client, src.Ref.Reference()).CreateSnapshot(ctx, "pass", "", false, false)
	if err != nil || task.Wait(ctx) != nil {
		t.Fatal("snapshot", err)
	}
	ims := l.CBT.Images(flat)
	if len(ims) != before+1 {
		t.Fatalf("%d images after a snapshot, want %d", len(ims), before+1)
	}
	im := ims[len(ims)-1]
	// The guest writes on: wait for a block that differs from the snapshot.
	var changed int64 = -1
	eventually(t, "a write after the snapshot", func() bool {
		changed = differingBlock(t, im, flat)
		return changed >= 0
	})
	dir := t.TempDir()
	consistent := filepath.Join(dir, "consistent-flat.vmdk")
	writeImage(t, im, consistent, -1, "")
	mixed := filepath.Join(dir, "mixed-flat.vmdk")
	writeImage(t, im, mixed, changed, flat)

	cc := sourceLayout(t, l, onprem, name)
	cc.disks[0].srcFlat = consistent
	createCopy(t, l, provider, name+"-test-a", cc)
	cc = sourceLayout(t, l, onprem, name)
	cc.disks[0].srcFlat = mixed
	b := createCopy(t, l, provider, name+"-test-b", cc)

	var failures []lab.BootRecord
	eventually(t, "a verdict on the mixed copy", func() bool {
		failures = l.Reach.BootFailures()
		return len(failures) > 0
	})
	for _, f := range failures {
		if f.ProviderVM != b.Value || !strings.Contains(f.Reason, "caught in the middle of a pass") {
			t.Errorf("boot failure %+v: want the mixed copy (%s) only, as not a consistent disk", f, b.Value)
		}
	}
}

// differingBlock is the offset of a cbt.BlockSize block where the image
// and the file differ, or -1.
func differingBlock(t *testing.T, im cbt.Image, file string) int64 {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, b := make([]byte, cbt.BlockSize), make([]byte, cbt.BlockSize)
	for off := int64(0); off < im.Size; off += cbt.BlockSize {
		if _, err := im.ReadAt(a, off); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			return off
		}
	}
	return -1
}

// writeImage writes the image into to; with block >= 0 that block comes
// from the file from instead.
func writeImage(t *testing.T, im cbt.Image, to string, block int64, from string) {
	t.Helper()
	buf := make([]byte, im.Size)
	if _, err := im.ReadAt(buf, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if block >= 0 {
		f, err := os.Open(from)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.ReadAt(buf[block:block+cbt.BlockSize], block); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(to, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}
