package steps

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/lab/stretch"
	"github.com/ferry-migrate/ferry/lab/vcdsim"
	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

// migrationLab is a lab with the L2 stretch UP (steps 1-4 are tested on
// their own) and a plan for steps 5-8 that migrates vm.
func migrationLab(t *testing.T, vm string) (*lab.Lab, *Env) {
	t.Helper()
	return migrationLabWith(t, vm, lab.Options{})
}

// migrationLabWith is migrationLab with the lab's options opts (its disk
// size and workload rate are migrationLab's unless opts sets them).
func migrationLabWith(t *testing.T, vm string, opts lab.Options) (*lab.Lab, *Env) {
	t.Helper()
	opts.DiskSize = cmp.Or(opts.DiskSize, 16<<20)
	opts.WorkloadRate = cmp.Or(opts.WorkloadRate, 512<<10)
	l, err := lab.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	l.Fabric.PutServer(stretch.ServerTunnel{ID: "t", PeerCode: "pc", Enabled: true, TunnelIDs: []int{1}})
	l.Fabric.PutClient(stretch.ClientSession{ID: "s", PeerCode: "pc", Enabled: true, TunnelIDs: []int{1}})

	var target string
	for _, r := range l.Reach.Plan() {
		if r.Name == vm {
			target = r.Addr
		}
	}
	pf := &PlanFile{
		Org: "Company", VDC: "Company-VDC", EdgeGateway: "company-edge",
		Network: NetworkPlan{Name: "company-network", GatewayCIDR: "172.16.10.1/24"},
		VMs:     []VMPlan{{Name: vm}},
		RPO:     "1m",
		Skip:    []string{"rights", "trunk-network", "appliance", "dc-extension"},
		MigrationPlan: MigrationPlan{
			Provider: ProviderPlan{Datacenter: "Provider-DC", ResourcePool: "Company-VDC", Datastore: "provider-ds", Network: "vcd-company-network",
				ReceiverVM: lab.ApplianceVM},
			Probes: []ProbePlan{
				{Name: "tcp " + vm, VM: vm, TCP: target},
				{Name: "WebApp1 -> " + vm, From: "WebApp1", To: "172.16.10.12"},
			},
			// The lab's outage lasts about 0.1 s: probe often enough to see it.
			Cutover: CutoverPlan{ShutdownTimeout: "10s", ProbeInterval: "25ms", GreenTimeout: "20s"},
		},
	}
	pf.ApplyDefaults(NewItinerary())
	// The guest login (the probes' ping from WebApp1) is l.Config()'s, not
	// FERRY_GUEST_USER / FERRY_GUEST_PASSWORD: t.Setenv would keep the
	// tests on this lab from running in parallel.
	st := NewState(filepath.Join(t.TempDir(), "state.json"))
	env := NewEnv(l.Config(), pf, st)
	t.Cleanup(func() { env.Close(context.Background()) })

	// The stretched network exists in the VDC (step 2's work).
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
	if _, err := vcd.CreateRoutedNetwork(vdc, egw, vcd.NetworkSpec{Name: "company-network", GatewayCIDR: "172.16.10.1/24"}); err != nil {
		t.Fatal(err)
	}
	return l, env
}

