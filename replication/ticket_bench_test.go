package replication_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/replication"
)

// The cost of host-direct reads' service tickets (one
// AcquireGenericServiceTicket round trip to vCenter per GET): compare
// BenchmarkServiceTicket's time per ticket with BenchmarkSourceRead's time
// per MiB. Against the lab both ends are on loopback; a real vCenter's
// round trip is longer (network, its own load), a host's read no faster.

const ticketBenchDisk = 64 << 20

func benchVM(b *testing.B) *lab.BenchVM {
	b.Helper()
	vm, err := lab.StartBenchVM(context.Background(), b.TempDir(), ticketBenchDisk)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { vm.Close() })
	return vm
}

// BenchmarkServiceTicket: one ticket for a host /folder GET.
func BenchmarkServiceTicket(b *testing.B) {
	vm := benchVM(b)
	c := vm.Source.Client
	u := url.URL{Scheme: "https", Host: vm.ESX.Addr("esx-bench.lab"), Path: "/folder/bench/bench-flat.vmdk", RawQuery: "dsName=bench-ds"}
	ctx := context.Background()
	for b.Loop() {
		if _, err := methods.AcquireGenericServiceTicket(ctx, c, &types.AcquireGenericServiceTicket{
			This: *c.ServiceContent.SessionManager,
			Spec: &types.SessionManagerHttpServiceRequestSpec{Url: u.String(), Method: "httpGet"},
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSourceRead: a pass over a fully written disk (its first pass:
// QueryChangedDiskAreas "*", then every changed block read in FrameMax
// reads), host-direct and through the proxy; it reports the GETs the host
// answered (one service ticket each) per MiB read.
func BenchmarkSourceRead(b *testing.B) {
	for _, proxy := range []bool{false, true} {
		name := "host-direct"
		if proxy {
			name = "proxy"
		}
		b.Run(name, func(b *testing.B) {
			vm := benchVM(b)
			vm.Source.ProxyOnly = proxy
			ctx := context.Background()
			buf := make([]byte, replication.FrameMax)
			for off := int64(0); off < ticketBenchDisk; off += int64(len(buf)) {
				for i := range buf {
					buf[i] = byte(off>>20) ^ byte(i*31)
				}
				if err := vm.CBT.WriteAt(vm.FlatFile, buf, off); err != nil {
					b.Fatal(err)
				}
			}
			disks, err := vm.Source.Disks(ctx)
			if err != nil {
				b.Fatal(err)
			}
			snap, err := vm.Source.Open(ctx, "", false)
			if err != nil {
				b.Fatal(err)
			}
			defer snap.Release(ctx)
			key := disks[0].Key
			host0 := vm.ESX.HostReads()
			var read int64
			b.SetBytes(ticketBenchDisk)
			for b.Loop() {
				extents, err := snap.Extents(ctx, key, "*")
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range extents {
					for off := e.Offset; off < e.End(); off += replication.FrameMax {
						n := min(replication.FrameMax, e.End()-off)
						if err := snap.ReadAt(ctx, key, buf[:n], off); err != nil {
							b.Fatal(err)
						}
						read += n
					}
				}
			}
			if read != int64(b.N)*ticketBenchDisk {
				b.Fatalf("read %d bytes, want the whole disk %d times", read, b.N)
			}
			b.ReportMetric(float64(vm.ESX.HostReads()-host0)/float64(read>>20), "hostGETs/MiB")
			if len(vm.Warnings) != 0 {
				b.Fatalf("warnings: %q", vm.Warnings)
			}
		})
	}
}
