package steps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vcd"
)

// backendNetwork creates a second org VDC network, for the lab's second
// port group.
func backendNetwork(t *testing.T, env *Env, name string) {
	t.Helper()
	sys, err := env.VCD(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	vdc, err := sys.VDCByName("Company", "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	egw, err := sys.EdgeGatewayByName(vdc, "company-edge")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vcd.CreateRoutedNetwork(vdc, egw, vcd.NetworkSpec{Name: name, GatewayCIDR: "10.20.0.1/24"}); err != nil {
		t.Fatal(err)
	}
}

// TestVMSelectionCapturesConfigAndMapsNetworks: VM selection refuses a NIC
// whose port group maps to no org VDC network (or to one the VDC lacks)
// before anything changes; with the mapping, ferry plan shows the captured
// configuration and each NIC's network, and Apply persists the
// configuration with the step state.
func TestVMSelectionCapturesConfigAndMapsNetworks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, env := migrationLab(t, "WinSrv1")
	s := &VMSelection{}
	_, err := s.Plan(ctx, env)
	if err == nil || !strings.Contains(err.Error(), `port group "`+lab.SecondPortgroup+`"`) || !strings.Contains(err.Error(), "networks:") {
		t.Fatalf("plan with an unmapped NIC: %v", err)
	}
	if _, err := s.Apply(ctx, env, func(Event) {}); err == nil {
		t.Fatal("apply with an unmapped NIC succeeded")
	}
	if _, ok, _ := savedVMConfig(env.State, "WinSrv1"); ok {
		t.Fatal("a refused selection persisted a configuration")
	}

	env.Plan().Networks = map[string]string{lab.SecondPortgroup: "backend"}
	if _, err := s.Plan(ctx, env); err == nil || !strings.Contains(err.Error(), `"backend", which VDC Company-VDC does not have`) {
		t.Fatalf("plan with a NIC mapped to a missing network: %v", err)
	}
	// An entry for a port group no VM uses (a typo) is refused too.
	env.Plan().Networks["backend-netwrok"] = "backend"
	if _, err := s.Plan(ctx, env); err == nil || !strings.Contains(err.Error(), `"backend", which VDC Company-VDC does not have`) {
		t.Fatalf("plan with a NIC mapped to a missing network and a typo: %v", err)
	}
	backendNetwork(t, env, "backend")
	if _, err := s.Plan(ctx, env); err == nil || !strings.Contains(err.Error(), `networks: backend-netwrok: no VM on the on-prem vCenter has a NIC on port group "backend-netwrok" (port groups in use: `) {
		t.Fatalf("plan with a networks: entry for no port group: %v", err)
	}
	delete(env.Plan().Networks, "backend-netwrok")
	p, err := s.Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	text := p.String()
	for _, want := range []string{
		"windows2019srv_64Guest, efi + secure boot, vmx-19, 4 vCPU (2 per socket), 4096 MiB",
		"controller lsilogic-sas0", "controller pvscsi1",
		"disk lsilogic-sas0:0: [onprem-ds] WinSrv1/WinSrv1.vmdk, 16 MiB, thin",
		"disk lsilogic-sas0:1: [onprem-ds] WinSrv1/WinSrv1_1.vmdk", "disk pvscsi1:0: [onprem-ds] WinSrv1/WinSrv1_2.vmdk",
		"on company-network, connected at power on -> org VDC network company-network",
		"on " + lab.SecondPortgroup + ", connected at power on -> org VDC network backend",
		"NIC e1000e ", "NIC vmxnet3 ", "disk.EnableUUID=TRUE",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q:\n%s", want, text)
		}
	}
	if _, err := s.Apply(ctx, env, func(Event) {}); err != nil {
		t.Fatal(err)
	}
	cfg, ok, err := savedVMConfig(env.State, "WinSrv1")
	if err != nil || !ok {
		t.Fatalf("saved configuration: %v %v", ok, err)
	}
	if cfg.Firmware != "efi" || !cfg.SecureBoot || len(cfg.Disks) != 3 || len(cfg.NICs) != 2 || cfg.NICs[0].Type != "e1000e" {
		t.Errorf("saved configuration %+v", cfg)
	}
	// The state file holds it: a new process reads it back.
	st, err := LoadState(env.State.Path())
	if err != nil {
		t.Fatal(err)
	}
	if again, ok, err := savedVMConfig(st, "WinSrv1"); err != nil || !ok || again.Summary() != cfg.Summary() {
		t.Errorf("reloaded configuration %+v %v %v", again, ok, err)
	}
}

