package tui

import (
	"strings"
	"testing"
)

// TestCutoverConfirmWaveAt80x24 (QA: with two VMs or more, their
// estimates pushed "Type … to confirm:" and the input off an 80x24
// screen; the operator typed blind): the toggle, the prompt, the input and
// why it was refused stay on screen, and ↑/↓ pgup/pgdn scroll the estimates
// to the last VM's; j and k go to the input.
func TestCutoverConfirmWaveAt80x24(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2", "WebApp3"), done: checksDone})
	h.start(80, 24)
	dashboardData(h, "WebApp1", "WebApp2", "WebApp3")
	h.typeText("WebApp")
	h.send(press("enter"))
	onScreen := func() {
		t.Helper()
		h.mustSee(t, "[x] power on after cutover (ctrl+o)", "Type WebApp1,WebApp2,WebApp3 to confirm", "> WebApp", `✗ "WebApp" does not match`, "lines 1–", "↑/↓ pgup/pgdn to scroll", "↑/↓/pgdn scroll")
	}
	onScreen()
	h.mustNotSee(t, "WebApp3 → Company-VDC")
	seen := h.view()
	for range 20 {
		m := linesHint.FindStringSubmatch(h.view())
		if m == nil {
			t.Fatalf("no lines hint:\n%s", h.view())
		}
		if m[2] == m[3] {
			break
		}
		h.send(press("down"))
		seen += h.view()
	}
	h.mustSee(t, "projected wave downtime", "[x] power on after cutover (ctrl+o)", "> WebApp", `✗ "WebApp" does not match`)
	for _, vm := range []string{"WebApp1", "WebApp2", "WebApp3"} {
		if !strings.Contains(seen, vm+" → Company-VDC / company-network") {
			t.Errorf("%s is never shown while scrolling", vm)
		}
	}
	if n := strings.Count(seen, "probes green 30s* (* default: not recorded"); n < 3 {
		t.Errorf("%d of 3 estimates shown in full while scrolling", n)
	}
	h.send(press("pgup"))
	h.send(press("pgup"))
	h.send(press("pgup"))
	h.mustSee(t, "lines 1–", "WebApp1 → Company-VDC")
	h.typeText("jk")
	h.mustSee(t, "> WebAppjk", "lines 1–")
}

// TestCutoverConfirmSaysAnInterruptedCutover (QA: after a ferry killed
// past the target's power-on request, the confirmation read as for a new
// cutover, and typing the name quietly finished the old one): the VM's
// line says what confirming will do, and how to roll back instead.
func TestCutoverConfirmSaysAnInterruptedCutover(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: checksDone,
		cutoverState: map[string]string{"WebApp1": "power-on requested", "WebApp2": "running"}})
	h.start(120, 40)
	dashboardData(h, "WebApp1", "WebApp2")
	h.mustSee(t, "DECISION NEEDED: the last cutover stopped after power-on of the target was requested",
		"--rollback", "the last cutover was interrupted before power-on of the target was requested",
		"powers the source on again and cuts over anew")
}
