package tui

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vcd"
)

const (
	labBundle = "ferry L2 VPN (Company)"
	labRole   = "Organization Administrator (ferry)"
	onlyOrg   = "org Company only"
)

// rightsOfTheLab makes step 1 plan and apply what the rights step does for
// a fresh org: ferry's bundle created and given every right, an org-local
// role created and given them too, the user given the role; one item per
// right (steps.AddRight), as ferry plan prints them.
func rightsOfTheLab(m map[string]*fakeStep) {
	items := []steps.Item{{Action: steps.ActionCreate, Kind: "rights bundle", Name: labBundle, Detail: "ferry's own, published to " + onlyOrg}}
	for _, r := range vcd.L2VPNRights {
		items = append(items, steps.AddRight("rights bundle", labBundle, r, onlyOrg))
	}
	items = append(items, steps.Item{Action: steps.ActionCreate, Kind: "org-local role", Name: labRole, Detail: "in " + onlyOrg})
	for _, r := range vcd.L2VPNRights {
		items = append(items, steps.AddRight("org-local role", labRole, r, onlyOrg))
	}
	items = append(items, steps.Item{Action: steps.ActionUpdate, Kind: "user", Name: "companyadmin",
		Detail: `role "Organization Administrator" -> "` + labRole + `" (` + onlyOrg + ")"})
	f := m["rights"]
	f.plan = steps.Plan{Items: items}
	f.events = nil
	for _, it := range items {
		f.events = append(f.events, steps.Changed(it))
	}
	f.result = steps.Result{Changes: items}
}

// pages is every line of a scrolled plan or result, paged through with
// pgdown from its top, and how many lines it has in all.
func pages(t *testing.T, h *harness) (string, int) {
	t.Helper()
	seen := h.view()
	m := linesHint.FindStringSubmatch(seen)
	if m == nil {
		return seen, 0
	}
	for range 100 {
		if m = linesHint.FindStringSubmatch(h.view()); m[2] == m[3] {
			n, _ := strconv.Atoi(m[3])
			return seen, n
		}
		h.send(press("pgdown"))
		seen += "\n" + h.view()
	}
	t.Fatalf("pgdown does not reach the end:\n%s", h.view())
	return "", 0
}

// panelText is the text of a view's step panel (right of the itinerary):
// a line wrapped there reads on across the next.
func panelText(view string) string {
	var b strings.Builder
	for _, l := range strings.Split(view, "\n") {
		if _, panel, ok := strings.Cut(l, "│"); ok {
			b.WriteString(panel + "\n")
		}
	}
	return b.String()
}

// TestRightsPlanListsRightsTogether (QA: at 80x24 step 1's plan was 55
// changes in 162 lines, "~ update rights bundle ...: add "Organization vDC
// Gateway: ..." (org Company only)" for each right of the bundle and then of
// the role): the rights each resource gets are one line with their count,
// then their names wrapped together, every one of them shown; the plan and
// the result's changes take fewer lines than there are changes.
func TestRightsPlanListsRightsTogether(t *testing.T) {
	for _, sz := range goldenSizes {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			h := newHarness(t, setup{mutate: rightsOfTheLab})
			h.start(sz[0], sz[1])
			h.send(press("enter")) // the org from the pick list: plan
			h.mustSee(t, "Plan — nothing has changed yet")
			changes := len(h.steps["rights"].plan.Items)
			check := func(what string) {
				t.Helper()
				seen, n := pages(t, h)
				if n >= changes {
					t.Errorf("%s: %d lines for %d changes:\n%s", what, n, changes, seen)
				}
				for _, head := range []string{
					fmt.Sprintf(`~ update rights bundle "%s": add %d rights (%s):`, labBundle, len(vcd.L2VPNRights), onlyOrg),
					fmt.Sprintf(`~ update org-local role "%s": add %d rights (%s):`, labRole, len(vcd.L2VPNRights), onlyOrg),
				} {
					if !strings.Contains(strings.Join(strings.Fields(panelText(seen)), " "), head) {
						t.Errorf("%s lacks %q:\n%s", what, head, seen)
					}
				}
				for _, l := range strings.Split(panelText(seen), "\n") {
					if strings.TrimSpace(l) == "·" {
						t.Errorf("%s: a line holds a separator alone:\n%s", what, seen)
						break
					}
				}
				// Every right's name is there, whole, after its category.
				for _, r := range vcd.L2VPNRights {
					cat, name, _ := strings.Cut(r, ": ")
					if !strings.Contains(seen, name) || !strings.Contains(seen, cat+": ") {
						t.Errorf("%s lacks right %q:\n%s", what, r, seen)
					}
				}
			}
			check("plan")
			h.send(press("home"))
			h.send(press("enter")) // apply
			h.mustSee(t, "✓ done")
			check("result")
		})
	}
}
