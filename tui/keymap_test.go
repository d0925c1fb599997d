package tui

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/steps"
)

// TestOneKeymap (issue 14 item 10): in a field, letters are typed and the
// help bar says so (esc leaves the field, ctrl+c quits); after esc, ? and q
// work as on every other screen; [ is not offered while typing, f1 opens
// the help; a form opens on its first field.
func TestOneKeymap(t *testing.T) {
	pf := &steps.PlanFile{Org: "Company", VDC: "Company-VDC", EdgeGateway: "company-edge",
		Network: steps.NetworkPlan{Name: "company-network", GatewayCIDR: "172.16.10.1/24"}}
	h := newHarness(t, setup{pf: pf, done: []string{"rights"}})
	h.start(120, 40)
	// ? is typed into the field: f1 is the help's key there, and the
	// footer says so (QA: the help could not be found from a field).
	h.mustSee(t, "▸ Organization", "esc leave field", "f1 help", "ctrl+c quit")
	h.mustNotSee(t, "? help", "q quit")
	h.send(tea.KeyMsg{Type: tea.KeyF1})
	h.mustSee(t, "✗[", "✗[        previous step: keys go to the field (esc leaves it)", "ctrl+c    quit")
	h.send(press("esc")) // closes the help
	h.send(press("esc")) // leaves the field
	h.mustSee(t, "enter edit the answers", "? help", "q quit")
	h.typeText("?")
	h.mustSee(t, "Keys")
	h.send(press("?"))
	h.send(press("enter")) // back into the fields
	h.typeText("x")
	if org := h.env.Plan().Org; org != "Companyx" {
		t.Fatalf("org %q: typing after enter did not reach the first field", org)
	}
	h.send(press("esc"))
	if _, cmd := h.m.Update(press("q")); !isQuit(cmd) {
		t.Fatal("q does not quit after esc")
	}
}

// TestCutoverEscLeavesTheField: esc on the cutover prompt leaves the field
// as on every form (it used to clear it); enter types again.
func TestCutoverEscLeavesTheField(t *testing.T) {
	h := toCutover(t, nil)
	h.typeText("WebApp")
	h.send(press("esc"))
	h.mustSee(t, "> WebApp", "enter type to confirm", "? help", "q quit")
	h.send(press("?"))
	h.mustSee(t, "Keys")
	h.send(press("?"))
	h.send(press("enter"))
	h.typeText("2")
	h.send(press("enter"))
	h.mustSee(t, "✓ cutover complete")
}

// TestHeaderShowsOrgOnceValidated (item 20): a typed org is not in the
// header until a step has found it; then it is.
func TestHeaderShowsOrgOnceValidated(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(120, 40)
	h.typeText("Compny")
	h.mustNotSee(t, "org Compny")
	h.send(tea.KeyMsg{Type: tea.KeyCtrlU})
	h.send(press("enter")) // pick Company: plan
	h.send(press("enter")) // apply
	h.mustSee(t, "✓ done", "org Company")
}

// TestJobNameFollowsTheSelection (item 20): the default job name names the
// VMs selected, not only the first.
func TestJobNameFollowsTheSelection(t *testing.T) {
	h := toVMScreen(t, 120, 40)
	h.send(press("space"))
	h.mustSee(t, "job WebApp1-Migration")
	h.send(press("down"))
	h.send(press("space"))
	h.mustSee(t, "job WebApp1-WebApp2-Migration")
	h.send(press("tab"))
	h.send(tea.KeyMsg{Type: tea.KeyCtrlS})
	if j := h.env.Plan().Job; j != "WebApp1-WebApp2-Migration" {
		t.Fatalf("job %q", j)
	}
}
