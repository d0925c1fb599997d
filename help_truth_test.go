package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-migrate/ferry/engine"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// TestPlanAndStatusKeepNoLog (QA: `ferry plan --help` and `ferry status
// --help` offered the global --log-file, "write logs to this file (default:
// ferry.log in the state directory)", and both took it and wrote nothing):
// their help says they keep no log, and --log-file is a usage error naming
// it, before anything is read, wherever it stands on the command line.
func TestPlanAndStatusKeepNoLog(t *testing.T) {
	for _, c := range []string{"plan", "status"} {
		out, err := exec.Command(ferryBin, c, "--help").CombinedOutput()
		if err != nil || strings.Contains(string(out), "ferry.log") || !regexp.MustCompile(`--log-file string +not for `+c+`: it keeps no log; `).Match(out) {
			t.Errorf("ferry %s --help: %v, its --log-file line does not say it keeps no log:\n%s", c, err, out)
		}
		logFile := filepath.Join(t.TempDir(), c+".log")
		for _, args := range [][]string{{c, "--log-file", logFile}, {"--log-file", logFile, c}} {
			cmd := exec.Command(ferryBin, args...)
			cmd.Dir = t.TempDir()
			cmd.Env = cleanEnv()
			out, err := cmd.CombinedOutput()
			if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), "--log-file "+logFile+": ferry "+c+" keeps no log") {
				t.Errorf("ferry %s: exit %d, want %d and a usage error naming --log-file:\n%s", strings.Join(args, " "), code, exitUsage, out)
			}
		}
		if _, err := os.Stat(logFile); !os.IsNotExist(err) {
			t.Errorf("ferry %s --log-file made %s: %v", c, logFile, err)
		}
	}
}

// jsonKeys lists the JSON names of t's fields, and of the structs they
// hold (pointers, slices, embedded fields), as encoding/json writes them.
// With deep false, only t's own fields (and its embedded ones').
func jsonKeys(t reflect.Type, seen map[reflect.Type]bool, deep bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] || t.PkgPath() == "time" {
		return nil
	}
	seen[t] = true
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			keys = append(keys, jsonKeys(f.Type, seen, deep)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		keys = append(keys, name)
		if deep {
			keys = append(keys, jsonKeys(f.Type, seen, deep)...)
		}
	}
	return keys
}

// TestStatusHelpListsEveryJSONKey (QA: `ferry status --help` listed the
// JSON document's keys, but not running, pass_age_ns, next_pass and
// waiting, which --json writes and the README names): every key of the
// document, read from its type, is in the help, quoted.
func TestStatusHelpListsEveryJSONKey(t *testing.T) {
	out, err := exec.Command(ferryBin, "status", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("ferry status --help: %v\n%s", err, out)
	}
	for _, k := range jsonKeys(reflect.TypeFor[engine.Status](), map[reflect.Type]bool{}, true) {
		if !strings.Contains(string(out), `"`+k+`"`) {
			t.Errorf("ferry status --help does not list the JSON key %q", k)
		}
	}
}

// TestRunAndPlanHelpListEveryJSONField (QA: `ferry run --help` listed the
// fields of --json's event lines without begins, which a cutover's phase
// lines carry; and item without its own fields; `ferry plan --help` listed
// items without theirs): the fields of a run's event and of a step's plan,
// read from their types, are in the list the help gives, and so are those
// of the structs their fields hold (item's or items', resource's).
func TestRunAndPlanHelpListEveryJSONField(t *testing.T) {
	for _, c := range []struct {
		cmd    string
		list   *regexp.Regexp
		fields reflect.Type
	}{
		{"run", regexp.MustCompile(`\(fields: ([a-z_, ]+);`), reflect.TypeFor[steps.Event]()},
		{"plan", regexp.MustCompile(`one JSON array \(([a-z_, ]+)\)`), reflect.TypeFor[steps.PlanDoc]()},
	} {
		out, err := exec.Command(ferryBin, c.cmd, "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("ferry %s --help: %v\n%s", c.cmd, err, out)
		}
		m := c.list.FindSubmatch([]byte(strings.Join(strings.Fields(string(out)), " ")))
		if m == nil {
			t.Errorf("ferry %s --help lists no JSON fields (%s):\n%s", c.cmd, c.list, out)
			continue
		}
		listed := strings.Split(string(m[1]), ", ")
		for _, k := range jsonKeys(c.fields, map[reflect.Type]bool{}, false) {
			if !slices.Contains(listed, k) {
				t.Errorf("ferry %s --help: the JSON field %q is not in its list %q", c.cmd, k, listed)
			}
		}
		// QA: item (items) was listed without its own fields.
		nestedFieldsListed(t, c.cmd, strings.Join(strings.Fields(string(out)), " "), c.fields, map[reflect.Type]bool{})
	}
}

