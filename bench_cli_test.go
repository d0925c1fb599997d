package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestBenchReplicateCPUProfile: --cpuprofile writes a profile pprof reads.
func TestBenchReplicateCPUProfile(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	out, err := exec.Command(ferryBin, "bench", "replicate", "--size", "16MiB", "--changed", "1MiB", "--reader", "file",
		"--dir", t.TempDir(), "--cpuprofile", prof).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Fatalf("profile %s: %v", prof, err)
	}
	if !strings.Contains(string(out), "CPU time (this process") || !strings.Contains(string(out), "CPU seconds per GiB") {
		t.Errorf("no CPU time of the initial sync and the raw copy in:\n%s", out)
	}
	// The kernel's own cost of a loopback hop, measured in the same run:
	// with the file reader the initial sync makes one.
	if !regexp.MustCompile(`one loopback TCP hop \(no TLS, no ferry\) +16777216 +\S+ +\d+ +\S+`).Match(out) ||
		!strings.Contains(string(out), "loopback hops of the initial sync here: 1 (sender → receiver") {
		t.Errorf("no loopback hop measured, or not one hop with the file reader, in:\n%s", out)
	}
	if b, err := exec.Command("go", "tool", "pprof", "-top", prof).CombinedOutput(); err != nil {
		t.Fatalf("go tool pprof: %v: %s", err, b)
	}
	// The profile's samples name the part they worked for.
	b, err := exec.Command("go", "tool", "pprof", "-tags", prof).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "ferry.part") || !strings.Contains(string(b), "receiver") {
		t.Errorf("go tool pprof -tags: %v: want the ferry.part label with the receiver in:\n%s", err, b)
	}
}

// TestBenchReplicateHostDirect: the default reader reads a running VM's
// disk host-direct from its ESXi host, none of it through vCenter's proxy,
// and the initial sync's CPU time is split between the sender, the
// receiver and the source's own servers.
func TestBenchReplicateHostDirect(t *testing.T) {
	out, err := exec.Command(ferryBin, "bench", "replicate", "--size", "256MiB", "--changed", "1MiB", "--dir", t.TempDir()).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "loopback hops of the initial sync here: 2 (ESXi host → sender: 268435456 bytes") {
		t.Errorf("want two loopback hops with the host-direct reader, in:\n%s", s)
	}
	m := regexp.MustCompile(`source reads: (\d+) host-direct .*, (\d+) through vCenter's /folder proxy`).FindStringSubmatch(s)
	if m == nil || m[1] == "0" || m[2] != "0" {
		t.Errorf("want reads host-direct only, in:\n%s", s)
	}
	line := regexp.MustCompile(`initial sync CPU time by part \(from a CPU profile\): (.*)`).FindStringSubmatch(s)
	if line == nil {
		t.Fatalf("no CPU time by part in:\n%s", s)
	}
	for _, part := range []string{"sender", "receiver", "source vCenter/ESXi"} {
		pm := regexp.MustCompile(regexp.QuoteMeta(part) + `[^,]* ([0-9.]+) s`).FindStringSubmatch(line[1])
		if pm == nil {
			t.Errorf("no %s in %q", part, line[1])
			continue
		}
		if v, _ := strconv.ParseFloat(pm[1], 64); v <= 0 {
			t.Errorf("%s: %s s of CPU, want some, in %q", part, pm[1], line[1])
		}
	}
}

// TestBenchRPOUsage: bench rpo refuses bad input before starting a lab.
func TestBenchRPOUsage(t *testing.T) {
	for _, c := range []struct{ args, flag string }{
		{"--vms 0", "--vms"}, {"--vms 101", "--vms"}, {"--rpo 30s", "--rpo"}, {"--minutes 0", "--minutes"}, {"--minutes -1", "--minutes"},
	} {
		out, err := exec.Command(ferryBin, append([]string{"bench", "rpo"}, strings.Fields(c.args)...)...).CombinedOutput()
		if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), c.flag) {
			t.Errorf("bench rpo %s: exit %d, %q: want a usage error naming %s", c.args, code, out, c.flag)
		}
	}
}

// TestBenchReplicateUsageMakesNoDirectory: bench replicate refuses bad
// input before it makes its --dir (QA: a bad --reader was refused after the
// directory was made).
func TestBenchReplicateUsageMakesNoDirectory(t *testing.T) {
	for _, c := range []struct{ args, flag string }{
		{"--reader disk", "--reader"}, {"--runs 0", "--runs"}, {"--conns 0", "--conns"}, {"--size 0", "--size"},
	} {
		dir := filepath.Join(t.TempDir(), "bench")
		out, err := exec.Command(ferryBin, append([]string{"bench", "replicate", "--dir", dir}, strings.Fields(c.args)...)...).CombinedOutput()
		if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), c.flag) {
			t.Errorf("bench replicate %s: exit %d, %q: want a usage error naming %s", c.args, code, out, c.flag)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("bench replicate %s: refused, but made its --dir %s", c.args, dir)
		}
	}
}

