package steps

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

const goodPlan = `
org: Company
vdc: Company-VDC
edge_gateway: company-edge
network:
  name: company-network
  gateway_cidr: 172.16.10.1/24
tunnel:
  local_endpoint_ip: 203.0.113.10
appliance:
  ovf: https://downloads.example.com/nsx-edge-autonomous.ova
  ip: 172.16.10.250
  prefix: 24
  gateway: 172.16.10.1
  egress_gateway: 172.16.10.1
vms:
  - name: WebApp2
    power_on: true
rpo: 5m
provider:
  datacenter: Provider-DC
  resource_pool: Company-VDC
  datastore: provider-ds
  network: vcd-company-network
  receiver_vm: ferry-receiver
`

func parseValid(t *testing.T, y string) (*PlanFile, error) {
	t.Helper()
	pf, err := ParsePlanFile([]byte(y))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	it := NewItinerary()
	err = pf.Validate(it)
	pf.ApplyDefaults(it)
	return pf, err
}

func TestPlanFileGood(t *testing.T) {
	pf, err := parseValid(t, goodPlan)
	if err != nil {
		t.Fatal(err)
	}
	if pf.Appliance.SinkPortgroup != "ferry-sink" || pf.Appliance.StretchedPortgroup != "company-network" || pf.Appliance.UplinkPortgroup != "company-network" {
		t.Errorf("defaults not applied: %+v", pf.Appliance)
	}
	if vm := pf.VMs[0]; vm.RPO.String() != "5m" || vm.TargetVApp != "WebApp2" || vm.TargetNetwork != "company-network" || !*vm.PowerOn {
		t.Errorf("VM defaults: %+v", vm)
	}
	if pf.Tunnel.RemoteEndpointIP != "172.16.10.250" {
		t.Errorf("tunnel.remote_endpoint_ip default = %q", pf.Tunnel.RemoteEndpointIP)
	}
}

func TestPlanFileLoadFromDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(path, []byte(goodPlan), 0o600); err != nil {
		t.Fatal(err)
	}
	pf, err := LoadPlanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if pf.Path() != path || pf.Org != "Company" {
		t.Errorf("loaded %+v", pf)
	}
	if _, err := LoadPlanFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("missing plan file loaded")
	}
}