// tenantVDC is Company-VDC as the tenant sees it through go-vcloud-director.
func tenantVDC(t *testing.T, l *lab.Lab) *govcd.Vdc {
	t.Helper()
	ten := l.Config().Tenant
	tc, err := vcd.Connect(context.Background(), vcd.Config{URL: ten.URL, User: ten.Username, Password: ten.Password, Org: ten.Org, CAFile: ten.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	org, err := tc.GetOrgByName("Company")
	if err != nil {
		t.Fatal(err)
	}
	vdc, err := org.GetVDCByName("Company-VDC", false)
	if err != nil {
		t.Fatal(err)
	}
	return vdc
}

// tenantVMStatus is the status go-vcloud-director, as the tenant, reports
// for the VM name in its vApp of the same name in Company-VDC.
func tenantVMStatus(t *testing.T, l *lab.Lab, name string) string {
	t.Helper()
	vapp, err := tenantVDC(t, l).GetVAppByName(name, true)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := vapp.GetVMByName(name, true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := vm.GetStatus()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// diskFilesOf lists the disk files of the provider VM named vm.
func diskFilesOf(t *testing.T, env *Env, vm string) []string {
	t.Helper()
	var out []string
	for _, d := range providerDisks(t, env, vm) {
		if b, ok := d.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			out = append(out, b.GetVirtualDeviceFileBackingInfo().FileName)
		}
	}
	return out
}

// providerDisks lists the disks of the provider VM named vm.
func providerDisks(t *testing.T, env *Env, vm string) []*types.VirtualDisk {
	t.Helper()
	ctx := context.Background()
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref, ok, err := labtest.ProviderVM(ctx, provider, vm)
	if err != nil || !ok {
		t.Fatalf("provider VM %s: %v", vm, err)
	}
	devices, err := object.NewVirtualMachine(provider.Client.Client, ref.Reference()).Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*types.VirtualDisk
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		out = append(out, d.(*types.VirtualDisk))
	}
	return out
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// TestMigrateWebApp2 runs steps 5-8 headless against the lab: WebApp2 ends
// up running in a vApp of Company-VDC, the source is off, the replica equals
// the source, the probes saw one short outage, and the report says so.
func TestMigrateWebApp2(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	var lines []string
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(ev Event) { lines = append(lines, string(ev.Kind)+" "+ev.Step+": "+ev.Message+ev.Error) }}

	// Without confirmation the run stops before the cutover.
	out, err := r.Run(ctx)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if out.StoppedBefore != "cutover" {
		t.Fatalf("stopped before %q, want cutover\n%s", out.StoppedBefore, strings.Join(lines, "\n"))
	}
	// The provider vCenter made the replica disk, and it was written
	// through the receiver appliance, to which it is hot-added.
	replica := "[provider-ds] " + replication.ReplicaDiskPath("Company", "WebApp2", 0)
	if got := diskFilesOf(t, env, lab.ApplianceVM); !slices.Contains(got, replica) {
		t.Fatalf("receiver appliance disks %v, want %s hot-added", got, replica)
	}

	r.Confirmed = true
	if _, err := r.Run(ctx); err != nil {
		t.Fatalf("cutover: %v\n%s", err, strings.Join(lines, "\n"))
	}
	t.Log(strings.Join(lines, "\n"))

	onprem, _ := env.OnPrem(ctx)
	src, err := onprem.VMByName(ctx, "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	if src.PoweredOn() {
		t.Error("source WebApp2 still powered on after cutover")
	}
	if fileHash(t, l.OnPrem.FlatFile("WebApp2")) != fileHash(t, l.ReplicaFlatFile(replica)) {
		t.Error("replica differs from source")
	}
	// The cutover moved the disk from the appliance to the target: detach
	// and attach, no copy.
	if got := diskFilesOf(t, env, lab.ApplianceVM); slices.Contains(got, replica) {
		t.Errorf("receiver appliance disks after the cutover %v: %s still attached", got, replica)
	}
	if got := diskFilesOf(t, env, "WebApp2"); !slices.Equal(got, []string{replica}) {
		t.Errorf("target WebApp2's disks %v, want the replica %s", got, replica)
	}
	// Nothing but the disk vCenter made is in the replica folder: ferry
	// wrote no descriptor or file of its own into the datastore.
	var files []string
	root := filepath.Join(l.Provider.DatastoreDir, replication.ReplicasFolder)
	if err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"Company/WebApp2/WebApp2_0-flat.vmdk", "Company/WebApp2/WebApp2_0.vmdk"}; !slices.Equal(files, want) {
		t.Errorf("files in the provider datastore's %s: %v, want only the disk vCenter made %v", replication.ReplicasFolder, files, want)
	}
	if raw, err := os.ReadFile(filepath.Join(root, "Company", "WebApp2", "WebApp2_0.vmdk")); err != nil ||
		!strings.Contains(string(raw), `createType="vmfs"`) || !strings.Contains(string(raw), "ddb.uuid") {
		t.Errorf("replica descriptor is not ESXi's (%v):\n%s", err, raw)
	}

	// go-vcloud-director (as the tenant) sees WebApp2 running in Company-VDC.
	if st := tenantVMStatus(t, l, "WebApp2"); st != "POWERED_ON" {
		t.Errorf("WebApp2 in vCD is %s", st)
	}

	// The report: one outage on the VM's probe, measured, under 5 seconds.
	reportPath := env.State.Get("cutover").Outputs["report"]
	md, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	js, err := os.ReadFile(strings.TrimSuffix(reportPath, ".md") + ".json")
	if err != nil || !strings.Contains(string(js), `"outcome": "migrated"`) {
		t.Errorf("JSON report: %v\n%s", err, js)
	}
	t.Logf("report:\n%s", md)
	var outages int
	for _, line := range strings.Split(string(md), "\n") {
		if strings.HasPrefix(line, "- tcp WebApp2:") {
			outages++
		}
	}
	if outages != 1 {
		t.Errorf("%d outages of the WebApp2 probe in the report, want 1", outages)
	}
	if !strings.Contains(string(md), "| WebApp2 | migrated |") {
		t.Errorf("report does not say migrated")
	}
	// The verify inside the downtime read only the blocks the final pass
	// touched (and compared the digest-map roots of the 16 MiB disk).
	var rep CutoverReport
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	if v, fp := rep.VMs[0].Verify, rep.VMs[0].FinalPass; v == nil || fp == nil || v.Mode != "final pass" || v.Blocks != fp.Checked ||
		v.BytesRead != v.Blocks*replication.HashBlock || v.RootBlocks != 16 {
		t.Errorf("verify %+v, final pass %+v: want only the final pass's blocks read", v, fp)
	}
	// How many blocks the final pass touched depends on how long the guest
	// wrote before its shutdown (a loaded machine: all 16 of this small
	// disk); that the verify read exactly those is what matters above.
	if err := (&Cutover{}).Verify(ctx, env); err != nil {
		t.Error(err)
	}

	// A second run changes nothing.
	lines = nil
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "already done") {
		t.Errorf("second run:\n%s", strings.Join(lines, "\n"))
	}

	// Another state of the plan (another plan, or this state file moved
	// aside) selects WebApp2, whose source is off since: step 5 refuses it,
	// naming the migrated VM that holds its replica disk, instead of
	// offering a cold migration, a second copy with its addresses (QA:
	// only step 6 refused it, at hot-add).
	other := NewEnv(l.Config(), env.Plan(), NewState(filepath.Join(t.TempDir(), "other.state.json")))
	t.Cleanup(func() { other.Close(context.Background()) })
	if _, err := (&VMSelection{}).Plan(ctx, other); err == nil || !strings.Contains(err.Error(), "WebApp2: its replica disk "+replica+" is used by VM WebApp2") ||
		!strings.Contains(err.Error(), "take WebApp2 out of the plan") {
		t.Errorf("step 5 of another state selecting the migrated WebApp2: %v", err)
	}
}