// TestBenchLogFile: the benchmarks keep no log, so their help does not
// promise ferry.log in the state directory: it says their output goes to
// stderr, and --log-file is a usage error saying so, before any lab starts.
func TestBenchLogFile(t *testing.T) {
	for _, bench := range []string{"replicate", "cutover", "rpo"} {
		out, err := exec.Command(ferryBin, "bench", bench, "--help").CombinedOutput()
		if err != nil || strings.Contains(string(out), "ferry.log") || !regexp.MustCompile(`--log-file string +not for bench: it keeps no log; its progress and warnings go to stderr`).Match(out) {
			t.Errorf("bench %s --help: %v, its --log-file line does not say stderr:\n%s", bench, err, out)
		}
		logFile := filepath.Join(t.TempDir(), "bench.log")
		for _, args := range [][]string{{"bench", bench, "--log-file", logFile}, {"--log-file", logFile, "bench", bench}} {
			// Refused at once; a bench that started anyway is cut short.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			out, err := exec.CommandContext(ctx, ferryBin, args...).CombinedOutput()
			cancel()
			if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), "--log-file: ferry bench keeps no log") || !strings.Contains(string(out), "2>"+logFile) {
				t.Errorf("ferry %s: exit %d, want %d and a usage error naming --log-file:\n%s", strings.Join(args, " "), code, exitUsage, out)
			}
		}
		if _, err := os.Stat(logFile); !os.IsNotExist(err) {
			t.Errorf("bench %s --log-file made %s: %v", bench, logFile, err)
		}
	}
}

// TestBenchCutoverCPUProfileUnwritable: bench cutover --cpuprofile to a
// path that cannot be created fails naming the flag, before any lab starts.
func TestBenchCutoverCPUProfileUnwritable(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "no-such-dir", "cpu.pprof")
	out, err := exec.Command(ferryBin, "bench", "cutover", "--runs", "1", "--cpuprofile", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--cpuprofile") || strings.Contains(string(out), "DISK") {
		t.Fatalf("bench cutover --cpuprofile %s: %v, %q: want a failure naming --cpuprofile before the first run", bad, err, out)
	}
}

// TestBenchReplicateRuns: --runs N measures the raw copy and the initial
// sync N times (each sync into a new replica: an initial sync every time)
// and prints every run beside the medians; --runs out of range is a usage
// error naming the flag.
func TestBenchReplicateRuns(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(ferryBin, "bench", "replicate", "--size", "16MiB", "--changed", "1MiB", "--reader", "file",
		"--dir", dir, "--runs", "3").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "medians of 3 interleaved runs") {
		t.Errorf("no medians line in:\n%s", s)
	}
	rows := 0
	for _, l := range strings.Split(s, "\n") {
		if f := strings.Fields(l); len(f) == 8 && (f[0] == "1" || f[0] == "2" || f[0] == "3") {
			rows++
		}
	}
	if rows != 3 {
		t.Errorf("%d run rows, want 3, in:\n%s", rows, s)
	}
	// The earlier runs' replicas made way for the next ones.
	if m, _ := filepath.Glob(filepath.Join(dir, "run*")); len(m) != 1 {
		t.Errorf("replica directories left: %v, want the last run's only", m)
	}
	for _, n := range []string{"0", "10"} {
		out, err := exec.Command(ferryBin, "bench", "replicate", "--runs", n).CombinedOutput()
		if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), "--runs") {
			t.Errorf("--runs %s: exit %d, %q: want a usage error naming --runs", n, code, out)
		}
	}
}

// TestBenchCutoverMarksDefaultProjection: in the fresh lab each run starts,
// no earlier cutover or test migration gives the projection a phase's time,
// so the PROJECTED column (ferry's defaults: ~1m43s beside a measured 2.6 s)
// is marked and a footnote names the phases and why.
func TestBenchCutoverMarksDefaultProjection(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(ferryBin, "bench", "cutover", "--runs", "1", "--disk-mib", "64", "--guest-shutdown", "0", "--guest-boot", "0").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s := string(out)
	var row []string
	for _, l := range strings.Split(s, "\n") {
		if f := strings.Fields(l); len(f) > 6 && f[0] == "64" && f[3] == "1" {
			row = f
		}
	}
	if row == nil || !strings.HasPrefix(row[7], "~") || !strings.HasSuffix(row[7], "*") {
		t.Errorf("run's PROJECTED not marked as defaults (%q) in:\n%s", row, s)
	}
	if !strings.Contains(s, "* projected with ferry's defaults for shutdown, ") || !strings.Contains(s, "each run starts a fresh lab") {
		t.Errorf("no footnote on the defaults in:\n%s", s)
	}
}
