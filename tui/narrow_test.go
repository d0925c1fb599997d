package tui

import (
	"slices"
	"testing"
)

// TestHelpScrolls: a help taller than the window scrolls with the step
// results' keys and hint, down to its last line; the arrows do not move
// the screen under it; esc closes it.
func TestHelpScrolls(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection"), feeds: true})
	h.start(80, 16)
	dashboardData(h, "WebApp1", "WebApp2")
	h.send(press("?"))
	h.mustSee(t, "Keys", "lines 1–", "↑/↓/pgdn scroll", "esc close help")
	h.mustNotSee(t, "✓ cut over")
	scrollToEnd(t, h)
	h.mustSee(t, "Keys", "RPO: ● ok", "✓ cut over")
	h.send(press("esc"))
	h.mustSee(t, "▸ WebApp1") // the dashboard's cursor did not move
}
