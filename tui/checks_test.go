package tui

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

// manyResults makes the checks step report n probe results (after its
// rounds), as the lab's sixteen probes do.
func manyResults(n int) func(map[string]*fakeStep) {
	return func(m map[string]*fakeStep) {
		evs := []steps.Event{steps.Progress("probe round 1 of 1", 1)}
		for i := 1; i <= n; i++ {
			evs = append(evs, steps.Progress(fmt.Sprintf("probe-%02d (tcp): 3/3 answered, 1ms", i), -1))
		}
		m["checks"].events = evs
	}
}

var linesHint = regexp.MustCompile(`lines (\d+)–(\d+) of (\d+)`)

// scrollToEnd presses pgdown until the hint says the last line shows.
func scrollToEnd(t *testing.T, h *harness) {
	t.Helper()
	for range 20 {
		m := linesHint.FindStringSubmatch(h.view())
		if m == nil {
			t.Fatalf("no lines hint:\n%s", h.view())
		}
		if m[2] == m[3] {
			return
		}
		h.send(press("pgdown"))
	}
	t.Fatalf("pgdown does not reach the end:\n%s", h.view())
}

// TestChecksResultsScroll (QA: step 7 at 80x24): the results that do not
// fit scroll, with the plan view's "lines x–y of n" hint, and ↓/pgdn
// bring the last ones into view.
func TestChecksResultsScroll(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication"), mutate: manyResults(16)})
	h.start(80, 24)
	h.send(press("enter"))
	h.send(press("enter"))
	h.mustSee(t, "✓ done", "Results", "probe-01 (tcp)", "lines 1–")
	h.mustNotSee(t, "probe-16 (tcp)")
	h.send(press("down"))
	h.mustSee(t, "lines 2–")
	scrollToEnd(t, h)
	h.mustSee(t, "probe-16 (tcp): 3/3 answered")
	h.mustNotSee(t, "probe-01 (tcp)")
	h.send(press("up"))
	h.mustSee(t, "✓ done") // the verdict stays in view
}

// TestChecksFailedResultsScroll: a failed check keeps its error and hint
// in view and scrolls the results below them.
func TestChecksFailedResultsScroll(t *testing.T) {
	mutate := func(m map[string]*fakeStep) {
		manyResults(16)(m)
		m["checks"].err = fmt.Errorf("2 probe(s) did not answer")
	}
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication"), mutate: mutate})
	h.start(80, 24)
	h.send(press("enter"))
	h.send(press("enter"))
	h.mustSee(t, "✗ failed", "did not answer", "Results", "lines 1–")
	scrollToEnd(t, h)
	h.mustSee(t, "✗ failed", "probe-16 (tcp)")
}

// planItems makes the checks step's plan n probes long.
func planItems(n int) func(map[string]*fakeStep) {
	return func(m map[string]*fakeStep) {
		var items []steps.Item
		for i := 1; i <= n; i++ {
			items = append(items, steps.Item{Action: steps.ActionExists, Kind: "probe", Name: fmt.Sprintf("plan-probe-%02d", i), Detail: "tcp 127.0.0.1:80"})
		}
		m["checks"].plan = steps.Plan{Items: items}
	}
}

// sixteenProbes fills the probe panel with the lab's count of probes.
func sixteenProbes(h *harness) {
	for i := 16; i >= 1; i-- {
		h.send(probeMsg{Pair: fmt.Sprintf("vm-%02d (tcp)", i), Kind: "tcp", Time: t0, Up: true, Latency: 1e6})
	}
}

// TestChecksPlanGetsFairShare (QA: "lines 1–4 of 16" at 120x40, "lines
// 1–3 of 25" at 80x24 while the probe panel took the rest): the plan gets
// most of the height; the panel keeps some rows.
func TestChecksPlanGetsFairShare(t *testing.T) {
	for _, sz := range []struct{ w, h, atLeast int }{{120, 40, 16}, {80, 24, 6}} {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication"), mutate: planItems(16)})
			h.start(sz.w, sz.h)
			sixteenProbes(h)
			h.send(press("enter"))
			h.mustSee(t, "Plan — nothing has changed yet", fmt.Sprintf("plan-probe-%02d", sz.atLeast), "Probes", "vm-01 (tcp)")
			if sz.atLeast == 16 {
				h.mustNotSee(t, "lines 1–")
			} else {
				h.mustSee(t, fmt.Sprintf("lines 1–%d of 16", sz.atLeast))
			}
		})
	}
}

// TestChecksPlanOfNoProbesSaysSo (QA walk hB: step 7 of a plan answered
// without Service probes planned "no changes: everything already exists",
// and only apply's warning said nothing would be checked): the plan says
// the step checks nothing, where probes are answered, and that the
// cutover's downtime will not be measured; a plan with probes lists them.
func TestChecksPlanOfNoProbesSaysSo(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{80, 24}, {120, 40}} {
		h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication")})
		h.start(sz.w, sz.h)
		h.mustSee(t, "Step 7 of 8")
		h.send(press("enter"))
		h.mustSee(t, "no changes: nothing to do", "The plan has no probes (step 5's Service probes,", "this step checks", "will not be measured")
		h.mustNotSee(t, "everything already exists")
	}
	h := newHarness(t, setup{pf: withVMs("WebApp2"), done: append(slices.Clone(infraDone), "vm-selection", "replication"), mutate: planItems(2)})
	h.start(120, 40)
	h.send(press("enter"))
	h.mustSee(t, "plan-probe-02")
	h.mustNotSee(t, "The plan has no probes")
}
