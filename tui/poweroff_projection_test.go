package tui

import (
	"strings"
	"testing"
)

// TestCutoverLeftOffProjectsNoDowntime (QA: with "power on after cutover"
// unticked (ctrl+o), the confirmation still read "This shuts down the
// source VMs and starts them in Cloud Director" and "projected downtime
// ~4s", its phases up to "power on" and "probes green"; the report then
// said "at least 0.7s (still down when the cutover ended)"): with the
// targets left off, the confirmation says they stay off and the services
// down until someone powers them on, and projects no window; ticked again,
// the projection is back.
func TestCutoverLeftOffProjectsNoDowntime(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: checksDone})
	h.start(120, 40)
	h.mustSee(t, "This shuts down the source VMs and starts them in Cloud Director.", "projected downtime ~1m43s", "probes green 30s*", "projected wave downtime ~1m43s", "[x] power on after cutover")
	h.send(press("ctrl+o"))
	h.mustSee(t, "[ ] power on after cutover")
	mustRead(t, h, "⚠ This shuts down the source VMs and leaves their targets in Cloud Director powered off: the services stay down until someone powers them on.",
		"down from its shutdown until someone powers its target on (power on after cutover is off)",
		"no downtime projected (the targets stay off)")
	for _, w := range []string{"starts them in Cloud Director", "projected downtime ~", "projected wave downtime", "probes green 30s"} {
		if strings.Contains(mainText(h.view()), w) {
			t.Errorf("with the targets left off, the screen reads %q:\n%s", w, h.view())
		}
	}
	h.send(press("ctrl+o"))
	h.mustSee(t, "starts them in Cloud Director", "projected downtime ~1m43s", "projected wave downtime ~1m43s")
}
