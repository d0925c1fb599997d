package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/ferry-migrate/ferry/config"
)

// TestHeaderAt80Columns (QA: in the lab, 80 columns read "org Company /
// C…"): the endpoints' addresses give way, the VCD's first, so that the
// lab badge and the org and VDC show whole; a wider window shows them all.
func TestHeaderAt80Columns(t *testing.T) {
	cfg := &config.Config{Lab: true,
		OnPrem: config.Endpoint{URL: "https://127.0.0.1:40117/sdk"},
		VCD:    config.Endpoint{URL: "https://127.0.0.1:39823/api"},
		Tenant: config.Endpoint{Org: "Company"}}
	h := newHarness(t, setup{cfg: cfg, pf: withVMs("WebApp2"), done: infraDone})
	h.start(80, 24)
	head, _, _ := strings.Cut(h.view(), "\n")
	if want := "ferry ·  LAB  · vCenter 127.0.0.1:40117 · org Company / Company-VDC"; strings.TrimSpace(head) != want {
		t.Errorf("header at 80 columns:\n%q\nwant\n%q", head, want)
	}
	h.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	head, _, _ = strings.Cut(h.view(), "\n")
	if want := "ferry ·  LAB  · vCenter 127.0.0.1:40117 · VCD 127.0.0.1:39823 · org Company / Company-VDC"; strings.TrimSpace(head) != want {
		t.Errorf("header at 120 columns:\n%q\nwant\n%q", head, want)
	}
	h.send(tea.WindowSizeMsg{Width: 60, Height: 24})
	head, _, _ = strings.Cut(h.view(), "\n")
	if want := "ferry ·  LAB  · org Company / Company-VDC"; strings.TrimSpace(head) != want {
		t.Errorf("header at 60 columns:\n%q\nwant\n%q", head, want)
	}
}