// migrateVM runs steps 5 to 8 for the lab VM name (its second port group
// mapped to an org VDC network "backend") and returns the cutover's error.
func migrateVM(t *testing.T, name, greenTimeout string) (*lab.Lab, *Env, error) {
	t.Helper()
	l, env := migrationLab(t, name)
	ctx := context.Background()
	env.Plan().Networks = map[string]string{lab.SecondPortgroup: "backend"}
	env.Plan().Cutover.GreenTimeout = greenTimeout
	// WinSrv1's licence is bound to its BIOS UUID: the plan keeps it.
	env.Plan().VMs[0].KeepBIOSUUID = name == "WinSrv1"
	backendNetwork(t, env, "backend")
	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }}
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("run: %v\n%s", err, strings.Join(lines, "\n"))
	}
	r.Confirmed = true
	_, err := r.Run(ctx)
	t.Log(strings.Join(lines, "\n"))
	return l, env, err
}

// TestMigrateHeterogeneousVMs: WebApp2, WinSrv1 (EFI + secure boot, LSI
// Logic SAS and pvscsi, e1000e and vmxnet3 on two networks) and LinuxDB1
// (BIOS, LSI Logic, vmxnet3) come up at the provider with the source's
// firmware, guest id, hardware version, CPU, memory, controllers, disk
// positions, NIC types and MACs, as govmomi reads them; as the tenant sees
// them in Cloud Director, on the mapped networks at the source's addresses,
// guest customization off, in the VDC's storage policy; imported in place
// without a disk copy; and the lab's guest model boots them.
func TestMigrateHeterogeneousVMs(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"WebApp2", "WinSrv1", "LinuxDB1"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // a lab of its own
			l, env, err := migrateVM(t, name, "20s")
			if err != nil {
				t.Fatalf("cutover of %s: %v (guest model: %+v)", name, err, l.Reach.BootFailures())
			}
			ctx := context.Background()
			if f := l.Reach.BootFailures(); len(f) != 0 {
				t.Errorf("guest did not come up: %+v", f)
			}
			src, ok, err := savedVMConfig(env.State, name)
			if err != nil || !ok {
				t.Fatalf("captured configuration: %v %v", ok, err)
			}
			provider, err := env.ProviderVC(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ref, ok, err := labtest.ProviderVM(ctx, provider, name)
			if err != nil || !ok {
				t.Fatalf("target %s at the provider: %v %v", name, ok, err)
			}
			got, err := provider.VMConfig(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if got.Summary() != src.Summary() {
				t.Errorf("target %s, source %s", got.Summary(), src.Summary())
			}
			if got.GuestID != src.GuestID || got.Firmware != src.Firmware || got.SecureBoot != src.SecureBoot || got.HWVersion != src.HWVersion ||
				got.CPUs != src.CPUs || got.CoresPerSocket != src.CoresPerSocket || got.MemoryMB != src.MemoryMB || got.DiskEnableUUID != src.DiskEnableUUID {
				t.Errorf("target %+v\nsource %+v", got, src)
			}
			// The BIOS UUID is kept only where the plan asks (WinSrv1).
			if keep := name == "WinSrv1"; (got.UUID == src.UUID) != keep || src.UUID == "" {
				t.Errorf("BIOS UUID: target %q, source %q; kept %v, want %v", got.UUID, src.UUID, got.UUID == src.UUID, keep)
			}
			if len(got.Controllers) != len(src.Controllers) {
				t.Errorf("controllers %+v, source %+v", got.Controllers, src.Controllers)
			}
			for i := range min(len(got.Controllers), len(src.Controllers)) {
				if got.Controllers[i].Type != src.Controllers[i].Type || got.Controllers[i].Bus != src.Controllers[i].Bus {
					t.Errorf("controller %d: %+v, source %+v", i, got.Controllers[i], src.Controllers[i])
				}
			}
			if len(got.Disks) != len(src.Disks) {
				t.Fatalf("disks %+v, source %+v", got.Disks, src.Disks)
			}
			for i, d := range src.Disks {
				g := got.Disks[i]
				if g.Position() != d.Position() || g.Capacity != d.Capacity || g.Mode != d.Mode {
					t.Errorf("disk %d: %s %d %s, source %s %d %s", i, g.Position(), g.Capacity, g.Mode, d.Position(), d.Capacity, d.Mode)
				}
			}
			if len(got.NICs) != len(src.NICs) {
				t.Fatalf("NICs %+v, source %+v", got.NICs, src.NICs)
			}
			for i, n := range src.NICs {
				if got.NICs[i].Type != n.Type || got.NICs[i].MAC != n.MAC {
					t.Errorf("NIC %d: %s %s, source %s %s", i, got.NICs[i].Type, got.NICs[i].MAC, n.Type, n.MAC)
				}
			}
			// The tenant sees it running with the source's MACs.
			vapp, err := tenantVDC(t, l).GetVAppByName(name, true)
			if err != nil {
				t.Fatal(err)
			}
			vm, err := vapp.GetVMByName(name, true)
			if err != nil {
				t.Fatal(err)
			}
			if st, _ := vm.GetStatus(); st != "POWERED_ON" {
				t.Errorf("%s in vCD is %s", name, st)
			}
			// Guest customization is off, so that the power-on after the
			// NICs were connected did not re-customize the guest.
			if gcs, err := vm.GetGuestCustomizationSection(); err != nil || gcs.Enabled == nil || *gcs.Enabled {
				t.Errorf("guest customization of %s: %+v %v; want it disabled", name, gcs, err)
			}
			if r := l.VCD.Recustomizations(); len(r) != 0 {
				t.Errorf("Cloud Director re-customized the guest at power-on: %+v", r)
			}
			if ncs := vm.VM.NetworkConnectionSection; ncs == nil || len(ncs.NetworkConnection) != len(src.NICs) {
				t.Errorf("vCD network connections %+v, want %d", ncs, len(src.NICs))
			} else {
				for i, nc := range ncs.NetworkConnection {
					n := src.NICs[i]
					if !strings.EqualFold(nc.MACAddress, n.MAC) {
						t.Errorf("vCD NIC %d: MAC %s, source %s", i, nc.MACAddress, n.MAC)
					}
					// Connected to the org VDC network the plan maps its
					// port group to, at the source's address.
					want := map[string]string{"company-network": "company-network", lab.SecondPortgroup: "backend"}[n.Portgroup]
					if nc.Network != want || !nc.IsConnected || nc.NeedsCustomization {
						t.Errorf("vCD NIC %d: network %q connected %v customization %v, want %q connected, no customization", i, nc.Network, nc.IsConnected, nc.NeedsCustomization, want)
					}
					if len(n.IPs) > 0 && (nc.IPAddressAllocationMode != "MANUAL" || nc.IPAddress != n.IPs[0]) {
						t.Errorf("vCD NIC %d: %s %s, want MANUAL %s", i, nc.IPAddressAllocationMode, nc.IPAddress, n.IPs[0])
					}
				}
			}
			if len(src.NICs) == 0 || len(src.NICs[0].IPs) == 0 || src.NICs[0].IPs[0] != map[string]string{"WebApp2": "172.16.10.12", "WinSrv1": "172.16.10.21", "LinuxDB1": "172.16.10.22"}[name] {
				t.Errorf("captured NIC addresses %+v", src.NICs)
			}
			// Imported in place into the VDC's storage policy (the plan
			// names none: the VDC's default, passed with the import).
			imports := l.VCD.Imports()
			if len(imports) == 0 || imports[len(imports)-1].VM != name || !imports[len(imports)-1].SourceMove || imports[len(imports)-1].DiskCopied ||
				imports[len(imports)-1].Relocated || imports[len(imports)-1].StorageProfile != "*" {
				t.Errorf("imports %+v: want %s adopted in place in storage profile *, no disk copy", imports, name)
			}
			if vm.VM.StorageProfile == nil || vm.VM.StorageProfile.Name != "*" {
				t.Errorf("%s's storage profile as the tenant sees it: %+v, want *", name, vm.VM.StorageProfile)
			}
		})
	}
}

