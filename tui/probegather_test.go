package tui

import (
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// sampleCounter runs the wizard's model in a real bubbletea program and
// counts the messages that brought probe samples: bubbletea renders a
// frame (the whole screen's View) after every message.
type sampleCounter struct {
	m    *Model
	want int // samples to wait for

	mu       sync.Mutex
	messages int // messages that carried probe samples
	seen     chan struct{}
	once     sync.Once
}

func (c *sampleCounter) Init() tea.Cmd { return c.m.Init() }
func (c *sampleCounter) View() string  { return c.m.View() }

func (c *sampleCounter) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg.(type) {
	case probeMsg, probesMsg:
		c.mu.Lock()
		c.messages++
		c.mu.Unlock()
	}
	_, cmd := c.m.Update(msg)
	if len(c.m.w.dash.Probes) >= c.want {
		c.once.Do(func() { close(c.seen) })
	}
	return c, cmd
}

// TestProbeRoundIsOneFrame (ferry serve with 12 VMs and 14 probes used 7%
// of a core more per attached terminal, 12.5% against 5.5% detached: the
// screen was rendered once per probe sample, some 20 frames a second): the
// samples of a round that arrive together reach the screen as one message,
// so one frame, and every one of them is shown.
func TestProbeRoundIsOneFrame(t *testing.T) {
	pf, names := withTCPProbes(14)
	h := newHarness(t, setup{pf: pf, done: append(slices.Clone(infraDone), "vm-selection", "replication")})
	ch := make(chan ProbeUpdate, len(names))
	for _, n := range names {
		ch <- ProbeUpdate{Pair: n, Kind: "tcp", Time: t0, Up: true, Latency: time.Millisecond}
	}
	h.m.w.feeds.Probes = ch
	c := &sampleCounter{m: h.m, want: len(names), seen: make(chan struct{})}
	p := tea.NewProgram(c, tea.WithInput(nil), tea.WithOutput(io.Discard), tea.WithoutSignalHandler())
	done := make(chan error, 1)
	go func() { _, err := p.Run(); done <- err }()
	select {
	case <-c.seen:
	case err := <-done:
		t.Fatalf("the program ended before showing every probe: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the probe panel never showed the 14 samples")
	}
	p.Quit()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !slices.ContainsFunc(h.m.w.dash.Probes, func(r ProbeRow) bool { return r.Pair == n }) {
			t.Errorf("probe %s is not on the panel", n)
		}
	}
	if c.messages != 1 {
		t.Errorf("14 probe samples that came together took %d messages (a frame each), want 1", c.messages)
	}
}
