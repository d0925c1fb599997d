package tui

import tea "github.com/charmbracelet/bubbletea"

// The keys of each screen that change only what its terminal shows
// (watcher), for sessions that watch a ferry serve engine.

// scrollKeys is the scroll key when the phase's view scrolls.
func (r *stepRun) scrollKeys() keyMap {
	if r.scrollable() {
		return keyMap{keyScroll}
	}
	return nil
}

func (s *stepScreen) watch(msg tea.KeyMsg) bool { return s.run.scrollKey(msg) }
func (s *stepScreen) watchKeys() keyMap         { return s.run.scrollKeys() }

func (s *checksScreen) watch(msg tea.KeyMsg) bool { return s.run.scrollKey(msg) }
func (s *checksScreen) watchKeys() keyMap         { return s.run.scrollKeys() }

func (s *vmScreen) watch(msg tea.KeyMsg) bool { return s.run.scrollKey(msg) }
func (s *vmScreen) watchKeys() keyMap         { return s.run.scrollKeys() }

func (s *cutoverScreen) watch(msg tea.KeyMsg) bool {
	return s.run.scrollKey(msg) || (s.run.phase == phaseInput && s.est.key(msg))
}
func (s *cutoverScreen) watchKeys() keyMap { return s.scrollKeys() }

// The dashboard: its cursor picks the VM whose details and keys are
// shown; the step's result scrolls with the keys the cursor leaves.
func (s *replicationScreen) watch(msg tea.KeyMsg) bool {
	switch {
	case keyUp.Matches(msg):
		s.cursor = max(0, s.cursor-1)
	case keyDown.Matches(msg):
		s.cursor = min(max(0, len(s.w.dash.VMs)-1), s.cursor+1)
	default:
		return s.run.phase != phaseInput && s.run.scrollKey(msg)
	}
	return true
}

func (s *replicationScreen) watchKeys() keyMap {
	var km keyMap
	if len(s.w.dash.VMs) > 1 {
		km = keyMap{keyUp, keyDown}
	}
	if s.run.phase != phaseInput {
		km = append(km, s.run.scrollKeys()...)
	}
	return km
}

var (
	_ watcher = (*stepScreen)(nil)
	_ watcher = (*checksScreen)(nil)
	_ watcher = (*vmScreen)(nil)
	_ watcher = (*cutoverScreen)(nil)
	_ watcher = (*replicationScreen)(nil)
)
