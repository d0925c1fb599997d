package steps_test

// `ferry plan` and `ferry run` as an operator runs them: the built binary
// with --config (the lab's config file) and --plan, against the lab.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vcd"
)

// buildFerry builds the ferry binary into a test directory.
func buildFerry(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ferry")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ferry-migrate/ferry").CombinedOutput(); err != nil {
		t.Fatalf("build ferry: %v\n%s", err, out)
	}
	return bin
}

// ferry runs the binary with a clean environment (no VCD_*, GOVC_* of the
// person running the tests) plus env.
func ferry(bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	return cmd
}

// jsonEvents parses `ferry run --json` output.
func jsonEvents(t *testing.T, out []byte) *events {
	t.Helper()
	ev := &events{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var e steps.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not a JSON event: %q: %v", sc.Text(), err)
		}
		ev.emit(e)
	}
	return ev
}

func TestSetupBinary(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds ferry")
	}
	bin := buildFerry(t)

	t.Run("PlanRunRerun", func(t *testing.T) {
		t.Parallel() // a lab of its own; bin is only run
		l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
		plan := labPlan(t, l, nil)
		dir := filepath.Dir(plan)

		out, err := ferry(bin, nil, "plan", "--config", l.ConfigFile, "--plan", plan).CombinedOutput()
		if err != nil {
			t.Fatalf("ferry plan: %v\n%s", err, out)
		}
		out = []byte(labtest.PlanUnwrapped(string(out)))
		for _, want := range []string{"+ create org VDC network \"company-network\"", "+ create L2VPN tunnel \"ferry-l2vpn\"",
			"+ create port group \"ferry-sink\"", "+ create VM \"ferry-l2vpn-client\"", "+ create L2VPN session", l2vpnRight,
			"= exists duplicate gateway \"172.16.10.1\"", "local egress optimisation", "WARNING: local egress optimisation is not set up: the appliance OVF takes no egress gateway"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("ferry plan does not say %q:\n%s", want, out)
			}
		}
		untouched(t, l)
		if _, err := os.Stat(filepath.Join(dir, "plan.state.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("ferry plan wrote the state file: %v", err)
		}

		out, err = ferry(bin, nil, "run", "--json", "--config", l.ConfigFile, "--plan", plan).Output()
		if err != nil {
			t.Fatalf("ferry run: %v\n%s", err, out)
		}
		ev := jsonEvents(t, out)
		for _, id := range setupSteps {
			if len(ev.of(id, steps.EventDone)) != 1 {
				t.Errorf("%s not done:\n%s", id, ev)
			}
		}
		if !slices.ContainsFunc(ev.of("appliance", steps.EventWarning), func(e steps.Event) bool { return strings.Contains(e.Message, "duplicate gateway 172.16.10.1") }) {
			t.Errorf("ferry run does not warn about the duplicate gateway:\n%s", ev)
		}
		w := look(t, l)
		if w.bundleHas || w.globalRoleHas || !w.tenantRoleHas || w.network == "" || !w.tunnelUp || !w.sinkMACLearning || !w.sinkForged || w.appliancePower != "poweredOn" {
			t.Errorf("after ferry run: %+v", w)
		}

		// A second run with a new state applies every step again: no changes.
		out, err = ferry(bin, nil, "run", "--config", l.ConfigFile, "--plan", plan, "--state", filepath.Join(dir, "again.json")).CombinedOutput()
		if err != nil {
			t.Fatalf("second ferry run: %v\n%s", err, out)
		}
		for i, id := range setupSteps {
			want := "[" + string(rune('1'+i)) + "/8] " + id + ": done: no changes"
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("second run: no %q:\n%s", want, out)
			}
		}
		if bytes.Contains(out, []byte("changed:")) {
			t.Errorf("second run changed something:\n%s", out)
		}
	})

	t.Run("ResumeAfterKill", func(t *testing.T) {
		t.Parallel() // a lab of its own; bin is only run
		l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
		plan := labPlan(t, l, nil)
		state := filepath.Join(filepath.Dir(plan), "plan.state.json")

		// The first run reaches the on-prem vCenter through a proxy that
		// holds the appliance's OVF import: the process is killed while
		// step 3 runs, after steps 1 and 2 are done.
		p := newHoldProxy(t, l, "<ImportVApp")
		killedWhenHeld(t, bin, l, p, plan, "step 3 imported the appliance", "--json")

		st, err := steps.LoadState(state)
		if err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]steps.Status{"rights": steps.StatusDone, "trunk-network": steps.StatusDone, "appliance": steps.StatusRunning, "dc-extension": steps.StatusPending} {
			if got := st.Status(id); got != want {
				t.Errorf("state after the kill: %s is %s, want %s", id, got, want)
			}
		}
		netID := st.Get("trunk-network").Outputs[steps.OutNetworkID]

		out, err := ferry(bin, nil, "run", "--json", "--config", l.ConfigFile, "--plan", plan).Output()
		if err != nil {
			t.Fatalf("resumed ferry run: %v\n%s", err, out)
		}
		ev := jsonEvents(t, out)
		for _, id := range []string{"rights", "trunk-network"} {
			if len(ev.of(id, steps.EventStarted)) != 0 || len(ev.of(id, steps.EventChange)) != 0 || len(ev.of(id, steps.EventSkipped)) != 1 {
				t.Errorf("resumed run ran %s again:\n%s", id, ev)
			}
		}
		for _, id := range []string{"appliance", "dc-extension"} {
			if len(ev.of(id, steps.EventDone)) != 1 {
				t.Errorf("resumed run: %s not done:\n%s", id, ev)
			}
		}
		w := look(t, l)
		if w.tunnels != 1 || !w.tunnelUp || w.appliancePower != "poweredOn" || w.sessions != 1 {
			t.Errorf("after the resumed run: %+v", w)
		}
		st, err = steps.LoadState(state)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Get("trunk-network").Outputs[steps.OutNetworkID]; got != netID {
			t.Errorf("network id changed from %s to %s: re-created?", netID, got)
		}
	})

	t.Run("KilledWhileTheApplianceIsPoweredOn", func(t *testing.T) {
		// ferry killed after the appliance's OVF import completed (its
		// lease complete, the VM whole) and before the VM runs: the next
		// run powers that VM on. It is not half-imported: the run neither
		// says so, nor removes it to deploy the appliance again.
		t.Parallel() // a lab of its own; bin is only run
		l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
		plan := labPlan(t, l, nil)

		// The first run reaches the on-prem vCenter through a proxy that
		// holds the power-on of the appliance (never forwarded): the
		// process is killed there.
		p := newHoldProxy(t, l, "<PowerOnVM_Task")
		stdout := killedWhenHeld(t, bin, l, p, plan, "step 3 powered the appliance on")

		c, f := labtest.OnPrem(t, l)
		defer c.Logout(context.Background())
		imported, err := f.VirtualMachine(context.Background(), "ferry-l2vpn-client")
		if err != nil {
			t.Fatalf("no appliance VM after the kill at its power-on: %v\n%s", err, stdout.String())
		}

		out, err := ferry(bin, nil, "run", "--config", l.ConfigFile, "--plan", plan).CombinedOutput()
		if err != nil {
			t.Fatalf("ferry run after the kill at the appliance's power-on: %v\n%s", err, out)
		}
		for _, wrong := range []string{"half-imported", "aborted", "+ create VM \"ferry-l2vpn-client\""} {
			if bytes.Contains(out, []byte(wrong)) {
				t.Errorf("the run after the kill says %q of the appliance the killed run imported whole:\n%s", wrong, out)
			}
		}
		if !bytes.Contains(out, []byte("powering on ferry-l2vpn-client")) {
			t.Errorf("the run after the kill does not say it powers the appliance on:\n%s", out)
		}
		app, err := f.VirtualMachine(context.Background(), "ferry-l2vpn-client")
		if err != nil {
			t.Fatal(err)
		}
		if app.Reference() != imported.Reference() {
			t.Errorf("the appliance is %s after the run, not %s that the killed run imported whole: removed and deployed again", app.Reference().Value, imported.Reference().Value)
		}
		if w := look(t, l); w.appliancePower != "poweredOn" || !w.tunnelUp {
			t.Errorf("after the run: %+v", w)
		}
	})

	t.Run("KilledBeforeTheFirstFullCompare", func(t *testing.T) {
		// ferry killed after the initial sync of a replica was recorded,
		// before the full compare that follows it began (its snapshot not
		// taken yet): the next run's plan says that pass is the full
		// compare it runs, not an incremental pass.
		t.Parallel() // a lab of its own; bin is only run
		l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
		plan := labPlan(t, l, func(pf *steps.PlanFile) { pf.Skip = []string{"checks", "cutover"} })

		// The third snapshot of the source is the full compare's (the
		// first makes step 5's changed block tracking take effect, the
		// second is the initial sync's): the proxy holds it, never
		// forwarded.
		p := newHoldProxyNth(t, l, "<CreateSnapshot_Task", 3)
		stdout := killedWhenHeld(t, bin, l, p, plan, "the full compare after the initial sync")
		if !strings.Contains(stdout.String(), "WebApp2: idle") {
			t.Fatalf("the held snapshot was not the one after the initial sync:\n%s", stdout.String())
		}

		out, err := ferry(bin, nil, "run", "--config", l.ConfigFile, "--plan", plan).CombinedOutput()
		if err != nil {
			t.Fatalf("ferry run after the kill: %v\n%s", err, out)
		}
		var planned string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, `replication: plan ~ update replica "WebApp2"`) {
				planned += line + "\n"
			}
		}
		if !strings.Contains(planned, "full compare") || strings.Contains(planned, "incremental pass (changed blocks only)") {
			t.Errorf("the run's plan of WebApp2's replica after the kill (want the full compare it runs, not an incremental pass):\n%s\nthe run:\n%s", planned, out)
		}
		if !strings.Contains(string(out), `changed: ~ update replica "WebApp2": full compare`) {
			t.Errorf("the run after the kill ran no full compare:\n%s", out)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		t.Parallel() // a lab of its own; bin is only run
		l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
		noPass := l.Config()
		noPass.Tenant.Password = ""
		noPassFile := filepath.Join(t.TempDir(), "no-tenant-password.yaml")
		if err := noPass.Save(noPassFile); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			edit   func(pf *steps.PlanFile)
			config string
			code   int
			want   []string // in the message
		}{
			{"unknown org", func(pf *steps.PlanFile) { pf.Org = "Nope" }, "", 1, []string{`"Nope"`, "Company"}},
			{"unknown VDC", func(pf *steps.PlanFile) { pf.VDC = "Nope-VDC" }, "", 1, []string{"vdc:", `"Nope-VDC"`, "Company-VDC"}},
			{"unknown edge gateway", func(pf *steps.PlanFile) { pf.EdgeGateway = "nope-edge" }, "", 1, []string{"edge_gateway:", `"nope-edge"`, "company-edge"}},
			{"gateway CIDR is the network address", func(pf *steps.PlanFile) { pf.Network.GatewayCIDR = "172.16.10.0/24" }, "", 2, []string{"network.gateway_cidr", "network address", "172.16.10.1/24"}},
			{"gateway CIDR is not one", func(pf *steps.PlanFile) { pf.Network.GatewayCIDR = "172.16.300.1/24" }, "", 2, []string{"network.gateway_cidr", "not a gateway in CIDR notation"}},
			{"missing tenant password", nil, noPassFile, 1, []string{"FERRY_TENANT_PASSWORD"}},
			{"port group not found", func(pf *steps.PlanFile) { pf.Appliance.StretchedPortgroup = "nope-pg" }, "", 1, []string{"appliance.stretched_portgroup", "nope-pg", "company-network"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				plan := labPlan(t, l, tc.edit)
				cfg := l.ConfigFile
				if tc.config != "" {
					cfg = tc.config
				}
				out, err := ferry(bin, nil, "run", "--config", cfg, "--plan", plan).CombinedOutput()
				if code := labtest.ExitCode(err); code != tc.code {
					t.Errorf("exit %d, want %d:\n%s", code, tc.code, out)
				}
				for _, w := range tc.want {
					if !bytes.Contains(out, []byte(w)) {
						t.Errorf("message does not say %s:\n%s", w, out)
					}
				}
				untouched(t, l)
			})
		}

		// Last, as it leaves a network behind: the name is taken by a
		// network on another subnet.
		t.Run("network name taken", func(t *testing.T) {
			tenant := labtest.VCD(t, l.Config().Tenant)
			vdc, err := tenant.VDCByName("Company", "Company-VDC")
			if err != nil {
				t.Fatal(err)
			}
			egw, err := tenant.EdgeGatewayByName(vdc, "company-edge")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := vcd.CreateRoutedNetwork(vdc, egw, vcd.NetworkSpec{Name: "company-network", GatewayCIDR: "10.9.9.1/24"}); err != nil {
				t.Fatal(err)
			}
			out, err := ferry(bin, nil, "run", "--config", l.ConfigFile, "--plan", labPlan(t, l, nil)).CombinedOutput()
			if code := labtest.ExitCode(err); code != 1 {
				t.Errorf("exit %d, want 1:\n%s", code, out)
			}
			for _, w := range []string{"conflict", `"company-network"`, "10.9.9.1/24", "172.16.10.1/24", "nothing was changed"} {
				if !bytes.Contains(out, []byte(w)) {
					t.Errorf("message does not say %s:\n%s", w, out)
				}
			}
			if w := look(t, l); w.bundleHas || w.tunnels != 0 || w.sinkExists || w.appliancePower != "" || w.sessions != 0 || w.network != "10.9.9.1/24" {
				t.Errorf("something was created: %+v", w)
			}
		})
	})

	t.Run("TunnelNeverUp", func(t *testing.T) {
		t.Parallel() // a lab of its own; bin is only run
		l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
		const reason = "IKE negotiation failed: no proposal chosen"
		l.Fabric.SetDown(reason)
		plan := labPlan(t, l, func(pf *steps.PlanFile) { pf.Extension.Timeout = "1s" })
		out, err := ferry(bin, nil, "run", "--config", l.ConfigFile, "--plan", plan).CombinedOutput()
		if code := labtest.ExitCode(err); code != 1 {
			t.Fatalf("exit %d, want 1:\n%s", code, out)
		}
		msg := string(out)
		for _, w := range []string{"did not come UP within 1s", `edge session "ferry-l2vpn": DOWN: ` + reason, `Cloud Director tunnel "ferry-l2vpn": DOWN: ` + reason} {
			if !strings.Contains(msg, w) {
				t.Errorf("message does not say %q:\n%s", w, msg)
			}
		}
		// Once the fault is gone, the same command finishes the job.
		l.Fabric.SetDown("")
		out, err = ferry(bin, nil, "run", "--config", l.ConfigFile, "--plan", plan).CombinedOutput()
		if err != nil {
			t.Fatalf("run after the fault: %v\n%s", err, out)
		}
		if !bytes.Contains(out, []byte("dc-extension: done")) {
			t.Errorf("step 4 not done:\n%s", out)
		}
	})
}

