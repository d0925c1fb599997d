package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/ferry-migrate/ferry/internal/median"
	"github.com/ferry-migrate/ferry/replication"
)

// cpuSegments profiles the process's CPU (runtime/pprof) from start to
// stop, cut into segments: cut ends the current segment, starts the next
// and returns the segment's CPU time by the goroutines' part label
// (replication.CPUPartLabel). At stop the segments can be merged into one
// profile of the whole run (--cpuprofile).
type cpuSegments struct {
	buf  bytes.Buffer
	segs []*profile.Profile
	err  error // the first segment that could not be read
}

func startCPUSegments() (*cpuSegments, error) {
	s := &cpuSegments{}
	if err := pprof.StartCPUProfile(&s.buf); err != nil {
		return nil, fmt.Errorf("CPU profile: %w", err)
	}
	return s, nil
}

// end stops the profiler and keeps the segment it wrote.
func (s *cpuSegments) end() *profile.Profile {
	pprof.StopCPUProfile()
	p, err := profile.Parse(&s.buf)
	s.buf.Reset()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return nil
	}
	s.segs = append(s.segs, p)
	return p
}

// cut returns the CPU time by part since the previous cut (or the start)
// and goes on profiling; nil if the segment could not be read or the
// profiler could not start again.
func (s *cpuSegments) cut() map[string]time.Duration {
	p := s.end()
	if err := pprof.StartCPUProfile(&s.buf); err != nil && s.err == nil {
		s.err = err
	}
	if p == nil {
		return nil
	}
	return cpuByPart(p)
}

// stop ends profiling; with a path it writes the whole run's profile
// there.
func (s *cpuSegments) stop(path string) error {
	s.end()
	if path == "" {
		return nil
	}
	if s.err != nil {
		return fmt.Errorf("--cpuprofile: %w", s.err)
	}
	p, err := profile.Merge(s.segs)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := p.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	return f.Close()
}

// cpuByPart sums a CPU profile's samples by the part label; samples
// without one (the Go runtime's own work: garbage collection, the
// scheduler) count as "other".
func cpuByPart(p *profile.Profile) map[string]time.Duration {
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			idx = i
		}
	}
	if idx < 0 {
		return nil
	}
	out := map[string]time.Duration{}
	for _, s := range p.Sample {
		part := "other"
		if v := s.Label[replication.CPUPartLabel]; len(v) > 0 {
			part = v[0]
		}
		out[part] += time.Duration(s.Value[idx])
	}
	return out
}

// partNames says what each part of a bench run is.
var partNames = map[string]string{
	replication.PartSender:   "sender",
	replication.PartReceiver: "receiver",
	replication.PartSource:   "source vCenter/ESXi (in-process lab; on real infrastructure not ferry's CPU)",
	"other":                  "Go runtime (GC, scheduler)",
}

// formatParts writes parts in a fixed order: sender, receiver, source,
// then any other label.
func formatParts(parts map[string]time.Duration) string {
	order := []string{replication.PartSender, replication.PartReceiver, replication.PartSource}
	var rest []string
	for k := range parts {
		if k != replication.PartSender && k != replication.PartReceiver && k != replication.PartSource {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	var b []string
	for _, k := range append(order, rest...) {
		d, ok := parts[k]
		if !ok {
			continue
		}
		name := partNames[k]
		if name == "" {
			name = k
		}
		b = append(b, fmt.Sprintf("%s %.2f s", name, d.Seconds()))
	}
	return strings.Join(b, ", ")
}

// medianParts is each part's median CPU time over the runs (nil when no
// run has a split).
func medianParts(runs []replication.BenchRun) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, r := range runs {
		for k := range r.InitialCPUByPart {
			out[k] = 0
		}
	}
	if len(out) == 0 {
		return nil
	}
	for k := range out {
		v := make([]time.Duration, len(runs))
		for i, r := range runs {
			v[i] = r.InitialCPUByPart[k]
		}
		out[k] = median.Of(v)
	}
	return out
}
