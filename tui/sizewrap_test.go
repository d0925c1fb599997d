package tui

import (
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

// TestWrapKeepsSizesWithTheirUnits (QA walk: at 80 columns step 6's plan
// read "thin, 4.0" / "GiB" and the dashboard "sent 386" / "KiB"): a line
// wrapped where a size falls at its end carries the figure and its unit
// to the next line together.
func TestWrapKeepsSizesWithTheirUnits(t *testing.T) {
	unitFirst := regexp.MustCompile(`^\s*(?:[KMGTPE]i)?B\b`)
	for pad := range 40 {
		detail := strings.Repeat("x", pad) + " replica disk of the source, thin, 4.0 GiB, by the provider vCenter; sent 386 KiB of 12 MiB so far, 0 B left"
		h := newHarness(t, setup{pf: withVMs(), mutate: func(m map[string]*fakeStep) {
			m["rights"].plan = steps.Plan{Items: []steps.Item{{Action: steps.ActionCreate, Kind: "replica disk", Name: "WebApp1_0.vmdk", Detail: detail}}}
		}})
		h.start(80, 24)
		h.send(press("enter"))
		h.mustSee(t, "Plan — nothing has changed yet")
		var panel []string
		for _, l := range strings.Split(h.view(), "\n") {
			if _, p, ok := strings.Cut(l, "│ "); ok {
				panel = append(panel, p)
			}
		}
		for i := 1; i < len(panel); i++ {
			if unitFirst.MatchString(panel[i]) {
				t.Fatalf("pad %d: a unit begins a line, apart from its figure:\n%s\n%s\n\n%s", pad, panel[i-1], panel[i], h.view())
			}
		}
	}
}
