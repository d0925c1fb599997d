package replication

import (
	"context"
	"testing"
)

// TestFinalPassKeepsChangeRate: a cutover's final pass (the guest shut
// down, under a second after the pre-cutover pass) and the first pass
// after it (its interval spans the cutover window) do not replace the
// change rate's measurement: what the last incremental pass planned and
// the interval in which the guest wrote it. Before, the final pass moved
// LastInterval and kept the pre-cutover pass's LastPlanned, and the
// projected final pass read that pass's bytes over the shutdown's
// interval (QA: "final pass 3m2s" for a lab VM).
func TestFinalPassKeepsChangeRate(t *testing.T) {
	const size = 8 << 20
	src, fs, rcv := setup(t, size)
	job := newJob(t, "vm", fs, rcv.addr)
	ctx := context.Background()
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	scribble(t, src, 3, Extent{1 << 20, 1 << 20})
	if _, err := job.RunPass(ctx, false); err != nil {
		t.Fatal(err)
	}
	inc, _ := job.State.VM("vm")
	want, ok := inc.ChangeInterval()
	if !ok || inc.LastPlanned == 0 {
		t.Fatalf("incremental pass: no change rate recorded: %+v", inc)
	}
	for _, final := range []bool{true, false} {
		scribble(t, src, 4, Extent{5 << 20, 4096})
		if _, err := job.RunPass(ctx, final); err != nil {
			t.Fatal(err)
		}
		vs, _ := job.State.VM("vm")
		if got, ok := vs.ChangeInterval(); !ok || got != want || vs.LastPlanned != inc.LastPlanned {
			t.Errorf("after a pass (final %v): change rate %d B over %s (known %v), want the incremental pass's %d B over %s", final, vs.LastPlanned, got, ok, inc.LastPlanned, want)
		}
	}
}
