package replication

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/ferry-migrate/ferry/internal/median"
)

// BenchOptions configure BenchReplicate.
type BenchOptions struct {
	Dir     string // work directory (the disk, its copy and the replica: about 3x Size)
	Size    int64  // disk size
	Changed int64  // bytes changed between the initial sync and the incremental pass
	Conns   int    // connections per VM
	Seed    uint64
	// Runs is how many times the raw copy and the initial sync are
	// measured, interleaved (default 1).
	Runs int
	// Source, when set, is the VM to replicate instead of a tracked local
	// file (e.g. a vCenter VM read host-direct, as ferry reads a real
	// source): the bench writes the disk content to diskPath, the file
	// behind the VM's disk, and lets its changed block tracking find the
	// changes.
	Source func(ctx context.Context, size int64) (src Source, diskPath string, err error)
	// Write, when set, writes the changes between the passes into diskPath
	// (a guest write: the VM's host sees it, and so does its changed block
	// tracking); default a plain write into the file.
	Write func(diskPath string, p []byte, off int64) error
	// BeforeVerify runs before the final verify, which opens the source
	// as the cutover does: a VM must be powered off by then.
	BeforeVerify func(ctx context.Context) error
	// CPUByPart, when set, returns the CPU time this process spent since
	// its previous call, by part (the CPUPartLabel of the goroutines that
	// spent it); it is called right before and right after each initial
	// sync.
	CPUByPart func() map[string]time.Duration
}

// CPUPartLabel is the pprof label that names the part of a bench run a
// goroutine works for: PartSender, PartReceiver, or PartSource (the
// source's own servers, e.g. an in-process vCenter and ESXi host). A
// goroutine inherits its creator's labels.
const (
	CPUPartLabel = "ferry.part"
	PartSender   = "sender"
	PartReceiver = "receiver"
	PartSource   = "source"
)

// AsPart runs f with the goroutines it starts labelled as part (CPUPartLabel).
func AsPart(ctx context.Context, part string, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels(CPUPartLabel, part), f)
}

// BenchResult holds the measurements of BenchReplicate.
type BenchResult struct {
	Size, Changed int64
	RawCopy       time.Duration // local copy of the disk file (read + write + fsync)
	Initial       time.Duration // ferry initial sync over loopback TLS
	InitialSent   int64         // wire bytes of the initial sync
	Incremental   time.Duration // ferry incremental pass after Changed bytes were written
	IncrementSent int64         // wire bytes of the incremental pass
	// CPU time (user + system) of this process during the raw copy, the
	// initial sync and the incremental pass: both ends of the replication
	// and, with a VM source, the in-process vCenter and ESXi host serving
	// the reads. On a loaded machine the throughput ratios follow these.
	RawCopyCPU, InitialCPU, IncrementalCPU time.Duration
	// FullVerify is the closing whole-disk verify (BLAKE3 of the source,
	// read as the cutover reads the powered-off VM, and of the replica:
	// what cutover.full_verify costs inside the downtime), and its CPU time.
	FullVerify, FullVerifyCPU time.Duration
	// Loopback is one plain loopback TCP transfer of the disk's bytes (no
	// TLS, no ferry: read from the page cache, written to a socket, read
	// and discarded at the other end), and its CPU time: what the kernel
	// alone costs for each hop the initial sync makes on this machine.
	Loopback, LoopbackCPU time.Duration
	// Runs are the raw copies and initial syncs measured (RawCopy, Initial
	// and their CPU times above are the medians over them).
	Runs []BenchRun
}

// BenchRun is one interleaved measurement of the raw copy and the initial
// sync.
type BenchRun struct {
	RawCopy, RawCopyCPU time.Duration
	Initial, InitialCPU time.Duration
	InitialSent         int64
	// InitialCPUByPart is the initial sync's CPU time by part (with
	// BenchOptions.CPUByPart; nil without).
	InitialCPUByPart map[string]time.Duration
}

// processCPU is the CPU time (user + system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// MBps returns bytes per second over d in MB/s (10^6).
func MBps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds() / 1e6
}

// fillDisk writes a disk image with a realistic mix per 1 MiB block: 1/8
// zero, 3/8 half-random (compressible), 1/2 random.
func fillDisk(path string, size int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	cc := rand.NewChaCha8([32]byte{byte(seed)})
	buf := make([]byte, FrameMax)
	for off := int64(0); off < size; off += FrameMax {
		n := min(FrameMax, size-off)
		switch k := rng.IntN(8); {
		case k == 0:
			continue
		case k <= 3:
			_, _ = cc.Read(buf[:n/2])
			clear(buf[n/2 : n])
		default:
			_, _ = cc.Read(buf[:n])
		}
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return err
		}
	}
	return f.Sync()
}

