package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/spf13/cobra"
)

func newBenchCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks: replicate (engine vs a raw copy), cutover (downtime in the lab), rpo (many VMs at one RPO)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("choose a benchmark: ferry bench replicate, ferry bench cutover, ferry bench rpo")
		},
	}
	// The benchmarks keep no log: the global --log-file would promise one
	// (ferry.log in the state directory) and write nothing.
	var logFile string
	cmd.PersistentFlags().StringVar(&logFile, "log-file", "", "not for bench: it keeps no log; its progress and warnings go to stderr (redirect it, 2>FILE)")
	endpointFlags := notForEndpoints(cmd, "each benchmark makes its own endpoints (a fresh lab, or in-process servers)",
		"the benchmarks' endpoints are verified with their own CA")
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if err := endpointFlags(); err != nil {
			return err
		}
		if logFile != "" {
			return usagef("--log-file: ferry bench keeps no log; its progress and warnings go to stderr: redirect it (2>%s) instead", logFile)
		}
		return nil
	}
	cmd.AddCommand(newBenchReplicateCmd(), newBenchCutoverCmd(), newBenchRPOCmd())
	return cmd
}

func newBenchReplicateCmd() *cobra.Command {
	var size, changed, dir, reader, cpuprofile string
	var conns, runs int
	cmd := &cobra.Command{
		Use:   "replicate [--size 1GiB] [--changed 64MiB] [--runs 1]",
		Short: "Measure raw copy vs ferry initial sync vs incremental pass on one disk file",
		Long: `In one run: write a disk image (1/8 zero, 3/8 compressible, 1/2 random 1 MiB
blocks), time a raw local copy of it, then ferry's initial sync of the same file
over loopback TLS 1.3 to an in-process receiver that writes as in the receiver
appliance (the replica disk found by its UUID under a by-id directory, here a
file standing for the hot-added block device; pwrite + fdatasync), then rewrite --changed bytes
(random data, 64 KiB-aligned) and time the incremental pass. With
--reader host-direct (the default) the disk is a running VM's in an in-process
vCenter, read as ferry reads a real source: a snapshot per pass, changed block
tracking for the extents, and range reads from the ESXi host's /folder with a
one-time service ticket each (TLS verified); the output counts the reads that
went host-direct and through vCenter's proxy. Prints MB/s of
each, their ratios, bytes sent / bytes changed, and the time of the closing
whole-disk verify (BLAKE3 of source and replica, what cutover.full_verify
adds to the downtime). It also sends the disk's bytes once over loopback
TCP with no TLS and no ferry, and prints its time and CPU time beside the
loopback hops the initial sync makes (two with host-direct, one with file):
the kernel's own floor for each hop on this machine. With --runs N the raw copy
and the initial sync (into a new replica each time) are measured N times,
interleaved in alternating order, and the medians are printed beside every
run's figures: on a shared machine whose speed drifts (page cache, the
hypervisor's memory), one pair of timings can mislead. The run is CPU-profiled
(runtime/pprof, whatever --cpuprofile says) to print the initial sync's CPU
time by part: ferry's sender, ferry's receiver, and with --reader host-direct
the in-process vCenter and ESXi host serving the source (on real
infrastructure their CPU, not ferry's host's). Needs about 3x --size
of free space in --dir (default: a temporary directory, removed afterwards).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sz, err := parseSize(size)
			if err != nil || sz < 16<<20 || sz > 4<<30 {
				return usagef("--size %q: want a size from 16MiB to 4GiB (e.g. 1GiB)", size)
			}
			ch, err := parseSize(changed)
			if err != nil || ch <= 0 || ch > sz {
				return usagef("--changed %q: want a size from 1 byte up to --size (e.g. 64MiB)", changed)
			}
			if conns < 1 || conns > 64 {
				return usagef("--conns %d: want 1 to 64", conns)
			}
			if runs < 1 || runs > 9 {
				return usagef("--runs %d: want 1 to 9", runs)
			}
			if reader != "host-direct" && reader != "file" {
				return usagef("--reader %q: want host-direct or file", reader)
			}
			work := dir
			if work == "" {
				if work, err = os.MkdirTemp("", "ferry-bench-"); err != nil {
					return err
				}
				defer os.RemoveAll(work)
			} else if err := os.MkdirAll(work, 0o755); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "bench: disk %s, changed %s, %d connections, %s reader, in %s\n", size, changed, conns, reader, work)
			o := replication.BenchOptions{Dir: work, Size: sz, Changed: ch, Conns: conns, Runs: runs}
			var vm *lab.BenchVM
			if reader == "host-direct" {
				o.Source = func(ctx context.Context, size int64) (replication.Source, string, error) {
					var err error
					if vm, err = lab.StartBenchVM(ctx, filepath.Join(work, "vcenter"), size); err != nil {
						return nil, "", err
					}
					return vm.Source, vm.FlatFile, nil
				}
				o.Write = func(p string, b []byte, off int64) error { return vm.CBT.WriteAt(p, b, off) }
				o.BeforeVerify = func(ctx context.Context) error { return vm.PowerOff(ctx) }
				defer func() {
					if vm != nil {
						vm.Close()
					}
				}()
			}
			if cpuprofile != "" { // fail before the run, not after it
				f, err := os.OpenFile(cpuprofile, os.O_WRONLY|os.O_CREATE, 0o600)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				f.Close()
			}
			// The run is profiled in any case, for the initial sync's CPU by
			// part; --cpuprofile writes the whole run's profile.
			prof, err := startCPUSegments()
			if err != nil {
				return err
			}
			o.CPUByPart = prof.cut
			r, err := replication.BenchReplicate(cmd.Context(), o)
			if perr := prof.stop(cpuprofile); perr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "bench: %v\n", perr)
			} else if cpuprofile != "" {
				defer fmt.Fprintf(cmd.ErrOrStderr(), "bench: CPU profile of the run in %s (go tool pprof -top %s; by part: go tool pprof -tags %s)\n", cpuprofile, cpuprofile, cpuprofile)
			}
			if err != nil {
				return err
			}
			printBench(cmd, r, reader == "host-direct")
			if vm != nil {
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "source reads: %d host-direct (ESXi /folder with service tickets), %d through vCenter's /folder proxy\n", vm.ESX.HostReads(), vm.ESX.ProxyReads())
				for _, w := range vm.Warnings {
					fmt.Fprintln(out, "warning: "+w)
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&size, "size", "1GiB", "disk size (16MiB to 4GiB)")
	fl.StringVar(&changed, "changed", "64MiB", "bytes changed before the incremental pass")
	fl.StringVar(&dir, "dir", "", "work directory (default: temporary)")
	fl.IntVar(&conns, "conns", 4, "connections per VM")
	fl.IntVar(&runs, "runs", 1, "measure the raw copy and the initial sync this many times, interleaved, and print the medians (1 to 9)")
	fl.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the run (every phase: raw copy, initial sync, incremental pass, both ends; samples labelled ferry.part=sender|receiver|source) to FILE, for go tool pprof")
	fl.StringVar(&reader, "reader", "host-direct", "source reader: host-direct (a VM in an in-process vCenter, read as ferry reads a real source: snapshot, CBT, ESXi /folder with service tickets) or file (a local file)")
	return cmd
}

// printBench prints a bench replicate result; hostDirect says the source
// was read from an in-process ESXi host (one more loopback hop).
func printBench(cmd *cobra.Command, r replication.BenchResult, hostDirect bool) {
	raw := replication.MBps(r.Size, r.RawCopy)
	initial := replication.MBps(r.Size, r.Initial)
	incr := replication.MBps(r.Changed, r.Incremental)
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "measure\tbytes\ttime\tMB/s\tCPU time\t")
	fmt.Fprintf(w, "raw local copy\t%d\t%s\t%.0f\t%s\t\n", r.Size, r.RawCopy.Round(1e6), raw, r.RawCopyCPU.Round(1e7))
	fmt.Fprintf(w, "initial sync (TLS loopback, appliance writer)\t%d\t%s\t%.0f\t%s\t\n", r.Size, r.Initial.Round(1e6), initial, r.InitialCPU.Round(1e7))
	fmt.Fprintf(w, "incremental pass\t%d\t%s\t%.0f\t%s\t\n", r.Changed, r.Incremental.Round(1e6), incr, r.IncrementalCPU.Round(1e7))
	if r.Loopback > 0 {
		fmt.Fprintf(w, "one loopback TCP hop (no TLS, no ferry)\t%d\t%s\t%.0f\t%s\t\n", r.Size, r.Loopback.Round(1e6), replication.MBps(r.Size, r.Loopback), r.LoopbackCPU.Round(1e7))
	}
	w.Flush()
	out := cmd.OutOrStdout()
	if len(r.Runs) > 1 {
		fmt.Fprintf(out, "(raw copy and initial sync: medians of %d interleaved runs)\n", len(r.Runs))
		w = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, "run\traw copy\tMB/s\tCPU time\tinitial sync\tMB/s\tCPU time\tsync / raw throughput\t")
		for i, run := range r.Runs {
			fmt.Fprintf(w, "%d\t%s\t%.0f\t%s\t%s\t%.0f\t%s\t%.2f\t\n", i+1, run.RawCopy.Round(1e6), replication.MBps(r.Size, run.RawCopy), run.RawCopyCPU.Round(1e7),
				run.Initial.Round(1e6), replication.MBps(r.Size, run.Initial), run.InitialCPU.Round(1e7), run.RawCopy.Seconds()/run.Initial.Seconds())
		}
		w.Flush()
	}
	spread := ""
	if len(r.Runs) > 1 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, run := range r.Runs {
			x := run.RawCopy.Seconds() / run.Initial.Seconds()
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
		spread = fmt.Sprintf("; per run %.2f to %.2f", lo, hi)
	}
	fmt.Fprintf(out, "initial sync / raw copy throughput: %.2f (target ≥ %.1f at 4 GiB%s)\n", initial/raw, targetSyncRatio, spread)
	if r.RawCopyCPU > 0 && r.InitialCPU > 0 {
		fmt.Fprintf(out, "CPU time (this process: both ends, and the in-process vCenter/ESXi with --reader host-direct) initial sync / raw copy: %.1f; initial sync: %.1f CPU seconds per GiB\n",
			r.InitialCPU.Seconds()/r.RawCopyCPU.Seconds(), r.InitialCPU.Seconds()/(float64(r.Size)/(1<<30)))
	}
	if r.Loopback > 0 {
		hops := fmt.Sprintf("1 (sender → receiver: %d wire bytes)", r.InitialSent)
		if hostDirect {
			hops = fmt.Sprintf("2 (ESXi host → sender: %d bytes, on real infrastructure the network and the host's CPU; sender → receiver: %d wire bytes)", r.Size, r.InitialSent)
		}
		fmt.Fprintf(out, "loopback hops of the initial sync here: %s; one hop of the disk's bytes alone, without TLS, costs %s of CPU (the raw copy in all: %s)\n",
			hops, r.LoopbackCPU.Round(1e7), r.RawCopyCPU.Round(1e7))
	}
	if parts := medianParts(r.Runs); parts != nil {
		label := "initial sync CPU time by part (from a CPU profile)"
		if len(r.Runs) > 1 {
			label += ", medians"
		}
		fmt.Fprintf(out, "%s: %s\n", label, formatParts(parts))
	}
	fmt.Fprintf(out, "incremental / initial throughput (changed bytes per second): %.2f; incremental time / initial time: %.3f\n",
		incr/initial, r.Incremental.Seconds()/r.Initial.Seconds())
	fmt.Fprintf(out, "initial sync wire bytes / disk bytes: %.3f\n", float64(r.InitialSent)/float64(r.Size))
	if r.FullVerify > 0 {
		fmt.Fprintf(out, "whole-disk verify (BLAKE3 of source and replica, as cutover.full_verify does in the downtime): %s, %.0f MB/s, %s CPU time\n",
			r.FullVerify.Round(1e6), replication.MBps(r.Size, r.FullVerify), r.FullVerifyCPU.Round(1e7))
	}
	fmt.Fprintf(out, "incremental bytes sent / bytes changed: %.3f (%d / %d; target ≤ %.1f)\n", float64(r.IncrementSent)/float64(r.Changed), r.IncrementSent, r.Changed, targetSentRatio)
}

// benchCPUProfile starts a CPU profile of a benchmark to path (none when
// path is empty); the returned stop ends it and says on stderr where it is.
func benchCPUProfile(cmd *cobra.Command, path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	end, err := startCPUProfile(path)
	if err != nil {
		return nil, err
	}
	return func() {
		if err := end(); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "bench: CPU profile: %v\n", err)
			return
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "bench: CPU profile of the run in %s (go tool pprof -top %s)\n", path, path)
	}, nil
}

// startCPUProfile writes a CPU profile (runtime/pprof) to path until the
// returned stop is called.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// parseSize parses "64MiB", "1GiB", "512M", "1048576".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"TIB", 1 << 40}, {"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3},
		{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(n * float64(mult)), nil
}