// TestPlacementChecked: VM selection (and the cutover, before the source
// stops) refuses a provider resource pool outside the org VDC's provider
// VDC and a replica datastore that is not one of the provider VDC's, as
// Cloud Director reports them to the provider through go-vcloud-director.
func TestPlacementChecked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, env := migrationLab(t, "LinuxDB1")
	s := &VMSelection{}
	if _, err := s.Plan(ctx, env); err != nil {
		t.Fatalf("placement in Company-VDC's pool on provider-ds: %v", err)
	}
	sys, err := env.VCD(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vdc, err := sys.VDCByName("Company", "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	// The provider VDC's datastores: provider-ds and the NFS datastore.
	pl, err := sys.VDCPlacement(vdc)
	if err != nil || len(pl.VDCPools) != 1 || len(pl.ProviderPools) != 1 || len(pl.Datastores) != 2 || pl.ProviderVDC == "" {
		t.Fatalf("placement %+v %v", pl, err)
	}

	// A second cluster and a datastore outside the provider VDC.
	prov, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := prov.Finder()
	dc, err := f.Datacenter(ctx, "Provider-DC")
	if err != nil {
		t.Fatal(err)
	}
	folders, _ := dc.Folders(ctx)
	cluster, err := folders.HostFolder.CreateCluster(ctx, "Other-Cluster", vimtypes.ClusterConfigSpecEx{})
	if err != nil {
		t.Fatal(err)
	}
	task, err := cluster.AddHost(ctx, vimtypes.HostConnectSpec{HostName: "esx-09.provider.lab", UserName: "root", Password: "lab", Force: true}, true, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	host := object.NewHostSystem(prov.Client.Client, info.Result.(vimtypes.ManagedObjectReference))
	dss, err := host.ConfigManager().DatastoreSystem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(l.Dir, "other-ds"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := dss.CreateLocalDatastore(ctx, "other-ds", filepath.Join(l.Dir, "other-ds")); err != nil {
		t.Fatal(err)
	}

	env.Plan().Provider.ResourcePool = "/Provider-DC/host/Other-Cluster/Resources"
	if _, err := s.Plan(ctx, env); err == nil || !strings.Contains(err.Error(), "provider.resource_pool") || !strings.Contains(err.Error(), "relocate") {
		t.Errorf("a pool outside the provider VDC: %v", err)
	}
	env.Plan().Provider.ResourcePool = "Company-VDC"
	env.Plan().Provider.Datastore = "other-ds"
	if _, err := s.Plan(ctx, env); err == nil || !strings.Contains(err.Error(), "provider.datastore") || !strings.Contains(err.Error(), "copy every replica disk") {
		t.Errorf("a datastore outside the provider VDC: %v", err)
	}
}

func TestHWAbove(t *testing.T) {
	for _, tc := range []struct {
		v, highest string
		want       bool
	}{
		{"vmx-19", "vmx-21", false}, {"vmx-21", "vmx-21", false}, {"vmx-21", "vmx-19", true},
		{"vmx-9", "vmx-13", false}, {"vmx-13", "vmx-9", true}, {"vmx-19", "", false}, {"", "vmx-21", false},
	} {
		if got := hwAbove(tc.v, tc.highest); got != tc.want {
			t.Errorf("hwAbove(%q, %q) = %v, want %v", tc.v, tc.highest, got, tc.want)
		}
	}
}

// TestStoragePolicyChecked: the replica datastore must support the VM's
// VDC storage policy, as Cloud Director lists the vCenter policy's
// datastores; a named storage_profile the VDC lacks is refused too.
func TestStoragePolicyChecked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, env := migrationLab(t, "LinuxDB1")
	s := &VMSelection{}
	sys, err := env.VCD(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vcs, err := sys.VirtualCenters()
	if err != nil || len(vcs) != 1 {
		t.Fatalf("virtual centers %v %v", vcs, err)
	}
	dss, err := sys.PolicyDatastores(vcs[0], "*") // provider-ds and provider-nfs
	if err != nil || len(dss) != 2 {
		t.Fatalf("datastores of policy *: %v %v", dss, err)
	}
	env.Plan().VMs[0].StorageProfile = "gold"
	if _, err := s.Plan(ctx, env); err == nil || !strings.Contains(err.Error(), `"gold"`) {
		t.Errorf("a storage_profile the VDC lacks: %v", err)
	}
	// QA walk (hB): the wizard said "press esc to change the answers" and
	// esc did not open Storage policy, and "nfs" for the lab's NFS policy
	// was refused without a word of the name meant. The refusal names the
	// answer to change (the field esc opens) and the policy meant.
	env.Plan().VMs[0].StorageProfile = "nfs"
	_, err = s.Plan(ctx, env)
	if fe, ok := errors.AsType[*FieldError](err); !ok || fe.Key != "storage_profile" {
		t.Errorf("a storage_profile the VDC lacks: %v, want it refused as the answer storage_profile (a FieldError)", err)
	}
	if err == nil || !strings.Contains(err.Error(), `storage policy "nfs" (names are case-sensitive: did you mean NFS?) not found (available: *, NFS)`) {
		t.Errorf("storage_profile nfs in a VDC with policy NFS: %v, want it to name NFS as the policy meant", err)
	}
	env.Plan().VMs[0].StorageProfile = "*"
	if _, err := s.Plan(ctx, env); err != nil {
		t.Errorf("storage_profile *: %v", err)
	}

	// A datastore of the provider VDC that does not support the policy.
	prov, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := prov.Finder().HostSystemList(ctx, "/Provider-DC/host/Provider-Cluster/*")
	if err != nil || len(hosts) == 0 {
		t.Fatalf("hosts %v %v", hosts, err)
	}
	dssys, err := hosts[0].ConfigManager().DatastoreSystem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(l.Dir, "bronze-ds")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := dssys.CreateLocalDatastore(ctx, "bronze-ds", dir); err != nil {
		t.Fatal(err)
	}
	env.Plan().Provider.Datastore = "bronze-ds"
	if _, err := s.Plan(ctx, env); err == nil || !strings.Contains(err.Error(), "provider.datastore") {
		t.Errorf("a datastore outside the provider VDC and the policy: %v", err)
	}
	if _, err := checkStoragePolicy(ctx, env, env.Plan().VMs[0]); err == nil || !strings.Contains(err.Error(), `does not support storage policy "*"`) {
		t.Errorf("the storage policy check on its own: %v", err)
	}
	env.Plan().Provider.Datastore = "provider-ds"
	if _, err := checkStoragePolicy(ctx, env, env.Plan().VMs[0]); err != nil {
		t.Errorf("provider-ds supports *: %v", err)
	}

	// No storage_profile named, and the VDC has several policies: the VM
	// gets the VDC's default, which the provider made one provider-ds does
	// not support (only the NFS datastore does). The import would copy the
	// replicas into it inside the downtime: refused at selection, naming the
	// default and what to do.
	env.Plan().VMs[0].StorageProfile = ""
	if _, err := checkStoragePolicy(ctx, env, env.Plan().VMs[0]); err != nil {
		t.Errorf("no storage_profile, the default * supported by provider-ds: %v", err)
	}
	if p, err := s.Plan(ctx, env); err != nil || !strings.Contains(p.String(), `? check storage policy "*": "any": every datastore of the provider VDC; VDC Company-VDC's default, what an import naming none gets: the imports of LinuxDB1 name it`) {
		t.Errorf("VM selection's plan with no storage_profile: %v, want the default policy the import names\n%s", err, p.String())
	}
	if err := l.VCD.SetDefaultStoragePolicy(lab.NFSStoragePolicy); err != nil {
		t.Fatal(err)
	}
	_, err = s.Plan(ctx, env)
	for _, want := range []string{"provider.datastore", `"NFS"`, "default", "storage_profile", "its datastores: provider-nfs (datastore-"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no storage_profile, the VDC's default NFS not supported by provider-ds: %v; want it refused naming %s", err, want)
		}
	}
	env.Plan().VMs[0].StorageProfile = "*"
	if _, err := s.Plan(ctx, env); err != nil {
		t.Errorf("storage_profile * named, NFS the default: %v", err)
	}

	// A policy the provider disabled: Cloud Director places no VM in it,
	// so the import would fail after the shutdown. Refused at selection.
	if err := l.VCD.SetDefaultStoragePolicy("*"); err != nil {
		t.Fatal(err)
	}
	if err := l.VCD.SetStoragePolicyEnabled(lab.NFSStoragePolicy, false); err != nil {
		t.Fatal(err)
	}
	env.Plan().VMs[0].StorageProfile = lab.NFSStoragePolicy
	env.Plan().Provider.Datastore = lab.ProviderNFSDatastore
	if _, err := s.Plan(ctx, env); err == nil || !strings.Contains(err.Error(), `storage policy "NFS" of VDC Company-VDC is disabled`) {
		t.Errorf("storage_profile naming a disabled policy: %v, want it refused", err)
	}
	if err := l.VCD.SetStoragePolicyEnabled(lab.NFSStoragePolicy, true); err != nil {
		t.Fatal(err)
	}
	if _, err := checkStoragePolicy(ctx, env, env.Plan().VMs[0]); err != nil {
		t.Errorf("NFS enabled again, on provider-nfs: %v", err)
	}

	// The policy's storage limit has less room than the VM's disks take
	// (Cloud Director counts their capacity): the import would be refused
	// after the shutdown. Refused at selection; room enough, it passes.
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src, err := onprem.VMByName(ctx, "LinuxDB1")
	if err != nil {
		t.Fatal(err)
	}
	needMB := (src.DiskBytes() + 1<<20 - 1) >> 20
	if err := l.VCD.SetStoragePolicyLimit(lab.NFSStoragePolicy, needMB-1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Plan(ctx, env); err == nil || !strings.Contains(err.Error(), `storage policy "NFS" of VDC Company-VDC has`) || !strings.Contains(err.Error(), "raise the limit") {
		t.Errorf("a storage limit below the VM's disks: %v, want it refused", err)
	}
	if err := l.VCD.SetStoragePolicyLimit(lab.NFSStoragePolicy, needMB); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Plan(ctx, env); err != nil {
		t.Errorf("a storage limit that fits the VM's disks: %v", err)
	}
}
