package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/session"
	"github.com/ferry-migrate/ferry/steps"
	bolt "go.etcd.io/bbolt"
)

// TestStatusWhileAnotherFerryHoldsTheStore: a wizard (here: this test
// process) holds the plan's state lock and replication store. ferry status
// does not wait for it: it shows the steps from the state file, names the
// process that holds the replication data, and exits 1; --json says the
// same in JSON with one key style.
func TestStatusWhileAnotherFerryHoldsTheStore(t *testing.T) {
	l := smallLab(t)
	statePath := filepath.Join(l.Dir, "plan.state.json")
	release, err := steps.LockState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	st := steps.NewState(statePath)
	if err := st.Finish("rights", steps.Result{}); err != nil {
		t.Fatal(err)
	}
	store, err := replication.OpenState(session.ReplicationStorePath(l.PlanPath()))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	run := func(args ...string) (string, int, time.Duration) {
		cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile, "status", "--plan", l.PlanPath()}, args...)...)
		cmd.Env = cleanEnv()
		start := time.Now()
		out, err := cmd.CombinedOutput()
		return string(out), labtest.ExitCode(err), time.Since(start)
	}
	pid := strconv.Itoa(os.Getpid())
	out, code, _ := run()
	if code != exitFailed || !strings.Contains(out, "held by ferry process "+pid) || !strings.Contains(out, "1 Tenant rights") && !strings.Contains(out, "done") {
		t.Errorf("status while the store is held: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "timeout") {
		t.Errorf("status printed bbolt's timeout instead of saying who holds the data:\n%s", out)
	}
	out, code, _ = run("--json")
	if code != exitFailed {
		t.Errorf("status --json while held: exit %d", code)
	}
	var doc struct {
		Steps []map[string]any `json:"steps"`
		Jobs  []map[string]any `json:"jobs"`
		Err   string           `json:"jobs_error"`
	}
	first, _, _ := strings.Cut(out, "\n")
	if err := json.Unmarshal([]byte(first), &doc); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	if len(doc.Steps) == 0 || doc.Steps[0]["step"] != "rights" || doc.Steps[0]["status"] != "done" || !strings.Contains(doc.Err, pid) {
		t.Errorf("status --json: %+v", doc)
	}
}

