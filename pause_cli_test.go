package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/session"
	"github.com/ferry-migrate/ferry/steps"
)

// pausedJob is WebApp2's job in ferry status --json.
type pausedJob struct {
	Phase      string `json:"phase"`
	Paused     bool   `json:"paused"`
	Held       string `json:"held"`
	Reason     string `json:"reason"`
	Health     string `json:"health"`
	CompareDue bool   `json:"compare_due"`
}

func jobOf(t *testing.T, statusJSON string) pausedJob {
	t.Helper()
	var doc struct {
		Jobs []struct {
			VM string `json:"vm"`
			pausedJob
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(statusJSON), &doc); err != nil {
		t.Fatalf("ferry status --json: %v\n%s", err, statusJSON)
	}
	for _, j := range doc.Jobs {
		if j.VM == "WebApp2" {
			return j.pausedJob
		}
	}
	t.Fatalf("no WebApp2 in ferry status --json:\n%s", statusJSON)
	return pausedJob{}
}

// TestPauseResumeWithoutEngine: with no ferry running for the plan, ferry
// pause and ferry resume change the job's record in the replication store,
// and ferry status shows the pause and who made it. Paused twice or
// resumed twice, they say so and change nothing (exit 0). Resuming a job a
// failed pass paused says it retries; one a compare mismatch paused, that
// its next pass is a full compare that repairs it (kept due in the
// record). A job ferry holds is neither released nor paused (exit 2,
// nothing changed); a VM not in the plan is refused naming the plan's VMs;
// a cut-over VM has nothing to pause. While another ferry (a wizard, a
// ferry run) holds the plan, the command is refused naming it.
func TestPauseResumeWithoutEngine(t *testing.T) {
	l := smallLab(t)
	put, status := statusOfWebApp2(t, l)
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile}, args...)...)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		return string(out), labtest.ExitCode(err)
	}
	plan := l.PlanPath()
	record := func() replication.VMState {
		t.Helper()
		store, err := replication.OpenStateReadOnly(session.ReplicationStorePath(plan), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		vs, err := store.VM("WebApp2")
		if err != nil {
			t.Fatal(err)
		}
		return vs
	}
	who := osUser() + " (ferry pause)"

	put(replication.VMState{LastPass: time.Now()})
	out, code := run("pause", "--plan", plan, "WebApp2")
	if code != 0 || !strings.Contains(out, "WebApp2: paused (paused by request of "+who+")") || !strings.Contains(out, "no ferry replicates it now") || !strings.Contains(out, "ferry resume WebApp2") {
		t.Fatalf("ferry pause WebApp2: exit %d\n%s", code, out)
	}
	if s := status(); !strings.Contains(s, "WebApp2: paused: paused by request of "+who) {
		t.Errorf("ferry status after ferry pause does not show the pause and who made it:\n%s", s)
	}
	if j := jobOf(t, status("--json")); j.Phase != "paused" || !j.Paused || j.Reason != "paused by request of "+who {
		t.Errorf("ferry status --json after ferry pause: %+v", j)
	}
	out, code = run("pause", "--plan", plan, "WebApp2")
	if code != 0 || !strings.Contains(out, "WebApp2: already paused (paused by request of "+who+"); nothing changed") {
		t.Errorf("ferry pause of a paused VM: exit %d\n%s", code, out)
	}
	out, code = run("resume", "--plan", plan, "WebApp2")
	if code != 0 || !strings.Contains(out, "WebApp2: resumed: no ferry replicates it now") || !strings.Contains(out, "its first pass there runs at once") {
		t.Fatalf("ferry resume WebApp2: exit %d\n%s", code, out)
	}
	if vs := record(); vs.Paused || vs.PausedReason != "" {
		t.Errorf("the record after ferry resume: %+v", vs)
	}
	if s := status(); strings.Contains(s, "paused") {
		t.Errorf("ferry status after ferry resume still says paused:\n%s", s)
	}
	out, code = run("resume", "--plan", plan, "WebApp2")
	if code != 0 || !strings.Contains(out, "WebApp2: not paused; nothing changed") {
		t.Errorf("ferry resume of a VM not paused: exit %d\n%s", code, out)
	}

	// Paused by a failed pass: resume retries it, and says so.
	put(replication.VMState{LastPass: time.Now(), Paused: true, Failed: true, PausedReason: "receiver refused the pass"})
	out, code = run("pause", "--plan", plan, "WebApp2")
	if code != 0 || !strings.Contains(out, "already paused (after a failed pass: receiver refused the pass; `ferry resume WebApp2` retries it)") {
		t.Errorf("ferry pause of a job a failed pass paused: exit %d\n%s", code, out)
	}
	out, code = run("resume", "--plan", plan, "WebApp2")
	if code != 0 || !strings.Contains(out, "WebApp2: resumed: it was paused after a failed pass (receiver refused the pass)") || !strings.Contains(out, "retries") {
		t.Errorf("ferry resume of a job a failed pass paused: exit %d\n%s", code, out)
	}
	if vs := record(); vs.Paused || vs.Failed {
		t.Errorf("the record after resuming a failed job: %+v", vs)
	}

	// Paused because the replica differs: resume's next pass is the
	// full compare that repairs it, and the record keeps it due.
	put(replication.VMState{LastPass: time.Now()})
	func() {
		store, err := replication.OpenState(session.ReplicationStorePath(plan))
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		if err := store.PauseForMismatch("WebApp2", errors.New("disk 2000: 3 blocks differ")); err != nil {
			t.Fatal(err)
		}
	}()
	out, code = run("resume", "--plan", plan, "WebApp2")
	if code != 0 || !strings.Contains(out, "WebApp2: resumed: its replica differed from its source (disk 2000: 3 blocks differ)") ||
		!strings.Contains(out, "is a full compare of the replica against its source, which repairs what differs; its cutover waits for that compare") {
		t.Errorf("ferry resume of a job a mismatch paused: exit %d\n%s", code, out)
	}
	if vs := record(); vs.Paused || !vs.CompareNeeded {
		t.Errorf("the record after resuming a mismatched job: paused %v, compare needed %v (want false, true)", vs.Paused, vs.CompareNeeded)
	}
	if s := status(); !strings.Contains(s, "the replica differs from its source") || !strings.Contains(s, "the cutover waits until a full compare repairs it") {
		t.Errorf("ferry status after resuming a mismatched job:\n%s", s)
	}

	// Held by ferry (its cutover, under way): neither resumed nor paused.
	held := replication.VMState{LastPass: time.Now(), Paused: true, Held: replication.HoldCutover, PausedReason: "held by its cutover"}
	put(held)
	statePath := filepath.Join(l.Dir, "plan.state.json")
	if err := steps.NewState(statePath).SetOutput("cutover", "cutover.WebApp2", "running"); err != nil {
		t.Fatal(err)
	}
	out, code = run("resume", "--plan", plan, "WebApp2")
	if code != exitUsage || !strings.Contains(out, "WebApp2: ferry holds its replication for its cutover (") || !strings.Contains(out, "ferry resume does not release a hold of ferry's own") || !strings.Contains(out, "nothing was changed") {
		t.Errorf("ferry resume of a held job: exit %d, want %d\n%s", code, exitUsage, out)
	}
	out, code = run("pause", "--plan", plan, "WebApp2")
	if code != exitUsage || !strings.Contains(out, "WebApp2: ferry holds its replication for its cutover") {
		t.Errorf("ferry pause of a held job: exit %d, want %d\n%s", code, exitUsage, out)
	}
	if vs := record(); !vs.Paused || vs.Held != replication.HoldCutover || vs.PausedReason != "held by its cutover" {
		t.Errorf("a held job's record after ferry resume and pause were refused: %+v", vs)
	}

	// Cut over: nothing to pause, nothing to resume.
	if err := steps.NewState(statePath).SetOutput("cutover", "cutover.WebApp2", "done"); err != nil {
		t.Fatal(err)
	}
	out, code = run("pause", "--plan", plan, "WebApp2")
	if code != 0 || !strings.Contains(out, "WebApp2: cut over: its replication ended with its cutover; nothing to pause") {
		t.Errorf("ferry pause of a cut-over VM: exit %d\n%s", code, out)
	}
	out, code = run("resume", "--plan", plan, "WebApp2")
	if code != exitUsage || !strings.Contains(out, "WebApp2 is cut over") {
		t.Errorf("ferry resume of a cut-over VM: exit %d\n%s", code, out)
	}
	if err := steps.NewState(statePath).SetOutput("cutover", "cutover.WebApp2", ""); err != nil {
		t.Fatal(err)
	}

	// Bad names: refused, naming the plan's VMs.
	put(replication.VMState{LastPass: time.Now()})
	for _, args := range [][]string{{"WebApp3"}, {"WebApp2,WebAp2"}, {}} {
		for _, verb := range []string{"pause", "resume"} {
			out, code = run(append([]string{verb, "--plan", plan}, args...)...)
			if code != exitUsage || !strings.Contains(out, "VMs: WebApp2") {
				t.Errorf("ferry %s %v: exit %d, want %d naming the plan's VMs\n%s", verb, args, code, exitUsage, out)
			}
		}
	}
	if vs := record(); vs.Paused {
		t.Errorf("a refused ferry pause paused the job: %+v", vs)
	}

	// Another ferry (a wizard, a ferry run: this test) holds the plan.
	release, err := steps.LockState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	out, code = run("pause", "--plan", plan, "WebApp2")
	if code != exitFailed || !strings.Contains(out, "ferry process "+strconv.Itoa(os.Getpid())) || !strings.Contains(out, "a wizard pauses on its replication dashboard (p)") {
		t.Errorf("ferry pause while another ferry holds the plan: exit %d, want %d naming it\n%s", code, exitFailed, out)
	}
	// The dashboard's resume key is u (QA: it said "(r)", the verb's initial).
	out, code = run("resume", "--plan", plan, "WebApp2")
	release()
	if code != exitFailed || !strings.Contains(out, "a wizard resumes on its replication dashboard (u)") {
		t.Errorf("ferry resume while another ferry holds the plan: exit %d, want %d naming the dashboard's u\n%s", code, exitFailed, out)
	}
	if vs := record(); vs.Paused {
		t.Errorf("ferry pause refused while another ferry held the plan paused the job: %+v", vs)
	}
}

