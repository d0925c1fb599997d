package tui

import (
	"errors"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/steps"
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
	// Optional and empty: nothing is preselected (enter leaves it to the
	// VDC's default); down moves into the list.
	h.mustSee(t, "▸ Storage policy", "  *  the VDC's default (empty picks it)", "  Gold  2 GiB left of 10 GiB")
	h.mustNotSee(t, "› *", "› Gold")
	h.send(press("down"))
	h.mustSee(t, "› *  the VDC's default")
	// A note longer than the line: cut, but whole (wrapped) on the
	// highlighted choice, whose note's end says what to do.
	h.mustSee(t, "  Bronze  not on provider-ds")
	h.mustNotSee(t, "pick a policy that holds provider-ds")
	h.send(press("down"))
	h.send(press("down"))
	h.mustSee(t, "› Bronze  not on provider-ds", "pick a policy that holds provider-ds)")
	h.send(press("up"))
	h.send(press("enter"))
	h.mustSee(t, "▸ Power on")
	for _, l := range strings.Split(h.view(), "\n") {
		if strings.Contains(l, "Storage policy") && (!strings.Contains(l, "Gold") || strings.Contains(l, "left of")) {
			t.Fatalf("storage policy field after the pick: %q, want Gold alone", l)
		}
	}
}

// TestEnterTakesTheDefaultNotTheFirstChoice (QA: enter on the empty
// "Stretched port group", whose placeholder promised company-network, wrote
// the list's first port group, backend-network): an empty field with a
// default highlights no choice until the operator moves in the list, and
// enter takes the default.
func TestEnterTakesTheDefaultNotTheFirstChoice(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs(), done: []string{"rights", "trunk-network"},
		mutate: func(m map[string]*fakeStep) {
			m["appliance"].fields[0].Default = func(*steps.PlanFile) string { return "company-network" }
		}})
	h.start(120, 40)
	h.mustSee(t, "▸ Port group", "company-network", "  backend-network", "  VM Network")
	h.mustNotSee(t, "› backend-network")
	h.send(press("enter"))
	if got := h.env.Plan().Appliance.StretchedPortgroup; got != "" && got != "company-network" {
		t.Fatalf("enter on the empty field wrote %q, want the default company-network", got)
	}
	h.mustSee(t, "▸ Appliance IP")
	h.send(press("shift+tab"))
	h.send(press("down"))
	h.mustSee(t, "› backend-network")
	h.send(press("enter"))
	if got := h.env.Plan().Appliance.StretchedPortgroup; got != "backend-network" {
		t.Fatalf("picked %q, want backend-network", got)
	}
}

// TestFormShowsAnswersGivenElsewhere (QA: step 2 still showed the
// organization "required" after step 1 was applied with Company): a
// step's form, shown again, has the plan's answers, given since in another
// step's form; the VM screen's options follow the VDC the same way unless
// the operator changed them there.
func TestFormShowsAnswersGivenElsewhere(t *testing.T) {
	h := newHarness(t, setup{pf: &steps.PlanFile{}, done: []string{"rights", "trunk-network"}})
	h.start(120, 40)
	h.mustSee(t, "Step 3 of 8")
	h.send(press("esc"))
	h.env.EditPlan(func(pf *steps.PlanFile) { pf.Org, pf.VDC = "Company-Dev", "Dev-VDC" })
	h.send(press("["))
	h.mustSee(t, "Step 2 of 8")
	h.send(press("esc")) // from its result to its answers
	for _, l := range strings.Split(h.view(), "\n") {
		if strings.Contains(l, "Org VDC") && !strings.Contains(l, "Dev-VDC") {
			t.Fatalf("step 2 shows %q, want the VDC answered elsewhere, Dev-VDC", l)
		}
	}
	h.mustSee(t, "Company-Dev")
}

// TestRefusedTypingIsShown (QA: "foo" typed as OVF properties showed no ✗
// and never reached the plan): a field that keeps its last valid value in
// the plan shows the error of what was typed, and keeps the typed text when
// the operator moves on.
func TestRefusedTypingIsShown(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs(), done: []string{"rights", "trunk-network"},
		mutate: func(m map[string]*fakeStep) {
			m["appliance"].fields = append([]steps.Field{(&steps.Appliance{}).Fields()[len((&steps.Appliance{}).Fields())-1]}, m["appliance"].fields...)
		}})
	h.start(120, 40)
	h.mustSee(t, "▸ OVF properties")
	h.typeText("foo")
	h.send(press("tab"))
	h.mustSee(t, "foo", "✗")
	if p := h.env.Plan().Appliance.Properties; len(p) != 0 {
		t.Errorf("plan properties %v after a refused answer", p)
	}
}

// TestEscGoesToTheAnswerThePlanRefused (QA: esc after "appliance.ip: ..."
// stayed on the field last left, and the hint spoke of retrying an apply
// that never ran): the plan's refusal of an answer brings esc to that
// field, and a failed plan says nothing was changed.
func TestEscGoesToTheAnswerThePlanRefused(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs(), done: []string{"rights", "trunk-network"},
		mutate: func(m map[string]*fakeStep) {
			m["appliance"].planErr = &steps.FieldError{Key: "appliance.ip", Err: errors.New("172.16.10.1 is the gateway")}
		}})
	h.start(120, 40)
	h.typeText("company-network")
	h.send(press("tab"))
	h.typeText("172.16.10.1")
	h.send(press("tab"))
	h.mustSee(t, "▸ Prefix length")
	h.send(press("enter"))
	h.mustSee(t, "172.16.10.1 is the gateway", "Nothing was changed: the plan refused an answer. Press esc to correct it")
	h.send(press("esc"))
	h.mustSee(t, "▸ Appliance IP")

	h = newHarness(t, setup{pf: withVMs(), done: []string{"rights", "trunk-network"},
		mutate: func(m map[string]*fakeStep) { m["appliance"].planErr = errors.New("vCenter did not answer") }})
	h.start(120, 40)
	answerAppliance(h)
	h.mustSee(t, "vCenter did not answer", "Nothing was changed: the plan failed", "press r to plan again")
	h.mustNotSee(t, "apply is idempotent")
}