// TestCutoverFaultsRollBack injects a fault at each cutover phase: every
// time the source ends up running again, nothing is left at the provider or
// in vCD, the report says what happened, and replication goes on.
func TestCutoverFaultsRollBack(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		inject func(l *lab.Lab, env *Env)
		want   string
	}{
		{"pre-cutover pass fails", func(l *lab.Lab, env *Env) {
			// The pass's snapshot of the running source is refused.
			web2 := vmRef(env, "WebApp2")
			l.OnPrem.Model.Service.AddFaultRule(&simulator.FaultInjectionRule{
				MethodName: "CreateSnapshot_Task", ObjectType: "*", ObjectName: "*", Probability: 1,
				InclusionPropertyFilter: func(h mo.Reference) bool { return h.Reference().Value == web2 },
				FaultType:               simulator.FaultTypeGeneric, Message: "snapshot refused", Enabled: true})
		}, "pre-cutover pass"},
		{"shutdown refused", func(l *lab.Lab, env *Env) {
			no := false
			env.Plan().Cutover.HardPowerOff = &no
			l.OnPrem.Model.Service.AddFaultRule(&simulator.FaultInjectionRule{
				MethodName: "ShutdownGuest", ObjectType: "*", ObjectName: "WebApp2", Probability: 1,
				FaultType: simulator.FaultTypeInvalidState, Message: "guest refuses to shut down", Enabled: true})
		}, "shutdown"},
		{"final pass fails", func(l *lab.Lab, env *Env) {
			// Matched by moref: vcsim's ObjectName match panics on the
			// lab's VM wrappers, which carry no name of their own.
			onprem, _ := env.OnPrem(context.Background())
			web2, err := onprem.VMByName(context.Background(), "WebApp2")
			if err != nil {
				panic(err)
			}
			off := simulator.FaultFilterAll("runtime.powerState == poweredOff")
			l.OnPrem.Model.Service.AddFaultRule(&simulator.FaultInjectionRule{
				MethodName: "QueryChangedDiskAreas", ObjectType: "*", ObjectName: "*", Probability: 1,
				InclusionPropertyFilter: func(h mo.Reference) bool { return h.Reference().Value == web2.Ref.Value && off(h) },
				FaultType:               simulator.FaultTypeGeneric, Message: "disk read error", Enabled: true})
		}, "final pass"},
		{"create VM at provider fails", func(l *lab.Lab, env *Env) {
			l.Provider.Model.Service.AddFaultRule(&simulator.FaultInjectionRule{
				MethodName: "CreateVM_Task", ObjectType: "*", ObjectName: "*", Probability: 1,
				FaultType: simulator.FaultTypeGeneric, Message: "no room at the provider", Enabled: true})
		}, "create VM at provider"},
		{"import fails", func(l *lab.Lab, env *Env) {
			l.VCD.Faults.Add(vcdsim.Fault{Method: "POST", Path: "importVmAsVApp", Status: 500, Message: "import refused by the lab"})
		}, "import into vCD"},
		{"connect networks fails", func(l *lab.Lab, env *Env) {
			l.VCD.Faults.Add(vcdsim.Fault{Method: "PUT", Path: "networkConnectionSection", Status: 500, Message: "network refused by the lab"})
		}, "connect networks"},
		{"power-on fails", func(l *lab.Lab, env *Env) {
			l.VCD.Faults.Add(vcdsim.Fault{Method: "POST", Path: "/power/action/powerOn", Status: 500, Message: "no capacity in the lab"})
		}, "power on"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // a lab of its own, where tc.inject puts its fault
			// Nothing here needs the guest's background writes (no pass's
			// content is asserted; checkReplicaResumes writes a block of
			// its own): without them each case costs less CPU.
			l, env := migrationLabWith(t, "WebApp2", lab.Options{WorkloadRate: -1})
			ctx := context.Background()
			r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
			if _, err := r.Run(ctx); err != nil {
				t.Fatal(err)
			}
			tc.inject(l, env)
			r.Confirmed = true
			_, err := r.Run(ctx)
			// Before the shutdown there is nothing to roll back: the
			// source never stopped, and the error says so.
			outcome := "rolled back"
			if tc.want == "pre-cutover pass" {
				outcome = "stopped before the shutdown: WebApp2 kept running"
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), outcome) {
				t.Fatalf("cutover error %v: want a failure in %q saying %q", err, tc.want, outcome)
			}
			onprem, _ := env.OnPrem(ctx)
			src, _ := onprem.VMByName(ctx, "WebApp2")
			if !src.PoweredOn() {
				t.Error("source WebApp2 is not running after the rollback")
			}
			provider, _ := env.ProviderVC(ctx)
			if _, ok, _ := labtest.ProviderVM(ctx, provider, "WebApp2"); ok {
				t.Error("target VM left at the provider")
			}
			sys, _ := env.VCD(ctx)
			vdc, _ := sys.VDCByName("Company", "Company-VDC")
			if _, err := vdc.VApp("WebApp2"); !errors.Is(err, vcd.ErrNotFound) {
				t.Error("vApp left in vCD")
			}
			// A source that never went down is not "rolled back" in the
			// report: its cutover stopped before the shutdown.
			row := "| WebApp2 | rolled back |"
			if tc.want == "pre-cutover pass" {
				row = "| WebApp2 | stopped before the shutdown |"
			}
			md, err := os.ReadFile(env.State.Get("cutover").Outputs["report"])
			if err != nil || !strings.Contains(string(md), row) {
				t.Errorf("report: %v: want %q in\n%s", err, row, md)
			}
			// The source was down from the shutdown until the rollback
			// powered it on again: the report says how long.
			if tc.want != "shutdown" && tc.want != "pre-cutover pass" {
				for _, line := range strings.Split(string(md), "\n") {
					if cells := strings.Split(line, "|"); strings.HasPrefix(line, "| WebApp2 | rolled back |") && len(cells) > 4 && strings.TrimSpace(cells[4]) == "-" {
						t.Errorf("a rolled-back cutover's report shows no downtime although the source was down: %s", line)
					}
				}
			}
			// The replica is intact and replication resumes from it.
			l.OnPrem.Model.Service.ClearFaultRules()
			checkReplicaResumes(t, l, env, "WebApp2")
		})
	}
}

