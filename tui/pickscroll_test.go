package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

// TestPickListKeepsTheHighlightInView (QA walk at 80x24: step 5's Receiver
// appliance, its help and "✗ is required" over the list, showed the first
// of three choices, "› WebApp2 (669225db-…", and "↓ 2 more choices"; ↓
// moved the highlight onto a choice below the window, the screen did not
// change, and enter picked a choice the operator never saw): the choice
// enter would pick is on the screen whatever ↓ and ↑ did, and enter picks
// it.
func TestPickListKeepsTheHighlightInView(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {80, 18}} {
		h := newHarness(t, setup{pf: withVMs(), done: []string{"rights", "trunk-network"}, mutate: func(m map[string]*fakeStep) {
			// A field whose help is as long as the receiver appliance's.
			m["appliance"].fields[0].Description = "the on-prem port group whose L2 segment is stretched, which the appliance's trunk joins to Cloud Director's network over the tunnel, so that the VMs keep their addresses when they move (default: network.name)"
		}})
		var choices []steps.Choice
		for i := 1; i <= 5; i++ {
			choices = append(choices, steps.Choice{Value: fmt.Sprintf("portgroup-%d", i),
				Note: "a note long enough to wrap over several lines when it is highlighted, which says what would come of picking this port group"})
		}
		h.m.w.choices = func(_ context.Context, key string, _ map[string]string) ([]steps.Choice, error) {
			if key != "appliance.stretched_portgroup" {
				return nil, nil
			}
			return choices, nil
		}
		h.start(size[0], size[1])
		h.send(press("ctrl+s")) // "✗ is required" joins the help over the list
		see := func(moves string, i int) {
			t.Helper()
			v := h.view()
			if want := fmt.Sprintf("› portgroup-%d", i); !strings.Contains(v, want) {
				t.Fatalf("at %dx%d after %s: %q, the choice enter would pick, is not on the screen:\n%s", size[0], size[1], moves, want, v)
			}
		}
		see("no move", 1)
		for i := 2; i <= 5; i++ {
			h.send(press("down"))
			see(fmt.Sprintf("%d ↓", i-1), i)
		}
		h.send(press("up"))
		see("4 ↓ and 1 ↑", 4)
		h.send(press("down"))
		h.send(press("enter"))
		if got := h.m.w.env.Plan().Appliance.StretchedPortgroup; got != "portgroup-5" {
			t.Errorf("at %dx%d enter picked %q, want the highlighted portgroup-5", size[0], size[1], got)
		}
	}
}