// TestStatusShowsLastFullCompare: ferry status shows, per VM, when the
// last full compare of its replica ran and what it found (text and JSON).
func TestStatusShowsLastFullCompare(t *testing.T) {
	l := smallLab(t)
	store, err := replication.OpenState(session.ReplicationStorePath(l.PlanPath()))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour)
	if err := store.PutVM("WebApp2", replication.VMState{LastPass: time.Now(),
		LastCompare: &replication.CompareResult{Time: at, Blocks: 16, Differing: 1, Repaired: 1}}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	run := func(args ...string) string {
		cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile, "status", "--plan", l.PlanPath()}, args...)...)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ferry status %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := run()
	if !strings.Contains(out, "LAST FULL COMPARE") || !regexp.MustCompile(`(?m)^WebApp2 +`+at.Local().Format("2006-01-02 15:04:05")+` +16 +1 +1$`).MatchString(out) {
		t.Errorf("ferry status:\n%s", out)
	}
	var doc struct {
		Jobs []struct {
			VM          string                     `json:"vm"`
			LastCompare *replication.CompareResult `json:"last_compare"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(run("--json")), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Jobs) == 0 || doc.Jobs[0].LastCompare == nil || doc.Jobs[0].LastCompare.Repaired != 1 {
		t.Errorf("ferry status --json: %+v", doc.Jobs)
	}
}

// TestStatusPhaseAndHealth: `ferry status` says a job's phase and RPO
// health, typed in --json (phase, rpo_health beside the words in health);
// with no ferry running for the plan, a job is stopped, not replicating.
func TestStatusPhaseAndHealth(t *testing.T) {
	l := smallLab(t)
	put, run := statusOfWebApp2(t, l)
	type job struct {
		VM        string `json:"vm"`
		RPO       string `json:"rpo"`
		Phase     string `json:"phase"`
		RPOHealth string `json:"rpo_health"`
		Health    string `json:"health"`
		Paused    bool   `json:"paused"`
		Reason    string `json:"reason"`
		Age       int64  `json:"age_ns"`
	}
	jobs := func() []job {
		var doc struct {
			Jobs []job `json:"jobs"`
		}
		if err := json.Unmarshal([]byte(run("--json")), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Jobs
	}

	put(replication.VMState{LastPass: time.Now().Add(-time.Hour)})
	if out := run(); !strings.Contains(out, "RPO missed: last complete pass 1h0m") || !strings.Contains(out, "WebApp2  1m") {
		t.Errorf("ferry status, RPO missed:\n%s", out)
	}
	// No engine runs, nor any ferry run or wizard: nothing replicates
	// (the record alone would say "replicating").
	if j := jobs(); len(j) != 1 || j[0].VM != "WebApp2" || j[0].RPO != "1m" || j[0].Phase != "stopped" || j[0].RPOHealth != "missed" ||
		!strings.HasPrefix(j[0].Health, "not replicating: no ferry serve, wizard or ferry run") || !strings.Contains(j[0].Health, "; RPO missed") || j[0].Age < int64(time.Hour) {
		t.Errorf("ferry status --json, RPO missed, nothing running: %+v", j)
	}
	if out := run(); !strings.Contains(out, "not replicating (below)") {
		t.Errorf("ferry status, nothing running:\n%s", out)
	}
	// A record within its RPO is "ok" while it replicates; stopped, the
	// health says what that means (QA: "...in the background); ok").
	put(replication.VMState{LastPass: time.Now()})
	if j := jobs(); len(j) != 1 || !strings.HasSuffix(j[0].Health, "(ferry serve replicates every RPO in the background); its last pass is still within the RPO") {
		t.Errorf("ferry status --json, within the RPO, nothing running: %+v", j)
	}

	put(replication.VMState{LastPass: time.Now(), Paused: true, Failed: true, PausedReason: "receiver refused the pass"})
	if out := run(); !strings.Contains(out, "paused: receiver refused the pass") {
		t.Errorf("ferry status, failed:\n%s", out)
	}
	if j := jobs(); len(j) != 1 || j[0].Phase != "failed" || j[0].RPOHealth != "ok" || j[0].Health != "paused" || !j[0].Paused || j[0].Reason != "receiver refused the pass" {
		t.Errorf("ferry status --json, failed: %+v", j)
	}
}

// TestStatusListsTestLeftRunning: a test migration recorded in the state
// and not cleaned up (a killed run) is listed by ferry status (text and
// JSON) until `ferry run --test-cleanup` removes it.
func TestStatusListsTestLeftRunning(t *testing.T) {
	l := smallLab(t)
	statePath := filepath.Join(l.Dir, "plan.state.json")
	if err := steps.NewState(statePath).SetOutput("test-migration", "test.WebApp2", "running"); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile}, args...)...)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		return string(out), labtest.ExitCode(err)
	}
	out, code := run("status", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "TEST MIGRATION LEFT RUNNING: WebApp2") || !strings.Contains(out, "ferry run --test-cleanup") {
		t.Fatalf("status with a test left: exit %d\n%s", code, out)
	}
	out, code = run("status", "--plan", l.PlanPath(), "--json")
	if code != 0 || !strings.Contains(out, `"tests_left_running":["WebApp2"]`) {
		t.Fatalf("status --json with a test left: exit %d\n%s", code, out)
	}
	if out, code = run("run", "--plan", l.PlanPath(), "--test-cleanup"); code != 0 || !strings.Contains(out, "no test migration left") {
		t.Fatalf("run --test-cleanup: exit %d\n%s", code, out)
	}
	if out, code = run("status", "--plan", l.PlanPath()); code != 0 || strings.Contains(out, "TEST MIGRATION LEFT RUNNING") {
		t.Fatalf("status after the cleanup: exit %d\n%s", code, out)
	}
}

// TestStatusSaysHeld: a job ferry held for its own work when it stopped
// (killed during a cutover or a test migration) reads "held" in `ferry
// status`, with why and what becomes of it, not "paused" with the hold's
// reason as if it were an error; a record an older ferry wrote (a pause
// with the hold's reason) reads the same.
func TestStatusSaysHeld(t *testing.T) {
	l := smallLab(t)
	put, run := statusOfWebApp2(t, l)
	type job struct {
		Phase  string `json:"phase"`
		Held   string `json:"held"`
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	webApp2 := func() job {
		t.Helper()
		var doc struct {
			Jobs []struct {
				VM string `json:"vm"`
				job
			} `json:"jobs"`
		}
		if err := json.Unmarshal([]byte(run("--json")), &doc); err != nil {
			t.Fatal(err)
		}
		for _, j := range doc.Jobs {
			if j.VM == "WebApp2" {
				return j.job
			}
		}
		t.Fatalf("no WebApp2 in %+v", doc.Jobs)
		return job{}
	}
	// As ferry before the held record wrote it: a pause with the reason.
	put(replication.VMState{LastPass: time.Now(), Paused: true, PausedReason: "held by its cutover"})
	const gone = "held: ferry stopped while it held the job for its cutover; that cutover is not in progress: replication resumes when the wizard or ferry serve next starts"
	if out := run(); !strings.Contains(out, gone) || strings.Contains(out, "paused") {
		t.Errorf("ferry status, a cutover's hold left by a stopped ferry:\n%s", out)
	}
	if j := webApp2(); j.Phase != "held" || j.Held != "cutover" || j.Health != gone || j.Reason != "held by its cutover" {
		t.Errorf("ferry status --json, a cutover's hold left by a stopped ferry: %+v", j)
	}
	// The cutover was under way when ferry stopped: the hold stays.
	if err := steps.NewState(filepath.Join(l.Dir, "plan.state.json")).SetOutput("cutover", "cutover.WebApp2", "running"); err != nil {
		t.Fatal(err)
	}
	if out := run(); !strings.Contains(out, "held by its cutover, which a previous ferry process left unfinished before power-on of the target was requested") ||
		!strings.Contains(out, "run the cutover again") || strings.Contains(out, "paused") {
		t.Errorf("ferry status, an interrupted cutover's hold:\n%s", out)
	}
	put(replication.VMState{LastPass: time.Now(), Paused: true, PausedReason: "held while its test migration freezes the replica (a snapshot of the receiver appliance)"})
	if out := run(); !strings.Contains(out, "held: ferry stopped while it held the job for its test migration; that test migration ended with it") || strings.Contains(out, "paused") {
		t.Errorf("ferry status, a test migration's hold left by a stopped ferry:\n%s", out)
	}
}

// statusOfWebApp2 gives a status test its two tools: put writes WebApp2's
// replication record as a stopped ferry left it, run runs ferry status
// with args on the lab's plan and returns what it printed.
func statusOfWebApp2(t *testing.T, l *lab.Lab) (put func(replication.VMState), run func(args ...string) string) {
	put = func(vs replication.VMState) {
		t.Helper()
		store, err := replication.OpenState(session.ReplicationStorePath(l.PlanPath()))
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		if err := store.PutVM("WebApp2", vs); err != nil {
			t.Fatal(err)
		}
	}
	run = func(args ...string) string {
		t.Helper()
		cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile, "status", "--plan", l.PlanPath()}, args...)...)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ferry status %v: %v\n%s", args, err, out)
		}
		return unwrapped(string(out))
	}
	return put, run
}

