package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// TestStatusFitsIn80Columns (QA: operators run ferry status in 80-column
// SSH sessions, and its jobs table was 130 columns wide with four VMs,
// its endpoints 94 and the engine's line 97, so that the terminal folded
// every row; then a VM's name of more than ~45 characters, and a step's
// long summary, still pushed their rows past 80): with four VMs
// replicating, one of them named Database-Primary-01-accounting-eu-west-dc
// (49 characters), every line of ferry status fits in 80 columns, through
// the engine and without one (a long health, and a killed run's long
// summary of its step, given whole below their table, wrapped; the long
// name on a line of its own above its row), and nothing is lost: every
// VM's row with its RPO, last and next pass and health, its last full
// compare, each endpoint with its URL and where it came from, the step's
// whole summary.
func TestStatusFitsIn80Columns(t *testing.T) {
	l, run := labWith(t, lab.Options{DiskSize: 16 << 20, VMs: 4})
	const db = "Database-Primary-01-accounting-eu-west-datacenter"
	c, f := labtest.OnPrem(t, l)
	ctx := context.Background()
	vm, err := f.VirtualMachine(ctx, "WebApp4")
	if err != nil {
		t.Fatal(err)
	}
	task, err := vm.Rename(ctx, db)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Logout(ctx)
	editPlan(t, l.PlanPath(), "vms:\n  - name: WebApp2\n", "vms:\n  - name: WebApp1\n  - name: WebApp2\n  - name: WebApp3\n  - name: "+db+"\n")
	editPlan(t, l.PlanPath(), "name: WebApp4 (tcp)\n    vm: WebApp4\n", "name: "+db+" (tcp)\n    vm: "+db+"\n")
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "stopped before Cutover") {
		t.Fatalf("ferry run (steps 1 to 7): exit %d\n%s", code, out)
	}
	vms := []string{"WebApp1", "WebApp2", "WebApp3", db}
	// A time of the table: of today, or of another day (near midnight).
	const clock = `(\d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d)`
	check := func(how, health string) string {
		t.Helper()
		out, code := run("status", "--plan", l.PlanPath())
		t.Logf("ferry status, %s: exit %d\n%s", how, code, out)
		if code != 0 {
			t.Fatalf("ferry status, %s: exit %d", how, code)
		}
		for _, line := range strings.Split(out, "\n") {
			if w := ansi.StringWidth(line); w > textWidth {
				t.Errorf("ferry status, %s: a line of %d columns: %q", how, w, line)
			}
		}
		for _, vm := range vms {
			// A long name on a line of its own, its row below it.
			row := regexp.MustCompile(`(?m)^` + vm + `\n? +1m +` + clock + ` +(running|queued|-|` + clock + `) +` + regexp.QuoteMeta(health) + `$`)
			compare := regexp.MustCompile(`(?m)^` + vm + `\n? +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d+ +0 +0$`)
			if !row.MatchString(out) || !compare.MatchString(out) {
				t.Errorf("ferry status, %s: no whole row of %s (RPO, last and next pass, %q) and of its last full compare", how, vm, health)
			}
		}
		for _, e := range []string{l.OnPrem.URL, l.Provider.URL, l.VCD.URL()} {
			if !strings.Contains(out, e) {
				t.Errorf("ferry status, %s: no endpoint %s", how, e)
			}
		}
		return out
	}

	srv := startServe(t, l)
	out := check("four VMs replicating in the engine", "ok")
	if !strings.Contains(out, "--config "+l.ConfigFile) || !strings.Contains(out, "socket: ") {
		t.Errorf("ferry status through the engine: where the endpoints came from, or the engine's socket, lost")
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	err = <-srv.done
	srv.done <- err
	// A run killed in step 7: the state says it runs, nobody does, and
	// its summary says so at length.
	st, err := steps.LoadState(filepath.Join(l.Dir, "plan.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Begin("checks"); err != nil {
		t.Fatal(err)
	}
	// Without the engine: nothing replicates, which the health says at
	// length, whole below the table, once for the four VMs it is the same
	// for (sayHealthsOnce).
	out = check("nothing replicating", "not replicating (below)")
	flat := strings.Join(strings.Fields(out), " ")
	if !strings.Contains(flat, steps.AndList(vms)+", each: "+stoppedSummary) || strings.Count(flat, stoppedSummary) != 1 {
		t.Errorf("ferry status, nothing replicating: the VMs' whole health is not below the table, once, naming %s", steps.AndList(vms))
	}
	if got, want := strings.Join(strings.Fields(stepLine(out, "7 Checks")), " "), "7 Checks interrupted "+interruptedSummary; got != want {
		t.Errorf("ferry status, step 7's run killed: its row with its whole summary %q, want %q", got, want)
	}
}

// stepLine is ferry status's row of the step of label ("8 Cutover") with
// its whole summary: a summary its row cuts ("its first words (below)")
// is whole below the table ("8 Cutover: <summary>").
func stepLine(out, label string) string {
	var row string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, label+" ") {
			row = line
			break
		}
	}
	head, cut := strings.CutSuffix(row, belowMark)
	if !cut {
		return row
	}
	for _, line := range strings.Split(unwrapped(out), "\n") {
		if whole, ok := strings.CutPrefix(line, label+": "); ok {
			return head[:strings.LastIndex(head, "  ")+2] + whole
		}
	}
	return row
}

// unwrapped is ferry status's text with its wrapped prose joined again (a
// line indented under another continues it), for a test that looks for a
// sentence wherever the wrapping put its line breaks.
func unwrapped(out string) string {
	var b strings.Builder
	prev := ""
	for i, line := range strings.Split(out, "\n") {
		if i > 0 {
			if strings.HasPrefix(line, "  ") && strings.TrimSpace(line) != "" && strings.TrimSpace(prev) != "" {
				b.WriteString(" ")
				line = strings.TrimLeft(line, " ")
			} else {
				b.WriteString("\n")
			}
		}
		b.WriteString(line)
		prev = line
	}
	return b.String()
}

// jobRows are the rows of ferry status's jobs table (VM, RPO, LAST PASS,
// NEXT PASS, HEALTH), by VM.
func jobRows(out string) map[string]string {
	rows := map[string]string{}
	in, vm := false, ""
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "VM ") && strings.Contains(line, " RPO "):
			in = true
		case strings.TrimSpace(line) == "":
			in = false
		case in && strings.HasPrefix(line, " "):
			// The row of a VM whose long name is on the line above.
			rows[vm] += line
		case in:
			vm, _, _ = strings.Cut(line, " ")
			rows[vm] = line
		}
	}
	return rows
}

// healthSaid says whether ferry status's text gives vm the health h: whole
// in its row of the jobs table, or whole below it.
func healthSaid(out, vm, h string) bool {
	return strings.HasSuffix(jobRows(out)[vm], "  "+h) || strings.Contains(unwrapped(out), vm+": "+h)
}
