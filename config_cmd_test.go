package main

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/session"
	"github.com/ferry-migrate/ferry/steps"
)

// TestConfigWinsOverEnvironment is an admin whose shell points at
// production (GOVC_URL, VCD_URL and their passwords, as every govc user has)
// running a lab plan with --config: ferry talks to the file's endpoints,
// says which variables it ignored, lists the endpoints it uses, and never
// contacts the shell's.
func TestConfigWinsOverEnvironment(t *testing.T) {
	var contacted atomic.Int32
	prod := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		contacted.Add(1)
		http.Error(w, "production", http.StatusServiceUnavailable)
	}))
	defer prod.Close()

	l := smallLab(t)
	env := append(cleanEnv(),
		"GOVC_URL="+prod.URL+"/sdk", "GOVC_USERNAME=produser", "GOVC_PASSWORD=prod-secret",
		"VCD_URL="+prod.URL+"/api", "VCD_USER=admin", "VCD_PASSWORD=prod-secret", "VCD_ORG=System",
		"FERRY_TENANT_PASSWORD=prod-secret")
	run := func(args ...string) (stdout, stderr string, code int) {
		cmd := exec.Command(ferryBin, append([]string{"--config", l.ConfigFile}, args...)...)
		cmd.Env = env
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), labtest.ExitCode(err)
	}

	out, errOut, code := run("plan", "--plan", l.PlanPath())
	if code != 0 {
		t.Fatalf("plan with the lab's --config: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"WARNING: on-prem vCenter: using " + l.OnPrem.URL,
		"GOVC_URL=" + prod.URL + "/sdk is ignored, and with it GOVC_USERNAME, GOVC_PASSWORD",
		"WARNING: Cloud Director: using " + l.VCD.URL(),
		"VCD_URL=" + prod.URL + "/api is ignored",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(out+errOut, "prod-secret") {
		t.Errorf("a password was printed:\n%s\n%s", out, errOut)
	}
	for _, want := range []string{"ENDPOINT", "on-prem vCenter", l.OnPrem.URL, "--config " + l.ConfigFile, "Cloud Director"} {
		if !strings.Contains(out, want) {
			t.Errorf("ferry plan does not list the endpoints it uses (%q):\n%s", want, out)
		}
	}
	out, _, code = run("status", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "provider vCenter") || !strings.Contains(out, l.Provider.URL) {
		t.Errorf("ferry status does not list the endpoints: exit %d\n%s", code, out)
	}
	if n := contacted.Load(); n != 0 {
		t.Errorf("the shell's endpoint was contacted %d times although --config names another", n)
	}
	// Nothing was replicated, and neither plan nor status made a store.
	if _, err := os.Stat(filepath.Join(l.Dir, "plan.replication.db")); !os.IsNotExist(err) {
		t.Errorf("plan/status created the replication store: %v", err)
	}

	// Without --config the environment is all there is: ferry uses it.
	cmd := exec.Command(ferryBin, "plan", "--plan", l.PlanPath())
	cmd.Env = env
	b, err := cmd.CombinedOutput()
	if !strings.Contains(string(b), prod.URL+"/sdk") || !strings.Contains(string(b), "environment (GOVC_URL)") {
		t.Errorf("without --config the environment's endpoint is not the one listed:\n%s", b)
	}

	// A plain-HTTP endpoint is refused before anything is contacted.
	cmd = exec.Command(ferryBin, "plan", "--plan", l.PlanPath())
	cmd.Env = append(cleanEnv(), "VCD_URL=http://"+strings.TrimPrefix(prod.URL, "https://")+"/api", "VCD_PASSWORD=prod-secret")
	b, err = cmd.CombinedOutput()
	if code := labtest.ExitCode(err); code != exitUsage || !strings.Contains(string(b), "Cloud Director") || !strings.Contains(string(b), "plain HTTP") {
		t.Errorf("VCD_URL=http://...: exit %d\n%s", code, b)
	}
}

// TestRunTakesTheLockBeforeReadingState: a run that loses the race for the
// state file exits without reading or acting on it. The winner holds the
// lock while the state file is (for a moment) unreadable: the loser must
// say the state is in use, not that it is corrupt, and change nothing.
func TestRunTakesTheLockBeforeReadingState(t *testing.T) {
	l := smallLab(t)
	statePath := filepath.Join(l.Dir, "plan.state.json")
	release, err := steps.LockState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	half := []byte(`{"version": 1, "steps": {"rights": {"status": "do`)
	if err := os.WriteFile(statePath, half, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ferryBin, "--config", l.ConfigFile, "run", "--plan", l.PlanPath())
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if code := labtest.ExitCode(err); code == 0 || !strings.Contains(string(out), "is in use by ferry process") {
		t.Fatalf("the losing run: exit %d\n%s", code, out)
	}
	if strings.Contains(string(out), "corrupt") {
		t.Errorf("the losing run read the state before taking its lock:\n%s", out)
	}
	if b, _ := os.ReadFile(statePath); string(b) != string(half) {
		t.Errorf("the losing run changed the state file: %s", b)
	}
	if _, err := os.Stat(filepath.Join(l.Dir, "plan.replication.db")); !os.IsNotExist(err) {
		t.Errorf("the losing run opened the replication store: %v", err)
	}
}

// TestPreflightProvesTheReceiver: a receiver that does not answer, or that
// does not accept this sender, stops the run before step 1 changes anything.
func TestPreflightProvesTheReceiver(t *testing.T) {
	l := smallLab(t)
	stranger, err := replication.SelfSignedCert("stranger")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(t.TempDir(), "c.pem"), filepath.Join(t.TempDir(), "k.pem")
	keyDER, err := x509.MarshalPKCS8PrivateKey(stranger.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: stranger.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	for name, change := range map[string]func(*config.Config){
		"nobody listening":      func(c *config.Config) { c.Receiver.URL = "127.0.0.1:1" },
		"untrusted certificate": func(c *config.Config) { c.Receiver.CertFile, c.Receiver.KeyFile = certFile, keyFile },
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Load(l.ConfigFile)
			if err != nil {
				t.Fatal(err)
			}
			change(cfg)
			path := filepath.Join(t.TempDir(), "ferry.yaml")
			if err := cfg.Save(path); err != nil {
				t.Fatal(err)
			}
			state := filepath.Join(t.TempDir(), "plan.state.json")
			cmd := exec.Command(ferryBin, "--config", path, "run", "--plan", l.PlanPath(), "--state", state)
			cmd.Env = cleanEnv()
			out, err := cmd.CombinedOutput()
			if code := labtest.ExitCode(err); code != exitFailed || !strings.Contains(string(out), "replication receiver") ||
				!strings.Contains(string(out), "nothing was changed") {
				t.Fatalf("exit %d\n%s", code, out)
			}
			if _, err := os.Stat(state); !os.IsNotExist(err) {
				t.Errorf("a step ran: the state file exists (%v)\n%s", err, out)
			}
			if _, err := os.Stat(session.ReplicationStorePath(l.PlanPath())); !os.IsNotExist(err) {
				t.Errorf("the refused run created the replication store (%v)", err)
			}
		})
	}
}