func TestPlanFileValidation(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		want           []string // substrings of the error
	}{
		{"network address as gateway", "gateway_cidr: 172.16.10.1/24", "gateway_cidr: 172.16.10.0/24",
			[]string{"network.gateway_cidr", "network address", "172.16.10.1/24"}},
		{"gateway without prefix", "gateway_cidr: 172.16.10.1/24", "gateway_cidr: 172.16.10.1",
			[]string{"network.gateway_cidr", "CIDR", "e.g. 172.16.10.1/24"}},
		{"broadcast gateway", "gateway_cidr: 172.16.10.1/24", "gateway_cidr: 172.16.10.255/24",
			[]string{"network.gateway_cidr", "broadcast"}},
		{"bad IP", "ip: 172.16.10.250", "ip: 172.16.10.256",
			[]string{"appliance.ip", `"172.16.10.256" is not an IPv4 address`}},
		{"hostname as IP", "ip: 172.16.10.250", "ip: edge.example.com",
			[]string{"appliance.ip", "edge.example.com"}},
		{"prefix too long", "prefix: 24", "prefix: 31",
			[]string{"appliance.prefix", `"31"`, "1 to 30"}},
		{"prefix not a number", "prefix: 24", "prefix: /24",
			[]string{"appliance.prefix", "1 to 30"}},
		{"gateway outside subnet", "  gateway: 172.16.10.1\n", "  gateway: 10.0.0.1\n",
			[]string{"appliance.gateway", "10.0.0.1", "172.16.10.0/24"}},
		{"gateway is the appliance", "  gateway: 172.16.10.1\n", "  gateway: 172.16.10.250\n",
			[]string{"appliance.gateway", `"172.16.10.250" is appliance.ip itself`}},
		{"missing IP", "  ip: 172.16.10.250\n", "",
			[]string{"appliance.ip", "is required"}},
		{"missing appliance OVA", "  ovf: https://downloads.example.com/nsx-edge-autonomous.ova\n", "",
			[]string{"appliance.ovf: is required", "NSX autonomous edge", "NSX Edge OVA", "Broadcom Support Portal (support.broadcom.com, VMware NSX downloads)"}},
		{"missing org", "org: Company\n", "",
			[]string{"org: is required"}},
		{"unknown migration mode", "    power_on: true", "    mode: hot",
			[]string{"vms[0].mode", `"hot"`, `want "warm"`, `or "cold"`}},
		{"VM without name", "  - name: WebApp2", "  - target_vapp: x",
			[]string{"vms[0].name", "is required"}},
		{"unknown step in skip", "rpo: 5m", "rpo: 5m\nskip: [rights, coffee]",
			[]string{"skip[1]", `"coffee" is not a step`, "trunk-network"}},
		{"cutover.parallel zero", "rpo: 5m", "rpo: 5m\ncutover: {parallel: 0}",
			[]string{"cutover.parallel", "0: want 1 to 32 VMs cut over at once", "default 4"}},
		{"cutover.parallel too many", "rpo: 5m", "rpo: 5m\ncutover: {parallel: 33}",
			[]string{"cutover.parallel", "33: want 1 to 32"}},
		{"concurrent_passes zero", "rpo: 5m", "rpo: 5m\nconcurrent_passes: 0",
			[]string{"concurrent_passes", "0: want 1 to 32 replication passes at once", "default 4"}},
		{"concurrent_passes too many", "rpo: 5m", "rpo: 5m\nconcurrent_passes: 33",
			[]string{"concurrent_passes", "33: want 1 to 32"}},
		{"probe on a VM outside the plan", "rpo: 5m", "rpo: 5m\nprobes: [{name: shop, vm: WebApp2, vms: [DB9], tcp: '10.0.0.1:80'}]",
			[]string{"probes[0].vms[0]", `"DB9" is not a VM of the plan`, "WebApp2"}},
		{"negative bandwidth", "rpo: 5m", "rpo: 5m\nbandwidth_mbit: -10",
			[]string{"bandwidth_mbit", "-10: want 1 to 400000 megabits per second, or 0 for no cap"}},
		{"unknown receiver kind", "  datastore: provider-ds", "  datastore: provider-ds\n  receiver_kind: floppy",
			[]string{"provider.receiver_kind", `"floppy": want appliance`, "or nfs"}},
		{"tcp probe without port", "rpo: 5m", "rpo: 5m\nprobes: [{name: web, tcp: notahostport}]",
			[]string{"probes[0] (web)", `tcp "notahostport": want host:port`}},
		{"probe of no kind", "rpo: 5m", "rpo: 5m\nprobes: [{name: web, vm: WebApp2}]",
			[]string{"probes[0] (web)", "give one of tcp: host:port, icmp: host, or from: VM and to: address"}},
		{"guest ping without target", "rpo: 5m", "rpo: 5m\nprobes: [{from: WebApp1}]",
			[]string{"probes[0] (probe 1)", "needs both from:"}},
		{"negative shutdown timeout", "rpo: 5m", "rpo: 5m\ncutover: {shutdown_timeout: -1m}",
			[]string{"cutover.shutdown_timeout", `"-1m" is not valid`, "such as 2m0s (the default)"}},
		// QA: its example read "e.g. 30s, 2m" for a 250ms default.
		{"zero probe interval", "rpo: 5m", "rpo: 5m\ncutover: {probe_interval: 0s}",
			[]string{"cutover.probe_interval", `"0s" is not valid`, "such as 250ms (the default)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(goodPlan, tc.from, tc.to, 1)
			if y == goodPlan {
				t.Fatalf("test case did not change the plan (%q not found)", tc.from)
			}
			_, err := parseValid(t, y)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate: %v, want a ValidationError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestCutoverParallelDefault: cutover.parallel defaults to 4; 1 and 32 are
// accepted.
func TestCutoverParallelDefault(t *testing.T) {
	for y, want := range map[string]int{"": DefaultCutoverParallel, "\ncutover: {parallel: 1}": 1, "\ncutover: {parallel: 32}": 32} {
		pf, err := parseValid(t, goodPlan+y)
		if err != nil {
			t.Fatalf("%q: %v", y, err)
		}
		if n, err := cutoverParallel(pf.Cutover); err != nil || n != want {
			t.Errorf("%q: parallel %d %v, want %d", y, n, err, want)
		}
	}
}

func TestPlanFileAllProblemsAtOnce(t *testing.T) {
	y := strings.NewReplacer("ip: 172.16.10.250", "ip: x", "prefix: 24", "prefix: 99", "gateway_cidr: 172.16.10.1/24", "gateway_cidr: x").Replace(goodPlan)
	_, err := parseValid(t, y)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errs) < 3 {
		t.Fatalf("want at least 3 problems, got %v", err)
	}
}

func TestPlanFileSkippedStepsAreNotValidated(t *testing.T) {
	y := strings.Replace(goodPlan, "  ip: 172.16.10.250\n", "", 1) + "skip: [appliance, trunk-network, dc-extension]\n"
	if _, err := parseValid(t, y); err != nil {
		t.Errorf("fields of a skipped step were validated: %v", err)
	}
}

func TestPlanFileRejectsSecrets(t *testing.T) {
	for _, tc := range []struct{ add, key, hint string }{
		{"tunnel:\n  psk: hunter2\n", "tunnel.psk", EnvL2VPNPSK},
		{"password: hunter2\n", "password", "environment"},
		{"appliance:\n  root_password: x\n", "appliance.root_password", "environment"},
		{"vms:\n  - name: a\n    api_key: x\n", "vms[0].api_key", "environment"},
		{"tunnel:\n  pre_shared_key: x\n", "tunnel.pre_shared_key", EnvL2VPNPSK},
	} {
		_, err := ParsePlanFile([]byte(tc.add))
		if !errors.Is(err, ErrSecretInPlan) {
			t.Errorf("%q: %v, want ErrSecretInPlan", tc.add, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.hint) {
			t.Errorf("error %q should name %q and point to %q", err, tc.key, tc.hint)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q echoes the secret", err)
		}
	}
}

func TestPlanFileRejectsUnknownKeys(t *testing.T) {
	_, err := ParsePlanFile([]byte("appliance:\n  ipaddress: 1.2.3.4\n"))
	if err == nil || !strings.Contains(err.Error(), `line 2: unknown key "ipaddress" under appliance (valid there: `) || !strings.Contains(err.Error(), "egress_gateway, gateway, ip, mac_learning") {
		t.Errorf("unknown key: %v", err)
	}
	// Keys of the inlined migration plan count as the top level's.
	_, err = ParsePlanFile([]byte("rpo: 5m\nprovidr: {}\n"))
	if err == nil || !strings.Contains(err.Error(), `line 2: unknown key "providr" (valid there: `) || !strings.Contains(err.Error(), " provider, ") {
		t.Errorf("unknown top-level key: %v", err)
	}
}

// TestPlanFileWrongTypes: a value of the wrong type is refused by its key
// and the kind of value wanted.
func TestPlanFileWrongTypes(t *testing.T) {
	_, err := ParsePlanFile([]byte("cutover:\n  parallel: many\nvms: WebApp2\nprobes:\n  - name: x\n    vms: {a: b}\n"))
	for _, want := range []string{
		`line 2: cutover.parallel: "many" is not a whole number`,
		`line 3: vms: "WebApp2" is not a list (lines starting with "- ")`,
		`line 6: probes[0].vms: want a list`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func TestConfirmedVMs(t *testing.T) {
	pf := &PlanFile{VMs: []VMPlan{{Name: "WebApp2"}, {Name: "WebApp3"}}}
	if vms, err := ConfirmedVMs(pf, "WebApp3, WebApp2"); err != nil || strings.Join(vms, ",") != "WebApp2,WebApp3" {
		t.Errorf("both, out of order: %v, %v", vms, err)
	}
	if vms, err := ConfirmedVMs(pf, "WebApp3"); err != nil || strings.Join(vms, ",") != "WebApp3" {
		t.Errorf("one of two: %v, %v", vms, err)
	}
	for _, bad := range []string{"WebApp2,WebApp1", " , "} {
		if _, err := ConfirmedVMs(pf, bad); err == nil || !strings.Contains(err.Error(), "WebApp2,WebApp3") {
			t.Errorf("ConfirmedVMs(%q) = %v", bad, err)
		}
	}
}

// TestPlanFileBadRPO: a bad RPO is refused when the plan loads, naming
// the line, the key, the value and the valid range, once.
func TestPlanFileBadRPO(t *testing.T) {
	for _, tc := range []struct{ name, from, to, want string }{
		{"RPO too short", "rpo: 5m", "rpo: 30s", `line 19: rpo: "30s" is out of range: the RPO must be between 1m and 24h (e.g. 5m)`},
		{"RPO too long", "rpo: 5m", "rpo: 25h", `line 19: rpo: "25h" is out of range: the RPO must be between 1m and 24h`},
		{"RPO not a duration", "rpo: 5m", "rpo: 5x", `line 19: rpo: "5x" is not a duration: the RPO must be between 1m and 24h (e.g. 5m)`},
		{"VM RPO out of range", "    power_on: true", "    rpo: 48h", `line 18: vms[0].rpo: "48h" is out of range: the RPO must be between 1m and 24h`},
		{"VM RPO not a duration", "    power_on: true", "    rpo: 5", `line 18: vms[0].rpo: "5" is not a duration`},
	} {
		y := strings.Replace(goodPlan, tc.from, tc.to, 1)
		if y == goodPlan {
			t.Fatalf("%s: %q not found", tc.name, tc.from)
		}
		path := filepath.Join(t.TempDir(), "plan.yaml")
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadPlanFile(path)
		if err == nil || !strings.Contains(err.Error(), "plan file "+path+": "+tc.want) || strings.Count(err.Error(), "the RPO must be") != 1 {
			t.Errorf("%s: LoadPlanFile: %v\nwant %q", tc.name, err, tc.want)
		}
	}
	// A plan built in memory is checked by Validate.
	pf, err := parseValid(t, goodPlan)
	if err != nil {
		t.Fatal(err)
	}
	pf.RPO = "5x"
	if err := pf.Validate(NewItinerary()); err == nil || strings.Count(err.Error(), `"5x" is not a duration`) != 1 {
		t.Errorf("want the bad RPO said once: %v", err)
	}
	pf.VMs[0].RPO = replication.RPO(replication.MaxRPO * 2)
	if err := pf.Validate(NewItinerary()); err == nil || !strings.Contains(err.Error(), "vms[0].rpo: 48h is out of range") {
		t.Errorf("VM RPO out of range: %v", err)
	}
}

// TestPlanFileRPOSavedAsWritten: RPOs load typed and save as the plan
// wrote them.
func TestPlanFileRPOSavedAsWritten(t *testing.T) {
	y := strings.Replace(goodPlan, "    power_on: true", "    power_on: true\n    rpo: 1h30m\n  - name: WebApp3\n    rpo: 15m\n  - name: WebApp4", 1)
	pf, err := ParsePlanFile([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if pf.VMs[0].RPO.Duration() != 90*time.Minute || pf.VMs[1].RPO.Duration() != 15*time.Minute || pf.VMs[2].RPO != 0 {
		t.Fatalf("RPOs: %s %s %s", pf.VMs[0].RPO, pf.VMs[1].RPO, pf.VMs[2].RPO)
	}
	path := filepath.Join(t.TempDir(), "plan.yaml")
	if err := pf.Save(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rpo: 5m\n", "rpo: 1h30m\n", "rpo: 15m\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("saved plan lacks %q:\n%s", want, b)
		}
	}
	if strings.Count(string(b), "rpo:") != 3 {
		t.Errorf("saved plan: want 3 rpo keys (WebApp4 keeps the plan's):\n%s", b)
	}
	again, err := LoadPlanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	again.ApplyDefaults(NewItinerary())
	if again.VMs[2].RPO.Duration() != 5*time.Minute {
		t.Errorf("default RPO of WebApp4: %s, want the plan's 5m", again.VMs[2].RPO)
	}
}