// vmRef is the moref of the on-prem VM name.
func vmRef(env *Env, name string) string {
	ctx := context.Background()
	onprem, err := env.OnPrem(ctx)
	if err != nil {
		panic(err)
	}
	vm, err := onprem.VMByName(ctx, name)
	if err != nil {
		panic(err)
	}
	return vm.Ref.Value
}

// TestMigrationBadInput: each bad answer is refused with a clear message
// before anything changes.
func TestMigrationBadInput(t *testing.T) {
	t.Parallel()
	l, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	onprem, _ := env.OnPrem(ctx)
	web3, _ := onprem.VMByName(ctx, "WebApp3")
	if err := onprem.PowerOff(ctx, web3.Ref); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(pf *PlanFile)
		want string
	}{
		{"VM not found", func(pf *PlanFile) { pf.VMs[0].Name = "WebApp9" }, `VM "WebApp9" (did you mean WebApp1, WebApp2 or WebApp3?) not found`},
		// The list of VMs offered leaves out ferry's own L2 VPN appliance
		// (here: WebApp1 named as the appliance).
		{"VM not found, appliance not offered", func(pf *PlanFile) { pf.VMs[0].Name, pf.Appliance.Name = "WebApp9", "WebApp1" },
			`VM "WebApp9" (did you mean WebApp2 or WebApp3?) not found on vCenter`},
		// QA: only the first was named, with no word of the case.
		{"VM names in another case, and unknown", func(pf *PlanFile) {
			pf.VMs[0].Name = "webapp2"
			pf.VMs = append(pf.VMs, VMPlan{Name: "NoSuchVM"})
		}, `VMs "webapp2" (names are case-sensitive: did you mean WebApp2?), "NoSuchVM" not found on vCenter`},
		{"VM powered off, mode warm", func(pf *PlanFile) { pf.VMs[0].Name, pf.VMs[0].Mode = "WebApp3", ModeWarm }, "plan says mode: warm, which replicates a running VM"},
		{"target network missing", func(pf *PlanFile) { pf.VMs[0].TargetNetwork = "nowhere" }, `target network "nowhere" not found`},
		{"RPO out of range", func(pf *PlanFile) { pf.VMs[0].RPO = replication.RPO(replication.MinRPO / 2) }, "VM WebApp2: 30s is out of range: the RPO must be between 1m and 24h"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig, origApp := slices.Clone(env.Plan().VMs), env.Plan().Appliance
			defer func() { env.Plan().VMs, env.Plan().Appliance = orig, origApp }()
			tc.edit(env.Plan())
			_, err := (&VMSelection{}).Plan(ctx, env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if env.Plan().Appliance.Name == "WebApp1" && (strings.Contains(err.Error(), "WebApp1") || !strings.Contains(err.Error(), "WebApp2")) {
				t.Errorf("VMs offered: %v; want ferry's appliance (WebApp1 here) left out, the others listed", err)
			}
		})
	}
	// Nothing changed: CBT still off on WebApp2.
	web2, _ := onprem.VMByName(ctx, "WebApp2")
	if web2.CBT {
		t.Error("planning enabled CBT")
	}
	// A bad cutover duration is refused by the cutover's plan, so that a
	// confirmed run's preflight stops before anything changes.
	env.Plan().Cutover.ShutdownTimeout = "soon"
	if _, err := (&Cutover{}).Plan(ctx, env); err == nil || !strings.Contains(err.Error(), `cutover.shutdown_timeout: duration "soon" is not valid`) {
		t.Errorf("cutover plan with shutdown_timeout soon: %v", err)
	}
	env.Plan().Cutover.ShutdownTimeout = "10s"
	// Cutover without a completed initial sync is refused, the source untouched.
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}, Confirmed: true}
	env.Plan().Skip = append(env.Plan().Skip, "replication")
	_, err := r.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "no completed initial sync") {
		t.Fatalf("cutover without sync: %v", err)
	}
	if web2, _ = onprem.VMByName(ctx, "WebApp2"); !web2.PoweredOn() {
		t.Error("source powered off by a refused cutover")
	}
	_ = l
}

