package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
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
	store, err := replication.OpenState(steps.ReplicationStorePath(l.PlanPath()))
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
	store, err := replication.OpenState(steps.ReplicationStorePath(l.PlanPath()))
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
	if !strings.Contains(out, "LAST FULL COMPARE") || !strings.Contains(out, at.Local().Format("2006-01-02 15:04:05")+": 16 blocks compared, 1 differing, 1 repaired") {
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
