package tui

import (
	"strings"
	"testing"
)

// footerLine is the last line of the screen: the help bar's keys.
func footerLine(h *harness) string {
	ls := strings.Split(strings.TrimRight(h.view(), "\n"), "\n")
	return ls[len(ls)-1]
}

// TestViewerScrollsAndPicks (QA: a session that watches a ferry serve
// engine could not scroll the cutover's estimates nor move the
// dashboard's cursor: every key but [ ] ? q said "only the driver changes
// anything", and its help bar offered the driver's keys): a watching
// session scrolls and picks a VM on its own screen, its help bar offers
// only what it may use, and anything that changes something stays
// refused.
func TestViewerScrollsAndPicks(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2", "WebApp3"), done: checksDone, feeds: true,
		session: &Session{Who: "bob (bob@audience)", Viewer: "view mode"}})
	h.start(80, 24)
	dashboardData(h, "WebApp1", "WebApp2", "WebApp3")
	h.mustSee(t, "WATCHING", "Read-only session: the cutover is not available here.", "lines 1–13 of 28")
	if f := footerLine(h); !strings.Contains(f, "↑/↓/pgdn scroll") || strings.Contains(f, "enter") {
		t.Fatalf("a watching session's help bar on the cutover: %q", f)
	}
	h.send(press("down"))
	// WebApp1's heading sticks above the rest of its block: a line fewer of it.
	h.mustSee(t, "lines 2–13 of 28", "WebApp1 → Company-VDC")
	h.send(press("pgdown"))
	h.mustSee(t, "of 28", "WebApp3 → Company-VDC")
	h.mustNotSee(t, "only the driver changes anything")
	h.typeText("WebApp1")
	h.send(press("enter"))
	h.mustSee(t, "only the driver changes anything")

	// The dashboard: the cursor picks the VM whose pass details show.
	h.send(press("["))
	h.send(press("["))
	h.mustSee(t, "Step 6 of 8", "WebApp1 pass: planned 400 MiB")
	if f := footerLine(h); !strings.Contains(f, "↓/j down") || strings.Contains(f, "pause") || strings.Contains(f, "verify") {
		t.Fatalf("a watching session's help bar on the dashboard: %q", f)
	}
	h.send(press("down"))
	h.send(press("down"))
	h.mustSee(t, "WebApp3 pass: planned 600 MiB")
	h.mustNotSee(t, "only the driver changes anything")
	h.send(press("r")) // resume WebApp3: the driver's
	h.mustSee(t, "only the driver changes anything")
	h.mustSee(t, "▲ WebApp3 paused") // unchanged: paused, as its row says
}
