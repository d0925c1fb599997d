package tui

import (
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// Key is a key binding as data (k9s, lazygit): the keys, the help text, and,
// when the action is not available right now, why. The help bar is generated
// from these values; a disabled key still shows, with its reason, and
// pressing it tells the operator why nothing happened.
type Key struct {
	key.Binding
	// Why is the reason the key does nothing right now ("" = enabled).
	Why string
}

func newKey(help, desc string, keys ...string) Key {
	return Key{Binding: key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))}
}

// when returns k disabled with reason why unless ok.
func (k Key) when(ok bool, why string) Key {
	if !ok {
		k.Why = why
	}
	return k
}

// Matches reports whether msg presses k, enabled or not.
func (k Key) Matches(msg tea.KeyMsg) bool { return key.Matches(msg, k.Binding) }

// display is the binding as the help bar shows it: a disabled key marked
// ✗, with the first clause of its reason when why is set (pressing it
// shows the whole reason).
func (k Key) display(why bool) key.Binding {
	b := k.Binding
	if k.Why != "" {
		h := b.Help()
		desc := h.Desc
		if why {
			desc += ": " + firstClause(k.Why)
		}
		b.SetHelp("✗"+h.Key, desc)
	}
	return b
}

func firstClause(s string) string {
	for _, sep := range []string{"; ", ": ", ". "} {
		if i := strings.Index(s, sep); i > 0 {
			s = s[:i]
		}
	}
	return s
}

// The bindings every screen shares. Screens declare their own in their Keys
// method with the same constructor, so all of them appear in the help bar.
var (
	keyQuit   = newKey("q", "quit", "q", "ctrl+c")
	keyHelp   = newKey("?", "help", "?", "f1")
	keyNext   = newKey("enter", "continue", "enter")
	keyBack   = newKey("esc", "back", "esc")
	keyUp     = newKey("↑/k", "up", "up", "k")
	keyDown   = newKey("↓/j", "down", "down", "j")
	keyField  = newKey("tab", "next field", "tab")
	keyPrev   = newKey("shift+tab", "previous field", "shift+tab")
	keyRetry  = newKey("r", "retry", "r")
	keyFilter = newKey("/", "filter", "/")
	keySelect = newKey("space", "select", " ", "space")
	keyPause  = newKey("p", "pause", "p")
	keyResume = newKey("u", "resume", "u")
	keyVerify = newKey("v", "full compare", "v")
	keyPick   = newKey("↑/↓", "pick", "up", "down")
	keyReload = newKey("ctrl+r", "reload", "ctrl+r")
	keySubmit = newKey("ctrl+s", "plan now", "ctrl+s")
	keyPrevSt = newKey("[", "previous step", "[")
	// keyLeave leaves a text field, so the single-letter keys work again.
	keyLeave  = newKey("esc", "leave field", "esc")
	keyNextSt = newKey("]", "next step", "]")
)

// keyMap adapts a list of Keys to bubbles/help.
type keyMap []Key

// ShortHelp is the help bar's bindings, every disabled key with its reason.
func (km keyMap) ShortHelp() []key.Binding { return km.short(len(km)) }

// short is the bindings with the reasons of the first n disabled keys
// only: the help bar's way to fit (? and pressing a key still say why).
func (km keyMap) short(n int) []key.Binding {
	out := make([]key.Binding, 0, len(km))
	for _, k := range km {
		out = append(out, k.display(n > 0))
		if k.Why != "" {
			n--
		}
	}
	return out
}

// FullHelp puts the screen's keys in one column and the global ones in another.
func (km keyMap) FullHelp() [][]key.Binding {
	var screen, global []key.Binding
	for _, k := range km {
		if isGlobal(k) {
			global = append(global, k.display(true))
			continue
		}
		screen = append(screen, k.display(true))
	}
	return [][]key.Binding{screen, global}
}

func isGlobal(k Key) bool {
	for _, g := range []Key{keyQuit, keyHelp, keyPrevSt, keyNextSt, keyLeave} {
		if slices.Equal(k.Keys(), g.Keys()) {
			return true
		}
	}
	return false
}

// pressedDisabled returns the first disabled key in km that msg presses.
func (km keyMap) pressedDisabled(msg tea.KeyMsg) (Key, bool) {
	for _, k := range km {
		if k.Why != "" && k.Matches(msg) {
			return k, true
		}
	}
	return Key{}, false
}

var _ help.KeyMap = keyMap(nil)
