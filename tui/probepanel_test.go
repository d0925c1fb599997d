package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

// TestProbePanelUsesTheRoom (QA: below 100 columns the replication
// screen showed 4 probes and "… N more" above some 20 empty lines): the
// probe panel under the dashboard takes the rows the dashboard leaves.
func TestProbePanelUsesTheRoom(t *testing.T) {
	pf := withVMs("WebApp2")
	var names []string
	for i := range 12 {
		n := fmt.Sprintf("probe %02d (tcp)", i)
		names = append(names, n)
		pf.Probes = append(pf.Probes, steps.ProbePlan{Name: n, VM: "WebApp2", TCP: fmt.Sprintf("127.0.0.1:%d", i+1)})
	}
	h := newHarness(t, setup{pf: pf, done: append(slices.Clone(infraDone), "vm-selection", "replication")})
	h.start(80, 40)
	dashboardData(h, "WebApp2")
	for _, n := range names {
		h.send(probeMsg{Pair: n, Kind: "tcp", Time: t0, Up: true, Latency: 1e6})
	}
	h.send(press("["))
	if id := h.screenID(); id != "replication" {
		t.Fatalf("on %s, want the replication screen", id)
	}
	v := h.view()
	shown := 0
	for _, p := range h.m.w.dash.Probes {
		if strings.Contains(v, "● "+p.Pair) {
			shown++
		}
	}
	// The rows below the dashboard (23): 10 probes of two lines and a line
	// that says how many more there are.
	more := fmt.Sprintf("… %d more", len(h.m.w.dash.Probes)-shown)
	if shown < 10 || !strings.Contains(v, more) {
		t.Errorf("%d of %d probes shown at 80x40 with one VM (want 10 and %q):\n%s", shown, len(h.m.w.dash.Probes), more, v)
	}
	// Those without a row are named with their state, the down ones
	// first (QA: "… 2 more" at 80x24 hid which probes they were).
	last := h.m.w.dash.Probes[len(h.m.w.dash.Probes)-1].Pair
	h.send(probeMsg{Pair: last, Kind: "tcp", Time: t0.Add(1e9), Up: false, Err: "refused"})
	if v := h.view(); !strings.Contains(v, "more: "+last+" DOWN") {
		t.Errorf("the probes without a row do not say %s is down:\n%s", last, v)
	}
}
