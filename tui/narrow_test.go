package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// shown splits an 80x24 view into the main panel, what is left of it
// (the sidebar) and the help bar (below the notice line).
func shown(view string) (side, main, footer []string) {
	ls := strings.Split(view, "\n")
	last := 0
	for i, l := range ls {
		if left, right, ok := strings.Cut(l, "│ "); ok {
			side, main, last = append(side, left), append(main, right), i
		}
	}
	return side, main, ls[min(len(ls), last+2):]
}

// TestEverythingWholeAt80Columns (QA: at 80 columns the help bar cut
// shift+tab and ctrl+s with …, the sidebar read "2 Trunk network and…",
// a field's help ended in …): on every screen of the golden scenarios at
// 80x24, each step title shows whole in the sidebar, each of the screen's
// keys whole in the help bar (the help lists them all), and the focused
// field's help whole.
func TestEverythingWholeAt80Columns(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			h := sc.build(t)
			h.send(tea.WindowSizeMsg{Width: 80, Height: 24})
			v := h.view()
			side, main, footer := shown(v)
			sidebar := strings.Join(side, "\n")
			for i, st := range h.it {
				if title := fmt.Sprintf("%d %s", i+1, st.Step.Title()); !strings.Contains(sidebar, title+" ") {
					t.Errorf("the sidebar does not show %q whole:\n%s", title, v)
				}
			}
			bar := strings.Join(footer, "\n")
			if strings.Contains(bar, "…") {
				t.Errorf("the help bar is cut:\n%s", v)
			}
			keysShown := bar
			if h.m.showHelp {
				// The help lists the keys, each with its reason, wrapped.
				keysShown = strings.Join(strings.Fields(strings.Join(main, " ")), " ")
			}
			for _, k := range h.m.screens[h.m.cur].keys() {
				hint := k.Help().Key + " " + k.Help().Desc
				if k.Why != "" {
					hint = "✗" + hint
					if h.m.showHelp {
						hint += ": " + firstClause(k.Why)
					}
				}
				if !strings.Contains(keysShown, hint) {
					t.Errorf("key %q is not shown whole:\n%s", hint, v)
				}
			}
			if h.m.showHelp {
				for _, l := range main {
					if strings.Contains(l, "…") {
						t.Errorf("the help is cut: %q\n%s", l, v)
					}
				}
			}
			// The focused field's help, unless its error shows instead.
			if s, ok := h.m.screens[h.m.cur].(*stepScreen); ok && s.run.phase == phaseInput && len(s.form.fields) > 0 && !s.form.idle && !strings.Contains(v, "✗ ") {
				f := s.form.fields[s.form.focus].f
				if words := strings.Join(strings.Fields(strings.Join(main, " ")), " "); f.Description != "" && !strings.Contains(words, f.Description) {
					t.Errorf("the help of field %q is not shown whole (%q):\n%s", f.Title, f.Description, v)
				}
			}
		})
	}
}

// TestHelpScrolls: a help taller than the window scrolls with the step
// results' keys and hint, down to its last line; the arrows do not move
// the screen under it; esc closes it.
func TestHelpScrolls(t *testing.T) {
	h := newHarness(t, setup{pf: withVMs("WebApp1", "WebApp2"), done: append(slices.Clone(infraDone), "vm-selection"), feeds: true})
	h.start(80, 16)
	dashboardData(h, "WebApp1", "WebApp2")
	h.send(press("?"))
	h.mustSee(t, "Keys", "lines 1–", "↑/↓/pgdn scroll", "esc close help")
	h.mustNotSee(t, "✓ cut over")
	scrollToEnd(t, h)
	h.mustSee(t, "Keys", "RPO: ● ok", "✓ cut over")
	h.send(press("esc"))
	h.mustSee(t, "▸ WebApp1") // the dashboard's cursor did not move
}