// TestCutoverOneByOne: confirming one of two VMs cuts over that one; the
// other keeps running and replicating until it is confirmed in turn.
func TestCutoverOneByOne(t *testing.T) {
	t.Parallel()
	// No pass's content is asserted: no background writer, less CPU.
	_, env := migrationLabWith(t, "WebApp2", lab.Options{WorkloadRate: -1})
	ctx := context.Background()
	env.Plan().VMs = append(env.Plan().VMs, VMPlan{Name: "WebApp3"})
	env.Plan().ApplyDefaults(NewItinerary())
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	vms, err := ConfirmedVMs(env.Plan(), "WebApp2")
	if err != nil {
		t.Fatal(err)
	}
	env.CutoverVMs, r.Confirmed = vms, true
	// The plan of this run cuts WebApp2 over and says WebApp3 waits (QA:
	// it listed every VM as cut over).
	plan, err := (&Cutover{}).Plan(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range plan.Items {
		switch {
		case it.Name == "WebApp2" && it.Action != ActionCreate, it.Name == "WebApp3" && (it.Action != ActionExists || !strings.Contains(it.Detail, "not confirmed in this run")):
			t.Errorf("the plan of a cutover of WebApp2 alone: %s %s: %s", it.Action, it.Name, it.Detail)
		}
	}
	out, err := r.Run(ctx)
	if err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("first cutover: %+v %v", out, err)
	}
	if st := env.State.Get("cutover"); st.Status != StatusPending || !strings.Contains(st.Summary, "WebApp3 not cut over yet") {
		t.Errorf("cutover state after one VM: %+v", st)
	}
	onprem, _ := env.OnPrem(ctx)
	web2, _ := onprem.VMByName(ctx, "WebApp2")
	web3, _ := onprem.VMByName(ctx, "WebApp3")
	if web2.PoweredOn() || !web3.PoweredOn() {
		t.Fatalf("after cutting over WebApp2 only: WebApp2 on=%v, WebApp3 on=%v", web2.PoweredOn(), web3.PoweredOn())
	}
	if _, err := ConfirmedVMs(env.Plan(), "WebApp9"); err == nil {
		t.Error("confirming a VM outside the plan was accepted")
	}
	env.CutoverVMs = []string{"WebApp3"}
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "" {
		t.Fatalf("second cutover: %+v %v", out, err)
	}
	if st := env.State.Get("cutover"); st.Status != StatusDone {
		t.Errorf("cutover state after both: %+v", st)
	}
}

