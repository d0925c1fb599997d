package tui

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vsphere"
)

var (
	marksUp      = regexp.MustCompile(`↑ (\d+) more`)
	marksDown    = regexp.MustCompile(`↓ [^\n│]*`)
	marksChoices = regexp.MustCompile(`(\d+) more choices?`)
	marksMore    = regexp.MustCompile(`(\d+) more`)
)

// marked is the count of the view's "↑ N more" mark and the counts of its
// "↓ [N more choices ·] M more" mark (0 for none).
func marked(view string) (up, downChoices, down int) {
	if m := marksUp.FindStringSubmatch(view); m != nil {
		up, _ = strconv.Atoi(m[1])
	}
	line := marksDown.FindString(view)
	if m := marksChoices.FindStringSubmatch(line); m != nil {
		downChoices, _ = strconv.Atoi(m[1])
		line = strings.Replace(line, m[0], "", 1)
	}
	if m := marksMore.FindStringSubmatch(line); m != nil {
		down, _ = strconv.Atoi(m[1])
	}
	return up, downChoices, down
}

// TestVMTableMarksWhatItHides (QA: at 80x24 step 5 listed 8 of 17 VMs
// under "1 of 17 selected", the others without a sign): when the VMs do
// not fit, "↑ N more" and "↓ N more" count those above and below the rows
// shown, wherever the cursor is, and the cursor's row shows.
func TestVMTableMarksWhatItHides(t *testing.T) {
	var vms []vsphere.VM
	for i := 1; i <= 40; i++ {
		vms = append(vms, vm(fmt.Sprintf("vm-%02d", i), "poweredOn", fmt.Sprintf("172.16.10.%d", 100+i), 20, 1, true, 0))
	}
	for _, sz := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			h := newHarness(t, setup{pf: withVMs(), done: infraDone, vms: vms})
			h.start(sz[0], sz[1])
			h.mustSee(t, "0 of 40 selected")
			for cur := range vms {
				v := h.view()
				shown := 0
				for _, vm := range vms {
					if strings.Contains(v, " "+vm.Name+" ") {
						shown++
					}
				}
				up, _, down := marked(v)
				if up+shown+down != len(vms) || !strings.Contains(v, "▸ [ ] "+vms[cur].Name) {
					t.Fatalf("cursor on %s: %d shown, ↑ %d, ↓ %d of %d:\n%s", vms[cur].Name, shown, up, down, len(vms), v)
				}
				if (cur == 0 && up != 0) || (cur == len(vms)-1 && down != 0) || (cur == 0 && down == 0) || (cur == len(vms)-1 && up == 0) {
					t.Fatalf("cursor on %s: ↑ %d, ↓ %d:\n%s", vms[cur].Name, up, down, v)
				}
				h.send(press("down"))
			}
		})
	}
}

// TestFormMarksWhatItHides (QA: at 80x24 step 3's form showed 13 of its
// 15 fields, step 5's options 7 of 9, a pick list could run off the
// panel, without a sign): a form taller than its panel counts the fields
// above and below what it shows, and the choices of the focused field's
// list it cuts.
func TestFormMarksWhatItHides(t *testing.T) {
	const extra = 40
	uplink := "appliance.uplink_portgroup"
	long := func(m map[string]*fakeStep) {
		a := m["appliance"]
		for i := 1; i <= extra; i++ {
			a.fields = append(a.fields, field(fmt.Sprintf("extra.%02d", i), fmt.Sprintf("Extra %02d", i), "an answer", false,
				func(pf *steps.PlanFile) *string { return &pf.Appliance.Name }, nil, ""))
		}
		a.fields = append(a.fields, field(uplink, "Uplink port group",
			"the port group (distributed or standard) of the appliance's own address: its uplink, where the appliance reaches the edge's public address and its own default gateway; it must carry the appliance IP's subnet (default: the stretched port group)",
			false, func(pf *steps.PlanFile) *string { return &pf.Appliance.UplinkPortgroup }, nil, ""))
	}
	for _, sz := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			h := newHarness(t, setup{pf: &steps.PlanFile{Org: "Company"}, done: []string{"rights", "trunk-network"}, mutate: long})
			h.start(sz[0], sz[1])
			fields := h.steps["appliance"].fields
			check := func() {
				t.Helper()
				v := h.view()
				shown := 0
				for _, f := range fields {
					if strings.Contains(v, " "+f.Title+" ") {
						shown++
					}
				}
				up, _, down := marked(v)
				if up+shown+down != len(fields) {
					t.Fatalf("%d fields shown, ↑ %d, ↓ %d of %d:\n%s", shown, up, down, len(fields), v)
				}
			}
			h.mustSee(t, "▸ Port group")
			check()
			if up, _, down := marked(h.view()); up != 0 || down == 0 {
				t.Fatalf("first field: ↑ %d, ↓ %d:\n%s", up, down, h.view())
			}
			for i := 1; i < len(fields); i++ {
				h.send(press("tab"))
				check()
			}
			h.mustSee(t, "▸ Uplink port group")
			if up, _, down := marked(h.view()); up == 0 || down != 0 {
				t.Fatalf("last field: ↑ %d, ↓ %d:\n%s", up, down, h.view())
			}
			// Its pick list: the choices it shows, those it cuts and
			// those past the list's length make its 8.
			v := h.view()
			listed := strings.Count(v, " uplink-0")
			_, cut, _ := marked(v)
			past := 0
			if m := regexp.MustCompile(`… (\d+) more: type to narrow`).FindStringSubmatch(v); m != nil {
				past, _ = strconv.Atoi(m[1])
			}
			if listed+cut+past != 8 {
				t.Fatalf("%d choices listed, %d cut, %d past the list, of 8:\n%s", listed, cut, past, v)
			}
			if sz[0] == 80 && cut == 0 {
				t.Fatalf("at 80x24 the list is expected cut by the panel:\n%s", v)
			}
		})
	}
}
