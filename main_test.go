package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
)

var ferryBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-bin-")
	if err != nil {
		panic(err)
	}
	ferryBin = filepath.Join(dir, "ferry")
	if out, err := exec.Command("go", "build", "-o", ferryBin, ".").CombinedOutput(); err != nil {
		panic("build ferry: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestUsageErrorExit2(t *testing.T) {
	out, err := exec.Command(ferryBin, "--no-such-flag").CombinedOutput()
	if code := labtest.ExitCode(err); code != exitUsage {
		t.Fatalf("exit %d, want %d: %s", code, exitUsage, out)
	}
	if !strings.Contains(string(out), "no-such-flag") {
		t.Errorf("message does not name the flag: %s", out)
	}
}

// TestLabServeFlagsChecked: a negative workload rate is bad usage.
func TestLabServeFlagsChecked(t *testing.T) {
	out, err := exec.Command(ferryBin, "lab", "serve", "--workload-kib", "-1").CombinedOutput()
	if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), "--workload-kib -1: want 0 (no workload) to") {
		t.Errorf("exit %d, want %d and the range:\n%s", code, exitUsage, out)
	}
}

// TestLabDirRefusedChangesNothing: ferry lab and ferry lab serve refuse a
// --dir that is not empty (a source tree) or holds a lab already as bad
// usage (exit 2, naming --dir), writing nothing there (QA: exit 1; ferry
// lab wrote its ferry.log into the refused directory first).
func TestLabDirRefusedChangesNothing(t *testing.T) {
	for _, cmd := range [][]string{{"lab"}, {"lab", "serve"}} {
		for _, held := range []string{"go.mod", "ca.pem"} {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, held), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(ferryBin, append(cmd, "--dir", dir)...).CombinedOutput()
			if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), "--dir: lab directory "+dir) {
				t.Errorf("ferry %s --dir holding %s: exit %d, want %d naming --dir:\n%s", strings.Join(cmd, " "), held, code, exitUsage, out)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("ferry %s --dir holding %s, refused: the directory holds %d entries now, want only %s", strings.Join(cmd, " "), held, len(entries), held)
			}
		}
	}
}

// TestUnknownArgumentExit2: an extra argument or an unknown command is bad
// usage too (exit 2), on every command.
func TestUnknownArgumentExit2(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"plan", "extra"}, {"run", "extra"}, {"status", "extra"}, {"lab", "extra"}, {"bench", "extra"}, {"receiver", "extra"}, {"serve", "extra"}} {
		out, err := exec.Command(ferryBin, args...).CombinedOutput()
		if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), `unknown command "`+args[len(args)-1]+`"`) {
			t.Errorf("ferry %s: exit %d, want %d and the argument named: %s", strings.Join(args, " "), code, exitUsage, out)
		}
	}
}

