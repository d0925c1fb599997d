package main

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// TestReplicaFlagsRefuseTheVMsState (QA): `ferry run --test-migrate` of a
// VM already cut over exited 1, as a failure, after it had written a log
// and a replication store, and so did a test or a --verify of a VM with no
// replica yet. Refused input is exit 2 (ferry run --help): the message
// names the VM, what it is, and the VMs the flag takes now, and nothing is
// written; standalone and through a ferry serve engine.
func TestReplicaFlagsRefuseTheVMsState(t *testing.T) {
	l := smallLab(t)
	run := func(args ...string) (string, int) {
		cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile}, args...)...)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		return string(out), labtest.ExitCode(err)
	}
	check := func(how, want string) {
		t.Helper()
		for _, flag := range []string{"--test-migrate", "--verify"} {
			before := dirFiles(t, l.Dir)
			out, code := run("run", "--plan", l.PlanPath(), flag, "WebApp2")
			t.Logf("ferry run %s WebApp2 %s: exit %d\n%s", flag, how, code, out)
			if code != exitUsage || !strings.Contains(out, flag+"=WebApp2 refused: "+want) ||
				!strings.Contains(out, "nothing was run (VMs of the plan ") || !strings.Contains(out, "takes now: none)") {
				t.Errorf("ferry run %s WebApp2 %s: exit %d, want %d, %q and the VMs it takes now:\n%s", flag, how, code, exitUsage, want, out)
			}
			if got := dirFiles(t, l.Dir); !slices.Equal(got, before) {
				t.Errorf("ferry run %s WebApp2 %s, refused, changed the plan's directory: %v, before %v", flag, how, got, before)
			}
		}
	}
	check("before any pass", "WebApp2 has no completed pass yet, so no replica for ")

	st := steps.NewState(filepath.Join(l.Dir, "plan.state.json"))
	if err := st.SetOutputs("cutover", map[string]string{"cutover.WebApp2": "done"}); err != nil {
		t.Fatal(err)
	}
	cutOver := "WebApp2 is cut over (its cutover is done): it runs in Cloud Director"
	check("cut over", cutOver)

	startServe(t, l)
	check("cut over, through the engine", cutOver)
}
