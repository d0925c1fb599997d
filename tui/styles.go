package tui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
)

// Styles carry emphasis only: every state also has a glyph or a word, so the
// screens read the same with NO_COLOR and in the golden files. Colours are
// the 16 ANSI ones, which every terminal themes for its own background.
var (
	sBold   = lipgloss.NewStyle().Bold(true)
	sDim    = lipgloss.NewStyle().Faint(true)
	sTitle  = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12"))
	sOK     = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	sWarn   = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
	sErr    = lipgloss.NewStyle().Foreground(lipgloss.Color("9"))
	sCursor = lipgloss.NewStyle().Reverse(true)
	sBadge  = lipgloss.NewStyle().Bold(true).Reverse(true)
	sDanger = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("9"))
)

// helpStyles replace bubbles/help's defaults with the styles above.
func helpStyles() help.Styles {
	return help.Styles{
		Ellipsis:       sDim,
		ShortKey:       sBold,
		ShortDesc:      sDim,
		ShortSeparator: sDim,
		FullKey:        sBold,
		FullDesc:       sDim,
		FullSeparator:  sDim,
	}
}