// TestInterruptedCutoverKeepsASharedVApp: a cutover interrupted before it
// imported anything, into a vApp that already holds another migrated VM,
// is retried without removing that vApp.
func TestInterruptedCutoverKeepsASharedVApp(t *testing.T) {
	t.Parallel()
	// No pass's content is asserted: no background writer, less CPU.
	l, env := migrationLabWith(t, "WebApp2", lab.Options{WorkloadRate: -1})
	ctx := context.Background()
	env.Plan().VMs = []VMPlan{{Name: "WebApp2", TargetVApp: "Shop"}, {Name: "WebApp3", TargetVApp: "Shop"}}
	env.Plan().ApplyDefaults(NewItinerary())
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	env.CutoverVMs, r.Confirmed = []string{"WebApp2"}, true
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "cutover" {
		t.Fatalf("cutover of WebApp2: %+v %v", out, err)
	}
	// A run died in WebApp3's cutover before it created anything.
	if err := env.State.SetOutput("cutover", cutoverKey("WebApp3"), cutoverRunning); err != nil {
		t.Fatal(err)
	}
	env.CutoverVMs = []string{"WebApp3"}
	if out, err := r.Run(ctx); err != nil || out.StoppedBefore != "" {
		t.Fatalf("cutover of WebApp3: %+v %v", out, err)
	}
	vapp, err := tenantVDC(t, l).GetVAppByName("Shop", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"WebApp2", "WebApp3"} {
		if _, err := vapp.GetVMByName(name, true); err != nil {
			t.Errorf("vApp Shop after the retried cutover: %s: %v", name, err)
		}
	}
}

