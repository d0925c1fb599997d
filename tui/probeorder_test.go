package tui

import (
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

// TestProbePanelOrder (QA: reverse alphabetical, the refused VMs first,
// the migrated VM in "… 12 more"): the probes of the plan's VMs come
// first, then the others by name.
func TestProbePanelOrder(t *testing.T) {
	pf := withVMs("WebApp2")
	pf.Probes = []steps.ProbePlan{
		{Name: "zeta (tcp)", VM: "zeta", TCP: "127.0.0.1:1"},
		{Name: "alpha (tcp)", VM: "alpha", TCP: "127.0.0.1:2"},
		{Name: "Beta (tcp)", VM: "Beta", TCP: "127.0.0.1:5"},
		{Name: "WebApp2 (tcp)", VM: "WebApp2", TCP: "127.0.0.1:3"},
		{Name: "web tier (tcp)", VMs: []string{"WebApp1", "WebApp2"}, TCP: "127.0.0.1:4"},
	}
	h := newHarness(t, setup{pf: pf, done: append(slices.Clone(infraDone), "vm-selection", "replication")})
	h.start(120, 40)
	for _, p := range []string{"zeta (tcp)", "web tier (tcp)", "Beta (tcp)", "alpha (tcp)", "WebApp2 (tcp)"} {
		h.send(probeMsg{Pair: p, Kind: "tcp", Time: t0, Up: true, Latency: 1e6})
	}
	v := h.view()
	var order []string
	for _, l := range strings.Split(v, "\n") {
		for _, p := range []string{"zeta (tcp)", "web tier (tcp)", "Beta (tcp)", "alpha (tcp)", "WebApp2 (tcp)"} {
			if strings.Contains(l, "● "+p) {
				order = append(order, p)
			}
		}
	}
	want := []string{"web tier (tcp)", "WebApp2 (tcp)", "alpha (tcp)", "Beta (tcp)", "zeta (tcp)"}
	if !slices.Equal(order, want) {
		t.Fatalf("probe panel order %q, want %q:\n%s", order, want, v)
	}
}