// TestDashboardListsEveryVMAt80x24 (QA: at 80x24 the dashboard showed two
// of three VMs beside the probe panel, each VM's last line ended in "f…"
// and its summary in "rows…"): every VM has a row, the one under the
// cursor its full row, the summary and the cursor's times whole, wherever
// the cursor is.
func TestDashboardListsEveryVMAt80x24(t *testing.T) {
	vms := []string{"WebApp1", "WebApp2", "WebApp3"}
	h := newHarness(t, setup{pf: withVMs(vms...), done: append(slices.Clone(infraDone), "vm-selection"), feeds: true, replicas: recordedPasses(vms...)})
	h.start(80, 24)
	dashboardData(h, vms...)
	for cur := range vms {
		if cur > 0 {
			h.send(press("down"))
		}
		v := h.view()
		_, main, _ := shown(v)
		rows := map[string]bool{}
		for _, l := range main {
			for _, vm := range vms {
				if strings.HasPrefix(strings.TrimLeft(l, " ▸"), vm+" ") {
					rows[vm] = true
				}
			}
			if strings.Contains(l, "VM(s)") && strings.Contains(l, "…") {
				t.Errorf("the summary is cut: %q", l)
			}
		}
		if len(rows) != len(vms) {
			t.Errorf("cursor on %s: rows for %v of %v:\n%s", vms[cur], rows, vms, v)
		}
		if !strings.Contains(v, "last ") || !strings.Contains(v, "final pass ~") {
			t.Errorf("cursor on %s: its row's times are not shown whole:\n%s", vms[cur], v)
		}
	}
}

// TestDashboardRowShowsItsHealthWhole: a VM in its initial sync (no
// complete pass yet) reads "○ no complete pass yet" whole beside its bar
// at 120 and 80 columns (it was cut to "○ no complete …" at 120).
func TestDashboardRowShowsItsHealthWhole(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		h := newHarness(t, setup{pf: withVMs("WebApp1"), done: append(slices.Clone(infraDone), "vm-selection"), feeds: true})
		h.start(size[0], size[1])
		h.send(replicationMsg(ReplicationUpdate{VM: "WebApp1", Phase: "initial sync", Planned: 4 << 30, Read: 1 << 30, Sent: 1 << 30, Acked: 1 << 30,
			ETA: time.Minute, RPO: time.Minute, Rate: 100 << 20, Health: RPOUnknown}))
		if v := h.view(); !strings.Contains(v, "○ no complete pass yet") || !strings.Contains(v, "ETA 1m00s") {
			t.Errorf("%dx%d: the initial sync's health is not shown whole:\n%s", size[0], size[1], v)
		}
	}
}

// TestDashboardSummaryWholeAt80x24 (QA: with six VMs, some at risk and
// some past their RPO, the summary at 80x24 read "6 VM(s) · 4 copying at
// 2.1 MiB/s · 1 RPO at risk · 4 R…": how many missed their RPO, and which
// rows the panel shows, lost to the "…"): the summary wraps between its
// parts, and says both whole, wherever the cursor is; so are the cursor's
// times.
func TestDashboardSummaryWholeAt80x24(t *testing.T) {
	vms := []string{"WebApp1", "WebApp2", "WebApp3", "WebApp4", "WebApp5", "WebApp6"}
	h := newHarness(t, setup{pf: withVMs(vms...), done: append(slices.Clone(infraDone), "vm-selection"), feeds: true, replicas: recordedPasses(vms...)})
	h.start(80, 24)
	dashboardData(h, vms...)
	for _, vm := range vms[3:] {
		h.send(replicationMsg(ReplicationUpdate{VM: vm, Phase: "incremental", Pass: 20, Planned: 40 << 20, Read: 20 << 20, Sent: 10 << 20, Acked: 8 << 20,
			Rate: 2 << 20, LastPass: t0.Add(-3 * time.Minute), RPO: time.Minute, Health: RPOViolated}))
	}
	for cur := range vms {
		if cur > 0 {
			h.send(press("down"))
		}
		v := h.view()
		_, main, _ := shown(v)
		var summary []string
		for i, l := range main {
			if strings.Contains(l, "VM(s)") {
				for _, s := range main[i:] {
					if strings.Contains(s, "▸") || strings.HasPrefix(strings.TrimSpace(s), "WebApp") {
						break
					}
					summary = append(summary, strings.TrimSpace(s))
				}
				break
			}
		}
		text := strings.Join(summary, " ")
		if !strings.Contains(text, "1 RPO at risk") || !strings.Contains(text, "3 RPO missed") || !strings.Contains(text, "rows ") || strings.Contains(text, "…") {
			t.Errorf("cursor on %s: the summary reads %q, want the RPO counts and the rows shown whole:\n%s", vms[cur], summary, v)
		}
		// The cursor's times, the projected final pass with them, whole
		// (QA: "last 3m00s ago · next — · final pass ~4…": the rate before
		// them was counted two columns short).
		for _, l := range main {
			if strings.Contains(l, "last ") && strings.Contains(l, " · next ") && strings.Contains(l, "…") {
				t.Errorf("cursor on %s: its times are cut: %q", vms[cur], l)
			}
		}
		if !strings.Contains(v, "▸ "+vms[cur]) {
			t.Errorf("cursor on %s: its row is not shown:\n%s", vms[cur], v)
		}
	}
}
