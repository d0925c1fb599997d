package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/lab"
)

// served is a `ferry serve` process started by a test.
type served struct {
	cmd     *exec.Cmd
	metrics string            // http://host:port/metrics, or ""
	lines   map[string]string // its "name: value" lines before "engine ready"
	done    chan error
}

// startServe starts `ferry serve` for the lab's plan and waits for "engine
// ready"; the test's cleanup stops it (SIGTERM) unless the test killed it.
func startServe(t *testing.T, l *lab.Lab, args ...string) *served {
	t.Helper()
	cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile, "serve", "--plan", l.PlanPath()}, args...)...)
	cmd.Env = cleanEnv()
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, lines: map[string]string{}, done: make(chan error, 1)}
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		line := sc.Text()
		if line == "engine ready" {
			ready = true
			break
		}
		if k, v, ok := strings.Cut(line, ": "); ok {
			s.lines[k] = v
		}
	}
	go func() { io.Copy(io.Discard, stdout); s.done <- cmd.Wait() }()
	if !ready {
		<-s.done
		t.Fatalf("ferry serve never said engine ready: %v", s.lines)
	}
	s.metrics = s.lines["metrics"]
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-s.done
	})
	return s
}

type statusDoc struct {
	Steps []struct {
		Step   string `json:"step"`
		Status string `json:"status"`
	} `json:"steps"`
	Jobs []struct {
		VM       string    `json:"vm"`
		LastPass time.Time `json:"last_pass"`
		Health   string    `json:"health"`
	} `json:"jobs"`
	Engine *struct {
		PID      int `json:"pid"`
		Attached []struct {
			User, Fingerprint, Role string
		} `json:"attached"`
	} `json:"engine"`
}

func statusJSON(t *testing.T, run func(args ...string) (string, int), plan string) statusDoc {
	t.Helper()
	out, code := run("status", "--plan", plan, "--json")
	var doc statusDoc
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil {
		t.Fatalf("ferry status --json: exit %d, %v\n%s", code, err, out)
	}
	return doc
}

func (d statusDoc) lastPass(vm string) time.Time {
	for _, j := range d.Jobs {
		if j.VM == vm {
			return j.LastPass
		}
	}
	return time.Time{}
}

// scrape reads the metrics endpoint: metric line (name and labels) -> value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// waitPassAfter polls ferry status --json until vm's last complete pass is
// newer than after (passes come every RPO: a minute at least).
func waitPassAfter(t *testing.T, run func(args ...string) (string, int), plan, vm string, after time.Time) time.Time {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if lp := statusJSON(t, run, plan).lastPass(vm); lp.After(after) {
			return lp
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pass of %s completed after %s", vm, after)
		}
		time.Sleep(time.Second)
	}
}

// TestServeKeepsRPOBetweenRuns: with an engine running, ferry run and ferry
// status are its clients; between the run that stops in front of the
// cutover and the confirmed one, passes go on every RPO with no client
// attached (ferry status --json, the metrics endpoint, and the event log
// that ferry status --follow tails say so); the cutover then runs in the
// engine with its usual confirmation rules.
func TestServeKeepsRPOBetweenRuns(t *testing.T) {
	l, run := headlessLab(t)
	srv := startServe(t, l, "--metrics", "127.0.0.1:0")
	sock := filepath.Join(l.Dir, "plan.sock")
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("engine socket %s: %v %v (want a socket, mode 0600)", sock, fi.Mode(), err)
	}
	if srv.lines["socket"] != sock {
		t.Errorf("ferry serve printed socket %q, want %q", srv.lines["socket"], sock)
	}

	// ferry status --follow, from before the first run.
	follow := exec.Command(ferryBin, "status", "--plan", l.PlanPath(), "--follow", "--json")
	follow.Env = cleanEnv()
	fout, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { follow.Process.Kill(); follow.Wait() }()
	records := make(chan engine.Record, 1024)
	go func() {
		sc := bufio.NewScanner(fout)
		for sc.Scan() {
			var r engine.Record
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				select {
				case records <- r:
				default:
				}
			}
		}
		close(records)
	}()

	out, code := run("run", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "the steps run in the ferry serve engine") || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run through the engine: exit %d\n%s", code, out)
	}
	// The engine holds the state: a standalone ferry for the plan's state
	// would be refused; the cutover is still refused without the VM's name.
	if out, code = run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp3"); code != exitUsage || !strings.Contains(out, "WebApp2") {
		t.Fatalf("confirming the wrong VM through the engine: exit %d\n%s", code, out)
	}
	doc := statusJSON(t, run, l.PlanPath())
	if doc.Engine == nil || doc.Engine.PID != srv.cmd.Process.Pid {
		t.Fatalf("ferry status did not come from the engine (pid %d): %+v", srv.cmd.Process.Pid, doc.Engine)
	}
	first := doc.lastPass("WebApp2")
	if first.IsZero() {
		t.Fatalf("no pass after the replication step: %+v", doc)
	}
	before := scrape(t, srv.metrics)

	// Nobody attached: the engine keeps the RPO.
	second := waitPassAfter(t, run, l.PlanPath(), "WebApp2", first)
	t.Logf("passes at %s and %s", first.Format(time.TimeOnly), second.Format(time.TimeOnly))
	after := scrape(t, srv.metrics)
	inc := `ferry_replication_passes_total{kind="incremental",vm="WebApp2"}`
	if after[inc] <= before[inc] {
		t.Errorf("metrics: %s %v -> %v, want it to grow", inc, before[inc], after[inc])
	}
	for _, m := range []string{`ferry_replication_lag_seconds{vm="WebApp2"}`, `ferry_replication_last_pass_completed_age_seconds{vm="WebApp2"}`,
		`ferry_replication_bytes_sent_total{vm="WebApp2"}`, `ferry_replication_bytes_changed_total{vm="WebApp2"}`,
		`ferry_replication_pass_duration_seconds_count{kind="incremental",vm="WebApp2"}`, `ferry_replication_last_full_compare_timestamp_seconds{vm="WebApp2"}`} {
		if _, ok := after[m]; !ok {
			t.Errorf("metrics: no %s", m)
		}
	}
	if lag := after[`ferry_replication_lag_seconds{vm="WebApp2"}`]; lag > 60 {
		t.Errorf("metrics: lag %vs with a 1m RPO", lag)
	}
	if after[`ferry_replication_rpo_violations_total{vm="WebApp2"}`] != 0 {
		t.Errorf("metrics: RPO violations %v", after[`ferry_replication_rpo_violations_total{vm="WebApp2"}`])
	}
	if after[`ferry_cutover_phase{phase="replicating",vm="WebApp2"}`] != 1 {
		t.Errorf("metrics: WebApp2 not in phase replicating")
	}
	// ferry status --follow showed the steps and the pass.
	sawStep, sawPass := false, false
	for !sawPass {
		select {
		case r, ok := <-records:
			if !ok {
				t.Fatal("ferry status --follow ended")
			}
			sawStep = sawStep || r.Source == "step" && r.Step == "replication" && r.Kind == "done"
			sawPass = r.Source == "replication" && r.VM == "WebApp2" && r.Kind == "pass-done" && !r.Time.Before(second)
		case <-time.After(30 * time.Second):
			t.Fatal("ferry status --follow never showed the pass that ran without a client")
		}
	}
	if !sawStep {
		t.Error("ferry status --follow did not show the replication step's end")
	}

	out, code = run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
	if code != 0 || !strings.Contains(out, "measured downtime") {
		t.Fatalf("cutover through the engine: exit %d\n%s", code, out)
	}
	if m := regexp.MustCompile(`pre-cutover pass[^\n]*`).FindString(out); m != "" {
		t.Log(m)
	}
	doc = statusJSON(t, run, l.PlanPath())
	if len(doc.Jobs) == 0 || doc.Jobs[0].Health != "cut over" {
		t.Errorf("status after the cutover: %+v", doc.Jobs)
	}
	if m := scrape(t, srv.metrics); m[`ferry_cutover_phase{phase="cut over",vm="WebApp2"}`] != 1 {
		t.Errorf("metrics: WebApp2 not in phase cut over")
	}
}