// TestPauseResumeThroughEngine: with ferry serve running, ferry pause and
// ferry resume ask the engine, which pauses and resumes its scheduler's
// job as a dashboard's p and u do: the event log (which the dashboards'
// feed follows too) has the pause with who asked, ferry status (from the
// engine) shows it, no pass runs while paused, and once resumed a pass
// runs at once. A VM not in the plan is refused by the engine (exit 2).
func TestPauseResumeThroughEngine(t *testing.T) {
	t.Parallel()
	l, run := engineLab(t)
	srv := startServe(t, l, "--metrics", "127.0.0.1:0")
	plan := l.PlanPath()
	if out, code := run("run", "--plan", plan); code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run through the engine: exit %d\n%s", code, out)
	}
	who := osUser() + " (ferry pause)"
	out, code := run("pause", "--plan", plan, "WebApp2")
	if code != 0 || !strings.Contains(out, "the ferry serve engine ("+filepath.Join(l.Dir, "plan.sock")+")") ||
		!strings.Contains(out, "WebApp2: paused (paused by request of "+who+"): no pass runs until it is resumed") {
		t.Fatalf("ferry pause through the engine: exit %d\n%s", code, out)
	}
	st, code := run("status", "--plan", plan)
	if code != 0 || !strings.Contains(st, "Engine: ferry serve") || !healthSaid(st, "WebApp2", "paused: paused by request of "+who) {
		t.Errorf("ferry status from the engine after ferry pause: exit %d\n%s", code, st)
	}
	if m := scrape(t, srv.metrics); m[`ferry_replication_paused{vm="WebApp2"}`] != 1 {
		t.Errorf("the engine's scheduler does not have WebApp2 paused: ferry_replication_paused = %v", m[`ferry_replication_paused{vm="WebApp2"}`])
	}
	paused := false
	for _, r := range readRecords(t, engine.EventLogPath(filepath.Join(l.Dir, "plan.state.json"))) {
		if r.VM == "WebApp2" && r.Kind == string(replication.EventPaused) && r.Message == "paused by request of "+who {
			paused = true
		}
	}
	if !paused {
		t.Errorf("the event log (the dashboards' feed) has no pause of WebApp2 by %s", who)
	}
	if out, code = run("pause", "--plan", plan, "WebApp2"); code != 0 || !strings.Contains(out, "already paused (paused by request of "+who+"); nothing changed") {
		t.Errorf("ferry pause of a paused VM through the engine: exit %d\n%s", code, out)
	}
	if out, code = run("resume", "--plan", plan, "WebApp3"); code != exitUsage || !strings.Contains(out, `"WebApp3" is not a VM of the plan`) || !strings.Contains(out, "its VMs: WebApp2") {
		t.Errorf("ferry resume of a VM not in the plan through the engine: exit %d, want %d\n%s", code, exitUsage, out)
	}
	before := statusJSON(t, run, plan).lastPass("WebApp2")
	out, code = run("resume", "--plan", plan, "WebApp2")
	if code != 0 || !strings.Contains(out, "WebApp2: resumed: its next pass runs now") {
		t.Fatalf("ferry resume through the engine: exit %d\n%s", code, out)
	}
	if m := scrape(t, srv.metrics); m[`ferry_replication_paused{vm="WebApp2"}`] != 0 {
		t.Errorf("the engine's scheduler still has WebApp2 paused after ferry resume")
	}
	// Due now: the scheduler passes it at once, not an RPO later.
	waitPassAfter(t, run, plan, "WebApp2", before)
}

