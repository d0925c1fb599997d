package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

// TestLongValueShowsItsEnd (QA: at 80x24 step 3's appliance OVA read
// "/tmp/ferry-lab-3626324867/nsx-…", without the file name the admin
// checks): a value wider than its field shows its end, "…" for its
// beginning; in the field being typed in it shows whole, wrapped under it.
func TestLongValueShowsItsEnd(t *testing.T) {
	const file = "nsx-edge-4.2.1.0.0.24268547.ova"
	path := "/srv/images/vmware/nsx/4.2.1/autonomous-edge/downloads-from-the-broadcom-support-portal/" + file
	ova := func(m map[string]*fakeStep) {
		a := m["appliance"]
		a.fields = append(a.fields, field("appliance.ovf", "Appliance OVA", "the appliance's .ova", true,
			func(pf *steps.PlanFile) *string { return &pf.Appliance.OVF }, nil, ""))
	}
	fieldLine := func(h *harness) string {
		for _, l := range strings.Split(panelText(h.view()), "\n") {
			if strings.Contains(l, "Appliance OVA") {
				return l
			}
		}
		t.Fatalf("no Appliance OVA field:\n%s", h.view())
		return ""
	}
	for _, sz := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			pf := &steps.PlanFile{Org: "Company", Appliance: steps.AppliancePlan{OVF: path}}
			h := newHarness(t, setup{pf: pf, done: []string{"rights", "trunk-network"}, mutate: ova})
			h.start(sz[0], sz[1])
			h.mustSee(t, "Step 3 of 8", "▸ Port group")
			if l := fieldLine(h); !strings.Contains(l, "…") || !strings.Contains(l, file) {
				t.Errorf("the field not typed in does not end with the file name:\n%s", h.view())
			}
			for range 3 {
				h.send(press("tab"))
			}
			h.mustSee(t, "▸ Appliance OVA")
			if l := fieldLine(h); !strings.Contains(l, file) {
				t.Errorf("the field typed in does not show the file name:\n%s", h.view())
			}
			if !strings.Contains(strings.Join(strings.Fields(panelText(h.view())), ""), path) {
				t.Errorf("the field typed in does not show its value whole:\n%s", h.view())
			}
			// Typed at its end, as any value.
			h.typeText("x")
			if l := fieldLine(h); !strings.Contains(l, file+"x") {
				t.Errorf("what is typed does not show:\n%s", h.view())
			}
		})
	}
}
