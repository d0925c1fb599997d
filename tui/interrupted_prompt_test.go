package tui

import (
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/ferry-migrate/ferry/steps"
)

// TestInterruptedPromptAsksBeforeRollingBack (QA: the wizard rolled back,
// before its screen opened, a cutover a killed ferry had left with the
// source off; the operator who then cut over again power-cycled the
// source, a guest boot and shutdown more of downtime): the prompt says
// which sources are down since when, what each key does, and rolls back
// by itself when nobody answers in time.
func TestInterruptedPromptAsksBeforeRollingBack(t *testing.T) {
	off := time.Date(2026, 12, 7, 18, 22, 24, 0, time.UTC)
	now := off.Add(8 * time.Second)
	prompt := func(names ...string) *interruptedPrompt {
		var vms []steps.InterruptedShutdown
		for _, n := range names {
			vms = append(vms, steps.InterruptedShutdown{VM: n, Off: off})
		}
		m := &interruptedPrompt{vms: vms, now: func() time.Time { return now }, step: 8, within: time.Minute, deadline: now.Add(time.Minute)}
		m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
		return m
	}
	m := prompt("WebApp2")
	v := m.View()
	for _, l := range strings.Split(v, "\n") {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("a line of %d columns at 80: %q", w, l)
		}
	}
	text := strings.Join(strings.Fields(v), " ")
	for _, want := range []string{"after it shut this source down, before power-on of the target was requested", "its service is down",
		"WebApp2 shut down at 18:22:24 UTC, 8s ago", "r, enter roll back now", "power the source on again",
		"g go on: leave the source off; the wizard opens on step 8 (Cutover), where typing the VM's name cuts over from there",
		"no new power cycle", "q quit: nothing changes", "Rolling back by itself in 1m00s if nobody answers."} {
		if !strings.Contains(text, want) {
			t.Errorf("the prompt lacks %q:\n%s", want, v)
		}
	}
	if v := prompt("WebApp2", "WebApp3").View(); !strings.Contains(strings.Join(strings.Fields(v), " "), "shut these sources down, before power-on of the targets was requested") ||
		!strings.Contains(strings.Join(strings.Fields(v), " "), "power the sources on again") || !strings.Contains(strings.Join(strings.Fields(v), " "), "where typing their names cuts over") {
		t.Errorf("the prompt for two VMs:\n%s", v)
	}

	for key, want := range map[string]interruptedChoice{"g": choseGoOn, "r": choseRollBack, "enter": choseRollBack, "q": choseQuit, "ctrl+c": choseQuit, "x": undecided} {
		m := prompt("WebApp2")
		msg := tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(key)}
		switch key {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "ctrl+c":
			msg = tea.KeyMsg{Type: tea.KeyCtrlC}
		}
		_, cmd := m.Update(msg)
		if m.choice != want || (want != undecided) != (cmd != nil) {
			t.Errorf("key %s: choice %v (quits: %v), want %v", key, m.choice, cmd != nil, want)
		}
	}

	// Nobody answers: a tick before the deadline waits on, one at it
	// rolls back.
	m = prompt("WebApp2")
	now = now.Add(59 * time.Second)
	if m.Update(promptTick{}); m.choice != undecided || !strings.Contains(m.View(), "Rolling back by itself in 1s") {
		t.Errorf("a second before the deadline: choice %v\n%s", m.choice, m.View())
	}
	now = now.Add(time.Second)
	if m.Update(promptTick{}); m.choice != choseRollBack || !strings.Contains(strings.Join(strings.Fields(m.View()), " "), "rolling back the interrupted cutover of WebApp2 (nobody answered within 1m00s)") {
		t.Errorf("at the deadline: choice %v\n%s", m.choice, m.View())
	}
}