// TestWizardPauseNamesItsUser (QA): the standalone wizard (no ferry serve)
// pausing a VM's replication from its dashboard (p) records who paused it,
// as ferry pause and ferry serve's sessions do: ferry status says "paused
// by request of USER (wizard)", not a bare "paused by request".
func TestWizardPauseNamesItsUser(t *testing.T) {
	t.Parallel() // a lab of its own
	if testing.Short() {
		t.Skip("-short")
	}
	l, run := engineLab(t)
	plan := l.PlanPath()
	if out, code := run("run", "--plan", plan); code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("ferry run: exit %d\n%s", code, out)
	}
	p := newTmuxPane(t, "pause-wizard", ferryBin+" --config "+l.ConfigFile+" --plan "+plan)
	keys := func(k ...string) { p.tmux(append([]string{"send-keys", "-t", p.session}, k...)...) }
	p.waitFor("Type WebApp2 to confirm")
	keys("Escape") // out of the confirmation's field
	p.waitFor("enter type to confirm")
	for _, step := range []string{"Step 7 of 8", "Step 6 of 8"} {
		keys("-l", "[")
		p.waitFor(step)
	}
	p.waitFor("WebApp2")
	keys("-l", "p")
	p.waitFor("WebApp2 paused")
	keys("C-c")
	p.waitFor("Quit ferry?")
	keys("-l", "y")
	p.waitFor("EXIT=")
	who := osUser() + " (wizard)"
	out, code := run("status", "--plan", plan)
	if code != 0 || !healthSaid(out, "WebApp2", "paused: paused by request of "+who) {
		t.Errorf("ferry status after the wizard's pause: exit %d, want it to say %q\n%s", code, "paused by request of "+who, out)
	}
}
