package tui

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
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

// TestVMOptionsKeepEachVMsPower (QA: with WebApp1 to power on and WebApp3
// to be left off, confirming step 5's options for both wrote the last VM's
// power_on to both): the power field of VMs whose choices differ says
// whose is what, and confirming it untouched keeps each VM's own; space
// chooses on for all, then off for all, then each VM's own again.
func TestVMOptionsKeepEachVMsPower(t *testing.T) {
	mixed := func() *steps.PlanFile {
		pf := withVMs("WebApp1", "WebApp3")
		off := false
		pf.VMs[1].PowerOn = &off
		return pf
	}
	powers := func(h *harness) map[string]string {
		out := map[string]string{}
		for _, vm := range h.env.Plan().VMs {
			out[vm.Name] = fmt.Sprint(vm.PowerOn != nil && *vm.PowerOn)
		}
		return out
	}
	joined := func(h *harness) string { return strings.Join(strings.Fields(panelText(h.view())), " ") }
	toPower := func(h *harness) {
		h.send(press("tab"))
		for range 5 { // job, RPO, VDC, network, storage: to power on
			h.send(press("tab"))
		}
		h.mustSee(t, "▸ Power on")
	}
	for _, sz := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			h := newHarness(t, setup{pf: mixed(), done: infraDone})
			h.start(sz[0], sz[1])
			const each = "as each VM has it: on for WebApp1; off for WebApp3"
			if s := joined(h); !strings.Contains(s, "after the cutover "+each+" (tab: options)") {
				t.Errorf("summary does not say each VM keeps its own power:\n%s", h.view())
			}
			toPower(h)
			if s := joined(h); !strings.Contains(s, "Power on [~] "+each) {
				t.Errorf("power field not shown as each VM's own:\n%s", h.view())
			}
			h.send(press("ctrl+s"))
			if got, want := powers(h), map[string]string{"WebApp1": "true", "WebApp3": "false"}; !maps.Equal(got, want) {
				t.Errorf("confirmed untouched: power_on %v, want %v (each its own)", got, want)
			}
		})
	}
	// A choice for all is written to all; space comes back to each VM's own.
	for _, tc := range []struct {
		spaces int
		want   map[string]string
	}{
		{1, map[string]string{"WebApp1": "true", "WebApp3": "true"}},
		{2, map[string]string{"WebApp1": "false", "WebApp3": "false"}},
		{3, map[string]string{"WebApp1": "true", "WebApp3": "false"}},
	} {
		h := newHarness(t, setup{pf: mixed(), done: infraDone})
		h.start(80, 24)
		toPower(h)
		for range tc.spaces {
			h.send(press("space"))
		}
		h.send(press("ctrl+s"))
		if got := powers(h); !maps.Equal(got, tc.want) {
			t.Errorf("space ×%d: power_on %v, want %v\n%s", tc.spaces, got, tc.want, h.view())
		}
	}
}