// smallLab starts a lab with small disks for a test, closed when it ends.
func smallLab(t *testing.T) *lab.Lab {
	t.Helper()
	l := labtest.Start(t, lab.Options{Dir: t.TempDir(), DiskSize: 16 << 20})
	return l
}

// TestConfigFileMissing: --config naming a file that does not exist (a typo,
// a lab directory since removed) or a directory is refused by run, plan and
// status with the path, what --config wants and the environment as the way
// without it: exit 2, nothing written beside the plan.
func TestConfigFileMissing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "edge.ova"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte(`org: Company
vdc: Company-VDC
edge_gateway: company-edge
network:
  name: company-network
  gateway_cidr: 172.16.10.1/24
appliance:
  ovf: edge.ova
  datacenter: OnPrem-DC
  ip: 172.16.10.250
  prefix: "24"
  gateway: 172.16.10.1
provider:
  datacenter: Provider-DC
  resource_pool: Company-VDC
  datastore: provider-ds
  network: vcd-company-network
  receiver_vm: ferry-receiver
vms:
  - name: WebApp2
`), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "ferry-lab.yaml")
	for _, c := range []struct {
		config, want string
	}{
		{missing, "config file " + missing + " does not exist: --config names a YAML file of endpoints"},
		{dir, "config file " + dir + " cannot be read (read " + dir + ": is a directory): --config names a YAML file of endpoints"},
	} {
		for _, args := range [][]string{{"run"}, {"plan"}, {"status"}} {
			args = append([]string{"--config", c.config}, append(args, "--plan", plan)...)
			cmd := exec.Command(ferryBin, args...)
			cmd.Env, cmd.Dir = cleanEnv(), dir
			out, err := cmd.CombinedOutput()
			if code := labtest.ExitCode(err); code != exitUsage {
				t.Errorf("ferry %s: exit %d, want %d:\n%s", strings.Join(args, " "), code, exitUsage, out)
			}
			for _, w := range []string{c.want, "`ferry lab serve` writes", "without --config, ferry takes the endpoints from the environment (GOVC_URL, VCD_URL"} {
				if !strings.Contains(string(out), w) {
					t.Errorf("ferry %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
				}
			}
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files beside the plan after the refusals: %v, want only edge.ova and plan.yaml", names)
	}
}