// TestServeKill9ResumesPass: the engine is killed with SIGKILL in the
// middle of the initial sync; a new engine resumes it, and the resumed
// pass plans only what the receiver had not acknowledged.
func TestServeKill9ResumesPass(t *testing.T) {
	l, run := headlessLab(t)
	// A bandwidth cap makes the initial sync last long enough to be killed
	// in its middle.
	plan, err := os.ReadFile(l.PlanPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.PlanPath(), append(plan, "\nbandwidth_mbit: 1\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, l)
	client := exec.Command(ferryBin, "--config", l.ConfigFile, "run", "--plan", l.PlanPath())
	client.Env = cleanEnv()
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	defer client.Wait()

	// Follow the event log until part of the initial sync is acknowledged.
	var mid engine.Record
	log := filepath.Join(l.Dir, "plan.events.jsonl")
	deadline := time.Now().Add(2 * time.Minute)
	for mid.Planned == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no part of the initial sync was ever acknowledged")
		}
		time.Sleep(100 * time.Millisecond)
		for _, r := range readRecords(t, log) {
			if r.Kind == "progress" && r.VM == "WebApp2" && r.Pass == "initial" && r.Acked > 0 && r.Acked < r.Planned {
				mid = r
			}
			if r.Kind == "pass-done" && r.VM == "WebApp2" {
				t.Fatalf("the initial sync ended before the test could kill the engine: %+v", r)
			}
		}
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	srv.done <- nil // for the cleanup's wait
	t.Logf("killed at %d of %d bytes acknowledged", mid.Acked, mid.Planned)

	// The new engine, without the cap (it reads the plan when it starts).
	if err := os.WriteFile(l.PlanPath(), plan, 0o600); err != nil {
		t.Fatal(err)
	}
	startServe(t, l)
	out, code := run("run", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run after the restart: exit %d\n%s", code, out)
	}
	var resumed *engine.Record
	for _, r := range readRecords(t, log) {
		if r.Kind == "pass-done" && r.VM == "WebApp2" {
			resumed = &r
			break
		}
	}
	if resumed == nil {
		t.Fatal("no initial pass completed after the restart")
	}
	t.Logf("the resumed pass: %+v", *resumed)
	if resumed.Pass != "initial" || resumed.Planned >= mid.Planned {
		t.Errorf("the resumed initial sync (%s) planned %d bytes (sent %d); before the kill %d of %d were acknowledged (want only the rest planned)",
			resumed.Pass,
			resumed.Planned, resumed.Sent, mid.Acked, mid.Planned)
	}
}

func readRecords(t *testing.T, path string) []engine.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []engine.Record
	for _, line := range strings.Split(string(b), "\n") {
		var r engine.Record
		if json.Unmarshal([]byte(line), &r) == nil {
			out = append(out, r)
		}
	}
	return out
}
