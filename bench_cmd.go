package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/spf13/cobra"
)

func newBenchCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks: replicate (engine vs a raw copy), cutover (downtime in the lab)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("choose a benchmark: ferry bench replicate, ferry bench cutover")
		},
	}
	cmd.AddCommand(newBenchReplicateCmd(), newBenchCutoverCmd())
	return cmd
}

func newBenchReplicateCmd() *cobra.Command {
	var size, changed, dir string
	var conns int
	cmd := &cobra.Command{
		Use:   "replicate [--size 1GiB] [--changed 64MiB]",
		Short: "Measure raw copy vs ferry initial sync vs incremental pass on one disk file",
		Long: `In one run: write a disk image (1/8 zero, 3/8 compressible, 1/2 random 1 MiB
blocks), time a raw local copy of it, then ferry's initial sync of the same file
over loopback TLS 1.3 to an in-process receiver that writes as in the receiver
appliance (the replica disk found by its UUID under a by-id directory, here a
file standing for the hot-added block device; pwrite + fdatasync), then rewrite --changed bytes
(random data, 64 KiB-aligned) and time the incremental pass. Prints MB/s of
each, their ratios, and bytes sent / bytes changed. Needs about 3x --size of
free space in --dir (default: a temporary directory, removed afterwards).`,
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
			work := dir
			if work == "" {
				if work, err = os.MkdirTemp("", "ferry-bench-"); err != nil {
					return err
				}
				defer os.RemoveAll(work)
			} else if err := os.MkdirAll(work, 0o755); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "bench: disk %s, changed %s, %d connections, in %s\n", size, changed, conns, work)
			r, err := replication.BenchReplicate(cmd.Context(), replication.BenchOptions{Dir: work, Size: sz, Changed: ch, Conns: conns})
			if err != nil {
				return err
			}
			printBench(cmd, r)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&size, "size", "1GiB", "disk size (16MiB to 4GiB)")
	fl.StringVar(&changed, "changed", "64MiB", "bytes changed before the incremental pass")
	fl.StringVar(&dir, "dir", "", "work directory (default: temporary)")
	fl.IntVar(&conns, "conns", 4, "connections per VM")
	return cmd
}

func printBench(cmd *cobra.Command, r replication.BenchResult) {
	raw := replication.MBps(r.Size, r.RawCopy)
	initial := replication.MBps(r.Size, r.Initial)
	incr := replication.MBps(r.Changed, r.Incremental)
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "measure\tbytes\ttime\tMB/s\t")
	fmt.Fprintf(w, "raw local copy\t%d\t%s\t%.0f\t\n", r.Size, r.RawCopy.Round(1e6), raw)
	fmt.Fprintf(w, "initial sync (TLS loopback, appliance writer)\t%d\t%s\t%.0f\t\n", r.Size, r.Initial.Round(1e6), initial)
	fmt.Fprintf(w, "incremental pass\t%d\t%s\t%.0f\t\n", r.Changed, r.Incremental.Round(1e6), incr)
	w.Flush()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "initial sync / raw copy throughput: %.2f\n", initial/raw)
	fmt.Fprintf(out, "incremental / initial throughput (changed bytes per second): %.2f; incremental time / initial time: %.3f\n",
		incr/initial, r.Incremental.Seconds()/r.Initial.Seconds())
	fmt.Fprintf(out, "initial sync wire bytes / disk bytes: %.3f\n", float64(r.InitialSent)/float64(r.Size))
	fmt.Fprintf(out, "incremental bytes sent / bytes changed: %.3f (%d / %d)\n", float64(r.IncrementSent)/float64(r.Changed), r.IncrementSent, r.Changed)
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
