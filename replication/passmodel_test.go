package replication

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestProjectedFinalAfterRolledBackCutover: a rolled-back cutover leaves
// its final pass as the job's last pass, a small one (193 KiB in 137 ms,
// mostly a pass's fixed cost: snapshot, changed-block query, commit), and
// with it the last pass's rate (LastRate, 1.4 MB/s). The projected final
// pass the job's events carry (the wizard's dashboard, "final pass ~")
// copies what changed since at the throughput of the recorded passes (the
// pass model the cutover's projected downtime takes too), the larger
// pre-cutover pass's: not at the small pass's rate, which projected about
// thirty times as long.
func TestProjectedFinalAfterRolledBackCutover(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	randomDisk(t, src, 4<<20, 1, Extent{0, 4 << 20})
	rcv := startReceiver(t, filepath.Join(dir, "rcv"), "")
	job := newJob(t, "vm1", NewFileSource(src), rcv.addr)
	ctx := context.Background()
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	// The record the rolled-back cutover left: its pre-cutover pass the
	// last incremental one (40 MiB written in 2 minutes, copied in 1 s),
	// its final pass, 21 s later, the last pass.
	vs, err := job.State.VM("vm1")
	if err != nil {
		t.Fatal(err)
	}
	const tiny, tinySecs = 193 << 10, 0.137
	t0 := time.Now().Add(-2 * time.Minute)
	vs.LastIncremental, vs.LastPlanned, vs.IncrementalInterval, vs.IncrementalDuration = t0, 40<<20, 2*time.Minute, time.Second
	vs.LastPass, vs.LastInterval, vs.LastDuration, vs.LastFinal, vs.LastRate = t0.Add(21*time.Second), 21*time.Second, 137*time.Millisecond, true, tiny/tinySecs
	if err := job.State.PutVM("vm1", vs); err != nil {
		t.Fatal(err)
	}

	// The job as the wizard makes it after the cutover: from the store.
	job.cache = nil
	var got Event
	job.Events = func(e Event) {
		if e.Kind == EventPhase && e.Phase == PhaseSnapshot && got.Time.IsZero() {
			got = e
		}
	}
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got.Time.IsZero() {
		t.Fatal("no snapshot event")
	}
	changed := float64(vs.LastPlanned) / vs.IncrementalInterval.Seconds() * got.Time.Sub(vs.LastPass).Seconds()
	want := changed / (float64(vs.LastPlanned) / vs.IncrementalDuration.Seconds())
	overTiny := changed / vs.LastRate
	if s := got.ProjectedFinal.Seconds(); s < want*0.99 || s > want*1.01 {
		t.Errorf("after a rolled-back cutover (final pass of 193 KiB in 137 ms): projected final pass %.3f s for %.1f MiB changed since, want %.3f s (at the pre-cutover pass's 40 MiB in 1 s), not about %.1f s (at the small final pass's rate)",
			s, changed/(1<<20), want, overTiny)
	}
}

// TestPassModelFixedCost: the pass model tells a fixed cost per pass
// apart when a pass took at least twice the shortest, and the throughput
// beyond it; passes of about the same time tell none apart; a VM with no
// pass time recorded has its last pass's throughput.
func TestPassModelFixedCost(t *testing.T) {
	tiny := PassRecord{Bytes: 193 << 10, Seconds: 0.137, What: "a final pass"}
	inc := PassRecord{Bytes: 40 << 20, Seconds: 1, What: "an incremental pass"}
	m, ok := FitPasses([]PassRecord{tiny, inc})
	if want := float64(inc.Bytes) / (inc.Seconds - tiny.Seconds); !ok || m.Fixed != tiny.Seconds || m.Rate < want*0.999 || m.Rate > want*1.001 ||
		len(m.Measured) != 1 || m.Shortest != tiny || m.Fastest != inc || m.Recorded != 2 {
		t.Errorf("a small and a large pass: %+v, want a fixed cost of %.3f s and %.0f B/s beyond it", m, tiny.Seconds, want)
	}
	like := PassRecord{Bytes: 1 << 20, Seconds: 0.2, What: "an incremental pass"}
	if m, ok := FitPasses([]PassRecord{tiny, like}); !ok || m.Fixed != 0 || m.Rate != float64(like.Bytes)/like.Seconds || len(m.Measured) != 0 {
		t.Errorf("passes of about the same time: %+v, want no fixed cost, the fastest's throughput whole", m)
	}
	if _, ok := FitPasses([]PassRecord{{Seconds: 0.1}}); ok {
		t.Error("a pass that copied nothing measured a throughput")
	}
	if m, ok := (VMState{LastRate: 3 << 20}).PassModel(nil); !ok || m.Recorded != 0 || m.Rate != 3<<20 || m.Fixed != 0 {
		t.Errorf("no pass time recorded: %+v, want the last pass's throughput", m)
	}
}