// TestUnknownCommandWithHelpExit2 (h3's audit): --help with an unknown
// command or an extra argument, and `ferry help` of an unknown command, are
// refused as they are without --help (exit 2, the name and the command it
// was probably meant to be), not answered with the root's help and exit 0.
func TestUnknownCommandWithHelpExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"statsu", "--help"}, `unknown command "statsu" for "ferry" (did you mean status?)`},
		{[]string{"statsu"}, `unknown command "statsu" for "ferry" (did you mean status?)`},
		{[]string{"help", "statsu"}, `unknown command "statsu" for "ferry" (did you mean status?)`},
		{[]string{"bench", "replcate", "--help"}, `unknown command "replcate" for "ferry bench" (did you mean replicate?)`},
		{[]string{"run", "extra", "--help"}, `unknown command "extra" for "ferry run"`},
		{[]string{"config", "--help"}, `unknown command "config" for "ferry"`},
	} {
		out, err := exec.Command(ferryBin, tc.args...).CombinedOutput()
		if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "Usage:") {
			t.Errorf("ferry %s: exit %d, want %d and %q, no help:\n%s", strings.Join(tc.args, " "), code, exitUsage, tc.want, out)
		}
	}
	for _, args := range [][]string{{"help", "bench", "replicate"}, {"bench", "replicate", "--help"}, {"help"}} {
		out, err := exec.Command(ferryBin, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Usage:") {
			t.Errorf("ferry %s: %v, want its help:\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestSwitchGivenAValue: a user who names the VM on the decision flag
// itself (`ferry run --rollback=WebApp2`, as one writes --test-migrate=VM)
// is told that the flag is a switch and where the VM's name goes, not
// pflag's "strconv.ParseBool: parsing ...": exit 2, nothing written.
func TestSwitchGivenAValue(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--rollback=WebApp2"}, []string{`--rollback takes no value, not "WebApp2"`, "--confirm-cutover=WebApp2 --rollback"}},
		{[]string{"run", "--finish=WebApp1,WebApp2"}, []string{`--finish takes no value, not "WebApp1,WebApp2"`, "--confirm-cutover=WebApp1,WebApp2 --finish"}},
		{[]string{"run", "--test-cleanup=WebApp2"}, []string{`--test-cleanup takes no value, not "WebApp2"`, "--test-cleanup alone"}},
		{[]string{"status", "--json=yes"}, []string{`--json takes no value, not "yes"`, "--json alone"}},
	} {
		dir := t.TempDir()
		args := append(tc.args, "--plan", filepath.Join(dir, "plan.yaml"))
		cmd := exec.Command(ferryBin, args...)
		cmd.Env, cmd.Dir = cleanEnv(), dir
		out, err := cmd.CombinedOutput()
		if code := labtest.ExitCode(err); code != exitUsage {
			t.Errorf("ferry %s: exit %d, want %d:\n%s", strings.Join(tc.args, " "), code, exitUsage, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("ferry %s: output lacks %q:\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
		if strings.Contains(string(out), "ParseBool") {
			t.Errorf("ferry %s: pflag's parser error shown to the user:\n%s", strings.Join(tc.args, " "), out)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("ferry %s wrote %d file(s) in the plan's directory", strings.Join(tc.args, " "), len(ents))
		}
	}
}

// TestRunArgumentSaysWhereNamesGo: `ferry run --confirm-cutover=WebApp2
// --rollback WebApp2` leaves WebApp2 over as an argument (the switch takes
// none); the refusal names it and says which flags take VM names.
func TestRunArgumentSaysWhereNamesGo(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(ferryBin, "run", "--plan", filepath.Join(dir, "plan.yaml"), "--confirm-cutover=WebApp2", "--rollback", "WebApp2")
	cmd.Env, cmd.Dir = cleanEnv(), dir
	out, err := cmd.CombinedOutput()
	if code := labtest.ExitCode(err); code != exitUsage {
		t.Errorf("exit %d, want %d:\n%s", code, exitUsage, out)
	}
	for _, w := range []string{`unknown command "WebApp2"`, "ferry run takes no arguments", "--confirm-cutover=NAMES (with --rollback or --finish", "--test-migrate=NAMES"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("wrote %d file(s) in the plan's directory", len(ents))
	}
}

// TestLabServe runs `ferry lab serve` as a user would: it prints export
// lines and "lab ready", runs until SIGTERM, then removes its directory.
func TestLabServe(t *testing.T) {
	cmd := exec.Command(ferryBin, "lab", "serve", "--disk-mib", "16")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	env := map[string]string{}
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		line := sc.Text()
		if line == "lab ready" {
			ready = true
			break
		}
		if name, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			env[name] = strings.Trim(value, "'")
		}
	}
	if !ready {
		t.Fatalf("no 'lab ready' line; got %v", env)
	}
	t.Logf("lab ready after %v", time.Since(start))
	for _, name := range []string{"GOVC_URL", "GOVC_USERNAME", "GOVC_PASSWORD", "GOVC_TLS_CA_CERTS",
		"FERRY_PROVIDER_URL", "FERRY_PROVIDER_USERNAME", "FERRY_PROVIDER_PASSWORD", "FERRY_CA_FILE"} {
		if env[name] == "" {
			t.Errorf("%s not exported", name)
		}
	}
	dir := filepath.Dir(env["FERRY_CA_FILE"])
	if _, err := os.Stat(filepath.Join(dir, "ferry-lab.yaml")); err != nil {
		t.Errorf("config file: %v", err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("lab serve after SIGTERM: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("lab directory %s left behind: %v", dir, err)
	}
}

// TestHeadlessMigration is the whole journey through the binary, as an
// operator runs it against the lab: steps 1-7, a stop before the cutover,
// the confirmed cutover, then `ferry status`.
func TestHeadlessMigration(t *testing.T) {
	t.Parallel() // a lab of its own; runs beside the ferry serve journeys
	l, run := headlessLab(t)
	// ferry plan fits in 80 columns (QA: step 1's lines were 120 wide),
	// each line's next ones indented, a right's quoted name whole on one
	// line (grep finds it).
	out, code := run("plan", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "\n    ~ update rights bundle \"ferry L2 VPN (Company)\": add\n      \"Organization vDC Gateway: Configure L2 VPN\" (org Company only)\n") {
		t.Errorf("plan before step 1: exit %d\n%s", code, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if w := ansi.StringWidth(line); w > 80 {
			t.Errorf("ferry plan's line is %d columns wide: %q\n%s", w, line, out)
		}
	}
	out, code = run("run", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("run without confirmation: exit %d\n%s", code, out)
	}
	// Step 1 lists each right once, in its plan lines (QA: each of its 55
	// changes twice, planned and changed); what it changed as planned is
	// summed up per object.
	const right = `"Organization vDC Gateway: Configure L2 VPN"`
	seen := map[string]bool{}
	var rightLines, twice []string
	for _, line := range strings.Split(out, "\n") {
		msg, ok := strings.CutPrefix(line, "[1/8] rights: ")
		if !ok {
			continue
		}
		if strings.Contains(msg, right) {
			rightLines = append(rightLines, msg)
		}
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, "plan "), "changed: ")
		if seen[msg] {
			twice = append(twice, msg)
		}
		seen[msg] = true
	}
	if len(twice) > 0 {
		t.Errorf("step 1 says %d lines twice, the first %q:\n%s", len(twice), twice[0], out)
	}
	if want := []string{
		`plan ~ update rights bundle "ferry L2 VPN (Company)": add ` + right + ` (org Company only)`,
		`plan ~ update org-local role "Organization Administrator (ferry)": add ` + right + ` (org Company only)`,
	}; !slices.Equal(rightLines, want) {
		t.Errorf("step 1's lines naming %s: %q, want %q", right, rightLines, want)
	}
	if !strings.Contains(out, "[1/8] rights: changed: ~ update rights bundle \"ferry L2 VPN (Company)\": 26 changes (as planned above)\n") ||
		!strings.Contains(out, "[1/8] rights: changed: ~ update user \"companyadmin\" (as planned above)\n") {
		t.Errorf("step 1 does not sum up its changes:\n%s", out)
	}
	// The replica is created as planned (its initial sync), then compared
	// in full, each reported with its own figures.
	if !strings.Contains(out, `+ create replica "WebApp2": initial pass: `) ||
		!strings.Contains(out, `~ update replica "WebApp2": full compare right after the initial sync: `) ||
		!strings.Contains(out, "it found: replica equal to the source: 32 blocks compared") {
		t.Errorf("run reports the replica's initial sync and full compare:\n%s", out)
	}
	// With --json the last object is the closing line (QA: it ended with
	// the cutover's events; only the exit code told the outcome).
	out, code = run("run", "--plan", l.PlanPath(), "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last struct{ Kind, Step, Message string }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); code != 0 || err != nil || last.Kind != "progress" || last.Step != "" ||
		!strings.Contains(last.Message, "7 already done") || !strings.Contains(last.Message, "stopped at cutover") {
		t.Errorf("run --json again: exit %d, its last line (%v): %+v\n%s", code, err, last, out)
	}
	// One replication store per plan, beside it, whatever the state file.
	store := filepath.Join(l.Dir, "plan.replication.db")
	if _, err := os.Stat(store); err != nil {
		t.Fatalf("the plan's replication store: %v", err)
	}
	other := filepath.Join(t.TempDir(), "other.state.json")
	for _, cmd := range [][]string{
		{"run", "--plan", l.PlanPath(), "--state", other},
		{"plan", "--plan", l.PlanPath(), "--state", other},
		{"status", "--plan", l.PlanPath(), "--state", other},
	} {
		out, code = run(cmd...)
		if code != exitUsage || !strings.Contains(out, "one plan has one replication history") ||
			!strings.Contains(out, "--state "+filepath.Join(l.Dir, "plan.state.json")) {
			t.Errorf("ferry %s with a second state file for the plan: exit %d\n%s", cmd[0], code, out)
		}
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("the refused run wrote %s: %v", other, err)
	}
	// ferry plan projects the cutover's downtime, and says what is a default.
	out, code = run("plan", "--plan", l.PlanPath())
	out = labtest.PlanUnwrapped(out)
	if code != 0 || !strings.Contains(out, `+ create VM "WebApp2": cut over into vApp WebApp2`) || !strings.Contains(out, "projected downtime ~") ||
		!strings.Contains(out, "shutdown 30s (default: a guest OS shutdown)") || !strings.Contains(out, "final pass ") {
		t.Errorf("plan before the cutover: exit %d\n%s", code, out)
	}
	// The VDC's default policy, "*", says what it is (QA h3: "*" alone).
	if want := `? check storage policy "*": "any": every datastore of the provider VDC; VDC Company-VDC's default`; !strings.Contains(out, want) {
		t.Errorf("step 5's plan does not say %q:\n%s", want, out)
	}
	// An on-demand full compare while the VM runs.
	out, code = run("run", "--plan", l.PlanPath(), "--verify", "WebApp2")
	if code != 0 || !strings.Contains(out, "full compare: replica equal to the source: 32 blocks compared, 0 differing, 0 repaired") {
		t.Fatalf("run --verify: exit %d\n%s", code, out)
	}
	if out, code = run("run", "--plan", l.PlanPath(), "--verify", "WebApp9"); code != exitUsage || !strings.Contains(out, "not in the plan") {
		t.Fatalf("run --verify of a VM not in the plan: exit %d\n%s", code, out)
	}
	// A test migration while WebApp2 runs: a report, nothing left behind.
	if out, code = run("run", "--plan", l.PlanPath(), "--test-migrate", "WebApp2", "--confirm-cutover", "WebApp2"); code != exitUsage || !strings.Contains(out, "run alone") {
		t.Fatalf("run --test-migrate with --confirm-cutover: exit %d\n%s", code, out)
	}
	out, code = run("run", "--plan", l.PlanPath(), "--test-migrate", "WebApp2")
	_, report, found := strings.Cut(out, "ferry: test migration report: ")
	report, _, _ = strings.Cut(report, "\n")
	if code != 0 || !found {
		t.Fatalf("run --test-migrate: exit %d\n%s", code, out)
	}
	if md, err := os.ReadFile(report); err != nil || !strings.Contains(string(md), "| WebApp2 | booted |") {
		t.Fatalf("test migration report %s (%v):\n%s", report, err, md)
	}
	if out, code = run("status", "--plan", l.PlanPath()); code != 0 || strings.Contains(out, "TEST MIGRATION LEFT RUNNING") {
		t.Fatalf("status after the test migration: exit %d\n%s", code, out)
	}
	if out, code = run("run", "--plan", l.PlanPath(), "--test-cleanup"); code != 0 || !strings.Contains(out, "no snapshot left") {
		t.Fatalf("run --test-cleanup with nothing left: exit %d\n%s", code, out)
	}
	out, code = run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp3")
	if code != exitUsage || !strings.Contains(out, "WebApp2") {
		t.Fatalf("confirming the wrong VM: exit %d\n%s", code, out)
	}
	out, code = run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
	if code != 0 || !strings.Contains(out, "measured downtime") || !strings.Contains(out, "1 done, 7 already done, 0 skipped") {
		t.Fatalf("cutover: exit %d\n%s", code, out)
	}
	// The final pass reads the powered-off VM's disks as they are: its
	// parts say no snapshot is taken (QA h9: "WebApp2: snapshot" inside the
	// downtime window), where the pre-cutover pass's say it takes one.
	before, final, ok := strings.Cut(out, "cutover: WebApp2: final pass\n")
	final, _, _ = strings.Cut(final, "cutover: WebApp2: verify")
	if !ok || !strings.Contains(before, "cutover: WebApp2: snapshot\n") || strings.Contains(final, "WebApp2: snapshot") ||
		!strings.Contains(final, "cutover: WebApp2: open the disks (no snapshot: the VM is powered off)\n") {
		t.Errorf("the cutover's passes, before and in the downtime window:\n%s", out)
	}
	out, code = run("status", "--plan", l.PlanPath(), "--json")
	if code != 0 || !strings.Contains(out, `"health":"cut over"`) || !strings.Contains(out, `"last_compare":{`) {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
}

// headlessLab starts a kept lab (32 MiB disks) for the test and returns it
// with a runner of the ferry binary against its config (output and exit
// code).
func headlessLab(t *testing.T) (*lab.Lab, func(args ...string) (string, int)) {
	t.Helper()
	return labWith(t, lab.Options{DiskSize: 32 << 20})
}

// labWith starts a kept lab with opts (Dir: a test directory) and returns
// it with a runner of the ferry binary against its config.
func labWith(t *testing.T, opts lab.Options) (*lab.Lab, func(args ...string) (string, int)) {
	t.Helper()
	opts.Dir = t.TempDir()
	l := labtest.Start(t, opts)
	return l, func(args ...string) (string, int) {
		cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile}, args...)...)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		return string(out), labtest.ExitCode(err)
	}
}

// editPlan changes the plan file at path: old replaced by new, once; the
// test fails when the plan has no old.
func editPlan(t *testing.T, path, old, new string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(raw), old, new, 1)
	if edited == string(raw) {
		t.Fatalf("the plan %s has no %q:\n%s", path, old, raw)
	}
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
}

// cleanEnv is the environment without endpoint variables, so only --config counts.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOVC_") && !strings.HasPrefix(kv, "VCD_") && !strings.HasPrefix(kv, "FERRY_") {
			env = append(env, kv)
		}
	}
	return env
}

