package steps

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestSavedPlanKeepsItsComments: the wizard saves the answers into the
// plan file the operator wrote (or the lab's, which explains its other
// VMs and probes in comments). The comments stay where they were, beside
// the same answers, and so does the file's indentation; the answers are
// the new ones.
func TestSavedPlanKeepsItsComments(t *testing.T) {
	y := `# Company's migration, agreed with the app owners (CHG-1234).
org: Company
vdc: Company-VDC
edge_gateway: company-edge # the tenant's only edge
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
# Wave 1. WebApp1 stays until the database moves:
#   WebApp1   172.16.10.11
vms:
  # the web tier first
  - name: WebApp2
    power_on: true
rpo: 5m # what the SLA allows
provider:
  datacenter: Provider-DC
  resource_pool: Company-VDC
  datastore: provider-ds
  network: vcd-company-network
  receiver_vm: ferry-receiver
# Probes come later.
`
	path := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	pf, err := LoadPlanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// What the wizard collected: one more VM, a shorter RPO.
	pf.VMs = append(pf.VMs, VMPlan{Name: "WebApp3"})
	pf.RPO = "1m"
	if err := pf.Save(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	saved := string(b)
	for _, want := range []string{
		"# Company's migration, agreed with the app owners (CHG-1234).\n",
		"edge_gateway: company-edge # the tenant's only edge\n",
		"# Wave 1. WebApp1 stays until the database moves:\n#   WebApp1   172.16.10.11\nvms:\n",
		"  # the web tier first\n  - name: WebApp2\n",
		"  - name: WebApp3\n",
		"rpo: 1m # what the SLA allows\n",
		"  gateway_cidr: 172.16.10.1/24\n", // two spaces, as written
		"# Probes come later.\n",
	} {
		if !strings.Contains(saved, want) {
			t.Errorf("saved plan lacks %q:\n%s", want, saved)
		}
	}
	again, err := LoadPlanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.VMs, pf.VMs) || again.RPO != pf.RPO || !reflect.DeepEqual(again.Appliance, pf.Appliance) {
		t.Errorf("saved plan reads back as %+v, want %+v", again, pf)
	}
	// Saved again unchanged: the same file.
	if err := again.Save(path); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(path); string(b2) != saved {
		t.Errorf("saved twice, the file changed:\n%s\nthen\n%s", saved, b2)
	}
}
