package tui

import (
	"fmt"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// BenchmarkDashboardView renders the replication screen with 100 VMs
// replicating and 8 probe pairs, at 120x40: one frame per iteration.
func BenchmarkDashboardView(b *testing.B) {
	var names []string
	for i := range 100 {
		names = append(names, fmt.Sprintf("vm-%03d", i))
	}
	h := newHarness(b, setup{pf: withVMs(names...), done: append(append([]string{}, infraDone...), "vm-selection"), feeds: true})
	h.start(120, 40)
	for i, n := range names {
		for k := range historyLen {
			h.deliver(replicationMsg{VM: n, Phase: "incremental", Pass: i, Planned: 1 << 30, Acked: int64(k) << 24, Rate: float64(k*i%17) * (1 << 20),
				ETA: time.Duration(i) * time.Second, LastPass: t0.Add(-time.Minute), NextPass: t0.Add(time.Minute), RPO: time.Minute, Health: RPOHealth(i % 4)})
		}
	}
	for i := range 8 {
		h.deliver(probeMsg{Pair: names[i] + " → " + names[i+1], Kind: "tcp 10.0.0.1:80", Time: t0, Up: i%3 != 0, Latency: time.Duration(i) * time.Millisecond})
	}
	for range 50 {
		h.deliver(press("down"))
	}
	h.deliver(tea.WindowSizeMsg{Width: 120, Height: 40})
	// Colours cost escape sequences: measure the frame with and without.
	for _, p := range []termenv.Profile{termenv.Ascii, termenv.TrueColor} {
		b.Run(profileName[p], func(b *testing.B) {
			prev := lipgloss.ColorProfile()
			lipgloss.SetColorProfile(p)
			defer lipgloss.SetColorProfile(prev)
			b.ReportAllocs()
			for b.Loop() {
				_ = h.m.View()
			}
		})
	}
}

var profileName = map[termenv.Profile]string{termenv.Ascii: "no-color", termenv.TrueColor: "truecolor"}