// TestWizardInTmux drives `ferry lab` in a real terminal (tmux) the way a
// presenter does, at 120x40 and at 80x24: enter through every step with the
// lab's answers, type the VM name to confirm the cutover, read the downtime
// report on screen, then a second wave without any trick: back to step 5,
// pick WebApp1, apply, replicate it, cut it over. ctrl+c ends the lab
// without offering to resume it.
func TestWizardInTmux(t *testing.T) {
	t.Parallel() // labs of its own
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) { wizardInTmux(t, size[0], size[1]) })
	}
}

func wizardInTmux(t *testing.T, width, height int) {
	dir := t.TempDir()
	session := fmt.Sprintf("ferry-test-%d-%d", os.Getpid(), width)
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-L", session}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tmux("new-session", "-d", "-s", session, "-x", fmt.Sprint(width), "-y", fmt.Sprint(height),
		ferryBin+" lab --dir "+dir+" --disk-mib 16; echo EXIT=$?; sleep 600")
	defer exec.Command("tmux", "-L", session, "kill-server").Run()
	screen := func() string { return tmux("capture-pane", "-p", "-t", session) }
	keys := func(k ...string) { tmux(append([]string{"send-keys", "-t", session}, k...)...) }
	text := func(s string) { keys("-l", s) }
	deadline := time.Now().Add(4 * time.Minute)
	// waitFor polls the screen (a terminal has no event to wait on).
	waitFor := func(want string) {
		t.Helper()
		for !strings.Contains(screen(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("never saw %q; screen:\n%s", want, screen())
			}
			if s := screen(); strings.Contains(s, "✗ failed") {
				t.Fatalf("a step failed:\n%s", s)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Press enter until the cutover asks for the VM name.
	for !strings.Contains(screen(), "Type WebApp2 to confirm") {
		if time.Now().After(deadline) {
			t.Fatalf("never reached the cutover confirmation; screen:\n%s", screen())
		}
		if s := screen(); strings.Contains(s, "✗ failed") {
			t.Fatalf("a step failed:\n%s", s)
		}
		keys("Enter")
		time.Sleep(700 * time.Millisecond)
	}
	text("WebApp2")
	keys("Enter")
	waitFor("cutover complete")
	s := screen()
	for _, want := range []string{"Downtime report", "WebApp2: migrated · measured downtime", "✓ 8 Cutover", "✓ WebApp2 cut over", "saved as"} {
		if !strings.Contains(s, want) {
			t.Errorf("after the cutover the screen lacks %q:\n%s", want, s)
		}
	}
	reports, _ := filepath.Glob(filepath.Join(dir, "cutover-*.md"))
	if len(reports) != 1 {
		t.Errorf("reports in the lab directory: %v", reports)
	}

	// A second wave: step 5 shows WebApp2 as cut over, WebApp1 is picked.
	// Each key waits for its screen: keys sent together reach the wizard
	// as one message ("[[[") that no binding matches, as a paste would.
	for _, step := range []string{"Step 7 of 8", "Step 6 of 8", "Step 5 of 8"} {
		text("[")
		waitFor(step)
	}
	keys("Escape")
	waitFor("selected")
	if s := screen(); strings.Contains(s, "power it on") {
		t.Errorf("step 5 advises powering a VM on after the cutover:\n%s", s)
	}
	text("/")
	waitFor("enter keep filter")
	text("WebApp1")
	keys("Enter")
	keys("Space")
	waitFor("[x] WebApp1")
	keys("Enter")
	keys("C-s")
	waitFor("nothing has changed yet")
	keys("Enter")
	waitFor("✓ done")
	keys("Enter")
	waitFor("WebApp1 added to the plan since this step ran")
	keys("Enter")
	waitFor("nothing has changed yet")
	keys("Enter")
	waitFor("replication started")
	text("]")
	// The checks ran before WebApp2's cutover: they run again for WebApp1.
	waitFor("WebApp1 added to the plan since this step ran")
	keys("Enter")
	waitFor("nothing has changed yet")
	keys("Enter")
	waitFor("✓ done")
	keys("Enter")
	waitFor("Type WebApp1 to confirm")
	text("WebApp1")
	keys("Enter")
	waitFor("WebApp1: migrated")
	reports, _ = filepath.Glob(filepath.Join(dir, "cutover-*.md"))
	if len(reports) != 2 {
		t.Errorf("reports in the lab directory after the second wave: %v", reports)
	}

	keys("C-c")
	waitFor("EXIT=130")
	if s := screen(); !strings.Contains(s, "ferry: stopping the lab (") || !strings.Contains(s, "interrupted; the lab stopped") || strings.Contains(s, "resume") {
		t.Errorf("ctrl+c in the lab:\n%s", s)
	}
}

// TestReceiverPairing runs `ferry receiver` as in the receiver appliance,
// paired by certificate fingerprints: a sender pinned for Company/vm1
// replicates into the disk "hot-added" for it (a file under --by-id named
// by the disk's UUID), is refused for Globex/vm1, and an unpinned sender is
// refused.
func TestReceiverPairing(t *testing.T) {
	dir := t.TempDir()
	sender, err := replication.SelfSignedCert("sender")
	if err != nil {
		t.Fatal(err)
	}
	byID := filepath.Join(dir, "by-id")
	if err := os.MkdirAll(byID, 0o755); err != nil {
		t.Fatal(err)
	}
	const uuid = "6000c290-1111-2222-3333-444455556666"
	names, _ := replication.DeviceNames(uuid)
	dev := filepath.Join(byID, names[0])
	if err := os.WriteFile(dev, make([]byte, 5<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ferryBin, "receiver", "--listen", "127.0.0.1:0", "--state-dir", filepath.Join(dir, "state"),
		"--by-id", byID, "--pin", replication.Fingerprint(sender.Certificate[0])+"=Company/vm1")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	var addr, fp string
	sc := bufio.NewScanner(stdout)
	for (addr == "" || fp == "") && sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "ferry receiver listening on "); ok {
			addr, _, _ = strings.Cut(rest, ",")
		}
		if rest, ok := strings.CutPrefix(line, "receiver certificate fingerprint (sha256): "); ok {
			fp = rest
		}
	}
	if addr == "" || fp == "" {
		t.Fatalf("receiver printed no address or fingerprint (%q, %q)", addr, fp)
	}
	go io.Copy(io.Discard, stdout)

	disk := filepath.Join(dir, "disk-flat.vmdk")
	data := bytes.Repeat([]byte("ferry"), 1<<20)
	if err := os.WriteFile(disk, data, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := replication.OpenState(filepath.Join(dir, "sender.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := replication.NewFileSource(disk)
	disks, _ := src.Disks(context.Background())
	job := &replication.Job{VM: "vm1", Org: "Company", Kind: replication.KindAppliance, Replicas: map[string]string{disks[0].Key: uuid},
		Source: src, Addr: addr, TLS: replication.PinnedClientTLS(sender, fp), State: st, Retries: 1}
	if _, err := job.RunPass(context.Background(), false); err != nil {
		t.Fatalf("pinned sender: %v", err)
	}
	got, err := os.ReadFile(dev)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("replica differs from the disk (%v)", err)
	}
	globex := *job
	globex.Org = "Globex"
	if _, err := globex.RunPass(context.Background(), false); !errors.Is(err, replication.ErrForbidden) {
		t.Errorf("a sender paired for Company/vm1 wrote Globex/vm1: %v", err)
	}
	stranger, _ := replication.SelfSignedCert("stranger")
	job.TLS = replication.PinnedClientTLS(stranger, fp)
	if _, err := job.RunPass(context.Background(), false); err == nil {
		t.Error("a sender with an unpinned certificate replicated")
	}
}

// TestReceiverRefusesWithoutItsKind: the receiver does not start when its
// kind's preconditions fail, and says what is missing.
func TestReceiverRefusesWithoutItsKind(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-by-id")
	out, err := exec.Command(ferryBin, "receiver", "--listen", "127.0.0.1:0", "--state-dir", filepath.Join(dir, "state"),
		"--by-id", missing, "--pin", strings.Repeat("ab", 32)+"=Company/*").CombinedOutput()
	if err == nil || !strings.Contains(string(out), missing) || !strings.Contains(string(out), "disk.EnableUUID") {
		t.Errorf("appliance receiver without %s: %v\n%s", missing, err, out)
	}
	out, err = exec.Command(ferryBin, "receiver", "--listen", "127.0.0.1:0", "--state-dir", filepath.Join(dir, "state"),
		"--kind", "nfs", "--pin", strings.Repeat("ab", 32)+"=Company/*").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--datastore-dir") {
		t.Errorf("nfs receiver without a datastore mount: %v\n%s", err, out)
	}
}
