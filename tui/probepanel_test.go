package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/steps"
)

// TestProbePanelUsesTheRoom (QA: below 100 columns the replication
// screen showed 4 probes and "… N more" above some 20 empty lines): the
// probe panel under the dashboard takes the rows the dashboard leaves.
func TestProbePanelUsesTheRoom(t *testing.T) {
	pf, names := withTCPProbes(12)
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

// TestProbeFiguresWrapWhole (QA at 80x24: "tcp 127.16.10.12:40849 · loss
// 22% · 3 outage(s) …" and "… 5 more: WebApp1 -> WebApp2 (guest ping)
// DOWN, LinuxD…"): on step 7 and on the replication screen, a probe's
// figures and the names of the probes without a row wrap between them
// instead of being cut; names without room are counted, never cut.
func TestProbeFiguresWrapWhole(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		pf := withVMs("WebApp2")
		kinds := map[string]string{}
		var pairs []string
		for i := range 8 {
			n := fmt.Sprintf("WebApp%d -> LinuxDB%d (guest ping)", i, i)
			pairs = append(pairs, n)
			kinds[n] = fmt.Sprintf("guest ping WebApp%d -> 172.16.10.%d via the guest's tools", i, 100+i)
			pf.Probes = append(pf.Probes, steps.ProbePlan{Name: n, VM: "WebApp2", TCP: fmt.Sprintf("127.16.10.12:%d", 40000+i)})
		}
		h := newHarness(t, setup{pf: pf, done: append(slices.Clone(infraDone), "vm-selection", "replication")})
		h.start(size[0], size[1])
		dashboardData(h, "WebApp2")
		for k := range 6 {
			for _, n := range pairs {
				up := k%2 == 0 || n != pairs[0]
				h.send(probeMsg{Pair: n, Kind: kinds[n], Time: t0.Add(time.Duration(k) * time.Second), Up: up, Latency: 1e6, Err: "refused"})
			}
		}
		for _, screen := range []string{"checks", "replication"} {
			if screen == "replication" {
				h.send(press("["))
			}
			if id := h.screenID(); id != screen {
				t.Fatalf("on %s, want %s", id, screen)
			}
			v := h.view()
			for _, l := range strings.Split(v, "\n") {
				if strings.HasSuffix(strings.TrimRight(l, " "), "…") {
					t.Errorf("%dx%d %s: a line is cut: %q\n%s", size[0], size[1], screen, l, v)
				}
			}
			n := 0
			for _, p := range pairs {
				if strings.Contains(v, p+"  ") {
					n++
				}
			}
			if n == 0 && screen == "checks" {
				t.Errorf("%dx%d %s: no probe row:\n%s", size[0], size[1], screen, v)
			}
			if all := len(h.m.w.dash.Probes); n == 0 && (strings.Contains(v, "more: ") || !strings.Contains(v, fmt.Sprintf("%d probes: ", all))) {
				t.Errorf("%dx%d %s: no probe row, and the names are not said to be all %d probes (QA: \"… 10 more\" under no row):\n%s", size[0], size[1], screen, all, v)
			}
			if n > 0 && n < len(pairs) && !strings.Contains(v, "more: ") {
				t.Errorf("%dx%d %s: %d of %d probes shown and the others not named:\n%s", size[0], size[1], screen, n, len(pairs), v)
			}
			_, main, _ := shown(v)
			if n > 0 && !strings.Contains(strings.Join(strings.Fields(strings.Join(main, " ")), " "), "· loss 50% · 3 outage(s) · last 1s") {
				t.Errorf("%dx%d %s: the down probe's figures are not whole:\n%s", size[0], size[1], screen, v)
			}
		}
	}
}

// withTCPProbes is a plan of WebApp2 watched by n TCP probes, and their
// names ("probe 00 (tcp)", ...).
func withTCPProbes(n int) (*steps.PlanFile, []string) {
	pf := withVMs("WebApp2")
	var names []string
	for i := range n {
		name := fmt.Sprintf("probe %02d (tcp)", i)
		names = append(names, name)
		pf.Probes = append(pf.Probes, steps.ProbePlan{Name: name, VM: "WebApp2", TCP: fmt.Sprintf("127.0.0.1:%d", i+1)})
	}
	return pf, names
}
