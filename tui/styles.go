package tui

import (
	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/textinput"
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

// noColor is set by NoColor: the styles keep their emphasis (bold, faint,
// reverse) but carry no colour, and the progress bars are drawn plain.
var noColor bool

// NoColor removes every colour and keeps the emphasis (https://no-color.org:
// no colour, not no emphasis): placeholders stay faint, the cursor and the
// selection stay in reverse video, titles bold.
func NoColor() {
	noColor = true
	sTitle = lipgloss.NewStyle().Bold(true)
	sOK = lipgloss.NewStyle()
	sWarn = lipgloss.NewStyle().Bold(true)
	sErr = lipgloss.NewStyle().Bold(true)
	sDanger = lipgloss.NewStyle().Bold(true).Underline(true)
}

// newInput is a text input styled like the rest: the placeholder faint
// (not a grey that NO_COLOR would turn into plain text), a static cursor (a
// blinking one would tick forever).
func newInput() textinput.Model {
	in := textinput.New()
	in.PlaceholderStyle = sDim
	in.Cursor.SetMode(cursor.CursorStatic)
	return in
}

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