// changeDisk writes changed random bytes at distinct 64 KiB-aligned offsets.
func changeDisk(path string, size, changed int64, seed uint64, track *FileSource) error {
	return changeDiskWith(path, size, changed, seed, track, nil)
}

// changeDiskWith is changeDisk writing through write (nil: into the file).
func changeDiskWith(path string, size, changed int64, seed uint64, track *FileSource, write func(string, []byte, int64) error) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if write == nil {
		write = func(_ string, p []byte, off int64) error { _, err := f.WriteAt(p, off); return err }
	}
	const chunk = 64 << 10
	rng := rand.New(rand.NewPCG(seed, 13))
	cc := rand.NewChaCha8([32]byte{byte(seed), 1})
	perm := rng.Perm(int(size / chunk))
	buf := make([]byte, chunk)
	for i := 0; int64(i)*chunk < changed && i < len(perm); i++ {
		n := min(chunk, changed-int64(i)*chunk)
		_, _ = cc.Read(buf[:n])
		if err := write(path, buf[:n], int64(perm[i])*chunk); err != nil {
			return err
		}
		if track != nil {
			track.Written(0, int64(perm[i])*chunk, n)
		}
	}
	return f.Sync()
}

// loopbackCopy sends the file at src over one loopback TCP connection
// (no TLS, no framing, no sendfile or splice: the bytes pass through user
// memory as they do at each end of a replication hop) to a reader that
// discards them, and returns the time and the CPU time it took.
func loopbackCopy(src string) (took, cpu time.Duration, err error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, 0, err
	}
	defer in.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer ln.Close()
	got := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		_, err = io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{c}, make([]byte, FrameMax))
		got <- err
	}()
	start, cpu0 := time.Now(), processCPU()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, 0, err
	}
	_, err = io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{in}, make([]byte, FrameMax))
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if rerr := <-got; err == nil {
		err = rerr
	}
	return time.Since(start), processCPU() - cpu0, err
}

func rawCopy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(out, in, make([]byte, FrameMax)); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// blockDeviceFile stands for a freshly created thin disk: size bytes that
// read as zeros.
func blockDeviceFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// BenchReplicate measures, in one run, a raw local copy of a disk file,
// ferry's initial sync of the same file over loopback TLS, and an
// incremental pass after o.Changed bytes were rewritten. With o.Runs > 1
// the raw copy and the initial sync (into a new replica each time) are
// measured o.Runs times, interleaved in alternating order (a machine whose
// speed drifts weighs on both alike); the result holds every run and their
// medians.
func BenchReplicate(ctx context.Context, o BenchOptions) (BenchResult, error) {
	r := BenchResult{Size: o.Size, Changed: o.Changed}
	src := filepath.Join(o.Dir, "source-flat.vmdk")
	var source Source
	if o.Source != nil {
		var err error
		if source, src, err = o.Source(ctx, o.Size); err != nil {
			return r, fmt.Errorf("source VM: %w", err)
		}
	}
	if err := fillDisk(src, o.Size, o.Seed+1); err != nil {
		return r, fmt.Errorf("create source disk: %w", err)
	}
	// A tracked source: an incremental pass costs what it costs on vSphere,
	// where CBT knows the changed blocks without reading the disk.
	var tracked *FileSource
	if source == nil {
		tracked = NewTrackedFileSource(src)
		source = tracked
	}
	var t *benchTarget
	defer func() {
		if t != nil {
			t.close()
		}
	}()
	for i := range max(o.Runs, 1) {
		var run BenchRun
		copyRaw := func() error {
			start, cpu := time.Now(), processCPU()
			if err := rawCopy(src, filepath.Join(o.Dir, "rawcopy-flat.vmdk")); err != nil {
				return fmt.Errorf("raw copy: %w", err)
			}
			run.RawCopy, run.RawCopyCPU = time.Since(start), processCPU()-cpu
			return os.Remove(filepath.Join(o.Dir, "rawcopy-flat.vmdk"))
		}
		initialSync := func() error {
			if t != nil {
				// The previous run's replica and state make way.
				t.close()
				if err := os.RemoveAll(t.dir); err != nil {
					return err
				}
			}
			var err error
			if t, err = newBenchTarget(ctx, o, filepath.Join(o.Dir, fmt.Sprintf("run%d", i+1)), source); err != nil {
				return err
			}
			if o.CPUByPart != nil {
				o.CPUByPart()
			}
			cpu := processCPU()
			res, err := runPass(ctx, t.job)
			if err != nil {
				return fmt.Errorf("initial sync: %w", err)
			}
			run.Initial, run.InitialSent, run.InitialCPU = res.Duration, res.Counters.Sent, processCPU()-cpu
			if o.CPUByPart != nil {
				run.InitialCPUByPart = o.CPUByPart()
			}
			return nil
		}
		first, second := copyRaw, initialSync
		if i%2 == 1 {
			first, second = initialSync, copyRaw
		}
		if err := first(); err != nil {
			return r, err
		}
		if err := second(); err != nil {
			return r, err
		}
		r.Runs = append(r.Runs, run)
	}
	r.RawCopy = medianOf(r.Runs, func(b BenchRun) time.Duration { return b.RawCopy })
	r.RawCopyCPU = medianOf(r.Runs, func(b BenchRun) time.Duration { return b.RawCopyCPU })
	r.Initial = medianOf(r.Runs, func(b BenchRun) time.Duration { return b.Initial })
	r.InitialCPU = medianOf(r.Runs, func(b BenchRun) time.Duration { return b.InitialCPU })
	r.InitialSent = r.Runs[len(r.Runs)-1].InitialSent
	var err error
	if r.Loopback, r.LoopbackCPU, err = loopbackCopy(src); err != nil {
		return r, fmt.Errorf("loopback copy: %w", err)
	}
	job := t.job
	if err := changeDiskWith(src, o.Size, o.Changed, o.Seed+2, tracked, o.Write); err != nil {
		return r, fmt.Errorf("change disk: %w", err)
	}
	cpu := processCPU()
	res, err := runPass(ctx, job)
	if err != nil {
		return r, fmt.Errorf("incremental pass: %w", err)
	}
	r.Incremental, r.IncrementSent, r.IncrementalCPU = res.Duration, res.Counters.Sent, processCPU()-cpu
	if o.BeforeVerify != nil {
		if err := o.BeforeVerify(ctx); err != nil {
			return r, err
		}
	}
	start, cpu := time.Now(), processCPU()
	if err := job.Verify(ctx); err != nil {
		return r, err
	}
	r.FullVerify, r.FullVerifyCPU = time.Since(start), processCPU()-cpu
	return r, nil
}

