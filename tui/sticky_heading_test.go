package tui

import (
	"strings"
	"testing"
)

// TestCutoverConfirmKeepsTheVMHeadingAt80x24 (QA at 80x24, a wave of 2-3
// VMs: after pgdn the estimates could start in the middle of a VM's
// block, "projected downtime ~…" and the phases under no VM's line): at
// every position the view scrolls to, by pgdn or ↓, each line of a VM's
// estimate has its VM's heading above it on the screen, and the last
// lines of the confirmation are reached.
func TestCutoverConfirmKeepsTheVMHeadingAt80x24(t *testing.T) {
	// What only a VM's block says.
	inBlock := []string{"projected downtime ~", "last pass", "RPO ", "0s*", "not recorded yet"}
	for _, vms := range [][]string{{"WebApp1", "WebApp2"}, {"WebApp1", "WebApp2", "WebApp3"}} {
		for _, key := range []string{"pgdown", "down"} {
			h := newHarness(t, setup{pf: withVMs(vms...), done: checksDone})
			h.start(80, 24)
			dashboardData(h, vms...)
			h.typeText("WebApp")
			seen := ""
			for range 60 {
				m := linesHint.FindStringSubmatch(h.view())
				if m == nil {
					t.Fatalf("%d VMs: no lines hint:\n%s", len(vms), h.view())
				}
				heading := ""
				for _, row := range strings.Split(h.view(), "\n") {
					_, panel, ok := strings.Cut(row, "│ ")
					if !ok {
						continue
					}
					if i := strings.Index(panel, " → Company-VDC / company-network"); i >= 0 {
						heading = strings.TrimSpace(panel[:i])
						continue
					}
					if strings.HasPrefix(panel, "lines ") {
						break
					}
					for _, w := range inBlock {
						if strings.Contains(panel, w) && heading == "" {
							t.Errorf("%d VMs, %s to %s: %q is under no VM's heading:\n%s", len(vms), key, m[0], strings.TrimSpace(panel), h.view())
						}
					}
				}
				seen += h.view()
				if m[2] == m[3] {
					break
				}
				h.send(press(key))
			}
			h.mustSee(t, "the phases at the provider first", "> WebApp")
			if n := strings.Count(seen, "probes green: none (* default:"); n < len(vms) {
				t.Errorf("%d VMs, %s: %d estimates shown in full while scrolling", len(vms), key, n)
			}
		}
	}
}
