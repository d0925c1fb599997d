package tui

import "github.com/charmbracelet/lipgloss"

// Styles carry emphasis only: every state also has a glyph or a word, so the
// screens read the same with NO_COLOR and in the golden files.
var (
	sBold    = lipgloss.NewStyle().Bold(true)
	sDim     = lipgloss.NewStyle().Faint(true)
	sTitle   = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.AdaptiveColor{Light: "25", Dark: "75"})
	sOK      = lipgloss.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "28", Dark: "42"})
	sWarn    = lipgloss.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "130", Dark: "214"})
	sErr     = lipgloss.NewStyle().Foreground(lipgloss.AdaptiveColor{Light: "160", Dark: "203"})
	sCursor  = lipgloss.NewStyle().Reverse(true)
	sBadge   = lipgloss.NewStyle().Bold(true).Reverse(true)
	sDanger  = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.AdaptiveColor{Light: "160", Dark: "203"})
	sSidebar = lipgloss.NewStyle().Border(lipgloss.NormalBorder(), false, true, false, false).PaddingRight(1)
)
