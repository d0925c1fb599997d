package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vsphere"
)

// BenchVM is a one-host vCenter holding one running VM, for `ferry bench
// replicate`: ferry reads its disk as it reads a real source (snapshot,
// changed block tracking, host-direct /folder with service tickets, TLS
// verified against the lab CA).
type BenchVM struct {
	Source   *replication.VSphereSource
	FlatFile string    // the VM's flat extent on the datastore directory
	ESX      *ESXHosts // which path the reads took
	// CBT is the vCenter's changed block tracking: the bench's writes into
	// the disk go through its WriteAt, as a guest's reach the disk through
	// ESXi.
	CBT      *cbt.Tracker
	Warnings []string // from the source (a fallback to vCenter's proxy)

	vc     *VCenter
	client *vsphere.Client
}

// StartBenchVM starts the vCenter in dir with a VM whose disk has size
// bytes (whole MiB), changed block tracking on.
func StartBenchVM(ctx context.Context, dir string, size int64) (b *BenchVM, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ca, err := NewCA("ferry bench CA")
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := ca.WriteFile(caFile); err != nil {
		return nil, err
	}
	spec := VCenterSpec{
		Name: "bench", Datacenter: "Bench-DC", Cluster: "Bench-Cluster", Hosts: []string{"esx-bench.lab"},
		Datastore: "bench-ds", DVS: "bench-vds", Portgroups: []string{"bench-net"},
		VMs: []VMSpec{{Name: "bench", IP: "192.0.2.10", Network: "bench-net", DiskSize: size, PowerOn: true, Seed: 1}},
	}
	b = &BenchVM{}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	// The vCenter's and the ESXi host's servers, and every goroutine they
	// start, count as the source's CPU; the client's as the sender's.
	replication.AsPart(ctx, replication.PartSource, func(ctx context.Context) { b.vc, err = startVCenter(ctx, spec, dir, ca) })
	if err != nil {
		return b, err
	}
	b.ESX = b.vc.ESX
	b.FlatFile = b.vc.FlatFile("bench")
	b.CBT = cbt.Install(b.vc.Model)
	replication.AsPart(ctx, replication.PartSender, func(ctx context.Context) {
		b.client, err = vsphere.Connect(ctx, vsphere.Config{URL: b.vc.URL, Username: b.vc.Username, Password: b.vc.Password, CAFile: caFile})
	})
	if err != nil {
		return b, fmt.Errorf("bench vCenter: %w", err)
	}
	vm, err := b.client.VMByName(ctx, "bench")
	if err != nil {
		return b, err
	}
	if err := replication.EnableCBT(ctx, b.client.Client.Client, vm.Ref.Reference()); err != nil {
		return b, err
	}
	b.Source = replication.NewVSphereSource(b.client.Client.Client, vm.Ref.Reference())
	b.Source.Warn = func(msg string) { b.Warnings = append(b.Warnings, msg) }
	return b, nil
}

// PowerOff powers the VM off (the bench verifies the replica as a cutover
// does, on the powered-off VM).
func (b *BenchVM) PowerOff(ctx context.Context) error {
	vm, err := b.client.VMByName(ctx, "bench")
	if err != nil {
		return err
	}
	return b.client.PowerOff(ctx, vm.Ref)
}

// Close stops the vCenter.
func (b *BenchVM) Close() error {
	var errs []error
	if b.client != nil {
		errs = append(errs, b.client.Close(context.Background()))
	}
	if b.vc != nil {
		b.vc.Close()
	}
	return errors.Join(errs...)
}
