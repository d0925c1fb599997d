package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// labPlan is the operator's answers for the lab, in the format of
// steps.LoadPlanFile: the walkthrough's tenant (org Company, VDC
// Company-VDC, edge gateway company-edge, as lab/vcdsim seeds them), its web
// network 172.16.10.0/24 stretched from the on-prem port group of the same
// name, the L2VPN client appliance on the on-prem uplink network, and
// WebApp2 warm-migrated with a 1 minute RPO, its replica disks hot-added to
// the provider's receiver appliance. Package lab does not import
// steps (the dependency goes the other way), so this is text; the lab's
// tests load it with steps so that the two stay in step.
const labPlan = `# ferry plan for the embedded lab, every answer filled in:
#   ferry run --config %s --plan %s
# No secrets here: the lab's config file holds its throw-away logins, and the
# L2VPN pre-shared key comes from FERRY_L2VPN_PSK or is generated.
org: Company
vdc: Company-VDC
edge_gateway: company-edge
network:
  name: company-network
  gateway_cidr: 172.16.10.1/24
tunnel:
  name: ferry-l2vpn
appliance:
  name: ferry-l2vpn-client
  ovf: %s
  datacenter: %s
  stretched_portgroup: company-network
  dvs: %s
  sink_portgroup: ferry-sink
  uplink_portgroup: uplink-network
  ip: %s
  prefix: "%s"
  gateway: %s
  datastore: %s
extension:
  timeout: 2m
  edge_port: "%d"
# The lab's other VMs have hardware of their own: WinSrv1 (EFI + secure boot,
# LSI Logic SAS + pvscsi, e1000e + vmxnet3) and LinuxDB1 (BIOS, LSI Logic,
# vmxnet3). To migrate WinSrv1 too, list it under vms: and map its second port
# group to an org VDC network (VM selection refuses an unmapped NIC):
# networks:
#   backend-network: <org VDC network>
%svms:
  - name: WebApp2
    power_on: true
rpo: 1m
job: WebApp2-Migration
provider:
  datacenter: %s
  resource_pool: %s
  datastore: %s
  network: %s
  receiver_kind: appliance
  receiver_vm: %s
probes:
  - name: WebApp1 -> WebApp2 (guest ping)
    from: WebApp1
    to: 172.16.10.12
%scutover:
  shutdown_timeout: 1m
  hard_power_off: true
  probe_interval: 100ms
# ferry run --test-migrate WebApp2: a copy from the replica, on child disks,
# in Company-VDC's isolated network (no uplink), then deleted.
test_migration:
  network: %s
`

// EdgeOVA is the lab's autonomous edge OVA (written by Start).
func (l *Lab) EdgeOVA() string { return filepath.Join(l.Dir, EdgeOVAName) }

// PlanPath is where WritePlan puts the lab's plan file.
func (l *Lab) PlanPath() string { return filepath.Join(l.Dir, "plan.yaml") }

// EdgeAPIPort is the port the L2 appliance's edge API answers on at its
// management address once deployed (the plan's extension.edge_port; 443 on
// a real appliance).
func (l *Lab) EdgeAPIPort() int {
	if l.edges == nil {
		return 443
	}
	return l.edges.EdgePort()
}

// WritePlan writes the lab's plan file to PlanPath (mode 0600) and returns
// the path.
func (l *Lab) WritePlan() (string, error) {
	cfg := l.ConfigFile
	if cfg == "" {
		cfg = filepath.Join(l.Dir, "ferry-lab.yaml")
	}
	on := OnPremSpec(DefaultDiskSize)
	path := l.PlanPath()
	pv := ProviderSpec()
	var probes strings.Builder
	if l.Reach != nil {
		refused := false
		for _, t := range l.Reach.Plan() {
			if slices.ContainsFunc(RefusedVMs, func(vm VMSpec) bool { return vm.Name == t.Name }) {
				// Preflight refuses to migrate them: their probes would
				// only crowd the wizard's probe panel and step 7.
				refused = true
				continue
			}
			if slices.ContainsFunc(ColdVMs, func(vm VMSpec) bool { return vm.Name == t.Name }) {
				// Powered off: nothing answers until it is migrated.
				fmt.Fprintf(&probes, "  # powered off until migrated: list it under vms: (mode cold) first\n  # - name: %s (tcp)\n  #   vm: %s\n  #   tcp: %s\n", t.Name, t.Name, t.Addr)
				continue
			}
			fmt.Fprintf(&probes, "  - name: %s (tcp)\n    vm: %s\n    tcp: %s\n", t.Name, t.Name, t.Addr)
		}
		if refused {
			fmt.Fprintf(&probes, "  # The VMs preflight refuses (their disks; ferry lab serve lists them) answer\n  # probes too, at the addresses ferry lab serve prints; none is listed here.\n")
		}
	}
	if _, err := os.Stat(l.EdgeOVA()); err != nil {
		if err := WriteEdgeOVA(l.EdgeOVA(), edgeOVF); err != nil {
			return "", err
		}
	}
	port := l.EdgeAPIPort()
	var web strings.Builder
	fmt.Fprintf(&web, "# The lab's web VMs (ferry lab --vms N), all running the guest workload; to\n# migrate more of them, list them under vms: (probes: below)\n")
	for _, vm := range l.WebApps() {
		fmt.Fprintf(&web, "#   %-9s %s\n", vm.Name, vm.IP)
	}
	fmt.Fprintf(&web, "# Powered off, for a cold migration (one pass, no snapshot; mode: cold makes a\n# running VM cold too: shut down at the start of its cutover window):\n")
	for _, vm := range ColdVMs {
		fmt.Fprintf(&web, "#   %-9s %s\n", vm.Name, vm.IP)
	}
	body := fmt.Sprintf(labPlan, cfg, path, l.EdgeOVA(), on.Datacenter, on.DVS, EdgeApplianceIP, EdgeAppliancePrefix, EdgeApplianceGW, on.Datastore, port,
		web.String(), pv.Datacenter, pv.Pool, pv.Datastore, pv.Portgroups[0], ApplianceVM, probes.String(), BubbleNetwork)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return "", fmt.Errorf("lab plan: %w", err)
	}
	return path, nil
}
