package tui

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTestMigrationReportPathBreaksAtSlashes (QA at 80 columns: the
// dashboard's line after a test migration wrapped its report's path in
// the middle of a name, "…/test-migrati" / "on-20261125-…", which cannot
// be copied): the path is broken only after a "/", each part on a row
// of its own, the file name whole, at 80 and 120 columns, with a
// directory too long for one row as well.
func TestTestMigrationReportPathBreaksAtSlashes(t *testing.T) {
	for _, dir := range []string{"/home/operator/migrations/company-webapp", "/srv/ferry/projects/customer-company-with-a-long-name/waves/2026-wave-1"} {
		path := dir + "/test-migration-20261125-120000.md"
		for _, size := range [][2]int{{80, 24}, {120, 40}} {
			h := newHarness(t, setup{pf: withTestNetwork(withVMs("WebApp2", "WebApp3")), done: append(slices.Clone(infraDone), "vm-selection", "replication"), feeds: true})
			h.start(size[0], size[1])
			h.send(replicationMsg{VM: "WebApp2", Phase: "idle", Pass: 3, Health: RPOOK, RPO: time.Minute, LastPass: t0})
			h.send(press("["))
			h.send(press("t"))
			h.deliver(press("t")) // started; its end is delivered by hand
			h.send(testDoneMsg{Step: 5, Report: path})
			h.mustSee(t, "✓ test migration of WebApp2: done", "test-migration-20261125-120000.md")
			// The rows of the panel that hold the path, read in order.
			var got string
			var rows []string
			for _, row := range strings.Split(h.view(), "\n") {
				_, panel, ok := strings.Cut(row, "│ ")
				if !ok {
					continue
				}
				panel = strings.TrimSpace(panel)
				if piece := strings.TrimSpace(strings.TrimPrefix(panel, "report")); piece != "" && strings.HasPrefix(path[len(got):], piece) {
					got += piece
					rows = append(rows, piece)
				}
			}
			if got != path {
				t.Fatalf("%dx%d: the path reads %q across rows %q; want %q whole, broken at '/' only:\n%s", size[0], size[1], got, rows, path, h.view())
			}
			for _, r := range rows[:len(rows)-1] {
				if !strings.HasSuffix(r, "/") {
					t.Errorf("%dx%d: the path is broken after %q, not at a '/':\n%s", size[0], size[1], r, h.view())
				}
			}
		}
	}
}