// TestStatusSaysCompareInterrupted: a full compare that a killed ferry
// left midway (the sender's store as the kill left it: the pass in flight,
// the scan's progress and what it found) reads, in ferry status run with no
// engine, as interrupted, how far it got, and that it resumes when
// replication runs again; --json says the compare is due and how far it
// got. Once the pass is committed, nothing is in flight.
func TestStatusSaysCompareInterrupted(t *testing.T) {
	l := smallLab(t)
	put, run := statusOfWebApp2(t, l)
	put(replication.VMState{LastPass: time.Now(), LastCompare: &replication.CompareResult{Time: time.Now().Add(-time.Hour), Blocks: 16}})
	records := func(disk, progress string) {
		t.Helper()
		db, err := bolt.Open(session.ReplicationStorePath(l.PlanPath()), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error {
			if err := tx.Bucket([]byte("disks")).Put([]byte("WebApp2/2000"), []byte(disk)); err != nil {
				return err
			}
			return tx.Bucket([]byte("compares")).Put([]byte("WebApp2/2000"), []byte(progress))
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Killed after settling blocks 0-5 of 16 (block 2 differing,
	// repaired), having found block 9 differing and sent its repair.
	const progress = `{"Pass":"snapshot-7","Base":"c1","Target":"c2","Kind":"incremental","Compare":true,"Next":6,"Differing":2,"Repaired":1,"Found":{"9":true}}`
	records(`{"Committed":"c1","Pass":"snapshot-7","Base":"c1","Target":"c2","Kind":"incremental","Watermark":6291456,"Size":16777216}`, progress)
	const want = "full compare interrupted (its ferry stopped or was killed midway) after 6 of 16 blocks compared (38%), 2 differing found so far (1 repaired); it resumes from there when replication runs again"
	if out := run(); !strings.Contains(out, want) {
		t.Errorf("ferry status, a compare a killed ferry left midway: want %q in\n%s", want, out)
	}
	webApp2 := func() (due bool, ic *replication.InterruptedCompare) {
		t.Helper()
		var doc struct {
			Jobs []struct {
				VM         string                          `json:"vm"`
				CompareDue bool                            `json:"compare_due"`
				InFlight   *replication.InterruptedCompare `json:"compare_in_flight"`
			} `json:"jobs"`
		}
		if err := json.Unmarshal([]byte(run("--json")), &doc); err != nil {
			t.Fatal(err)
		}
		for _, j := range doc.Jobs {
			if j.VM == "WebApp2" {
				return j.CompareDue, j.InFlight
			}
		}
		t.Fatalf("no WebApp2 in %+v", doc.Jobs)
		return false, nil
	}
	if due, ic := webApp2(); !due || ic == nil || *ic != (replication.InterruptedCompare{Blocks: 6, Total: 16, Differing: 2, Repaired: 1}) {
		t.Errorf("ferry status --json, a compare a killed ferry left midway: compare_due %v, compare_in_flight %+v", due, ic)
	}
	// The compare was the repair of a mismatch a cutover's verify found
	// (`ferry run --verify` resumed the job for it, then was killed): the
	// status still says the replica differs, and what the verify found
	// (QA: it read "ok", and the cutover's refusal gave an empty reason).
	put(replication.VMState{LastPass: time.Now(), CompareNeeded: true, Mismatch: "verify of disk 2000: block 9 differs"})
	if out := run(); !strings.Contains(out, "the replica differs from its source (verify of disk 2000: block 9 differs): the cutover waits until a full compare repairs it") {
		t.Errorf("ferry status, a mismatch's repair a killed ferry left midway:\n%s", out)
	}
	put(replication.VMState{LastPass: time.Now(), LastCompare: &replication.CompareResult{Time: time.Now().Add(-time.Hour), Blocks: 16}})
	// The pass committed: its progress record stays, but nothing is in
	// flight.
	records(`{"Committed":"c2","Size":16777216}`, progress)
	if out := run(); strings.Contains(out, "interrupted") {
		t.Errorf("ferry status after the compare completed:\n%s", out)
	}
	if due, ic := webApp2(); due || ic != nil {
		t.Errorf("ferry status --json after the compare completed: compare_due %v, compare_in_flight %+v", due, ic)
	}
}

// TestStatusInterruptedSyncNotRoundedUp (QA: a ferry run killed in the
// initial sync of a 1 GiB disk left 1020 MiB durable, and ferry status said
// "the initial sync has 100%"): the share is rounded down.
func TestStatusInterruptedSyncNotRoundedUp(t *testing.T) {
	l := smallLab(t)
	store, err := replication.OpenState(session.ReplicationStorePath(l.PlanPath()))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutDisk("WebApp2/0", replication.DiskState{Pass: "snapshot-1", Kind: replication.PassInitial, Size: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	_, run := statusOfWebApp2(t, l)
	// Stopped before the watermark moved (QA: "has 0% (0 B of 64 MiB)
	// durable ...; stopped, it resumes from there").
	if out := run(); !strings.Contains(out, "no replica yet: the initial sync was stopped before any of it was durable on the receiver; it starts again from the beginning") {
		t.Errorf("ferry status of an initial sync stopped with nothing durable:\n%s", out)
	}
	store, err = replication.OpenState(session.ReplicationStorePath(l.PlanPath()))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutDisk("WebApp2/0", replication.DiskState{Pass: "snapshot-1", Kind: replication.PassInitial, Watermark: 1070006272, Size: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	if out := run(); !strings.Contains(out, "the initial sync has 99% (1020 MiB of 1.0 GiB) durable on the receiver") {
		t.Errorf("ferry status of an initial sync stopped at 99.65%%:\n%s", out)
	}
	// Killed after the last acknowledgement, before the pass was recorded
	// (QA: "has 100% durable; stopped, it resumes from there"): it says
	// that nothing is left to send.
	store, err = replication.OpenState(session.ReplicationStorePath(l.PlanPath()))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutDisk("WebApp2/0", replication.DiskState{Pass: "snapshot-1", Kind: replication.PassInitial, Watermark: 1 << 30, Size: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	if out := run(); !strings.Contains(out, "all of the initial sync (1.0 GiB) is durable on the receiver, but the pass was not recorded as ended") || strings.Contains(out, "100%") {
		t.Errorf("ferry status of an initial sync all durable but not recorded:\n%s", out)
	}
	// Killed after the receiver committed the disk and the sender
	// recorded the commit, before it recorded the pass (QA of
	// TestServeKill9ResumesPass: "no replica yet (run the replication
	// step)", and ferry plan planned a new initial sync): the data is
	// there, and replication goes on from it.
	store, err = replication.OpenState(session.ReplicationStorePath(l.PlanPath()))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutDisk("WebApp2/0", replication.DiskState{Committed: "snapshot-1/change-1", Size: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	if out := run(); !strings.Contains(out, "no pass recorded yet: the initial sync of 1 disk (1.0 GiB) is committed on the receiver, but the pass was not recorded as ended; replication goes on from there without sending it again") {
		t.Errorf("ferry status of an initial sync committed but not recorded:\n%s", out)
	}
}

// TestStatusInterruptedSyncRunsShare (QA: ferry status's share of an
// interrupted initial sync was its durable watermark's offset of the disk's
// size, not the share its run printed: "X of Y acknowledged", bytes of what
// the pass covers, including blocks acknowledged out of order beyond the
// watermark): ferry status says the record's bytes, the run's figure; and
// --json's durable_bytes of size_bytes are the same.
func TestStatusInterruptedSyncRunsShare(t *testing.T) {
	l := smallLab(t)
	store, err := replication.OpenState(session.ReplicationStorePath(l.PlanPath()))
	if err != nil {
		t.Fatal(err)
	}
	// 30 MiB of the 40 MiB the sync covers acknowledged, most of it out of
	// order: the watermark is at 1 MiB of the 1 GiB disk.
	rec := replication.DiskState{Pass: "snapshot-1", Kind: replication.PassInitial, Watermark: 1 << 20, Size: 1 << 30,
		Acked:    []replication.Extent{{Offset: 2 << 20, Length: 29 << 20}},
		Progress: &replication.DiskProgress{Of: 40 << 20, Durable: 30 << 20}}
	if err := store.PutDisk("WebApp2/0", rec); err != nil {
		t.Fatal(err)
	}
	store.Close()
	_, run := statusOfWebApp2(t, l)
	if out := run(); !strings.Contains(out, "the initial sync has 75% (30 MiB of 40 MiB) durable on the receiver") {
		t.Errorf("ferry status of an initial sync with 30 of 40 MiB acknowledged:\n%s", out)
	}
	var doc struct {
		Jobs []struct {
			InFlight *struct {
				Durable int64 `json:"durable_bytes"`
				Size    int64 `json:"size_bytes"`
			} `json:"in_flight"`
		} `json:"jobs"`
	}
	out := run("--json")
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Jobs) != 1 || doc.Jobs[0].InFlight == nil ||
		doc.Jobs[0].InFlight.Durable != 30<<20 || doc.Jobs[0].InFlight.Size != 40<<20 {
		t.Errorf("ferry status --json of an initial sync with 30 of 40 MiB acknowledged (%v):\n%s", err, out)
	}
}

// TestStoppedJobSummary: with nothing replicating, a job the record calls
// replicating reads stopped, and the record's "ok" (of a job that
// replicates) becomes what it still says, also before a note (QA: "...;
// ok; its cutover, interrupted ...").
func TestStoppedJobSummary(t *testing.T) {
	for rec, want := range map[string]string{
		"ok": stoppedSummary + "; its last pass is still within the RPO",
		"ok; its cutover, interrupted before power-on, was rolled back automatically": stoppedSummary + "; its last pass is still within the RPO; its cutover, interrupted before power-on, was rolled back automatically",
		"RPO missed: last complete pass 7m0s ago, RPO 5m":                             stoppedSummary + "; RPO missed: last complete pass 7m0s ago, RPO 5m",
	} {
		job := steps.VMStatus{JobStatus: replication.JobStatus{VM: "WebApp2", RPO: replication.RPO(5 * time.Minute), Phase: replication.JobReplicating, Health: replication.HealthOK}, Summary: rec}
		var out bytes.Buffer
		if err := printStatus(&out, engine.Status{Jobs: []steps.VMStatus{job}}, true, true); err != nil {
			t.Fatal(err)
		}
		var doc engine.Status
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Jobs) != 1 || doc.Jobs[0].Summary != want {
			t.Errorf("%q reads %+v (%v), want %q", rec, doc.Jobs, err, want)
		}
	}
}
