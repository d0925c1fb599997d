package tui

import (
	"strings"
	"testing"
)

// TestVMTableBesideOptions (QA: step 5's options squeezed the VM table to
// 3 rows above 20 empty lines, and tab from the table reopened the option
// field last left, not the first): with the options open the table keeps
// the rows the options leave, the options stay whole at 80x24, and tab
// from the table opens them at their first field.
func TestVMTableBesideOptions(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs(), done: infraDone})
	h.start(120, 40)
	h.send(press("tab"))
	h.mustSee(t, "▸ Job name", "Power on")
	for _, vm := range fakeVMs {
		if !strings.Contains(h.view(), "[ ] "+vm.Name) {
			t.Errorf("%s not in the table with the options open at 120x40:\n%s", vm.Name, h.view())
		}
	}
	h.send(press("tab"))
	h.send(press("tab"))
	h.mustSee(t, "▸ Target VDC")
	h.send(press("esc"))
	h.send(press("tab"))
	h.mustSee(t, "▸ Job name")
	h.mustNotSee(t, "▸ Target VDC")

	h = newHarness(t, setup{pf: withVMs(), done: infraDone})
	h.start(80, 24)
	h.send(press("down"))
	h.send(press("tab"))
	h.mustSee(t, "▸ Job name", "Power on", "[ ] WebApp2", "of 5 selected")
}
