package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/ferry-migrate/ferry/steps"
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
	h.mustSee(t, "This shuts down the source VMs and starts them in Cloud Director.", "projected downtime ~1m13s", "probes green: none", "projected wave downtime ~1m13s", "[x] power on after cutover")
	h.send(press("ctrl+o"))
	h.mustSee(t, "[ ] power on after cutover")
	mustRead(t, h, "⚠ This shuts down the source VMs and leaves their targets in Cloud Director powered off: the services stay down until someone powers them on.",
		"down from its shutdown until someone powers its target on (power on after cutover is off)",
		"no downtime projected (the targets stay off)")
	for _, w := range []string{"starts them in Cloud Director", "projected downtime ~", "projected wave downtime", "probes green: none"} {
		if strings.Contains(mainText(h.view()), w) {
			t.Errorf("with the targets left off, the screen reads %q:\n%s", w, h.view())
		}
	}
	h.send(press("ctrl+o"))
	h.mustSee(t, "starts them in Cloud Director", "projected downtime ~1m13s", "projected wave downtime ~1m13s")
}

// TestCutoverToggleFollowsThePlansPower: the confirmation's power-on toggle
// starts from the plan's power_on of the VMs it cuts over (steps.WavePower),
// read again when the plan's answer changed since it was opened (step 5's
// options, another session), so that it, ferry plan and the cutover agree
// on whether there is a downtime to project: the confirmation read "[x]
// power on after cutover" and "projected downtime" for VMs the plan had
// since said to leave off, and confirming it powered them on. A VM cut over
// in an earlier wave, left off, does not leave the next wave's targets off.
func TestCutoverToggleFollowsThePlansPower(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: checksDone})
	h.start(120, 40)
	h.mustSee(t, "Step 8 of 8", "[x] power on after cutover", "projected downtime ~1m13s")
	h.send(press("esc")) // out of the confirmation's field
	h.send(press("["))   // step 7
	h.mustSee(t, "Step 7 of 8")
	h.env.EditPlan(func(pf *steps.PlanFile) { pf.SetPower([]string{"WebApp1", "WebApp2"}, steps.LeaveOff) })
	h.send(press("]"))
	h.mustSee(t, "Step 8 of 8", "[ ] power on after cutover", "no downtime projected (the targets stay off)")
	h.mustNotSee(t, "projected downtime ~")
	// The operator's own choice stands while the plan's does not change.
	h.send(press("tab")) // back in the field, where ctrl+o toggles
	h.send(press("ctrl+o"))
	h.mustSee(t, "[x] power on after cutover")
	h.send(press("esc"))
	h.send(press("["))
	h.send(press("]"))
	h.mustSee(t, "[x] power on after cutover", "projected downtime ~1m13s")

	// An earlier wave's VM, cut over and left off, is not in this wave.
	h2 := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2", "WebApp3"), done: checksDone, cutOver: []string{"WebApp1"}})
	h2.env.EditPlan(func(pf *steps.PlanFile) { pf.SetPower([]string{"WebApp1"}, steps.LeaveOff) })
	h2.start(120, 40)
	h2.mustSee(t, "Step 8 of 8", "already cut over: WebApp1", "[x] power on after cutover", "projected downtime ~")
}

// TestViewerSeesTheDriversPowerChoice: a watching session's confirmation
// reads as the driver's toggle says: with the targets left off (ctrl+o),
// no projected downtime and the warning that they stay off, as the
// driver's screen and the cutover have it (the viewer's box said "[ ]"
// over its own "starts them in Cloud Director" and projected downtime).
func TestViewerSeesTheDriversPowerChoice(t *testing.T) {
	drv, view, _ := twoSessions(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: checksDone}, 120, 40)
	view.mustSee(t, "Step 8 of 8", "projected downtime ~1m13s", "starts them in Cloud Director")
	drv.typeText("W")
	drv.send(tea.KeyMsg{Type: tea.KeyCtrlO})
	view.pullRuns()
	view.mustSee(t, "[ ] power on after cutover", "no downtime projected (the targets stay off)")
	mustRead(t, view, "leaves their targets in Cloud Director powered off")
	view.mustNotSee(t, "projected downtime ~", "starts them in Cloud Director")
	drv.send(tea.KeyMsg{Type: tea.KeyCtrlO})
	view.pullRuns()
	view.mustSee(t, "[x] power on after cutover", "projected downtime ~1m13s", "starts them in Cloud Director")
}

// TestCutoverMixedWaveKeepsEachVMsPower: where the plan powers some targets
// on and leaves others off, the toggle starts at "as the plan says" and
// confirming keeps each VM's answer: one answer for all, "leave off" by
// default, wrote power_on: false over the plan's true of a VM confirmed
// alone (WebApp1) because another VM of the plan (WebApp3) was to be left
// off. The screen says which targets stay off, projects the others, and
// ctrl+o goes to one answer for all and back.
func TestCutoverMixedWaveKeepsEachVMsPower(t *testing.T) {
	pf := withVMs("WebApp1", "WebApp2", "WebApp3")
	pf.SetPower([]string{"WebApp3"}, steps.LeaveOff)
	h := newHarness(t, setup{pf: pf, done: checksDone})
	h.start(120, 40)
	h.mustSee(t, "[~] power on after cutover as the plan says: WebApp1 and WebApp2; left off: WebApp3")
	mustRead(t, h, "⚠ This shuts down the source VMs and starts them in Cloud Director, but for WebApp3, whose target the plan leaves powered off: its services stay down until someone powers it on.",
		"down from its shutdown until someone powers its target on (the plan leaves its target off)",
		"a target left off has no end of its window")
	h.mustSee(t, "projected downtime ~1m13s")
	// One answer for all, then the other, then the plan's again.
	h.send(press("ctrl+o"))
	h.mustSee(t, "[x] power on after cutover", "starts them in Cloud Director.")
	h.mustNotSee(t, "but for WebApp3")
	h.send(press("ctrl+o"))
	h.mustSee(t, "[ ] power on after cutover", "no downtime projected (the targets stay off)")
	h.send(press("ctrl+o"))
	h.mustSee(t, "[~] power on after cutover as the plan says")

	h.typeText("WebApp1")
	h.send(press("enter"))
	h.mustSee(t, "WebApp1")
	for _, vm := range h.env.Plan().VMs {
		want := steps.PowerOnTarget
		if vm.Name == "WebApp3" {
			want = steps.LeaveOff
		}
		if vm.Power() != want {
			t.Errorf("after confirming WebApp1 as the plan says: %s's power %v, want %v (the plan's)", vm.Name, vm.Power(), want)
		}
	}
}

// TestViewerSeesTheDriversPlannedPower: a watching session reads "as the
// plan says" when the driver's toggle keeps each VM's answer, and one
// answer for all once the driver chooses it.
func TestViewerSeesTheDriversPlannedPower(t *testing.T) {
	pf := withVMs("WebApp1", "WebApp2")
	pf.SetPower([]string{"WebApp2"}, steps.LeaveOff)
	drv, view, _ := twoSessions(t, setup{pf: pf, done: checksDone}, 120, 40)
	drv.typeText("W")
	view.pullRuns()
	view.mustSee(t, "[~] power on after cutover as the plan says: WebApp1; left off: WebApp2", "projected downtime ~1m13s")
	mustRead(t, view, "but for WebApp2, whose target the plan leaves powered off")
	drv.send(tea.KeyMsg{Type: tea.KeyCtrlO})
	view.pullRuns()
	view.mustSee(t, "[x] power on after cutover")
	view.mustNotSee(t, "as the plan says", "but for WebApp2")
}
