package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestLabVMsFlag: `ferry lab serve --vms` and `ferry lab --vms` refuse a
// count outside 1..100 as a usage error naming the flag and the range,
// before starting anything.
func TestLabVMsFlag(t *testing.T) {
	for _, args := range [][]string{{"lab", "serve", "--vms", "0"}, {"lab", "serve", "--vms", "101"}, {"lab", "--vms", "0"}} {
		out, err := exec.Command(ferryBin, args...).CombinedOutput()
		if code := labtest.ExitCode(err); code != exitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, code, exitUsage, out)
		}
		if !strings.Contains(string(out), "--vms") || !strings.Contains(string(out), "1 to 100") {
			t.Errorf("%v: message %q does not name --vms and its range", args, out)
		}
	}
}

// TestLabHelpDirAndLogFile (QA: `ferry lab --help` and `ferry lab serve
// --help` described --dir differently, and both offered the global
// --log-file "in the state directory", which lab serve without --ssh
// ignored): both describe --dir alike, --log-file says where the lab's log
// goes, and lab serve refuses --log-file without --ssh as a usage error
// (exit 2) that writes no file, whichever side of the subcommand it is on.
func TestLabHelpDirAndLogFile(t *testing.T) {
	dirLine := func(args ...string) string {
		out, err := exec.Command(ferryBin, append(args, "--help")...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v --help: %v\n%s", args, err, out)
		}
		if strings.Contains(string(out), "state directory") {
			t.Errorf("%v --help speaks of a state directory:\n%s", args, out)
		}
		if !strings.Contains(string(out), "ferry.log in the lab's directory") {
			t.Errorf("%v --help does not say the log goes to ferry.log in the lab's directory:\n%s", args, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "--dir string") {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		t.Fatalf("%v --help has no --dir:\n%s", args, out)
		return ""
	}
	if a, b := dirLine("lab"), dirLine("lab", "serve"); a != b || !strings.Contains(a, "plan") || !strings.Contains(a, "state, logs and reports") {
		t.Errorf("--dir:\nferry lab:       %s\nferry lab serve: %s", a, b)
	}
	logFile := filepath.Join(t.TempDir(), "lab.log")
	for _, args := range [][]string{{"lab", "serve", "--log-file", logFile}, {"--log-file", logFile, "lab", "serve"}} {
		out, err := exec.Command(ferryBin, args...).CombinedOutput()
		if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), "--log-file: without --ssh the lab keeps no log") {
			t.Errorf("ferry %s: exit %d, want %d and a usage error naming --log-file:\n%s", strings.Join(args, " "), code, exitUsage, out)
		}
	}
	if _, err := os.Stat(logFile); !os.IsNotExist(err) {
		t.Errorf("lab serve --log-file without --ssh made %s: %v", logFile, err)
	}
}
