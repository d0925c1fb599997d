package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// served is a `ferry serve` process started by a test.
type served struct {
	cmd     *exec.Cmd
	metrics string            // http://host:port/metrics, or ""
	lines   map[string]string // its "name: value" lines before "engine ready"
	done    chan error
	stderr  *lockedBuffer // what it wrote to stderr (also copied to the test's)
}

// lockedBuffer is a bytes.Buffer safe for a writer and readers at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServe starts `ferry serve` for the lab's plan and waits for "engine
// ready"; the test's cleanup stops it (SIGTERM) unless the test killed it.
func startServe(t *testing.T, l *lab.Lab, args ...string) *served {
	t.Helper()
	cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile, "serve", "--plan", l.PlanPath()}, args...)...)
	cmd.Env = cleanEnv()
	errBuf := &lockedBuffer{}
	cmd.Stderr = io.MultiWriter(os.Stderr, errBuf)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, lines: map[string]string{}, done: make(chan error, 1), stderr: errBuf}
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
		NextPass time.Time `json:"next_pass"`
		Running  bool      `json:"running"`
		Health   string    `json:"health"`
		InFlight *struct {
			Kind    string `json:"kind"`
			Durable int64  `json:"durable_bytes"`
			Size    int64  `json:"size_bytes"`
		} `json:"in_flight"`
	} `json:"jobs"`
	Engine *struct {
		PID      int `json:"pid"`
		Attached []struct {
			User, Fingerprint, Role, Via string
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

// TestServeEngine is the engine's journey with its clients: ferry run and
// ferry status talk to it; an SSH driver attaches, sees the dashboard and
// drops its connection; with nobody attached, passes go on every RPO
// (ferry status --json, the metrics endpoint, and the event log that ferry
// status --follow tails say so); the driver reattaches and sees the same
// state; a second client in view mode cannot confirm the cutover, an
// unknown key is refused; the driver's confirmation screen shows the
// viewer, and the driver cuts over.
func TestServeEngine(t *testing.T) {
	// Mostly waiting for the scheduler's next pass (a 1-minute RPO):
	// it overlaps with the other tests that wait so.
	t.Parallel()
	l, run := engineLab(t)
	driverKey, viewerKey, strangerKey := sshKey(t), sshKey(t), sshKey(t)
	keys := filepath.Join(t.TempDir(), "authorized_keys")
	authorized := string(gossh.MarshalAuthorizedKey(driverKey.PublicKey()))
	authorized = strings.TrimSpace(authorized) + " alice@laptop\n" + strings.TrimSpace(string(gossh.MarshalAuthorizedKey(viewerKey.PublicKey()))) + " bob@audience\n"
	if err := os.WriteFile(keys, []byte(authorized), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, l, "--metrics", "127.0.0.1:0", "--ssh", "127.0.0.1:0", "--authorized-keys", keys)
	sock := filepath.Join(l.Dir, "plan.sock")
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("engine socket %s: %v %v (want a socket, mode 0600)", sock, fi.Mode(), err)
	}
	if srv.lines["socket"] != sock {
		t.Errorf("ferry serve printed socket %q, want %q", srv.lines["socket"], sock)
	}
	sshAddr := sshAddrOf(t, srv.lines["ssh"])
	hostKey := hostPublicKey(t, filepath.Join(l.Dir, "plan.ssh_host_ed25519_key"))

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
	records := make(chan engine.Record, 4096)
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
	// The same confirmation rules in the engine.
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
	// The engine's status is live: a pass running, or when the scheduler
	// has the next one due (a lead before last pass + RPO, 1m), in the
	// JSON and in the jobs table (QA: neither said it).
	for _, j := range doc.Jobs {
		if j.VM == "WebApp2" && !j.Running && (!j.NextPass.After(j.LastPass) || j.NextPass.After(j.LastPass.Add(time.Minute))) {
			t.Errorf("ferry status --json from the engine: WebApp2 next pass %s, last pass %s (RPO 1m): want the scheduler's due time, or running", j.NextPass, j.LastPass)
		}
	}
	if out, code := run("status", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "NEXT PASS") ||
		!regexp.MustCompile(`(?m)^WebApp2 +1m +\S+( \S+)? +(running|queued|\d\d:\d\d:\d\d) `).MatchString(out) {
		t.Errorf("ferry status from the engine: exit %d, want WebApp2's next pass (a time, or running) in:\n%s", code, out)
	}
	// ferry plan while the engine holds the replication store: the engine
	// plans (before, step 6 failed with "replication store is in use by
	// another ferry process" and the cutover had no projection).
	if out, code := run("plan", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "planned by the ferry serve engine") ||
		!strings.Contains(labtest.PlanUnwrapped(out), `~ update replica "WebApp2": incremental pass`) || !strings.Contains(labtest.PlanUnwrapped(out), "projected downtime") {
		t.Errorf("ferry plan while the engine runs: exit %d\n%s", code, out)
	}
	planJSON := exec.Command(ferryBin, "--config", l.ConfigFile, "plan", "--plan", l.PlanPath(), "--json")
	planJSON.Env = cleanEnv()
	var plans []steps.PlanDoc
	if out, err := planJSON.Output(); err != nil || json.Unmarshal(out, &plans) != nil {
		t.Errorf("ferry plan --json while the engine runs: %v\n%s", err, out)
	}
	for _, p := range plans {
		if p.Error != "" || (p.Step == "replication" && (p.Changes != 1 || len(p.Items) != 1 || p.Items[0].Name != "WebApp2")) {
			t.Errorf("ferry plan --json while the engine runs, step %s: %+v", p.Step, p)
		}
	}
	if len(plans) != len(steps.NewItinerary()) {
		t.Errorf("ferry plan --json while the engine runs: %d plans, want one per step", len(plans))
	}
	// --redo reaches the engine: the step is planned to run again.
	planRedo := exec.Command(ferryBin, "--config", l.ConfigFile, "plan", "--plan", l.PlanPath(), "--json", "--redo=vm-selection")
	planRedo.Env = cleanEnv()
	plans = nil
	if out, err := planRedo.Output(); err != nil || json.Unmarshal(out, &plans) != nil {
		t.Errorf("ferry plan --json --redo=vm-selection while the engine runs: %v\n%s", err, out)
	}
	for _, p := range plans {
		if p.Redo != (p.Step == "vm-selection") {
			t.Errorf("ferry plan --redo=vm-selection while the engine runs, step %s: redo %v", p.Step, p.Redo)
		}
	}

	// An unknown key is refused.
	if c, err := gossh.Dial("tcp", sshAddr, sshConfig("mallory", strangerKey, hostKey)); err == nil {
		c.Close()
		t.Fatal("a key not in --authorized-keys was let in")
	}

	// The driver attaches and sees the dashboard, then drops the connection.
	drv := attach(t, sshAddr, sshConfig("admin", driverKey, hostKey), "")
	drv.waitFor(t, "DRIVER")
	drv.toDashboard(t)
	drv.waitFor(t, "WebApp2")
	drv.waitFor(t, "RPO ok")
	if doc := statusJSON(t, run, l.PlanPath()); len(doc.Engine.Attached) != 1 || doc.Engine.Attached[0].Role != "driver" {
		t.Errorf("ferry status while the driver is attached: %+v", doc.Engine)
	}
	before := scrape(t, srv.metrics)
	drv.drop()
	dropped := time.Now()

	// Nobody attached: the engine keeps the RPO; a pass starts and
	// completes after the drop.
	second := waitPassAfter(t, run, l.PlanPath(), "WebApp2", dropped)
	t.Logf("passes at %s and, after the drop, %s", first.Format(time.TimeOnly), second.Format(time.TimeOnly))
	after := scrape(t, srv.metrics)
	if b, a := passesAfterSync(before, "WebApp2"), passesAfterSync(after, "WebApp2"); a <= b {
		t.Errorf("metrics: passes after the initial sync %v -> %v, want them to grow", b, a)
	}
	for _, m := range []string{`ferry_replication_lag_seconds{vm="WebApp2"}`, `ferry_replication_last_pass_completed_age_seconds{vm="WebApp2"}`,
		`ferry_replication_bytes_sent_total{vm="WebApp2"}`, `ferry_replication_bytes_changed_total{vm="WebApp2"}`,
		`ferry_replication_last_full_compare_timestamp_seconds{vm="WebApp2"}`} {
		if _, ok := after[m]; !ok {
			t.Errorf("metrics: no %s", m)
		}
	}
	if after[`ferry_replication_pass_duration_seconds_count{kind="incremental",vm="WebApp2"}`]+after[`ferry_replication_pass_duration_seconds_count{kind="full-compare",vm="WebApp2"}`] == 0 {
		t.Error("metrics: no duration of a pass after the initial sync")
	}
	if lag := after[`ferry_replication_lag_seconds{vm="WebApp2"}`]; lag > 60 {
		t.Errorf("metrics: lag %vs with a 1m RPO", lag)
	}
	if after[`ferry_cutover_phase{phase="replicating",vm="WebApp2"}`] != 1 || after[`ferry_sessions_attached{role="driver"}`] != 0 {
		t.Errorf("metrics: phase replicating %v, drivers attached %v", after[`ferry_cutover_phase{phase="replicating",vm="WebApp2"}`], after[`ferry_sessions_attached{role="driver"}`])
	}
	// ferry status --follow showed the steps, the session and the pass.
	sawStep, sawSession, sawPass := false, false, false
	for !sawPass {
		select {
		case r, ok := <-records:
			if !ok {
				t.Fatal("ferry status --follow ended")
			}
			sawStep = sawStep || r.Source == "step" && r.Step == "replication" && r.Kind == "done"
			sawSession = sawSession || r.Source == "ssh" && r.Kind == "attached" && strings.Contains(r.Message, gossh.FingerprintSHA256(driverKey.PublicKey()))
			sawPass = r.Source == "replication" && r.VM == "WebApp2" && r.Kind == "pass-done" && !r.Time.Before(second)
		case <-time.After(30 * time.Second):
			t.Fatal("ferry status --follow never showed the pass that ran without a client")
		}
	}
	if !sawStep || !sawSession {
		t.Errorf("ferry status --follow: replication step done %v, driver's session with its key's fingerprint %v", sawStep, sawSession)
	}

	// The driver reattaches: the same state. A viewer attaches too.
	drv = attach(t, sshAddr, sshConfig("admin", driverKey, hostKey), "")
	defer drv.drop()
	drv.waitFor(t, "DRIVER")
	drv.waitFor(t, "Type WebApp2 to confirm")
	view := attach(t, sshAddr, sshConfig("bob", viewerKey, hostKey), "view")
	defer view.drop()
	view.waitFor(t, "WATCHING")
	view.waitFor(t, "Read-only session: the cutover is not available here.")
	view.send("WebApp2\r")
	view.waitFor(t, "only the driver changes anything")
	if doc := statusJSON(t, run, l.PlanPath()); doc.Jobs[0].Health == "cut over" || len(doc.Engine.Attached) != 2 {
		t.Fatalf("after the viewer typed the confirmation: %+v %+v", doc.Jobs, doc.Engine)
	}
	// The driver's confirmation names the viewer; the driver cuts over.
	drv.waitFor(t, "Also attached: bob (bob@audience) (viewer")
	drv.send("WebApp2")
	drv.send("\r")
	drv.waitForWithin(t, "measured downtime", 5*time.Minute)
	doc = statusJSON(t, run, l.PlanPath())
	if len(doc.Jobs) == 0 || doc.Jobs[0].Health != "cut over" {
		t.Errorf("status after the driver's cutover: %+v", doc.Jobs)
	}
	if m := scrape(t, srv.metrics); m[`ferry_cutover_phase{phase="cut over",vm="WebApp2"}`] != 1 {
		t.Errorf("metrics: WebApp2 not in phase cut over")
	}
}

// TestServeKill9ResumesPass: the engine is killed with SIGKILL in the
// middle of the initial sync, once its store holds a durable watermark;
// ferry status --json (standalone while no engine runs) shows the pass in
// flight and its durable watermark; a new engine for the same state takes
// the plan over (socket, lock, store), resumes the initial sync without
// re-sending what lay below the watermark (its event log's pass-done
// record: the data it planned and the bytes it sent), and the job is
// healthy.
func TestServeKill9ResumesPass(t *testing.T) {
	t.Parallel() // labs of its own
	// A light workload (passes stay small) on a larger disk (the initial
	// sync is long enough to be caught in its middle).
	l, run := labWith(t, lab.Options{DiskSize: 64 << 20, WorkloadRate: 32 << 10})
	// A bandwidth cap makes the initial sync last long enough to be killed
	// in its middle.
	plan, err := os.ReadFile(l.PlanPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.PlanPath(), append(plan, "\nbandwidth_mbit: 1\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	// The engine is killed once its store holds a durable watermark of the
	// initial sync in flight, as the engine's own ferry status --json
	// reports it: what a restart resumes from.
	log := filepath.Join(l.Dir, "plan.events.jsonl")
	var inflight struct {
		Kind          string
		Durable, Size int64
	}
	srv := startServe(t, l)
	client := exec.Command(ferryBin, "--config", l.ConfigFile, "run", "--plan", l.PlanPath())
	client.Env = cleanEnv()
	var clientOut lockedBuffer
	client.Stdout, client.Stderr = &clientOut, &clientOut
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if time.Now().After(deadline) {
			t.Fatal("no part of the initial sync was ever durable")
		}
		time.Sleep(50 * time.Millisecond)
		out, code := run("status", "--plan", l.PlanPath(), "--json")
		var doc statusDoc
		if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Jobs) != 1 {
			continue // the engine not listening yet
		}
		if j := doc.Jobs[0]; !j.LastPass.IsZero() {
			// Timing, not a fault: nothing to judge.
			t.Skipf("the initial sync ended before the test could kill the engine: %+v", j)
		} else if f := j.InFlight; f != nil && f.Kind == "initial" && f.Durable > 0 && f.Durable < f.Size {
			break
		}
	}
	// While it runs, the engine says so (QA: "the initial sync was
	// stopped before any of it was durable" of a sync under way).
	if out, _ := run("status", "--plan", l.PlanPath()); !strings.Contains(unwrapped(out), "no replica yet: the initial sync is running") {
		t.Errorf("ferry status during the initial sync:\n%s", out)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	srv.done <- nil // for the cleanup's wait
	_ = client.Wait()
	// The ferry run client says the engine stopped and where to look
	// (QA: it said only "engine socket: the engine closed the connection
	// before answering: EOF", a cutover's source shut down meanwhile).
	if out := clientOut.String(); client.ProcessState.ExitCode() != 1 || !strings.Contains(out, "ferry: the ferry serve engine ("+filepath.Join(l.Dir, "plan.sock")+") stopped before the run ended") || !strings.Contains(out, "`ferry status` shows what it left and what to do") {
		t.Errorf("the ferry run client of the killed engine exited %d saying:\n%s", client.ProcessState.ExitCode(), out)
	}
	// What the dead engine left, read from the store without an engine.
	doc := statusJSON(t, run, l.PlanPath())
	if doc.Engine == nil && len(doc.Jobs) == 1 && doc.Jobs[0].InFlight == nil && doc.Jobs[0].LastPass.IsZero() {
		// The kill landed after the receiver committed the pass's disk,
		// before the pass was recorded: status, plan and a new engine go
		// on from there.
		t.Logf("the kill came after the initial sync's disk was committed, before the pass was recorded")
		killedAfterCommit(t, l, run, plan, log)
		return
	}
	if doc.Engine != nil || len(doc.Jobs) != 1 || doc.Jobs[0].InFlight == nil {
		t.Fatalf("ferry status --json after the kill: want the initial sync in flight, standalone: %+v", doc)
	}
	inflight.Kind, inflight.Durable, inflight.Size = doc.Jobs[0].InFlight.Kind, doc.Jobs[0].InFlight.Durable, doc.Jobs[0].InFlight.Size
	if inflight.Kind != "initial" || inflight.Durable <= 0 {
		t.Fatalf("the pass in flight at the kill: %+v (want the initial sync, with the durable watermark seen before the kill)", inflight)
	}
	// What the killed pass had planned and acknowledged, from its event log.
	var mid engine.Record
	for _, r := range readRecords(t, log) {
		if r.Kind == "progress" && r.VM == "WebApp2" && r.Pass == "initial" {
			mid = r
		}
	}
	if mid.Planned <= 0 {
		t.Fatalf("no progress of the killed initial sync in the event log")
	}
	t.Logf("killed at %d of %d bytes acknowledged (the event log's last progress)", mid.Acked, mid.Planned)
	// ferry status's text says how far it got, not just "no replica yet".
	if out, code := run("status", "--plan", l.PlanPath()); code != 0 || !strings.Contains(unwrapped(out), "no replica yet: the initial sync has ") ||
		!strings.Contains(unwrapped(out), "durable on the receiver; stopped, it resumes from there") {
		t.Errorf("ferry status after the kill: exit %d, want the initial sync's durable share\n%s", code, out)
	}
	// What step 6 would do now: the replica and its disks exist, and the
	// interrupted initial sync resumes (not a new one, nor new disks).
	out, code := run("plan", "--plan", l.PlanPath())
	out = labtest.PlanUnwrapped(out)
	if code != 0 || !strings.Contains(out, `= exists replica disk "[provider-ds] ferry-replicas/Company/WebApp2/`) ||
		strings.Contains(out, "+ create replica disk") || !strings.Contains(out, `~ update replica "WebApp2": resume the interrupted initial pass`) {
		t.Errorf("ferry plan after the kill: exit %d, want the replica disks kept and the initial sync resumed\n%s", code, out)
	}

	above := inflight.Size - inflight.Durable
	t.Logf("in flight at the kill: %s pass, %d of %d bytes below the durable watermark", inflight.Kind, inflight.Durable, inflight.Size)
	if above <= 0 {
		t.Fatalf("the pass in flight at the kill: %+v (want the initial sync, partly durable)", inflight)
	}

	// The new engine, without the cap (it reads the plan when it starts),
	// resumes the interrupted initial sync by itself: no step needs to run
	// again for it.
	if err := os.WriteFile(l.PlanPath(), plan, 0o600); err != nil {
		t.Fatal(err)
	}
	resumed, progress := restartUntilPass(t, l, log, "the restarted engine did not resume the interrupted initial sync")
	// Its progress counts what the killed engine made durable (the initial
	// sync's bytes below the watermark), not a pass from 0%; unless the
	// receiver had committed the whole pass before the kill (the sender's
	// store lags it), when the pass after the restart only records it.
	committed := resumed.Planned == 0 && resumed.Resumed == 0
	if committed {
		t.Logf("the receiver had committed the whole initial sync before the kill: the restarted engine only recorded it")
	} else if resumed.Resumed <= 0 || resumed.Resumed > inflight.Durable {
		t.Errorf("the resumed pass counts %d bytes resumed (and %d planned); want the initial sync's bytes below the durable watermark %d",
			resumed.Resumed, resumed.Planned, inflight.Durable)
	}
	for _, r := range progress {
		if !committed && r.Resumed != resumed.Resumed {
			t.Errorf("progress of the resumed pass: %+v, want %d bytes resumed", r, resumed.Resumed)
			break
		}
	}
	out, code = run("run", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run after the restart: exit %d\n%s", code, out)
	}
	t.Logf("the resumed pass: %s, planned %d bytes, sent %d (before the kill: %d of %d acknowledged; %d bytes above the durable watermark)",
		resumed.Pass, resumed.Planned, resumed.Sent, mid.Acked, mid.Planned, above)
	// The resumed pass is the same initial sync, not started over (less
	// than the whole of it); what it sends lies above the watermark: its
	// data (planned), and on the wire that data with its frames (32-byte
	// headers, control messages: allowed 1%).
	if resumed.Pass != "initial" || resumed.Planned >= mid.Planned || resumed.Planned > above || resumed.Sent > above+above/100 {
		t.Errorf("the pass after the restart re-sent acknowledged data: %s pass, %d bytes planned of the initial sync's %d, %d sent; only %d lay above the durable watermark at the kill",
			resumed.Pass, resumed.Planned, mid.Planned, resumed.Sent, above)
	}
	doc = statusJSON(t, run, l.PlanPath())
	if len(doc.Jobs) == 0 || doc.Jobs[0].Health != "ok" || doc.Jobs[0].LastPass.IsZero() {
		t.Errorf("status after the restart: %+v", doc.Jobs)
	}
}

// killedAfterCommit: an engine killed after the receiver committed the
// initial sync's disk and before it recorded the pass. ferry status says
// the data is there (not "no replica yet (run the replication step)"),
// ferry plan goes on from it (not a new initial sync), and a new engine
// follows the VM by itself, sending only what changed since.
func killedAfterCommit(t *testing.T, l *lab.Lab, run func(...string) (string, int), plan []byte, log string) {
	t.Helper()
	out, code := run("status", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(unwrapped(out), "no pass recorded yet: the initial sync of 1 disk (64 MiB) is committed on the receiver") {
		t.Errorf("ferry status after a kill between the commit and the pass's record: exit %d\n%s", code, out)
	}
	out, code = run("plan", "--plan", l.PlanPath())
	out = labtest.PlanUnwrapped(out)
	if code != 0 || !strings.Contains(out, `~ update replica "WebApp2": go on from the initial sync of 1 disk (64 MiB) committed at `) ||
		strings.Contains(out, "+ create replica") {
		t.Errorf("ferry plan after a kill between the commit and the pass's record: exit %d, want the replica gone on from\n%s", code, out)
	}
	if err := os.WriteFile(l.PlanPath(), plan, 0o600); err != nil {
		t.Fatal(err)
	}
	// What the killed initial sync planned, before the restart.
	var initial int64
	for _, r := range readRecords(t, log) {
		if r.VM == "WebApp2" && r.Kind == "progress" && r.Pass == "initial" {
			initial = r.Planned
		}
	}
	next, _ := restartUntilPass(t, l, log, "the restarted engine did not follow WebApp2")
	// What changed since the killed pass's snapshot (the light workload's
	// writes), not the initial sync again.
	if next.Pass != "incremental" || initial <= 0 || next.Planned >= initial {
		t.Errorf("the pass after the restart: %s, %d bytes planned; want an incremental pass of what changed since the committed initial sync (of %d bytes)", next.Pass, next.Planned, initial)
	}
	t.Logf("the pass after the restart: %s, %d bytes planned, %d sent (the initial sync: %d bytes)", next.Pass, next.Planned, next.Sent, initial)
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run after the restart: exit %d\n%s", code, out)
	}
	doc := statusJSON(t, run, l.PlanPath())
	if len(doc.Jobs) == 0 || doc.Jobs[0].Health != "ok" || doc.Jobs[0].LastPass.IsZero() {
		t.Errorf("status after the restart: %+v", doc.Jobs)
	}
}

// restartUntilPass starts a new engine and waits until WebApp2 completes a
// pass: its pass-done record in the event log, and the progress records of
// WebApp2 written since the restart.
func restartUntilPass(t *testing.T, l *lab.Lab, log, failure string) (*engine.Record, []engine.Record) {
	t.Helper()
	restarted := time.Now()
	startServe(t, l)
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if time.Now().After(deadline) {
			t.Fatal(failure + " (no pass of WebApp2 completed)")
		}
		time.Sleep(20 * time.Millisecond)
		var progress []engine.Record
		for _, r := range readRecords(t, log) {
			if r.Time.Before(restarted) || r.VM != "WebApp2" {
				continue
			}
			if r.Kind == "progress" {
				progress = append(progress, r)
			}
			if r.Kind == "pass-done" {
				return &r, progress
			}
		}
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

// engineLab is headlessLab with a guest workload of 32 KiB/s: passes
// stay small, so that the engine's tests spend their time on what they test.
func engineLab(t *testing.T) (*lab.Lab, func(args ...string) (string, int)) {
	t.Helper()
	return labWith(t, lab.Options{DiskSize: 32 << 20, WorkloadRate: 32 << 10})
}

func sshKey(t *testing.T) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hostPublicKey(t *testing.T, path string) gossh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("host key %s: mode %v, want 0600", path, fi.Mode().Perm())
	}
	s, err := gossh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

func sshConfig(user string, key gossh.Signer, host gossh.PublicKey) *gossh.ClientConfig {
	return &gossh.ClientConfig{User: user, Auth: []gossh.AuthMethod{gossh.PublicKeys(key)},
		HostKeyCallback: gossh.FixedHostKey(host), Timeout: 10 * time.Second}
}

// sshAddrOf reads host:port from ferry serve's "ssh -p PORT HOST" line.
// sshServed is a ferry serve with its SSH listener: its address and
// host key.
type sshServed struct {
	*served
	addr    string
	hostKey gossh.PublicKey
}

// startServeSSH starts ferry serve over l with --ssh on a free port and an
// authorized_keys file of authorized (its lines), and more flags.
func startServeSSH(t *testing.T, l *lab.Lab, authorized string, flags ...string) sshServed {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "authorized_keys")
	if err := os.WriteFile(keys, []byte(authorized), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, l, append([]string{"--ssh", "127.0.0.1:0", "--authorized-keys", keys}, flags...)...)
	return sshServed{srv, sshAddrOf(t, srv.lines["ssh"]), hostPublicKey(t, filepath.Join(l.Dir, "plan.ssh_host_ed25519_key"))}
}

// authorizedLine is key's authorized_keys line: options before it (""
// for none), comment after.
func authorizedLine(options string, key gossh.Signer, comment string) string {
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key.PublicKey())))
	if options != "" {
		line = options + " " + line
	}
	return line + " " + comment + "\n"
}

