package tui

import (
	"github.com/ferry-migrate/ferry/steps"
	"os"
	"path/filepath"
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
			mustReadPath(t, h, path)
		}
	}
}

// mustReadPath: path reads whole on the screen's main panel, on rows of
// its own (a label before its first part aside), broken only after a "/".
func mustReadPath(t *testing.T, h *harness, path string) {
	t.Helper()
	var got string
	var rows []string
	for _, row := range strings.Split(h.view(), "\n") {
		_, panel, ok := strings.Cut(row, "│ ")
		if !ok {
			continue
		}
		panel = strings.TrimSpace(panel)
		if got == "" {
			if i := strings.Index(panel, path[:1+strings.IndexByte(path[1:], '/')+1]); i >= 0 {
				panel = panel[i:] // the label before the path's first part
			}
		}
		if panel != "" && strings.HasPrefix(path[len(got):], panel) {
			got += panel
			rows = append(rows, panel)
		}
	}
	if got != path {
		t.Fatalf("the path reads %q across rows %q; want %q whole, broken at '/' only:\n%s", got, rows, path, h.view())
	}
	for _, r := range rows[:len(rows)-1] {
		if !strings.HasSuffix(r, "/") {
			t.Errorf("the path is broken after %q, not at a '/':\n%s", r, h.view())
		}
	}
}

// TestReportPathAt80 (as the test migration's; named short, for its
// directory's name to fit a row): the
// downtime report's "saved as" path, the state's directory and all, is
// broken only after a "/" at 80 columns, and whole at 120.
func TestReportPathAt80(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h := newHarness(t, setup{pf: withVMs("WebApp2"), done: allDone})
		rep := &steps.CutoverReport{Started: t0, Finished: t0.Add(6105 * time.Millisecond),
			VMs: []steps.VMReport{{VM: "WebApp2", Outcome: "migrated", MeasuredDowntimeSeconds: 3.19, ServiceWindowSeconds: 3.21}}}
		// A directory as deep as an operator's project's.
		dir := filepath.Join(filepath.Dir(h.env.State.Path()), "migrations", "company-webapp")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		md, _, err := rep.Save(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.env.State.SetOutput("cutover", "report", md); err != nil {
			t.Fatal(err)
		}
		h.start(size[0], size[1])
		h.mustSee(t, "✓ cutover complete", "saved as", filepath.Base(md))
		mustReadPath(t, h, md)
	}
}
