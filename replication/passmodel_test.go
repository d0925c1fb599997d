package replication

import (
	"testing"
	"time"
)

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

// TestPassModelSmallPassesAndTheInitialSync (CI, a wave test: incremental
// passes of 2.1, 1.2 and 2.2 s copying 448 KiB each, mostly a pass's fixed
// cost, measured about 400 KiB/s on a link that moves tens of MiB/s, and
// projected a final pass near a minute for a VM whose passes take 2 s):
// the initial sync, which the record keeps (the pass that sent the most
// data, its zero runs not counted), measures the throughput beyond the
// fixed cost that the small passes cannot; they measure the fixed cost.
func TestPassModelSmallPassesAndTheInitialSync(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	var vs VMState
	// The initial sync: 96 MiB planned, 32 MiB of them zero runs (not
	// sent), in 3 s; then its full compare (reads all, sends little).
	vs.NotePass(t0, t0, 3*time.Second, PassInitial, Counters{Planned: 96 << 20, ZeroSkipped: 32 << 20, Sent: 64 << 20}, false)
	vs.NotePass(t0.Add(time.Minute), t0.Add(time.Minute), 20*time.Second, PassIncremental, Counters{Planned: 128 << 20, Matched: 127 << 20}, true)
	passes := []time.Duration{2100 * time.Millisecond, 1200 * time.Millisecond, 2200 * time.Millisecond}
	for i, d := range passes {
		at := t0.Add(time.Duration(2+i) * time.Minute)
		vs.NotePass(at, at, d, PassIncremental, Counters{Planned: 448 << 10, Sent: 450 << 10}, false)
	}
	if l := vs.LargestPass; l == nil || l.Kind != PassInitial || l.Data != 64<<20 || l.Duration != 3*time.Second || !l.Start.Equal(t0) {
		t.Fatalf("the largest pass recorded: %+v, want the initial sync's 64 MiB of data in 3 s", l)
	}
	// The earlier two incremental passes as earlier records (a wave's
	// reports hold such small final passes), the last one vs's own.
	var earlier []PassRecord
	for _, d := range passes[:2] {
		earlier = append(earlier, PassRecord{Bytes: 448 << 10, Seconds: d.Seconds(), What: "a small pass"})
	}
	m, ok := vs.PassModel(earlier)
	if !ok {
		t.Fatal("no model")
	}
	fixed, rate := 1.2, float64(64<<20)/(3-1.2)
	if m.Fixed != fixed || m.Rate < rate*0.999 || m.Rate > rate*1.001 || len(m.Measured) != 1 || !m.Measured[0].Data || m.Recorded != 4 {
		t.Errorf("small passes and an initial sync: %+v, want a fixed cost of %.1f s and %.0f B/s beyond it, measured on the initial sync", m, fixed, rate)
	}
	// What a final pass of a VM whose passes take 2 s carries: 448 KiB in
	// 2.5 s (passes back to back) over a 2.2 s pass and a 30 s shutdown,
	// 5.6 MiB: about 15 s at the small passes' throughput.
	bytes := float64(448<<10) / 2.5 * (2.2 + 30)
	if got, wholeSmall := m.Seconds(bytes), bytes/(float64(448<<10)/1.2); got > 2 || got < fixed {
		t.Errorf("a final pass of %.0f B projected at %.2f s, want about the fixed cost %.1f s plus the bytes at %.0f B/s, not %.1f s at the small passes' throughput", bytes, got, fixed, rate, wholeSmall)
	}
	// A bandwidth cap lowers it, saying what the passes measured.
	if c := m.CapAt(1e6); c.Rate != 1e6 || c.Uncapped != m.Rate || c.Fixed != m.Fixed {
		t.Errorf("capped at 1 MB/s: %+v", c)
	}
	if c := m.CapAt(1e12); c.Rate != m.Rate || c.Uncapped != 0 {
		t.Errorf("a cap above the measured throughput: %+v", c)
	}

	// A smaller pass does not replace it, nor a final pass or a full
	// compare, larger as they are; a larger incremental pass does.
	vs.NotePass(t0.Add(10*time.Minute), t0.Add(10*time.Minute), 10*time.Second, PassFinal, Counters{Planned: 200 << 20}, false)
	vs.NotePass(t0.Add(11*time.Minute), t0.Add(11*time.Minute), 10*time.Second, PassIncremental, Counters{Planned: 60 << 20}, false)
	if l := vs.LargestPass; l.Kind != PassInitial || l.Data != 64<<20 {
		t.Errorf("after a final pass and a smaller incremental pass: %+v, want the initial sync still", l)
	}
	big := t0.Add(12 * time.Minute)
	vs.NotePass(big, big, 4*time.Second, PassIncremental, Counters{Planned: 100 << 20}, false)
	if l := vs.LargestPass; l.Kind != PassIncremental || l.Data != 100<<20 || !l.Start.Equal(big) {
		t.Errorf("after a larger incremental pass: %+v, want it", l)
	}
	// It is then the last incremental pass too: counted once.
	if m, ok := vs.PassModel(nil); !ok || m.Recorded != 1 || m.Fastest.Bytes != 100<<20 || m.Fastest.Data {
		t.Errorf("the last incremental pass, the largest too: %+v, want it once", m)
	}

	// Recent passes that measure a throughput themselves (one took twice
	// the shortest: a guest outwriting them, say) say how fast passes
	// copy now: the initial sync, of far more bytes, does not outweigh
	// them.
	vs = VMState{}
	vs.NotePass(t0, t0, 3*time.Second, PassInitial, Counters{Planned: 64 << 20}, false)
	slow := t0.Add(time.Hour)
	vs.NotePass(slow, slow, 12*time.Second, PassIncremental, Counters{Planned: 10 << 20}, false)
	m, ok = vs.PassModel([]PassRecord{{Bytes: 448 << 10, Seconds: 1.2, What: "a small pass"}})
	if want := float64(10<<20) / (12 - 1.2); !ok || m.Fixed != 1.2 || m.Rate < want*0.999 || m.Rate > want*1.001 || m.Recorded != 2 {
		t.Errorf("a recent pass that measured a throughput: %+v, want %.0f B/s from it, the initial sync not counted", m, want)
	}
}
