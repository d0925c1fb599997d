package tui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// TestDashboardRowHealthNotCut (QA: at 80x24 the row "WebApp3 no replica
// ○ no complete pas…" was cut at the panel's edge): every row's health
// reads whole, its columns giving way, in full and compact rows.
func TestDashboardRowHealthNotCut(t *testing.T) {
	vms := sixVMs
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h := rowsOf(t, vms, size)
		h.send(press("["))
		v := h.view()
		for _, vm := range vms {
			found := false
			for _, l := range strings.Split(v, "\n") {
				_, r, ok := strings.Cut(l, "│ ")
				if !ok || !(strings.HasPrefix(r, "▸ "+vm+" ") || strings.HasPrefix(r, "  "+vm+" ")) {
					continue
				}
				found = true
				if !strings.Contains(r, "no complete pass yet") || strings.Contains(r, "…") {
					t.Errorf("%dx%d: the row of %s reads %q, want its health whole:\n%s", size[0], size[1], vm, r, v)
				}
			}
			if !found {
				t.Logf("%dx%d: no row of %s on screen", size[0], size[1], vm)
			}
		}
	}
}

// TestDashboardCompactRowPercentApart (QA hD: a viewer at 80x24 watching
// step 6 replicate three VMs read "WebApp2   initial transfer   6%○ no
// complete pass yet"): a compact row's pass percentage keeps a space
// before the health, however the columns give way.
func TestDashboardCompactRowPercentApart(t *testing.T) {
	vms := sixVMs
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h := rowsOf(t, vms, size)
		for _, vm := range vms {
			h.deliver(replicationMsg{VM: vm, Phase: "initial transfer", Planned: 100 << 20, Acked: 6 << 20, Rate: 1 << 20})
		}
		h.send(press("["))
		v := h.view()
		rows := 0
		for _, l := range strings.Split(v, "\n") {
			_, r, ok := strings.Cut(l, "│ ")
			if !ok || !slices.ContainsFunc(vms, func(vm string) bool {
				return strings.HasPrefix(r, "▸ "+vm+" ") || strings.HasPrefix(r, "  "+vm+" ")
			}) || !strings.Contains(r, "%") {
				continue
			}
			rows++
			if !strings.Contains(r, "% ") || strings.Contains(r, "…") {
				t.Errorf("%dx%d: the row %q: want its percentage apart from its health, nothing cut:\n%s", size[0], size[1], r, v)
			}
		}
		if rows == 0 {
			t.Errorf("%dx%d: no row with a percentage:\n%s", size[0], size[1], v)
		}
	}
}

// sixVMs fill the dashboard's rows at 80x24.
var sixVMs = []string{"WebApp1", "WebApp2", "WebApp3", "LinuxDB1", "LinuxDB2", "LinuxDB3"}

// rowsOf is a wizard of size past step 6 whose dashboard has a row,
// with no pass yet, for each of vms.
func rowsOf(t *testing.T, vms []string, size [2]int) *harness {
	t.Helper()
	h := newHarness(t, setup{pf: withVMs(vms...), done: append(slices.Clone(infraDone), "vm-selection", "replication"), feeds: true})
	h.start(size[0], size[1])
	var st []steps.VMStatus
	for _, vm := range vms {
		st = append(st, steps.VMStatus{JobStatus: replication.StoredStatus(vm, replication.RPO(time.Minute), replication.VMState{}, t0)})
	}
	h.send(statusMsg(statusRows(st, false)))
	return h
}
