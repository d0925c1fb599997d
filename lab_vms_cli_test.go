package main

import (
	"os/exec"
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