func sshAddrOf(t *testing.T, line string) string {
	t.Helper()
	f := strings.Fields(line)
	if len(f) < 4 || f[0] != "ssh" || f[1] != "-p" {
		t.Fatalf("ferry serve's ssh line: %q", line)
	}
	return net.JoinHostPort(f[3], f[2])
}

// sshScreen is an SSH session with a terminal, as OpenSSH opens one; its
// screen is what the session wrote, escape sequences removed.
type sshScreen struct {
	client *gossh.Client
	sess   *gossh.Session
	in     io.Writer
	mu     sync.Mutex
	out    bytes.Buffer
	seen   int // waitFor looks at what came after the last match
}

func attach(t *testing.T, addr string, cfg *gossh.ClientConfig, command string) *sshScreen {
	t.Helper()
	c, err := gossh.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("ssh %s@%s: %v", cfg.User, addr, err)
	}
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	s := &sshScreen{client: c, sess: sess}
	if s.in, err = sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	sess.Stdout = s
	if err := sess.RequestPty("xterm-256color", 40, 120, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if command == "" {
		err = sess.Shell()
	} else {
		err = sess.Start(command)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// text is everything the session showed, escape sequences removed.
func (s *sshScreen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ansi.Strip(s.out.String())
}

func (s *sshScreen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

// waitFor waits until the screen shows want (after what an earlier
// waitFor matched).
func (s *sshScreen) waitFor(t *testing.T, want string) { s.waitForWithin(t, want, time.Minute) }

func (s *sshScreen) waitForWithin(t *testing.T, want string, within time.Duration) {
	t.Helper()
	s.waitForAny(t, within, want)
}

// waitForAny waits until the screen shows one of wants (after what an
// earlier wait matched).
func (s *sshScreen) waitForAny(t *testing.T, within time.Duration, wants ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s.mu.Lock()
		text := ansi.Strip(s.out.String())
		s.mu.Unlock()
		for _, want := range wants {
			if i := strings.Index(text[min(s.seen, len(text)):], want); i >= 0 {
				s.seen += i + len(want)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the SSH session never showed %q; it showed:\n%s", strings.Join(wants, `" or "`), tail(text, 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// toDashboard goes from the cutover's confirmation, where an attached
// wizard opens before the cutover, back to the replication dashboard.
func (s *sshScreen) toDashboard(t *testing.T) {
	t.Helper()
	s.waitFor(t, "Type WebApp2 to confirm")
	s.send("\x1b") // leave the field ...
	s.waitFor(t, "type to confirm")
	s.send("[") // ... back to the checks
	s.waitFor(t, "Step 7 of 8")
	s.send("[") // ... and the replication dashboard
	s.waitFor(t, "Step 6 of 8")
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

func (s *sshScreen) send(keys string) { _, _ = io.WriteString(s.in, keys) }

// drop closes the connection without quitting, as a dropped network does.
func (s *sshScreen) drop() { s.client.Close() }

// TestLabServeSSH: ferry lab serve --ssh runs the lab with an engine and
// prints the ssh command with a key it generated (0600) and a known_hosts
// file; the key attaches and drives; the directory given with --dir stays.
func TestLabServeSSH(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(ferryBin, "lab", "serve", "--dir", dir, "--disk-mib", "16", "--ssh", "127.0.0.1:0")
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var sshLine []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "lab ready" {
		if f := strings.Fields(strings.TrimPrefix(sc.Text(), "#")); len(f) > 0 && f[0] == "ssh" {
			sshLine = f
		}
	}
	go io.Copy(io.Discard, stdout)
	// ssh -i KEY -o UserKnownHostsFile=FILE -p PORT admin@HOST
	if len(sshLine) != 8 || sshLine[1] != "-i" || sshLine[5] != "-p" {
		t.Fatalf("no ssh command before lab ready: %q", sshLine)
	}
	keyFile, known, port := sshLine[2], strings.TrimPrefix(sshLine[4], "UserKnownHostsFile="), sshLine[6]
	user, host, _ := strings.Cut(sshLine[7], "@")
	b, err := os.ReadFile(keyFile)
	if fi, serr := os.Stat(keyFile); err != nil || serr != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the generated key %s: %v %v (want mode 0600)", keyFile, err, serr)
	}
	signer, err := gossh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	hostKeys, err := knownhosts.New(known)
	if err != nil {
		t.Fatal(err)
	}
	scr := attach(t, net.JoinHostPort(host, port), &gossh.ClientConfig{User: user, Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: hostKeys, Timeout: 10 * time.Second}, "")
	scr.waitFor(t, "LAB")
	scr.waitFor(t, "DRIVER")
	scr.waitFor(t, "Step 1 of 8")
	// A second session with the same key, as the printed hint says
	// ("add -t view to watch only"), watches; the first one still drives
	// and its screen stays its own.
	view := attach(t, net.JoinHostPort(host, port), &gossh.ClientConfig{User: user, Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: hostKeys, Timeout: 10 * time.Second}, "view")
	view.waitFor(t, "WATCHING")
	scr.send("x") // into the form's field: the driver's answers take it
	scr.waitFor(t, "Companyx")
	if text := scr.text(); strings.Contains(text, "WATCHING") || strings.Contains(text, "only the driver changes anything") {
		t.Fatalf("the driving session shows the watching session's screen:\n%s", tail(text, 3000))
	}
	view.drop()
	scr.drop()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("lab serve --ssh after SIGTERM: %v", err)
	}
	for _, f := range []string{"plan.yaml", "plan.events.jsonl", "ssh/id_ed25519"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the lab's directory given with --dir: %v", err)
		}
	}
}

// TestServeTestMigration: while ferry serve replicates WebApp2 every RPO,
// ferry run --test-migrate WebApp2 runs in the engine (its passes held only
// while the appliance's snapshot is taken): the report path is printed,
// nothing is left running, and the scheduler's passes go on, incremental.
func TestServeTestMigration(t *testing.T) {
	// Mostly waiting for the scheduler's next pass (a 1-minute RPO):
	// it overlaps with the other tests that wait so.
	t.Parallel()
	l, run := engineLab(t)
	srv := startServe(t, l, "--metrics", "127.0.0.1:0")
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run through the engine: exit %d\n%s", code, out)
	}
	out, code := run("run", "--plan", l.PlanPath(), "--test-migrate", "WebApp2")
	_, report, found := strings.Cut(out, "ferry: test migration report: ")
	report, _, _ = strings.Cut(report, "\n")
	if code != 0 || !found || !strings.Contains(out, "the steps run in the ferry serve engine") {
		t.Fatalf("run --test-migrate through the engine: exit %d\n%s", code, out)
	}
	if md, err := os.ReadFile(report); err != nil || !strings.Contains(string(md), "| WebApp2 | booted |") {
		t.Fatalf("test migration report %s (%v):\n%s", report, err, md)
	}
	ended := time.Now()
	if out, code = run("status", "--plan", l.PlanPath()); code != 0 || strings.Contains(out, "TEST MIGRATION LEFT RUNNING") {
		t.Fatalf("status after the test migration: exit %d\n%s", code, out)
	}
	// A pass of the scheduler completes after the test.
	before := passesAfterSync(scrape(t, srv.metrics), "WebApp2")
	deadline := time.Now().Add(3 * time.Minute)
	for passesAfterSync(scrape(t, srv.metrics), "WebApp2") <= before {
		if time.Now().After(deadline) {
			t.Fatalf("no pass of WebApp2 completed after the test migration (ended %s): %v passes after the initial sync", ended.Format(time.TimeOnly), before)
		}
		time.Sleep(time.Second)
	}
}

// TestServeHeadlessCutover is the headless journey with an engine running:
// between `ferry run` and `ferry run --confirm-cutover`, with no client
// attached at all, the engine keeps the RPO (passes complete, status says
// ok, the metrics count them); the confirmed cutover then runs in the
// engine, and its pre-cutover pass is an incremental one that covers only
// part of the disk, since the passes before it kept the replica current.
func TestServeHeadlessCutover(t *testing.T) {
	// Mostly waiting for the scheduler's next pass (a 1-minute RPO):
	// it overlaps with the other tests that wait so.
	t.Parallel()
	l, run := engineLab(t)
	srv := startServe(t, l, "--metrics", "127.0.0.1:0")
	out, code := run("run", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "the steps run in the ferry serve engine") || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run through the engine: exit %d\n%s", code, out)
	}
	// The counter before the last pass's time: a pass that completes
	// between the two reads counts, and the wait below is for one more.
	before := passesAfterSync(scrape(t, srv.metrics), "WebApp2")
	first := statusJSON(t, run, l.PlanPath()).lastPass("WebApp2")
	if first.IsZero() {
		t.Fatal("no pass after the replication step")
	}
	// No ferry process but the engine: a pass completes all the same.
	waitPassAfter(t, run, l.PlanPath(), "WebApp2", first)
	if after := passesAfterSync(scrape(t, srv.metrics), "WebApp2"); after <= before {
		t.Errorf("passes while nobody was attached: %v then %v", before, after)
	}
	for _, j := range statusJSON(t, run, l.PlanPath()).Jobs {
		if j.VM == "WebApp2" && j.Health != "ok" {
			t.Errorf("WebApp2's RPO health between the runs: %q, want ok", j.Health)
		}
	}

	out, code = run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
	if code != 0 || !strings.Contains(out, "the steps run in the ferry serve engine") || !strings.Contains(out, "measured downtime") {
		t.Fatalf("cutover through the engine: exit %d\n%s", code, out)
	}
	// The target named as the provider vCenter shows it (govmomi), with
	// its moref, through the engine too.
	vc := connectVC(t, l, l.Provider)
	if ref, ok, err := labtest.ProviderVM(context.Background(), vc, "WebApp2"); err != nil || !ok {
		t.Errorf("no WebApp2 at the provider after the cutover (%v)", err)
	} else if name, _, err := vc.VMByRef(context.Background(), ref); err != nil || !strings.Contains(out, "in the provider vCenter: "+name+" ["+ref.Value+"]") {
		t.Errorf("the cutover through the engine does not name the target as the provider vCenter shows it, %s [%s] (%v):\n%s", name, ref.Value, err, out)
	}
	var state struct {
		Steps map[string]struct {
			Outputs map[string]string `json:"outputs"`
		} `json:"steps"`
	}
	if b, err := os.ReadFile(filepath.Join(l.Dir, "plan.state.json")); err != nil || json.Unmarshal(b, &state) != nil {
		t.Fatalf("state file: %v", err)
	}
	report := state.Steps["cutover"].Outputs["report"]
	b, err := os.ReadFile(strings.TrimSuffix(report, ".md") + ".json")
	if err != nil {
		t.Fatalf("the cutover's report (%q): %v", report, err)
	}
	var rep struct {
		VMs []struct {
			VM             string                   `json:"vm"`
			PreCutoverPass *struct{ Planned int64 } `json:"pre_cutover_pass"`
		} `json:"vms"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.VMs) != 1 || rep.VMs[0].PreCutoverPass == nil {
		t.Fatalf("report %s: %v\n%s", report, err, b)
	}
	const disk = 32 << 20
	if p := rep.VMs[0].PreCutoverPass.Planned; p < 0 || p >= disk {
		t.Errorf("the pre-cutover pass covered %d bytes of the %d-byte disk: want an incremental pass over what changed since the last one (nothing, if the guest wrote nothing since)\n%s", p, disk, b)
	} else {
		t.Logf("pre-cutover pass: %d bytes of %d", p, disk)
	}
}

// TestDashboardTestMigration drives test migrations from the wizard's
// dashboard, served by ferry serve over SSH. A standalone `ferry run
// --test-migrate WebApp2` killed with SIGKILL once its copy is created
// leaves the test running: the dashboard lists it and x cleans it up
// (provider copy gone, status clean). Then t, pressed twice (the first
// press says what the second does), runs a test migration of WebApp2 while
// the engine keeps replicating it: the dashboard shows its outcome, the
// report says the copy booted, and the provider holds no copy afterwards.
func TestDashboardTestMigration(t *testing.T) {
	t.Parallel() // labs of its own
	l, run := engineLab(t)
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("steps 1-7: exit %d\n%s", code, out)
	}
	runSignalled(t, l, []string{"run", "--plan", l.PlanPath(), "--test-migrate", "WebApp2"}, "", "WebApp2: create copy at provider done", syscall.SIGKILL)
	if out, _ := run("status", "--plan", l.PlanPath()); !strings.Contains(out, "TEST MIGRATION LEFT RUNNING") {
		t.Fatalf("status after the killed test migration:\n%s", out)
	}
	provider := connectVC(t, l, l.Provider)
	copyLeft := func() bool {
		t.Helper()
		_, ok, err := labtest.ProviderVM(context.Background(), provider, steps.TestCopyName("WebApp2"))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !copyLeft() {
		t.Fatal("the killed test migration left no copy at the provider: the kill came too late to test the cleanup")
	}

	key := sshKey(t)
	srv := startServeSSH(t, l, authorizedLine("", key, "admin@laptop"))
	drv := attach(t, srv.addr, sshConfig("admin", key, srv.hostKey), "")
	defer drv.drop()
	drv.toDashboard(t)
	drv.waitFor(t, "TEST MIGRATION LEFT RUNNING: WebApp2")
	drv.send("t")
	drv.waitFor(t, "a test copy of WebApp2 is left: press x to clean it up first")
	// x asks first, naming what it removes; y cleans up, and the result
	// says what it removed.
	drv.send("x")
	drv.waitFor(t, "Clean up the test migration of WebApp2?")
	drv.send("y")
	drv.waitForWithin(t, "test cleanup: done", 3*time.Minute)
	// The copy as the kill left it: imported into Cloud Director (its
	// vApp deleted, which deletes the VM) or only at the provider.
	drv.waitForAny(t, time.Minute, "vApp ferry-test-WebApp2 deleted in Cloud Director", "VM WebApp2-ferry-test deleted at the provider")
	if out, _ := run("status", "--plan", l.PlanPath()); strings.Contains(out, "TEST MIGRATION LEFT RUNNING") {
		t.Fatalf("status after the dashboard's cleanup:\n%s", out)
	}
	if copyLeft() {
		t.Fatal("the dashboard's cleanup left the copy at the provider")
	}

	before := statusJSON(t, run, l.PlanPath()).lastPass("WebApp2")
	drv.send("t")
	drv.waitFor(t, "Press t again to test-migrate WebApp2")
	drv.send("t")
	drv.waitFor(t, "test migration of WebApp2")
	drv.waitForWithin(t, "test migration of WebApp2: done", 5*time.Minute)
	reports, _ := filepath.Glob(filepath.Join(l.Dir, "test-migration-*.md"))
	if len(reports) != 1 {
		t.Fatalf("test migration reports in %s: %v, want one", l.Dir, reports)
	}
	// The TCP probe of WebApp2 ran inside the isolated network, from the
	// copy itself (no other VM has a copy there).
	if md := string(readFile(t, reports[0])); !strings.Contains(md, "| WebApp2 | booted |") || !strings.Contains(md, "WebApp2 (tcp): answered") || !strings.Contains(md, "from the copy of WebApp2 itself") {
		t.Errorf("test migration report %s:\n%s", reports[0], md)
	}
	if copyLeft() {
		t.Error("the test migration left its copy at the provider")
	}
	if out, _ := run("status", "--plan", l.PlanPath()); strings.Contains(out, "TEST MIGRATION LEFT RUNNING") {
		t.Errorf("status after the dashboard's test migration:\n%s", out)
	}
	// The source kept replicating: a pass completes after the test.
	waitPassAfter(t, run, l.PlanPath(), "WebApp2", before)
}

// passesAfterSync counts vm's completed passes after its initial sync in
// scraped metrics: incremental ones and full compares (the scheduler runs
// one right after the initial sync, then every verify interval).
func passesAfterSync(m map[string]float64, vm string) float64 {
	return m[`ferry_replication_passes_total{kind="incremental",vm="`+vm+`"}`] + m[`ferry_replication_passes_total{kind="full-compare",vm="`+vm+`"}`]
}
