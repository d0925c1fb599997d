package steps

import (
	"strings"
	"testing"
)

// TestFiguresSayProjectionDefaults (QA: a first cutover's report read
// "measured downtime 2.1s · projected ~103.0s" with nothing saying the
// projection was all defaults): the report's line says which of the
// projection is defaults, and nothing when it is all recorded.
func TestFiguresSayProjectionDefaults(t *testing.T) {
	parts := func(defaults ...bool) []EstimatePart {
		var out []EstimatePart
		for i, d := range defaults {
			out = append(out, EstimatePart{Phase: []string{"shutdown", "final pass", "power on"}[i], Seconds: 1, Default: d})
		}
		return out
	}
	for _, c := range []struct {
		est  *DowntimeEstimate
		want string
	}{
		{&DowntimeEstimate{Parts: parts(true, true, true)}, "projected ~1m43s (defaults: nothing recorded yet) · final pass"},
		{&DowntimeEstimate{Parts: parts(false, true, false)}, "projected ~1m43s (defaults for final pass) · final pass"},
		{&DowntimeEstimate{Parts: parts(false, false, false)}, "projected ~1m43s · final pass"},
		{nil, "projected ~1m43s · final pass"},
	} {
		v := VMReport{VM: "WebApp2", Outcome: "migrated", MeasuredDowntimeSeconds: 2.1, ProjectedDowntimeSeconds: 103, Projection: c.est}
		if got := v.Figures(); !strings.Contains(got, c.want) {
			t.Errorf("figures with projection %+v:\n%s\nwant %q", c.est, got, c.want)
		}
	}
	// The Markdown report's table too (its text below lists every part).
	r := CutoverReport{VMs: []VMReport{{VM: "WebApp2", Outcome: "migrated", MeasuredDowntimeSeconds: 2.1, ProjectedDowntimeSeconds: 103,
		Projection: &DowntimeEstimate{Parts: parts(true, true, true)}}}}
	if md := r.Markdown(); !strings.Contains(md, "| ~1m43s (defaults) |") {
		t.Errorf("report table of a projection all defaults:\n%s", md)
	}
	r.VMs[0].Projection = &DowntimeEstimate{Parts: parts(false, true, false)}
	if md := r.Markdown(); !strings.Contains(md, "| ~1m43s (partly defaults) |") {
		t.Errorf("report table of a projection partly defaults:\n%s", md)
	}
}
