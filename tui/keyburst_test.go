package tui

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// TestKeysThatArriveTogether (QA over SSH: in step 5, "j j space" sent in
// one write moved nothing and ticked nothing): bubbletea reports printable
// keys read together (a fast typist, key repeat, an SSH link that delivers
// several keystrokes in one packet) as one KeyRunes message with all their
// runes. Each is a key: "jj" moves the cursor twice, and typed into a field
// they are still all typed.
func TestKeysThatArriveTogether(t *testing.T) {
	h := toVMScreen(t, 120, 40)
	h.mustSee(t, "0 of 5 selected")
	h.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("jj")}) // as bubbletea parses "jj" read at once
	h.send(press("space"))
	h.mustSee(t, "1 of 5 selected", "job WebApp3-Migration")
	h.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("kk")})
	h.send(press("space"))
	h.mustSee(t, "2 of 5 selected", "job WebApp1-WebApp3-Migration")

	// Steps too: "[[" goes back two (each [ moved from the step the last
	// left, not both from step 5).
	h.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("[[")})
	h.mustSee(t, "Step 3 of 8")
	h.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("]]")})
	h.mustSee(t, "Step 5 of 8", "2 of 5 selected")

	h.send(press("enter")) // options: the job name's field
	h.mustSee(t, "▸ Job name")
	h.send(tea.KeyMsg{Type: tea.KeyCtrlU})
	h.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("wave-1")})
	h.send(tea.KeyMsg{Type: tea.KeyCtrlS})
	if j := h.env.Plan().Job; j != "wave-1" {
		t.Fatalf("job %q, want wave-1 typed in one message", j)
	}
}
