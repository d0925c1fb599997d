package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputChangesNothing walks a new admin's mistakes on a fresh lab
// plan through the ferry binary: each is refused with what is wrong and
// what would be valid (exit 2 for bad usage, 1 for what the preflight
// finds), and nothing is changed: no state file, no log, no L2 appliance
// in the on-prem vCenter (read with govmomi).
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel() // a lab of its own
	l, run := headlessLab(t)
	onprem := connectVC(t, l, l.OnPrem)
	nothingChanged := func(what string) {
		t.Helper()
		for _, f := range []string{"plan.state.json", "plan.state.json.lock", "ferry.log", "plan.replication.db", "typo.state.json", "typo.replication.db"} {
			if _, err := os.Stat(filepath.Join(l.Dir, f)); !os.IsNotExist(err) {
				t.Errorf("%s: left %s (%v)", what, f, err)
			}
		}
		if _, err := onprem.VMByName(context.Background(), "ferry-l2vpn-client"); err == nil {
			t.Errorf("%s: the L2 appliance was deployed", what)
		}
	}

	// A name flag given an empty value (`--test-migrate=$VMS` with VMS
	// unset) ran the whole itinerary as if the flag were absent (QA): the
	// infrastructure made for a test nobody ran, or a "cutover" run that
	// stopped before the cutover with exit 0.
	for _, flag := range []string{"--test-migrate=", "--confirm-cutover=", "--verify=", "--confirm-cutover= --rollback", "--redo="} {
		out, code := run(append([]string{"run", "--plan", l.PlanPath()}, strings.Fields(flag)...)...)
		name, _, _ := strings.Cut(strings.Fields(flag)[0], "=")
		want := name + `="" names no VM`
		if name == "--redo" {
			want = `--redo "": not a step; want one or more of rights,`
		}
		if code != exitUsage || !strings.Contains(out, want) || (name != "--redo" && !strings.Contains(out, "(VMs of the plan: WebApp2)")) {
			t.Errorf("ferry run %s: exit %d, want %d and %q with the plan's VMs:\n%s", flag, code, exitUsage, want, out)
		}
		nothingChanged("ferry run " + flag)
	}

	// A VM name one letter off was refused with the whole inventory and
	// no hint (only a name differing in case got one).
	plan, err := os.ReadFile(l.PlanPath())
	if err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(l.Dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte(strings.Replace(string(plan), "  - name: WebApp2\n", "  - name: WebAp2\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := run("run", "--plan", typo)
	if code != 1 || !strings.Contains(out, `VM "WebAp2" (did you mean WebApp2?) not found on vCenter`) {
		t.Errorf("a plan naming WebAp2: exit %d, want 1 and the near name:\n%s", code, out)
	}
	nothingChanged("a plan naming WebAp2")
	out, code = run("run", "--plan", l.PlanPath(), "--confirm-cutover=WbeApp2")
	if code != exitUsage || !strings.Contains(out, `names "WbeApp2", which is not in the plan (did you mean WebApp2?)`) {
		t.Errorf("--confirm-cutover=WbeApp2: exit %d, want %d and the near name:\n%s", code, exitUsage, out)
	}
	nothingChanged("--confirm-cutover=WbeApp2")

	// An endpoint's URL copied from the browser: the tenant portal's
	// (https://HOST/tenant/ORG) read as go-vcloud-director's chain of
	// errors, the web client's (https://HOST/ui) as `POST "/ui": 404 Not
	// Found`; neither said what URL was wanted.
	cfg, err := os.ReadFile(l.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, from, to string
		want           []string
	}{
		{"Cloud Director's tenant portal", l.VCD.URL(), strings.TrimSuffix(l.VCD.URL(), "/api") + "/tenant/Company",
			[]string{"/tenant/Company/api: no Cloud Director API answers there (GET /api/versions answered HTTP 404): want the API's address, https://HOST/api"}},
		{"vCenter's web client", l.OnPrem.URL, strings.TrimSuffix(l.OnPrem.URL, "/sdk") + "/ui",
			[]string{"/ui: no vSphere API answers there (it answered HTTP 404 Not Found): want the vCenter's address, https://HOST or https://HOST/sdk"}},
	} {
		bad := filepath.Join(t.TempDir(), "config.yaml")
		if !strings.Contains(string(cfg), tc.from) {
			t.Fatalf("%s: %s not in the lab's config", tc.name, tc.from)
		}
		if err := os.WriteFile(bad, []byte(strings.ReplaceAll(string(cfg), tc.from, tc.to)), 0o600); err != nil {
			t.Fatal(err)
		}
		out, code := run("run", "--plan", l.PlanPath(), "--config", bad)
		for _, w := range tc.want {
			if code != 1 || !strings.Contains(out, w) || strings.Contains(out, "&{") {
				t.Errorf("%s as the URL: exit %d, want 1 and %q:\n%s", tc.name, code, w, out)
			}
		}
		nothingChanged(tc.name + " as the URL")
	}

	// A conflict ferry run refuses to start for (here the guest login
	// the plan's guest ping needs) made ferry plan print "! conflict" and
	// exit 0: a script checking the plan went on to a run that failed.
	bad := filepath.Join(t.TempDir(), "config.yaml")
	if !strings.Contains(string(cfg), "password: lab-guest") {
		t.Fatalf("no guest password in the lab's config:\n%s", cfg)
	}
	if err := os.WriteFile(bad, []byte(strings.Replace(string(cfg), "password: lab-guest", "password: wrong-guest", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"plan", "run"} {
		out, code := run(cmd, "--plan", l.PlanPath(), "--config", bad)
		if code != 1 || !strings.Contains(out, `step 7 (Checks): conflict with what exists: ! conflict guest login "WebApp1"`) {
			t.Errorf("ferry %s with the guest's password wrong: exit %d, want 1 and the conflict named:\n%s", cmd, code, out)
		}
		nothingChanged("ferry " + cmd + " with the guest's password wrong")
	}
}
