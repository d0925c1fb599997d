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
	vms := []string{"WebApp1", "WebApp2", "WebApp3", "LinuxDB1", "LinuxDB2", "LinuxDB3"}
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h := newHarness(t, setup{pf: withVMs(vms...), done: append(slices.Clone(infraDone), "vm-selection", "replication"), feeds: true})
		h.start(size[0], size[1])
		var st []steps.VMStatus
		for _, vm := range vms {
			st = append(st, steps.VMStatus{JobStatus: replication.StoredStatus(vm, replication.RPO(time.Minute), replication.VMState{}, t0)})
		}
		h.send(statusMsg(statusRows(st, false)))
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