// nestedFieldsListed checks, for each field of struct type typ that holds
// a struct (item, and item's resource), that help (of ferry cmd) lists
// that struct's JSON fields as "<field>'s fields: a, b, c" ("items'
// fields: ..." for a plural), and so on down.
func nestedFieldsListed(t *testing.T, cmd, help string, typ reflect.Type, seen map[reflect.Type]bool) {
	t.Helper()
	if seen[typ] {
		return
	}
	seen[typ] = true
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if !f.IsExported() || name == "-" || ft.Kind() != reflect.Struct || ft.PkgPath() == "time" {
			continue
		}
		m := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `(?:'s|') fields: ([a-z_, ]+)`).FindStringSubmatch(help)
		if m == nil {
			t.Errorf("ferry %s --help does not list the fields of %s (%s) as \"%s's fields: ...\" (\"%s' fields\" for a plural)", cmd, name, ft, name, name)
			continue
		}
		listed := strings.Split(strings.TrimSpace(m[1]), ", ")
		for _, k := range jsonKeys(ft, map[reflect.Type]bool{}, false) {
			if !slices.Contains(listed, k) {
				t.Errorf("ferry %s --help: the JSON field %q of %s is not in its list %q", cmd, k, name, listed)
			}
		}
		nestedFieldsListed(t, cmd, help, ft, seen)
	}
}

// TestEndpointFlagsRefusedWhereIgnored (QA: `ferry lab --help`, `ferry lab
// serve --help`, `ferry bench ... --help` and `ferry receiver --help`
// offered the global --config, "endpoints config file ... wins over the
// environment", and --insecure, and took both and ignored them: the lab and
// the benchmarks make their own endpoints, the receiver talks to none):
// their help says so, and either is a usage error naming it, before a lab
// starts or a directory is made.
func TestEndpointFlagsRefusedWhereIgnored(t *testing.T) {
	for _, c := range [][]string{{"lab"}, {"lab", "serve"}, {"bench", "replicate"}, {"bench", "cutover"}, {"bench", "rpo"}, {"receiver"}} {
		out, err := exec.Command(ferryBin, append(c, "--help")...).CombinedOutput()
		if err != nil || strings.Contains(string(out), "wins over the environment") || strings.Contains(string(out), "NOT recommended") ||
			!regexp.MustCompile(`--config string +not for `+c[0]+`: `).Match(out) || !regexp.MustCompile(`--insecure +not for `+c[0]+`: `).Match(out) {
			t.Errorf("ferry %s --help: %v, its --config and --insecure do not say they are not for it:\n%s", strings.Join(c, " "), err, out)
		}
		// Each command is given a flag it would refuse too, so that one
		// taking --config or --insecure refuses at once, naming another.
		dir := filepath.Join(t.TempDir(), "dir")
		var extra []string
		switch c[len(c)-1] {
		case "lab", "serve":
			extra = []string{"--dir", dir, "--vms", "0"}
		case "replicate":
			extra = []string{"--dir", dir, "--size", "1"}
		case "cutover":
			extra = []string{"--runs", "0"}
		case "rpo":
			extra = []string{"--vms", "0"}
		case "receiver":
			extra = []string{"--listen", "127.0.0.1:0", "--state-dir", dir, "--pin", strings.Repeat("ab", 32) + "=Company/*", "--kind", "none"}
		}
		for _, flags := range [][]string{{"--config", "mine.yaml"}, {"--insecure"}} {
			for _, args := range [][]string{append(append(slices.Clone(c), extra...), flags...), append(slices.Clone(flags), append(slices.Clone(c), extra...)...)} {
				out, err := exec.Command(ferryBin, args...).CombinedOutput()
				if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), "ferry: "+flags[0]) {
					t.Errorf("ferry %s: exit %d, want %d and a usage error naming %s:\n%s", strings.Join(args, " "), code, exitUsage, flags[0], out)
				}
			}
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("ferry %s with --config or --insecure made %s: %v", strings.Join(c, " "), dir, err)
		}
	}
}

// TestUsageLinesStateTheDefaults (h3's audit: usage lines such as `bench
// cutover [--runs 3]` state defaults by hand, which could drift from the
// flags'): every `[--flag value]` a command's usage line gives with a
// literal value (not a placeholder such as FILE, nor alternatives a|b) is
// that flag's default.
func TestUsageLinesStateTheDefaults(t *testing.T) {
	literal := regexp.MustCompile(`\[--([a-z-]+) ([^\]\s|]+)`)
	var walk func(c *cobra.Command)
	checked := 0
	walk = func(c *cobra.Command) {
		for _, m := range literal.FindAllStringSubmatch(c.Use, -1) {
			name, value := m[1], strings.SplitN(m[2], "[", 2)[0]
			if strings.ToUpper(value) == value && strings.Trim(value, "0123456789") != "" {
				continue // a placeholder: FILE, DIR, NAMES
			}
			f := c.Flags().Lookup(name)
			if f == nil {
				t.Errorf("%s: its usage line names --%s, which it has not", c.CommandPath(), name)
				continue
			}
			def := strings.Trim(f.DefValue, "[]") // a list flag's [256]
			if d, err := time.ParseDuration(def); err == nil {
				if v, err := time.ParseDuration(value); err == nil && v == d {
					def = value // 1m0s written 1m
				}
			}
			if def != value {
				t.Errorf("%s: its usage line says --%s %s, the flag's default is %s", c.CommandPath(), name, value, f.DefValue)
			}
			checked++
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(&globalFlags{}))
	if checked < 10 {
		t.Fatalf("only %d defaults found in usage lines: the pattern no longer matches them", checked)
	}
}
