package replication_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) add(m string) { w.mu.Lock(); w.msgs = append(w.msgs, m); w.mu.Unlock() }
func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}

func labSource(t *testing.T) (*lab.Lab, *vsphere.Client) {
	t.Helper()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	c, err := vsphere.Connect(context.Background(), vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return l, c
}

// readAll reads the whole first disk of a pass and releases it.
func readAll(t *testing.T, src *replication.VSphereSource) []byte {
	t.Helper()
	ctx := context.Background()
	disks, err := src.Disks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := src.Open(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := snap.Release(ctx); err != nil {
			t.Error(err)
		}
	}()
	out := make([]byte, disks[0].Capacity)
	for off := int64(0); off < disks[0].Capacity; off += replication.FrameMax {
		if err := snap.ReadAt(ctx, disks[0].Key, out[off:off+replication.FrameMax], off); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestSourceReadsHostDirect: a pass reads the snapshot's base disk from
// the ESXi host that runs the VM, with service tickets: vCenter's /folder
// proxy serves none of it, and nothing is warned. When the host cannot be
// reached the reads go through the proxy, with a warning naming the cost.
func TestSourceReadsHostDirect(t *testing.T) {
	l, c := labSource(t)
	ctx := context.Background()
	vm, err := c.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(l.OnPrem.FlatFile("WebApp1"))
	if err != nil {
		t.Fatal(err)
	}

	var w warnings
	src := replication.NewVSphereSource(c.Client.Client, vm.Ref.Reference())
	src.Warn = w.add
	proxy0, host0 := l.OnPrem.ESX.ProxyReads(), l.OnPrem.ESX.HostReads()
	if got := readAll(t, src); !bytes.Equal(got, want) {
		t.Fatal("host-direct read differs from the source disk")
	}
	if p, h := l.OnPrem.ESX.ProxyReads()-proxy0, l.OnPrem.ESX.HostReads()-host0; p != 0 || h < 16 {
		t.Errorf("%d reads through vCenter's proxy, %d host-direct: want 0 and at least 16 (one per MiB)", p, h)
	}
	if msgs := w.all(); len(msgs) != 0 {
		t.Errorf("warnings: %q", msgs)
	}

	// The hosts stop answering: the proxy, warned once.
	l.OnPrem.ESX.Close()
	proxy0 = l.OnPrem.ESX.ProxyReads()
	if got := readAll(t, src); !bytes.Equal(got, want) {
		t.Fatal("proxy read differs from the source disk")
	}
	if p := l.OnPrem.ESX.ProxyReads() - proxy0; p < 16 {
		t.Errorf("%d proxy reads after the hosts stopped, want at least 16", p)
	}
	msgs := w.all()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "vCenter's /folder proxy") || !strings.Contains(msgs[0], "slowest") || !strings.Contains(msgs[0], "WebApp1") {
		t.Fatalf("warnings %q: want one naming the proxy and its speed cost", msgs)
	}
	for _, secret := range []string{l.OnPrem.Password, "vmware_cgi_ticket="} {
		if strings.Contains(msgs[0], secret) {
			t.Errorf("warning holds a secret: %q", msgs[0])
		}
	}
	readAll(t, src)
	if len(w.all()) != 1 {
		t.Errorf("the fallback was warned again: %q", w.all())
	}
}

// TestSourceRefusesUnreadableDisks: opening a pass on a VM whose disk the
// transport cannot read fails with the reason, and leaves no snapshot.
func TestSourceRefusesUnreadableDisks(t *testing.T) {
	_, c := labSource(t)
	ctx := context.Background()
	want := map[string]string{
		lab.DiskRDMPhysical: "raw device mapping",
		lab.DiskRDMVirtual:  "raw device mapping",
		lab.DiskVSAN:        "vSAN",
		lab.DiskVVol:        "vVols",
		lab.DiskEncrypted:   "encrypted",
	}
	for _, spec := range lab.RefusedVMs {
		if want[spec.Disk] == "" {
			continue
		}
		vm, err := c.VMByName(ctx, spec.Name)
		if err != nil {
			t.Fatal(err)
		}
		src := replication.NewVSphereSource(c.Client.Client, vm.Ref.Reference())
		snap, err := src.Open(ctx, "", false)
		if err == nil {
			snap.Release(ctx)
			t.Errorf("%s (%s): opened", spec.Name, spec.Disk)
			continue
		}
		if !strings.Contains(err.Error(), want[spec.Disk]) {
			t.Errorf("%s (%s): %v, want %q", spec.Name, spec.Disk, err, want[spec.Disk])
		}
		after, err := c.VMByName(ctx, spec.Name)
		if err != nil {
			t.Fatal(err)
		}
		if after.Snapshots != 0 {
			t.Errorf("%s: %d snapshot(s) left", spec.Name, after.Snapshots)
		}
	}
}