// TestVMOptionsKeepEachVMsOptions (QA: with WebApp1 on company-network,
// the VDC default policy and a 1m RPO, and WebApp3 on backend-network,
// Gold and 15m in the plan file, confirming step 5's options for both
// wrote the last VM's to both): the target network, storage policy and RPO
// fields of VMs whose own differ say whose is what, within the screen;
// confirming them untouched keeps each VM's own, a value typed is written
// to all, and one typed then cleared is each VM's own again.
func TestVMOptionsKeepEachVMsOptions(t *testing.T) {
	mixed := func() *steps.PlanFile {
		pf := withVMs("WebApp1", "WebApp3")
		pf.VMs[1].TargetNetwork, pf.VMs[1].StorageProfile, pf.VMs[1].RPO = "backend-network", "Gold", replication.RPO(15*time.Minute)
		return pf
	}
	options := func(h *harness) map[string]string {
		out := map[string]string{}
		for _, vm := range h.env.Plan().VMs {
			out[vm.Name] = vm.TargetNetwork + " " + cmp.Or(vm.StorageProfile, "-") + " " + vm.RPO.String()
		}
		return out
	}
	own := map[string]string{"WebApp1": "company-network - 1m", "WebApp3": "backend-network Gold 15m"}
	joined := func(h *harness) string { return strings.Join(strings.Fields(panelText(h.view())), " ") }
	fits := func(t *testing.T, h *harness, w, hgt int) {
		t.Helper()
		ls := strings.Split(h.view(), "\n")
		if len(ls) > hgt {
			t.Errorf("%dx%d: %d lines", w, hgt, len(ls))
		}
		for i, l := range ls {
			if lw := ansi.StringWidth(l); lw > w {
				t.Errorf("%dx%d: line %d is %d wide: %q", w, hgt, i, lw, ansi.Strip(l))
			}
		}
	}
	// next tabs to the option field titled title.
	next := func(t *testing.T, h *harness, title string) {
		t.Helper()
		for range 6 {
			if strings.Contains(h.view(), "▸ "+title) {
				return
			}
			h.send(press("tab"))
		}
		h.mustSee(t, "▸ "+title)
	}
	// to focuses the option field titled title, from the table.
	to := func(t *testing.T, h *harness, title string) {
		t.Helper()
		h.send(press("tab"))
		next(t, h, title)
	}
	words := map[string]string{
		"RPO":            "as each VM has it: 1m for WebApp1; 15m for WebApp3",
		"Target network": "as each VM has it: company-network for WebApp1; backend-network for WebApp3",
		"Storage policy": "as each VM has it: the VDC default for WebApp1; Gold for WebApp3",
	}
	for _, sz := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			h := newHarness(t, setup{pf: mixed(), done: infraDone})
			h.start(sz[0], sz[1])
			s := joined(h)
			for _, want := range []string{"RPO " + words["RPO"], "network " + words["Target network"], "storage " + words["Storage policy"]} {
				if !strings.Contains(s, want) {
					t.Errorf("summary does not say %q:\n%s", want, h.view())
				}
			}
			fits(t, h, sz[0], sz[1])
			h.send(press("tab"))
			for _, title := range []string{"RPO", "Target network", "Storage policy"} {
				next(t, h, title)
				if s := joined(h); !strings.Contains(s, title+" [~] "+words[title]) {
					t.Errorf("%s field not shown as each VM's own:\n%s", title, h.view())
				}
				fits(t, h, sz[0], sz[1])
			}
			h.send(press("ctrl+s"))
			if got := options(h); !maps.Equal(got, own) {
				t.Errorf("confirmed untouched: %v, want each VM's own %v", got, own)
			}
		})
	}
	// A value typed is written to all.
	h := newHarness(t, setup{pf: mixed(), done: infraDone})
	h.start(80, 24)
	to(t, h, "RPO")
	h.typeText("5m")
	h.send(press("tab"))
	h.send(press("tab"))
	h.mustSee(t, "▸ Target network")
	h.typeText("company-network")
	h.send(press("tab"))
	h.typeText("Bronze")
	h.send(press("ctrl+s"))
	if got, want := options(h), map[string]string{"WebApp1": "company-network Bronze 5m", "WebApp3": "company-network Bronze 5m"}; !maps.Equal(got, want) {
		t.Errorf("typed for all: %v, want %v\n%s", got, want, h.view())
	}
	// Typed, then cleared: each VM's own again, and the field says so.
	h = newHarness(t, setup{pf: mixed(), done: infraDone})
	h.start(80, 24)
	to(t, h, "Storage policy")
	h.typeText("Go")
	h.mustNotSee(t, "[~] as each VM has it: the VDC default")
	// Scrolled, the field above shows whole or not at all: its words
	// alone would read as the storage policy's.
	if s := joined(h); strings.Contains(s, "backend-network for WebApp3") && !strings.Contains(s, "Target network") {
		t.Errorf("the target network's words without its title:\n%s", h.view())
	}
	h.send(press("backspace"))
	h.send(press("backspace"))
	if s := joined(h); !strings.Contains(s, "Storage policy [~] "+words["Storage policy"]) {
		t.Errorf("cleared storage policy not shown as each VM's own:\n%s", h.view())
	}
	h.send(press("ctrl+s"))
	if got := options(h); !maps.Equal(got, own) {
		t.Errorf("typed then cleared: %v, want each VM's own %v", got, own)
	}
	// WebApp1 left out of the selection, the options are WebApp3's own.
	h = newHarness(t, setup{pf: mixed(), done: infraDone})
	h.start(80, 24)
	h.mustSee(t, "▸ [x] WebApp1")
	h.send(press("space"))
	to(t, h, "RPO")
	for _, want := range [][2]string{{"RPO", "15m"}, {"Target network", "backend-network"}, {"Storage policy", "Gold"}} {
		next(t, h, want[0])
		if s := joined(h); !strings.Contains(s, want[0]+" "+want[1]) || strings.Contains(s, "[~] as each VM") {
			t.Errorf("options of WebApp3 alone do not read %s %s:\n%s", want[0], want[1], h.view())
		}
	}
	h.send(press("ctrl+s"))
	if got, want := options(h), map[string]string{"WebApp3": own["WebApp3"]}; !maps.Equal(got, want) {
		t.Errorf("WebApp3 alone: %v, want %v", got, want)
	}
}

// TestVMOptionsHighlightedChoiceInView (at 80x24, step 5's storage policy
// of VMs whose own policies differ, its words on two lines, showed from
// its title down to its second choice: moving down to Bronze left it out,
// "↓ 1 more choice", no "›"): the highlighted choice is in the window,
// under the field's title, the description making room for it.
func TestVMOptionsHighlightedChoiceInView(t *testing.T) {
	pf := withVMs("WebApp1", "WebApp3")
	pf.VMs[1].StorageProfile = "Gold"
	h := newHarness(t, setup{pf: pf, done: infraDone})
	h.start(80, 24)
	h.send(press("tab"))
	for range 4 { // job, RPO, VDC, network: to the storage policy
		h.send(press("tab"))
	}
	h.mustSee(t, "▸ Storage policy", "[~] as each VM has it", "the VDC storage policy for the disks")
	for _, want := range []string{"› " + steps.PolicyDefaultForAll, "› *", "› Gold", "› Bronze"} {
		h.send(press("down"))
		h.mustSee(t, "▸ Storage policy", "[~] as each VM has it", want)
	}
	// Bronze's note, four lines: the choices above it counted.
	h.mustSee(t, "  ↑ 3 more choices", "provider-ds)")
	h.mustNotSee(t, "the VDC storage policy for the disks")
	h.send(press("down")) // round to the first: the field whole again
	h.mustSee(t, "the VDC storage policy for the disks", "› "+steps.PolicyDefaultForAll)
	h.mustNotSee(t, "  ↑ 3 more choices")
}

