package tui

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

// TestQuitKeepsTypedAnswers (QA: q and ctrl+c dropped answers typed but
// not planned): the plan file gets the answers when they differ from what
// it holds, a file left as it was keeps its comments, and one that does
// not parse is not overwritten.
func TestQuitKeepsTypedAnswers(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.yaml")
	orig := "# my notes\norg: Company\n"
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	pf, err := steps.LoadPlanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keepTyped(path, pf, log)
	if b, _ := os.ReadFile(path); string(b) != orig {
		t.Errorf("an unchanged plan was rewritten:\n%s", b)
	}
	pf.VDC = "Company-VDC"
	keepTyped(path, pf, log)
	got, err := steps.LoadPlanFile(path)
	if err != nil || got.VDC != "Company-VDC" || got.Org != "Company" {
		t.Errorf("typed answers not kept: %v %+v", err, got)
	}
	fresh := filepath.Join(dir, "new.yaml")
	keepTyped(fresh, &steps.PlanFile{Org: "Globex"}, log)
	if got, err := steps.LoadPlanFile(fresh); err != nil || got.Org != "Globex" {
		t.Errorf("a new plan's answers not kept: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("org: [unclosed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keepTyped(bad, &steps.PlanFile{Org: "Company"}, log)
	if b, _ := os.ReadFile(bad); !strings.Contains(string(b), "unclosed") {
		t.Errorf("a plan file that does not parse was overwritten:\n%s", b)
	}
}
