package tui

import (
	"strings"
	"testing"
)

// TestChoicesFollowTheTypedAnswers: a field whose choices depend on another
// answer lists them for the answer typed, not for the plan as the form
// opened (the VDCs of the organization just picked; a fresh plan listed
// none, the organization being empty when the form loaded its choices).
func TestChoicesFollowTheTypedAnswers(t *testing.T) {
	h := newHarness(t, setup{done: []string{"rights"}})
	h.start(120, 40)
	h.mustSee(t, "› Company", "Company-Dev")
	h.send(press("down"))
	h.send(press("enter"))
	if h.env.Plan().Org != "Company-Dev" {
		t.Fatalf("org = %q, want Company-Dev picked", h.env.Plan().Org)
	}
	h.mustSee(t, "▸ Org VDC", "› Dev-VDC")
	h.mustNotSee(t, "Company-VDC")
}

// TestStoragePolicyPickList: VM selection offers the VDC's storage
// policies with what each would do (the default, the room left), and a pick
// writes the policy's name only.
func TestStoragePolicyPickList(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs(), done: infraDone})
	h.start(120, 40)
	h.send(press("tab"))
	for range 4 {
		h.send(press("tab"))
	}
	h.mustSee(t, "▸ Storage policy", "› *  the VDC's default (empty picks it)", "Gold  2 GiB left of 10 GiB")
	h.send(press("down"))
	h.send(press("enter"))
	h.mustSee(t, "▸ Power on")
	for _, l := range strings.Split(h.view(), "\n") {
		if strings.Contains(l, "Storage policy") && (!strings.Contains(l, "Gold") || strings.Contains(l, "left of")) {
			t.Fatalf("storage policy field after the pick: %q, want Gold alone", l)
		}
	}
}