func wait(cmd *exec.Cmd) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- cmd.Wait() }()
	return ch
}

// killedWhenHeld runs `ferry run` (with flags) of plan against l, its
// on-prem vCenter reached through p, kills it (SIGKILL) once p holds its
// request, and returns what it printed; what says what p holds, for a run
// that ends before.
func killedWhenHeld(t *testing.T, bin string, l *lab.Lab, p *holdProxy, plan, what string, flags ...string) *bytes.Buffer {
	t.Helper()
	cfg := l.Config()
	cfg.OnPrem.URL = p.srv.URL + "/sdk"
	cfgFile := filepath.Join(t.TempDir(), "via-proxy.yaml")
	if err := cfg.Save(cfgFile); err != nil {
		t.Fatal(err)
	}
	cmd := ferry(bin, nil, append(append([]string{"run"}, flags...), "--config", cfgFile, "--plan", plan)...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := wait(cmd) // the one Wait: a second, concurrent one can block forever
	select {
	case <-p.held:
	case err := <-done:
		t.Fatalf("ferry run ended before %s: %v\n%s", what, err, stdout.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	return &stdout
}

// holdProxy forwards to the lab's on-prem vCenter, but holds any request
// whose body contains match until the client goes away (it is never
// forwarded, so nothing happens late).
type holdProxy struct {
	srv  *httptest.Server
	held chan struct{}
}

func newHoldProxy(t *testing.T, l *lab.Lab, match string) *holdProxy {
	t.Helper()
	return newHoldProxyNth(t, l, match, 1)
}

// newHoldProxyNth is newHoldProxy holding the nth request whose body
// contains match (the ones before it are forwarded), and every one after.
func newHoldProxyNth(t *testing.T, l *lab.Lab, match string, nth int) *holdProxy {
	t.Helper()
	target, err := url.Parse(l.OnPrem.URL)
	if err != nil {
		t.Fatal(err)
	}
	target.Path = ""
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: l.CA.Pool}}
	p := &holdProxy{held: make(chan struct{})}
	var once sync.Once
	var mu sync.Mutex
	seen := 0
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		mu.Lock()
		if bytes.Contains(body, []byte(match)) {
			seen++
		}
		hold := seen >= nth && bytes.Contains(body, []byte(match))
		mu.Unlock()
		if hold {
			once.Do(func() { close(p.held) })
			<-r.Context().Done()
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	tlsCfg, err := l.CA.ServerTLS("proxy")
	if err != nil {
		t.Fatal(err)
	}
	p.srv.TLS = tlsCfg
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}