// TestWarmReplicationInTheWizard: with warm replication on (the wizard),
// step 6 hands the VM to the scheduler, which keeps passing; the cutover
// takes the job over and the scheduler stops passing it.
func TestWarmReplicationInTheWizard(t *testing.T) {
	t.Parallel()
	_, env := migrationLab(t, "WebApp2")
	ctx := context.Background()
	var mu sync.Mutex
	passes := 0
	sched, err := env.EnableWarm(ctx, func(ev replication.Event) {
		if ev.Kind == replication.EventPassDone {
			mu.Lock()
			passes++
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := sched.Status()
	if len(st) != 1 || st[0].VM != "WebApp2" || st[0].LastPass.IsZero() || st[0].Paused {
		t.Fatalf("scheduler after step 6: %+v", st)
	}
	if err := sched.PassNow("WebApp2"); err != nil {
		t.Fatal(err)
	}
	r.Confirmed = true
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if st := sched.Status(); !st[0].Paused || st[0].Running {
		t.Errorf("scheduler after the cutover: %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if passes == 0 {
		t.Error("the dashboard saw no pass")
	}
}

// TestRollbackKeepsAnExistingVApp: a cutover into an existing vApp that
// fails at power-on removes only the imported VM; the vApp and its other
// VM stay.
func TestRollbackKeepsAnExistingVApp(t *testing.T) {
	t.Parallel()
	// No pass's content is asserted: no background writer, less CPU.
	l, env := migrationLabWith(t, "WebApp2", lab.Options{WorkloadRate: -1})
	ctx := context.Background()
	provider, err := env.ProviderVC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := provider.CreateVMOverDisks(ctx, vsphere.VMOverDisks{Name: "Legacy", Datacenter: "Provider-DC", Pool: "Company-VDC", Datastore: "provider-ds", Network: "vcd-company-network"})
	if err != nil {
		t.Fatal(err)
	}
	sys, _ := env.VCD(ctx)
	u, _ := url.Parse(l.Config().Provider.URL)
	vc, err := sys.VirtualCenterFor(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	vdc, _ := sys.VDCByName("Company", "Company-VDC")
	if _, err := sys.ImportVMAsVApp(vc, other.Value, vdc, "Shared"); err != nil {
		t.Fatal(err)
	}
	env.Plan().VMs[0].TargetVApp = "Shared"
	r := &Runner{Itinerary: NewItinerary(), Env: env, Emit: func(Event) {}}
	if _, err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	l.VCD.Faults.Add(vcdsim.Fault{Method: "POST", Path: "/power/action/powerOn", Status: 500, Message: "no capacity in the lab"})
	r.Confirmed = true
	if _, err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("cutover: %v", err)
	}
	vapp, err := tenantVDC(t, l).GetVAppByName("Shared", true)
	if err != nil {
		t.Fatalf("the existing vApp is gone: %v", err)
	}
	var got []string
	if vapp.VApp.Children != nil {
		for _, vm := range vapp.VApp.Children.VM {
			got = append(got, vm.Name)
		}
	}
	if len(got) != 1 || got[0] != "Legacy" {
		t.Errorf("vApp Shared holds %v, want only Legacy", got)
	}
	if _, ok, _ := labtest.ProviderVM(ctx, provider, "WebApp2"); ok {
		t.Error("target VM left at the provider")
	}
	checkReplicaResumes(t, l, env, "WebApp2")
}