// benchTarget is the receiving end of a bench run: a receiver writing as
// in the receiver appliance into a new replica device, and a job with its
// own sender state.
type benchTarget struct {
	dir  string
	job  *Job
	rcv  *Receiver
	st   *StateStore
	stop context.CancelFunc
}

func newBenchTarget(ctx context.Context, o BenchOptions, dir string, source Source) (t *benchTarget, err error) {
	sc, err := SelfSignedCert("receiver")
	if err != nil {
		return nil, err
	}
	cc, err := SelfSignedCert("sender")
	if err != nil {
		return nil, err
	}
	t = &benchTarget{dir: dir, stop: func() {}}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	// The receiver writes as in the receiver appliance: a replica disk
	// found by its UUID under a by-id directory, here a file standing for
	// the block device the provider vCenter's disk appears as.
	const uuid = "6000c290-bec4-0000-0000-00000000be4c"
	byID := filepath.Join(dir, "by-id")
	names, _ := DeviceNames(uuid)
	if err := os.MkdirAll(byID, 0o755); err != nil {
		return t, err
	}
	if err := blockDeviceFile(filepath.Join(byID, names[0]), o.Size); err != nil {
		return t, fmt.Errorf("replica device: %w", err)
	}
	if t.rcv, err = NewReceiver(ReceiverConfig{
		StateDir:  filepath.Join(dir, "receiver"),
		Writer:    ApplianceWriter{ByID: byID},
		TLS:       PinnedServerTLS(sc, Fingerprint(cc.Certificate[0])),
		Authorize: PinnedNamespaces(map[string][]string{Fingerprint(cc.Certificate[0]): {"bench/bench"}}),
	}); err != nil {
		return t, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return t, err
	}
	rctx, stop := context.WithCancel(ctx)
	t.stop = stop
	AsPart(ctx, PartReceiver, func(context.Context) { go t.rcv.Serve(rctx, ln) })
	if t.st, err = OpenState(filepath.Join(dir, "sender", "state.db")); err != nil {
		return t, err
	}
	disks, err := source.Disks(ctx)
	if err != nil {
		return t, err
	}
	t.job = &Job{VM: "bench", Org: "bench", Kind: KindAppliance, Replicas: map[string]string{disks[0].Key: uuid},
		Source: source, Addr: ln.Addr().String(),
		TLS: PinnedClientTLS(cc, Fingerprint(sc.Certificate[0])), State: t.st, Conns: o.Conns}
	return t, nil
}

// runPass runs a pass of job as the sender part.
func runPass(ctx context.Context, job *Job) (res PassResult, err error) {
	AsPart(ctx, PartSender, func(ctx context.Context) { res, err = job.RunPass(ctx, false) })
	return res, err
}

func (t *benchTarget) close() {
	t.stop()
	if t.st != nil {
		t.st.Close()
	}
	if t.rcv != nil {
		t.rcv.Close()
	}
}

// medianOf is the median of f over runs.
func medianOf(runs []BenchRun, f func(BenchRun) time.Duration) time.Duration {
	v := make([]time.Duration, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	return median.Of(v)
}
