package replication

import "testing"

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
