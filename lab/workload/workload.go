// Package workload is the lab's guest workload: it writes random data into
// the -flat.vmdk files of running vcsim VMs, so that replication passes have
// changes to find. Writes happen only while a VM is powered on.
//
//	w := workload.Start(ctx, model, workload.Options{Rate: 1 << 20})
//	defer w.Stop()
//	...
//	for _, c := range w.TakeChanges("WebApp1") { ... } // what was written since the last call
package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/dsfile"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// Options configure a workload.
type Options struct {
	VMs       []string      // VM names; empty = every VM of the model
	Rate      int64         // bytes per second per VM (default 1 MiB/s)
	WriteSize int64         // bytes per write, writes aligned to it (default 64 KiB)
	Tick      time.Duration // how often writes are issued (default 50ms)
	Seed      uint64        // random seed (default 1)
	// Write writes into a flat file. Give the CBT tracker's WriteAt
	// (lab/cbt): ESXi sees every write of its guests, and a write the
	// tracker does not see resets the disk's tracking. Default: a plain
	// write into the file, for a model without change tracking.
	Write func(file string, p []byte, off int64) error
	// Refused, when set, is told of a write Write refused (with the VM's
	// lock held) and says whether that is how the VM's host answers it
	// (ESXi pauses a VM whose write finds its datastore full): then the
	// write is not an error of the workload.
	Refused func(reg *simulator.Registry, vm *simulator.VirtualMachine, err error) bool
}

// Change is one write into a disk's flat file.
type Change struct {
	File   string // local path of the -flat.vmdk
	Offset int64
	Length int64
}

// Workload is a running workload.
type Workload struct {
	m      *simulator.Model
	o      Options
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	changes map[string][]Change // by VM name
	written map[string]int64
	err     error
	ticks   int // rounds done (tests wait on it)

	// flats caches each disk's flat extent (by backing file name), read
	// once from its descriptor: the run goroutine looks it up with the VM
	// locked, every tick.
	flats map[string]string
}

// Start starts writing until ctx ends or Stop is called.
func Start(ctx context.Context, m *simulator.Model, o Options) *Workload {
	if o.Rate <= 0 {
		o.Rate = 1 << 20
	}
	if o.WriteSize <= 0 {
		o.WriteSize = 64 << 10
	}
	if o.Tick <= 0 {
		o.Tick = 50 * time.Millisecond
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Write == nil {
		o.Write = writeAt
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Workload{m: m, o: o, cancel: cancel, done: make(chan struct{}), changes: map[string][]Change{}, written: map[string]int64{}}
	go w.run(ctx)
	return w
}

// Stop stops the workload and waits for the last write to finish.
func (w *Workload) Stop() {
	w.cancel()
	<-w.done
}

// Err returns the first write error, if any.
func (w *Workload) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Written returns the bytes written so far into the VM's disks.
func (w *Workload) Written(vm string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written[vm]
}

// TakeChanges returns the writes into the VM's disks since the last call.
func (w *Workload) TakeChanges(vm string) []Change {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.changes[vm]
	delete(w.changes, vm)
	return c
}

// each calls f for every selected VM, holding the VM's lock: a write done
// in f cannot interleave with a power operation, so once PowerOff returns no
// write lands in the VM's disks.
func (w *Workload) each(f func(vm *simulator.VirtualMachine)) {
	want := map[string]bool{}
	for _, n := range w.o.VMs {
		want[n] = true
	}
	lockCtx := &simulator.Context{}
	reg := w.m.Map()
	for _, o := range reg.All("VirtualMachine") {
		vm, ok := o.(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		reg.WithLock(lockCtx, vm, func() {
			// A VM with a question pending is paused: its guest runs nothing.
			if (len(want) == 0 || want[vm.Name]) && vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn && vm.Runtime.Question == nil {
				f(vm)
			}
		})
	}
}

type disk struct {
	file     string
	capacity int64
}

func (w *Workload) disks(vm *simulator.VirtualMachine) []disk {
	var out []disk
	for _, d := range vm.Config.Hardware.Device {
		vd, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		b, ok := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !ok {
			continue
		}
		capacity := vd.CapacityInBytes
		if capacity == 0 {
			capacity = vd.CapacityInKB * 1024
		}
		// A snapshotted disk's backing is a delta: the lab keeps the
		// content in the base's flat file.
		if f := w.flatPath(cbt.BaseFile(b)); f != "" {
			out = append(out, disk{file: f, capacity: capacity})
		}
	}
	return out
}

// flatPath is the local path of the flat extent the disk's descriptor
// names ("" when it names none: the guest writes no other kind).
func (w *Workload) flatPath(fileName string) string {
	if p, ok := w.flats[fileName]; ok {
		return p
	}
	p, err := dsfile.Flat(w.m, fileName)
	if err != nil {
		p = ""
	}
	if w.flats == nil {
		w.flats = map[string]string{}
	}
	w.flats[fileName] = p
	return p
}

func (w *Workload) run(ctx context.Context) {
	defer close(w.done)
	rng := rand.New(rand.NewPCG(w.o.Seed, 7))
	buf := make([]byte, w.o.WriteSize)
	credit := map[string]float64{}
	maxCredit := max(float64(w.o.WriteSize), 4*float64(w.o.Rate)*w.o.Tick.Seconds())
	last := time.Now()
	t := time.NewTicker(w.o.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			dt := now.Sub(last).Seconds()
			last = now
			w.each(func(vm *simulator.VirtualMachine) {
				for _, d := range w.disks(vm) {
					// A guest that falls behind (a loaded machine) writes
					// at most a few ticks' worth at once: it never holds the
					// VM locked long enough to starve vCenter's other calls.
					credit[d.file] = min(credit[d.file]+float64(w.o.Rate)*dt, maxCredit)
					for credit[d.file] >= float64(w.o.WriteSize) && d.capacity >= w.o.WriteSize {
						credit[d.file] -= float64(w.o.WriteSize)
						off := rng.Int64N(d.capacity/w.o.WriteSize) * w.o.WriteSize
						for i := range buf {
							buf[i] = byte(rng.Uint32())
						}
						w.mu.Lock()
						err := w.o.Write(d.file, buf, off)
						if err != nil && w.o.Refused != nil && w.o.Refused(w.m.Map(), vm, err) {
							w.mu.Unlock()
							return // paused: no more writes
						}
						if err != nil && w.err == nil {
							w.err = fmt.Errorf("workload %s: %w", vm.Name, err)
						}
						if err == nil {
							w.changes[vm.Name] = append(w.changes[vm.Name], Change{File: d.file, Offset: off, Length: int64(len(buf))})
							w.written[vm.Name] += int64(len(buf))
						}
						w.mu.Unlock()
					}
				}
			})
			w.mu.Lock()
			w.ticks++
			w.mu.Unlock()
		}
	}
}

func writeAt(file string, p []byte, off int64) error {
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(p, off); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
