package tui

import (
	"fmt"
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

// TestVMOptionsAt80x24NoteAndLastLine (QA walk at 80x24: with the cursor
// on a VM far down the table, the options showed the table's first row,
// Archive1, under the cursor VM's note, vdi-vsan's refusal, and the form's
// last line fell off the screen): on the options the note on the cursor's
// VM is left out, the table shows the cursor's row, and the form's
// focused field keeps its description whole.
func TestVMOptionsAt80x24NoteAndLastLine(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs(), done: infraDone})
	h.start(80, 24)
	for range len(fakeVMs) - 1 {
		h.send(press("down"))
	}
	h.mustSee(t, "legacy-ftp: cold migration")
	h.send(press("tab"))
	h.mustSee(t, "▸ Job name")
	h.mustNotSee(t, "legacy-ftp: cold migration")
	if v := h.view(); strings.Contains(v, "WebApp1 ") && !strings.Contains(v, "legacy-ftp") {
		t.Errorf("the table shows its first row, not the cursor's:\n%s", v)
	}
	// The storage policy's field: its description and choices, down to
	// the last, on the screen.
	for range 4 {
		h.send(press("tab"))
	}
	h.mustSee(t, "▸ Storage policy", "  Bronze  not on")
}

// TestVMOptionsSayPowerInWords (QA: step 5's summary of the options read
// "power on true"): it says in words what the cutover does with the
// target's power, and follows the option when it is toggled.
func TestVMOptionsSayPowerInWords(t *testing.T) {
	for _, sz := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			h := toVMScreen(t, sz[0], sz[1])
			h.send(press("space"))
			summary := func() string { return strings.Join(strings.Fields(panelText(h.view())), " ") }
			if s := summary(); !strings.Contains(s, "target powered on after the cutover (tab: options)") || strings.Contains(s, "true") {
				t.Errorf("summary does not say the target is powered on:\n%s", h.view())
			}
			h.send(press("tab"))
			for range 5 {
				h.send(press("tab"))
			}
			h.mustSee(t, "▸ Power on")
			h.send(press("space"))
			h.send(press("esc"))
			if s := summary(); !strings.Contains(s, "target left powered off after the cutover (tab: options)") || strings.Contains(s, "false") {
				t.Errorf("summary does not say the target is left off:\n%s", h.view())
			}
		})
	}
}