// TestDoneStepWithChangedAnswersSaysSo: a step done with answers the plan
// has changed since (another step's form shares them) says which, and how
// to apply them, on its result.
func TestDoneStepWithChangedAnswersSaysSo(t *testing.T) {
	h := newHarness(t, setup{done: []string{"rights"}})
	h.start(120, 40)
	h.send(press("enter")) // Company
	for _, v := range []string{"Company-VDC", "company-edge", "company-network", "172.16.10.1/24"} {
		h.typeText(v)
		h.send(press("enter"))
	}
	h.send(press("enter")) // tunnel name: default; plans
	h.send(press("enter")) // applies
	h.mustSee(t, "✓ done")
	h.mustNotSee(t, "done with other answers")
	h.env.EditPlan(func(pf *steps.PlanFile) { pf.VDC = "Other-VDC" })
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	h.mustSee(t, "done with other answers than the plan's now: vdc: Company-VDC -> Other-VDC", "plans it again with them")
}

// TestEscOpensTheStepThatAsksTheRefusedAnswer (QA: step 6's plan refused
// provider.receiver_vm, and esc stayed on step 6, which has no form): esc
// goes to the step whose form asks the answer, with that field focused.
func TestEscOpensTheStepThatAsksTheRefusedAnswer(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs(), done: []string{"rights", "trunk-network", "appliance"},
		mutate: func(m map[string]*fakeStep) {
			m["dc-extension"].err = nil
			m["dc-extension"].planErr = errors.New("appliance.ip: 172.16.10.250 does not answer on the edge API port")
		}})
	h.start(120, 40)
	h.mustSee(t, "Step 4 of 8")
	h.send(press("enter"))
	h.mustSee(t, "does not answer", "Nothing was changed: the plan refused an answer")
	h.send(press("esc"))
	h.mustSee(t, "Step 3 of 8", "▸ Appliance IP")
}

// TestFreshPlanOpensVMSelectionOnTheTable (QA: step 5 of a fresh plan
// opened on "↷ skipped: no VMs in the plan"): with no VM in the plan, VM
// selection opens on its table, where they are chosen.
func TestFreshPlanOpensVMSelectionOnTheTable(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs(), done: infraDone})
	h.start(120, 40)
	h.mustSee(t, "Step 5 of 8", "[ ] WebApp2", "0 of 5 selected")
	h.mustNotSee(t, "skipped")
}

// TestEscFromAConflictOpensItsAnswer (QA: a sink port group in use planned
// a conflict, and esc went to another field): a conflict that names the
// answer resolving it brings esc to that field.
func TestEscFromAConflictOpensItsAnswer(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs(), done: []string{"rights", "trunk-network"},
		mutate: func(m map[string]*fakeStep) {
			m["appliance"].plan.Items = []steps.Item{{Action: steps.ActionConflict, Kind: "VM", Name: "ferry-l2-client",
				Detail: "exists with IP 172.16.10.9", Field: "appliance.ip"}}
		}})
	h.start(120, 40)
	answerAppliance(h)
	h.mustSee(t, "1 conflict(s)")
	h.send(press("esc"))
	h.mustSee(t, "▸ Appliance IP")
}

// answerAppliance answers the harness's step 3 (port group, appliance IP)
// and plans it.
func answerAppliance(h *harness) {
	h.typeText("company-network")
	h.send(press("tab"))
	h.typeText("172.16.10.250")
	h.send(press("tab"))
	h.send(press("enter"))
}

// TestEscAfterAFailedApplyOpensTheAnswerItNames (QA: step 4's apply,
// refused by the edge's port, named extension.edge_port, and esc opened
// the form on its first field): an apply failure that names an answer says
// esc opens it, r retries as it is, and esc opens it.
func TestEscAfterAFailedApplyOpensTheAnswerItNames(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs(), done: []string{"rights", "trunk-network", "appliance"},
		mutate: func(m map[string]*fakeStep) {
			m["dc-extension"].fields = []steps.Field{
				field("org", "Organization", "the tenant org", false, func(pf *steps.PlanFile) *string { return &pf.Org }, steps.ValidName, ""),
				field("extension.edge_port", "Edge API port", "the edge's API port", false, func(pf *steps.PlanFile) *string { return &pf.Extension.EdgePort }, nil, "443"),
			}
			m["dc-extension"].err = &steps.FieldError{Key: "extension.edge_port", Err: errors.New("nothing listens on port 8443 at 172.16.10.250")}
		}})
	h.start(120, 40)
	h.mustSee(t, "Step 4 of 8")
	h.send(press("enter")) // plan
	h.send(press("enter")) // apply
	h.mustSee(t, "nothing listens on port 8443", "Press esc to correct the answer (it opens that answer)", "press r to retry with", "the same answers (apply is idempotent)")
	h.send(press("esc"))
	h.mustSee(t, "Step 4 of 8", "▸ Edge API port")
}