// TestVMOptionsPickTheVDCDefaultForAll (with WebApp1 on the VDC's
// default policy and WebApp3 on Gold, step 5's storage policy offered no
// way to the VDC's default for both, empty keeping each VM's own, and
// its pick list still noted the default policy "empty picks it"): while
// the selected VMs' policies differ, the pick list offers the VDC's
// default for all, which the plan file gets as an empty storage_profile
// for each VM, and notes the default policy as its name, empty keeping
// each VM's own; while they agree, as before.
func TestVMOptionsPickTheVDCDefaultForAll(t *testing.T) {
	mixed := func() *steps.PlanFile {
		pf := withVMs("WebApp1", "WebApp3")
		pf.VMs[1].TargetNetwork, pf.VMs[1].StorageProfile, pf.VMs[1].RPO = "backend-network", "Gold", replication.RPO(15*time.Minute)
		return pf
	}
	joined := func(h *harness) string { return strings.Join(strings.Fields(panelText(h.view())), " ") }
	toStorage := func(t *testing.T, h *harness) {
		t.Helper()
		h.send(press("tab"))
		for range 4 { // job, RPO, VDC, network: to the storage policy
			h.send(press("tab"))
		}
		h.mustSee(t, "▸ Storage policy")
	}
	for _, sz := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plan.yaml")
			h := newHarness(t, setup{pf: mixed(), done: infraDone, savePlan: func(pf *steps.PlanFile) error { return pf.Save(path) }})
			h.start(sz[0], sz[1])
			toStorage(t, h)
			h.mustSee(t, "[~] as each VM has it", "  "+steps.PolicyDefaultForAll+"  no policy named", "  *  the VDC's default, by name")
			h.mustNotSee(t, "empty picks it")
			h.send(press("down"))
			if s := joined(h); !strings.Contains(s, "› "+steps.PolicyDefaultForAll+" no policy named: each VM's import gets the VDC's default") {
				t.Errorf("the VDC's default for all not highlighted with its note:\n%s", h.view())
			}
			h.send(press("down"))
			if s := joined(h); !strings.Contains(s, "› * the VDC's default, by name (empty keeps each VM's own)") {
				t.Errorf("the default policy not noted as its name, empty keeping each VM's own:\n%s", h.view())
			}
			// A choice below the window's end is brought into it, under
			// the field's title: its description makes room.
			h.send(press("down"))
			h.mustSee(t, "▸ Storage policy", "› Gold")
			h.send(press("up"))
			h.send(press("up"))
			h.send(press("enter"))
			h.mustSee(t, "▸ Power on")
			if s := joined(h); !strings.Contains(s, "Storage policy "+steps.PolicyDefaultForAll) {
				t.Errorf("storage policy field after the pick does not read %q:\n%s", steps.PolicyDefaultForAll, h.view())
			}
			h.send(press("esc")) // to the table: the options' summary
			if s := joined(h); !strings.Contains(s, "storage VDC default ·") || strings.Contains(s, "storage as each VM has it") {
				t.Errorf("summary does not say the VDC default for all:\n%s", h.view())
			}
			h.send(press("tab"))
			h.send(press("ctrl+s"))
			pf, err := steps.LoadPlanFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			got := map[string]string{}
			for _, vm := range pf.VMs {
				got[vm.Name] = vm.TargetNetwork + " " + cmp.Or(vm.StorageProfile, "-") + " " + vm.RPO.String()
			}
			// The policy the VDC's default for both; the other options
			// each VM's own, untouched.
			if want := map[string]string{"WebApp1": "company-network - 1m", "WebApp3": "backend-network - 15m"}; !maps.Equal(got, want) || strings.Contains(string(b), "storage_profile") {
				t.Errorf("plan file after the VDC's default for all: %v, want %v:\n%s", got, want, b)
			}
		})
	}
	// The VMs' policies agreeing (WebApp3 alone, on Gold): empty is the
	// VDC's default, the pick list says so, and offers nothing more.
	h := newHarness(t, setup{pf: mixed(), done: infraDone})
	h.start(80, 24)
	h.mustSee(t, "▸ [x] WebApp1")
	h.send(press("space"))
	toStorage(t, h)
	h.mustSee(t, "Storage policy  Gold")
	for range len("Gold") {
		h.send(press("backspace"))
	}
	h.mustSee(t, "  *  the VDC's default (empty picks it)", "  Gold  2 GiB left")
	h.mustNotSee(t, steps.PolicyDefaultForAll, "[~]", "by name")
}
