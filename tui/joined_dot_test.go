package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// TestJoinedNeverLeavesTheDotAlone (QA at 80x24, the cutover report
// after an interrupted cutover was retried: a line read "·" alone, under
// "measured downtime 7.7s (+9.9s: interrupted cutover)", a part that
// filled its line): the " ·" after a part goes with its last word.
func TestJoinedNeverLeavesTheDotAlone(t *testing.T) {
	parts := []string{"  WebApp1: migrated", "measured downtime 7.7s (+9.9s: interrupted cutover)", "shutdown to power-on 7.3s", "final pass 960 KiB changed, 962 KiB sent"}
	for width := 40; width <= 80; width++ {
		lines := joined(parts, width, 4, lipgloss.NewStyle())
		for i, l := range lines {
			l = ansi.Strip(l)
			if strings.TrimSpace(l) == "·" {
				t.Fatalf("width %d: line %d is a dot alone:\n%s", width, i, strings.Join(lines, "\n"))
			}
			if strings.ContainsRune(l, nbSpace) || ansi.StringWidth(l) > width {
				t.Fatalf("width %d: line %d wider than the width, or with a no-break space:\n%s", width, i, strings.Join(lines, "\n"))
			}
		}
		if got := strings.Join(strings.Fields(ansi.Strip(strings.Join(lines, " "))), " "); got != "WebApp1: migrated · measured downtime 7.7s (+9.9s: interrupted cutover) · shutdown to power-on 7.3s · final pass 960 KiB changed, 962 KiB sent" {
			t.Fatalf("width %d: the text changed: %q", width, got)
		}
	}
}
