package tui

import (
	"regexp"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// TestNoColorKeepsEmphasis (issue 14 item 13): NO_COLOR removes every
// colour but keeps bold, faint (placeholders) and reverse (cursor,
// selection).
func TestNoColorKeepsEmphasis(t *testing.T) {
	saved := []lipglossStyle{{&sTitle, sTitle}, {&sOK, sOK}, {&sWarn, sWarn}, {&sErr, sErr}, {&sDanger, sDanger}}
	prof := lipgloss.ColorProfile()
	t.Cleanup(func() {
		for _, s := range saved {
			*s.p = s.v
		}
		noColor = false
		lipgloss.SetColorProfile(prof)
	})
	lipgloss.SetColorProfile(termenv.ANSI256) // a colour terminal
	NoColor()
	h := newHarness(t, setup{lab: true, done: []string{"rights"}})
	h.start(120, 40)
	h.send(press("down")) // the VDC field: empty, its placeholder shows
	v := h.m.View()
	sgr := regexp.MustCompile(`\x1b\[([0-9;]*)m`)
	var bold, faint, reverse bool
	for _, m := range sgr.FindAllStringSubmatch(v, -1) {
		for _, p := range strings.Split(m[1], ";") {
			switch {
			case p == "1":
				bold = true
			case p == "2":
				faint = true
			case p == "7":
				reverse = true
			case len(p) == 2 && (p[0] == '3' || p[0] == '4' || p[0] == '9') && p[1] != '9' || p == "38" || p == "48":
				t.Fatalf("colour code %q with NO_COLOR in %q", p, m[0])
			}
		}
	}
	if !bold || !faint || !reverse {
		t.Fatalf("emphasis lost: bold %v faint %v reverse %v\n%q", bold, faint, reverse, v)
	}
}

type lipglossStyle struct {
	p *lipgloss.Style
	v lipgloss.Style
}
