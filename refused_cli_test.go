package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestRefusedVMHeadless: a plan naming a VM whose disks ferry cannot read is
// refused by `ferry plan` and `ferry run` with the reason, exit 1, and
// nothing changes (the VM keeps changed block tracking off and has no
// snapshot; no step state, log or lock file is written).
func TestRefusedVMHeadless(t *testing.T) {
	l := labtest.Start(t, lab.Options{Dir: t.TempDir(), DiskSize: 16 << 20, WorkloadRate: -1})
	raw, err := os.ReadFile(l.PlanPath())
	if err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(t.TempDir(), "refused.yaml")
	text := strings.Replace(string(raw), "vms:\n  - name: WebApp2", "vms:\n  - name: hr-encrypted", 1)
	if text == string(raw) {
		t.Fatal("the lab plan has no vms: entry for WebApp2")
	}
	if err := os.WriteFile(plan, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	before := dirFiles(t, filepath.Dir(plan))
	for _, cmd := range []string{"plan", "run"} {
		c := exec.Command(ferryBin, "--config", l.ConfigFile, cmd, "--plan", plan)
		c.Env = cleanEnv()
		out, err := c.CombinedOutput()
		if code := labtest.ExitCode(err); code != exitFailed || !strings.Contains(string(out), "hr-encrypted") || !strings.Contains(string(out), "encrypted (VM encryption)") || !strings.Contains(string(out), "decrypt the VM") {
			t.Errorf("ferry %s: exit %d, want %d and the reason:\n%s", cmd, code, exitFailed, out)
		}
	}
	vc, err := vsphere.Connect(context.Background(), vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close(context.Background())
	vm, err := vc.VMByName(context.Background(), "hr-encrypted")
	if err != nil {
		t.Fatal(err)
	}
	if vm.CBT || vm.Snapshots != 0 {
		t.Errorf("hr-encrypted changed: CBT %v, %d snapshot(s)", vm.CBT, vm.Snapshots)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(plan), "*.state.json")); len(m) != 0 {
		t.Errorf("state written: %v", m)
	}
	if got := dirFiles(t, filepath.Dir(plan)); !slices.Equal(got, before) {
		t.Errorf("the refused commands left files beside the plan: %v, before %v", got, before)
	}
}

// TestRunRefusesBeforeStep1: a plan or config that could only fail later
// (no provider vCenter for the replica disks, a probe watching a VM that
// does not exist, a cutover timing that is not valid) is refused by
// `ferry run` before step 1 changes anything: no state is written, and no
// file appears in the plan's directory (no log, no state lock).
func TestRunRefusesBeforeStep1(t *testing.T) {
	t.Parallel() // a lab of its own; runs beside the ferry serve journeys
	l := labtest.Start(t, lab.Options{Dir: t.TempDir(), DiskSize: 16 << 20, WorkloadRate: -1})
	raw, err := os.ReadFile(l.PlanPath())
	if err != nil {
		t.Fatal(err)
	}
	// The lab's config with one change, saved as another file.
	configWith := func(name string, change func(*config.Config)) string {
		t.Helper()
		cfg, err := config.Load(l.ConfigFile)
		if err != nil {
			t.Fatal(err)
		}
		change(cfg)
		path := filepath.Join(t.TempDir(), name)
		if err := cfg.Save(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	noProvider := configWith("no-provider.yaml", func(c *config.Config) { c.Provider = config.Endpoint{} })
	badLogin := configWith("bad-login.yaml", func(c *config.Config) { c.OnPrem.Password = "Not-The-vCenter-Password" })
	badProviderLogin := configWith("bad-provider-login.yaml", func(c *config.Config) { c.Provider.Password = "Not-The-vCenter-Password" })
	badVCDLogin := configWith("bad-vcd-login.yaml", func(c *config.Config) { c.VCD.Password = "Not-The-vCenter-Password" })
	shortEdge := configWith("short-edge.yaml", func(c *config.Config) { c.Edge.Password = "short-1" })
	noOrg := configWith("no-org.yaml", func(c *config.Config) { c.Tenant.Org = "Acme" })
	// A CA file of another CA than the endpoint's (QA h8: "pass its CA"
	// named no file, as if none had been given).
	other, err := lab.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := other.WriteFile(otherCA); err != nil {
		t.Fatal(err)
	}
	wrongCA := configWith("wrong-ca.yaml", func(c *config.Config) { c.OnPrem.CAFile = otherCA })
	wrongVCDCA := configWith("wrong-vcd-ca.yaml", func(c *config.Config) { c.VCD.CAFile = otherCA })
	cfg, err := config.Load(l.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	// WebApp2's probe address, and one of its ports that nothing answers
	// on (a listener's port, closed again).
	var webApp2 string
	for _, r := range l.Reach.Plan() {
		if r.Name == "WebApp2" {
			webApp2 = r.Addr
		}
	}
	host, _, err := net.SplitHostPort(webApp2)
	if err != nil {
		t.Fatalf("WebApp2's probe address %q: %v", webApp2, err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, c := range []struct {
		name, config, from, to string
		code                   int
		want                   []string
	}{
		{"no provider vCenter", noProvider, "", "", exitFailed,
			[]string{"step 6 (Replication)", "no provider vCenter configured (FERRY_PROVIDER_URL", "nothing was changed"}},
		{"probe of no VM", l.ConfigFile, "    vm: WebApp1\n", "    vm: WebApp9\n", exitFailed,
			[]string{`vm "WebApp9" is not a VM on the on-prem vCenter`, "WebApp1", "nothing was changed"}},
		// A probe to a closed port of a running source is refused before
		// step 1, by step 5 (which asks the probes), not by step 7 after
		// replication (QA h3): it names the probe, the VM and what to fix.
		{"probe to a closed port", l.ConfigFile, "    tcp: " + webApp2 + "\n", "    tcp: " + closed + "\n", exitFailed,
			[]string{`step 5 (VM selection): conflict with what exists: ! conflict probe "WebApp2 (tcp)": tcp ` + closed + " does not answer", "connection refused", "while WebApp2 runs on-prem", "fix its host:port in the plan's probes:", "or start the service on WebApp2", "nothing was changed"}},
		{"bad shutdown timeout", l.ConfigFile, "shutdown_timeout: 1m", "shutdown_timeout: -1m", exitUsage,
			[]string{"cutover.shutdown_timeout", `"-1m" is not valid`}},
		// A vCenter login refused names the endpoint and the user (never
		// the password), as Cloud Director's does, and where the operator
		// sets them: both vCenters log in as the same user, told apart by
		// their ports alone (QA: a new user could not tell which entry of
		// the config was wrong).
		{"wrong vCenter password", badLogin, "", "", exitFailed,
			[]string{"vCenter " + l.OnPrem.URL + ": wrong username or password for " + lab.FerryUser + " (the config's onprem.username and onprem.password, or GOVC_USERNAME and GOVC_PASSWORD)", "nothing was changed"}},
		{"wrong provider vCenter password", badProviderLogin, "", "", exitFailed,
			[]string{"vCenter " + cfg.Provider.URL + ": wrong username or password for " + lab.FerryUser + " (the config's provider.username and provider.password, or FERRY_PROVIDER_USERNAME and FERRY_PROVIDER_PASSWORD)", "nothing was changed"}},
		{"wrong Cloud Director password", badVCDLogin, "", "", exitFailed,
			[]string{"Cloud Director " + cfg.VCD.URL + ": wrong username or password for " + cfg.VCD.Username + "@System (the config's vcd.username and vcd.password, or VCD_USER and VCD_PASSWORD)", "nothing was changed"}},
		{"vCenter CA file that did not sign its certificate", wrongCA, "", "", exitFailed,
			[]string{"vCenter " + l.OnPrem.URL + ": certificate not trusted", "the only CAs trusted for it are those of " + otherCA, "nothing was changed"}},
		{"Cloud Director CA file that did not sign its certificate", wrongVCDCA, "", "", exitFailed,
			[]string{"Cloud Director " + cfg.VCD.URL + ": certificate not trusted", "the only CAs trusted for it are those of " + otherCA, "nothing was changed"}},
		// An edge password the appliance's OVF refuses stops the run
		// before steps 1 and 2 change anything, not at step 3's deploy.
		{"short edge password", shortEdge, "", "", exitFailed,
			[]string{"step 3 (L2 appliance)", "the edge password (the config's edge.password, or FERRY_EDGE_PASSWORD) has 7 characters", "asks for at least 12 for nsx_passwd_0", "nothing was changed"}},
		// Cloud Director refuses a login to an org that does not exist
		// as a wrong password; the provider's session tells them apart.
		{"tenant org that does not exist", noOrg, "", "", exitFailed,
			[]string{"wrong username or password for companyadmin@Acme", `the tenant's org (tenant.org in the config, or FERRY_TENANT_ORG): organization "Acme" not found (available: `, "nothing was changed"}},
		// A provider placement that does not exist names its field and
		// what exists there, in ferry plan too.
		{"unknown provider datastore", l.ConfigFile, "  datastore: provider-ds\n", "  datastore: provider-dss\n", exitFailed,
			[]string{`provider.datastore: datastore "provider-dss" not found in datacenter Provider-DC`, "(datastores: provider-ds, provider-nfs)", "nothing was changed"}},
		{"unknown provider resource pool", l.ConfigFile, "  resource_pool: Company-VDC\n", "  resource_pool: Company-VCD\n", exitFailed,
			[]string{`provider.resource_pool: resource pool "Company-VCD" not found in datacenter Provider-DC`, "(resource pools: Company-VDC, Resources)", "nothing was changed"}},
		{"unknown provider datacenter", l.ConfigFile, "  datacenter: Provider-DC\n", "  datacenter: Provider-DX\n", exitFailed,
			[]string{`provider.datacenter: datacenter "Provider-DX" not found`, "(datacenters: Provider-DC)", "nothing was changed"}},
		// An unknown VM: step 5 lists the powered-off VMs too, which
		// migrate cold.
		{"unknown VM", l.ConfigFile, "  - name: WebApp2\n", "  - name: WebApp9\n", exitFailed,
			[]string{`step 5 (VM selection): VM "WebApp9" (did you mean WebApp1, WebApp2 or WebApp3?) not found`, "running VMs: LinuxDB1, WebApp1, WebApp2", "powered off, for a cold migration: Archive1)", "nothing was changed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			text := strings.Replace(string(raw), c.from, c.to, 1)
			if c.from != "" && text == string(raw) {
				t.Fatalf("the lab plan has no %q", c.from)
			}
			plan := filepath.Join(dir, "plan.yaml")
			if err := os.WriteFile(plan, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			before := dirFiles(t, dir)
			cmd := exec.Command(ferryBin, "--config", c.config, "run", "--plan", plan)
			cmd.Env = cleanEnv()
			out, err := cmd.CombinedOutput()
			if code := labtest.ExitCode(err); code != c.code {
				t.Errorf("exit %d, want %d:\n%s", code, c.code, out)
			}
			if strings.Contains(string(out), "Not-The-vCenter-Password") {
				t.Errorf("the output shows the password:\n%s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output does not say %q:\n%s", w, out)
				}
			}
			if m, _ := filepath.Glob(filepath.Join(dir, "*.state.json")); len(m) != 0 {
				t.Errorf("state written: %v", m)
			}
			// Nothing else either: no log, no lock file keeping a stale pid.
			if got := dirFiles(t, dir); !slices.Equal(got, before) {
				t.Errorf("the refused run left files in the plan's directory: %v, before %v", got, before)
			}
			// ferry plan says the same (it changes nothing either way).
			if c.code == exitFailed && c.config == l.ConfigFile {
				cmd = exec.Command(ferryBin, "--config", c.config, "plan", "--plan", plan)
				cmd.Env = cleanEnv()
				out, err := cmd.CombinedOutput()
				if code := labtest.ExitCode(err); code != exitFailed {
					t.Errorf("ferry plan: exit %d, want %d:\n%s", code, exitFailed, out)
				}
				for _, w := range c.want {
					if w != "nothing was changed" && !strings.Contains(string(out), w) {
						t.Errorf("ferry plan does not say %q:\n%s", w, out)
					}
				}
			}
			// With --json, stdout ends with the refusal as a failed line
			// of no step.
			cmd = exec.Command(ferryBin, "--config", c.config, "run", "--plan", plan, "--json")
			cmd.Env = cleanEnv()
			stdout, _ := cmd.Output()
			lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
			var last struct{ Step, Kind, Error string }
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Kind != "failed" || last.Step != "" || !strings.Contains(last.Error, c.want[0]) {
				t.Errorf("--json: last line %q (%v), want a failed line of no step saying %q", lines[len(lines)-1], err, c.want[0])
			}
			if got := dirFiles(t, dir); !slices.Equal(got, before) {
				t.Errorf("the refused run --json left files in the plan's directory: %v, before %v", got, before)
			}
		})
	}
	// A wrong password is tried once per command, not once per step:
	// vCenter's SSO locks an account after 5 refused logins within 3
	// minutes (as the lab's vCenters do), and one `ferry run` with a wrong
	// password locked ferry's account for everyone.
	for _, vc := range []*lab.VCenter{l.OnPrem, l.Provider} {
		if n := vc.RefusedLogins(lab.FerryUser); n != 2 {
			t.Errorf("%s refused %d logins of ferry's account, want 2 (one per command with the wrong password)", vc.Spec.Name, n)
		}
		if vc.LockedOut(lab.FerryUser) {
			t.Errorf("%s locked ferry's account out", vc.Spec.Name)
		}
	}
}

// dirFiles lists the names in dir, sorted.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestDecisionRefusedChangesNothing (QA: `--confirm-cutover=WebApp2
// --rollback` on a VM whose cutover was never interrupted was refused
// only inside the cutover step, which recorded a failed cutover, wrote a
// downtime report and exited 1): a decision on a cutover it cannot decide
// on is a usage error (exit 2) that names the VM and what its cutover is,
// and leaves no file.
func TestDecisionRefusedChangesNothing(t *testing.T) {
	l := labtest.Start(t, lab.Options{Dir: t.TempDir(), DiskSize: 16 << 20, WorkloadRate: -1})
	raw, err := os.ReadFile(l.PlanPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--rollback", "--finish"} {
		dir := t.TempDir()
		plan := filepath.Join(dir, "plan.yaml")
		if err := os.WriteFile(plan, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		before := dirFiles(t, dir)
		cmd := exec.Command(ferryBin, "--config", l.ConfigFile, "run", "--plan", plan, "--confirm-cutover", "WebApp2", flag)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(out), flag+" decides on ") ||
			!strings.Contains(string(out), "the cutover of WebApp2 has not started: run without "+flag) {
			t.Errorf("%s on a cutover that never started: exit %d, want %d naming the VM:\n%s", flag, code, exitUsage, out)
		}
		if got := dirFiles(t, dir); !slices.Equal(got, before) {
			t.Errorf("%s refused left files beside the plan: %v, before %v", flag, got, before)
		}
	}
}

// TestDamagedReplicationStore: a plan's replication store that cannot be
// read (damaged, truncated, another kind of file) is named as such by
// ferry run, plan and status, exit 1 (not a usage error), and nothing is
// changed: no state file, the store's bytes as they were.
func TestDamagedReplicationStore(t *testing.T) {
	l := labtest.Start(t, lab.Options{Dir: t.TempDir(), DiskSize: 16 << 20, WorkloadRate: -1})
	dir := t.TempDir()
	raw, err := os.ReadFile(l.PlanPath())
	if err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "plan.replication.db")
	garbage := bytes.Repeat([]byte("not a store "), 400)
	if err := os.WriteFile(store, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"run", "--plan", plan}, {"plan", "--plan", plan}, {"status", "--plan", plan}} {
		cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile}, args...)...)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		if code := labtest.ExitCode(err); code != exitFailed || !strings.Contains(string(out), "replication store "+store+" cannot be read as a replication store: it is damaged, or not one") ||
			strings.Contains(string(out), "for usage") {
			t.Errorf("ferry %s with a damaged store: exit %d, want %d naming the store and what is wrong\n%s", args[0], code, exitFailed, out)
		}
		if !strings.Contains(string(out), "move it aside (mv "+store+" "+store+".damaged) and run ferry run again") {
			t.Errorf("ferry %s with a damaged store does not say what to do:\n%s", args[0], out)
		}
	}
	if b, _ := os.ReadFile(store); !bytes.Equal(b, garbage) {
		t.Error("the damaged store was changed")
	}
	if _, err := os.Stat(filepath.Join(dir, "plan.state.json")); !os.IsNotExist(err) {
		t.Errorf("a state file was written: %v", err)
	}
}

// TestReplicationStoreMovedAside: a plan's replication store moved aside
// (or lost) after step 6 ran is not taken for an empty history: ferry run
// says so and runs the replication step again, which keeps the replica
// disk and brings its records back, so status shows the replica and the
// cutover goes through. Before, ferry run skipped step 6 as done with a
// new empty store, exit 0, and the cutover refused for want of a sync.
func TestReplicationStoreMovedAside(t *testing.T) {
	t.Parallel() // a lab of its own; runs beside the ferry serve journeys
	l, run := headlessLab(t)
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 {
		t.Fatalf("steps 1-7: exit %d\n%s", code, out)
	}
	store := filepath.Join(l.Dir, "plan.replication.db")
	if err := os.Rename(store, store+".aside"); err != nil {
		t.Fatal(err)
	}
	out, code := run("run", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "runs again: the replication store "+store+" holds no completed sync of WebApp2") ||
		!strings.Contains(out, "full compare: 32 MiB planned") || !strings.Contains(out, "it found: replica equal to the source") {
		t.Fatalf("ferry run with the store moved aside: exit %d\n%s", code, out)
	}
	if job := webApp2Job(t, run, l); strings.Contains(job.Summary, "no replica yet") {
		t.Errorf("status after the replication ran again: %+v", job)
	}
	if out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2"); code != 0 || !strings.Contains(out, "measured downtime") {
		t.Fatalf("cutover: exit %d\n%s", code, out)
	}
}
