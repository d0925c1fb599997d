package replication_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/replication"
)

// TestWholeDiskVerifyReadsInRuns: the whole-disk verify (cutover.full_verify,
// or a cutover without a digest map) reads a host-direct source in ranged
// GETs of a run of blocks each, one service ticket per GET, not a GET and a
// ticket per MiB; and the BLAKE3 it takes of the blocks it read out of order
// by several readers still equals the replica's.
func TestWholeDiskVerifyReadsInRuns(t *testing.T) {
	labParallel(t)
	const size = 96 << 20
	dir := t.TempDir()
	var vm *lab.BenchVM
	defer func() {
		if vm != nil {
			vm.Close()
		}
	}()
	var before int64
	o := replication.BenchOptions{Dir: dir, Size: size, Changed: 1 << 20, Conns: 4, Runs: 1,
		Source: func(ctx context.Context, size int64) (replication.Source, string, error) {
			var err error
			if vm, err = lab.StartBenchVM(ctx, filepath.Join(dir, "vcenter"), size); err != nil {
				return nil, "", err
			}
			return vm.Source, vm.FlatFile, nil
		},
		Write: func(p string, b []byte, off int64) error { return vm.CBT.WriteAt(p, b, off) },
		BeforeVerify: func(ctx context.Context) error {
			before = vm.ESX.HostReads()
			return vm.PowerOff(ctx)
		},
	}
	if _, err := replication.BenchReplicate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	// The disk's descriptor, then 96 MiB in three GETs of 32 MiB: a GET per
	// MiB would be 96.
	if got := vm.ESX.HostReads() - before; got > 1+size/(32<<20) {
		t.Errorf("the whole-disk verify made %d host-direct GETs (one service ticket each), want at most %d", got, 1+size/(32<<20))
	}
	if n := vm.ESX.ProxyReads(); n != 0 {
		t.Errorf("%d reads through vCenter's proxy, want none", n)
	}
}

// TestVerifyFinalReadsRunsOfTouchedBlocks: the cutover's verify reads the
// blocks the final pass touched from the powered-off source; consecutive
// ones come from one ranged GET (one service ticket) per run, not a GET
// per MiB inside the downtime.
func TestVerifyFinalReadsRunsOfTouchedBlocks(t *testing.T) {
	labParallel(t)
	ctx := context.Background()
	dir := t.TempDir()
	vm, err := lab.StartBenchVM(ctx, filepath.Join(dir, "vcenter"), 96<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	serverTLS, clientTLS := pairTLS(t)
	r, replicas, _ := applianceReceiver(t, dir, serverTLS, vm.Source)
	addr, st := serveReceiver(t, r, dir)
	job := &replication.Job{VM: "bench", Org: "bench", Kind: replication.KindAppliance, Replicas: replicas, Source: vm.Source,
		Addr: addr, TLS: clientTLS, State: st, Conns: 4}
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	// The guest rewrites 40 MiB from 8 MiB on (blocks 8-47), then stops.
	data := make([]byte, 40<<20)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(data)
	if err := vm.CBT.WriteAt(vm.FlatFile, data, 8<<20); err != nil {
		t.Fatal(err)
	}
	if err := vm.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := job.RunPass(ctx, true); err != nil {
		t.Fatal(err)
	}
	before := vm.ESX.HostReads()
	res, err := job.VerifyFinal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Blocks != 40 {
		t.Errorf("verified %d blocks, want the 40 the final pass touched", res.Blocks)
	}
	// The descriptor, then blocks 8-39 and 40-47: a GET per MiB would be 40.
	if got := vm.ESX.HostReads() - before; got > 3 {
		t.Errorf("the verify made %d host-direct GETs (one service ticket each), want at most 3", got)
	}
}
