package steps

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/replication"
)

// TestPowerOnChoice: the plan's power_on read and written as a typed
// choice; absent means power on.
func TestPowerOnChoice(t *testing.T) {
	off, on := false, true
	if p := (VMPlan{}).Power(); p != PowerOnTarget {
		t.Fatalf("no power_on: %v, want power on", p)
	}
	if p := (VMPlan{PowerOn: &off}).Power(); p != LeaveOff {
		t.Fatalf("power_on: false: %v, want leave off", p)
	}
	if p := (VMPlan{PowerOn: &on}).Power(); p != PowerOnTarget {
		t.Fatalf("power_on: true: %v, want power on", p)
	}
	if PowerOnTarget.Toggle() != LeaveOff || LeaveOff.Toggle() != PowerOnTarget {
		t.Fatal("Toggle does not switch")
	}
	vms := []VMPlan{{Name: "a"}, {Name: "b", PowerOn: &on}}
	if p, mixed := WavePower(vms); p != PowerOnTarget || mixed {
		t.Fatalf("WavePower of VMs that all power on: %v (mixed %v), want power on", p, mixed)
	}
	if p, mixed := WavePower([]VMPlan{{Name: "c", PowerOn: &off}}); p != LeaveOff || mixed {
		t.Fatalf("WavePower of a VM left off: %v (mixed %v), want leave off", p, mixed)
	}
	vms = append(vms, VMPlan{Name: "c", PowerOn: &off})
	if p, mixed := WavePower(vms); p != LeaveOff || !mixed {
		t.Fatalf("WavePower with one VM left off: %v (mixed %v), want mixed, and leave off for one choice for all (never power on what the plan leaves off)", p, mixed)
	}
	pf := &PlanFile{VMs: vms}
	pf.SetPower([]string{"a", "c"}, LeaveOff)
	if pf.VMs[0].Power() != LeaveOff || pf.VMs[1].Power() != PowerOnTarget || pf.VMs[2].Power() != LeaveOff {
		t.Fatalf("SetPower(a, c, off): %v %v %v", pf.VMs[0].Power(), pf.VMs[1].Power(), pf.VMs[2].Power())
	}
	// The field the wizard shows writes the choice, never a string.
	o := &JobOptions{}
	fs := o.Fields(func() string { return "" }, func() []string { return nil })
	power := fs[len(fs)-1]
	if power.Key != "power_on" || !power.Bool || power.Get(nil) != "true" {
		t.Fatalf("power field %q bool=%v value %q", power.Key, power.Bool, power.Get(nil))
	}
	for v, want := range map[string]PowerOn{"false": LeaveOff, "FALSE": LeaveOff, "0": LeaveOff, "true": PowerOnTarget} {
		power.Set(nil, v)
		if o.Power != want || o.EachPower {
			t.Errorf("power_on %q: %v (each %v), want %v for all", v, o.Power, o.EachPower, want)
		}
	}
	// Empty keeps each VM's own choice.
	power.Set(nil, "")
	if !o.EachPower || power.Get(nil) != "" {
		t.Errorf("power_on \"\": each %v, value %q; want each VM's own", o.EachPower, power.Get(nil))
	}
}

// TestSelectVMsKeepsEachPower (QA: confirming step 5 with WebApp1 to power
// on and WebApp3 to be left off wrote the last VM's power_on to both): the
// options of a plan whose VMs differ keep each VM's own choice, the field
// says whose is what, and a choice for all is written to all.
func TestSelectVMsKeepsEachPower(t *testing.T) {
	on, off := true, false
	pf := &PlanFile{VDC: "Company-VDC", Network: NetworkPlan{Name: "company-network"}, VMs: []VMPlan{
		{Name: "WebApp1", TargetVApp: "web-1", PowerOn: &on},
		{Name: "WebApp3", PowerOn: &off, KeepBIOSUUID: true, Mode: ModeCold}}}
	env := NewEnv(nil, pf, NewState(""))
	o := env.JobOptions()
	if !o.EachPower {
		t.Fatalf("options of a plan whose VMs differ: %+v, want each VM's own power", o)
	}
	sel := []string{"WebApp1", "WebApp3", "db01"}
	fs := o.Fields(func() string { return "" }, func() []string { return sel })
	power := fs[len(fs)-1]
	if got, want := power.Each(env.Plan()), "as each VM has it: on for WebApp1 and db01; off for WebApp3"; got != want {
		t.Errorf("Each = %q, want %q", got, want)
	}
	if power.Get(env.Plan()) != "" || power.Default(env.Plan()) != "" {
		t.Errorf("value %q, default %q: want both empty (each VM's own)", power.Get(env.Plan()), power.Default(env.Plan()))
	}
	env.SelectVMs(sel, o)
	got := map[string]VMPlan{}
	for _, vm := range env.Plan().VMs {
		got[vm.Name] = vm
	}
	for name, want := range map[string]PowerOn{"WebApp1": PowerOnTarget, "WebApp3": LeaveOff, "db01": PowerOnTarget} {
		if vm := got[name]; vm.Power() != want || vm.PowerOn == nil {
			t.Errorf("%s: power %v (power_on %v), want %v written", name, vm.Power(), vm.PowerOn, want)
		}
	}
	// What the options do not set stays the VM's own.
	if w1, w3 := got["WebApp1"], got["WebApp3"]; w1.TargetVApp != "web-1" || !w3.KeepBIOSUUID || w3.Mode != ModeCold || got["db01"].TargetVApp != "db01" {
		t.Errorf("re-selected VMs lost their own answers: %+v %+v %+v", w1, w3, got["db01"])
	}
	// One choice for all is written to all.
	power.Set(env.Plan(), "false")
	env.SelectVMs(sel, o)
	for _, vm := range env.Plan().VMs {
		if vm.Power() != LeaveOff {
			t.Errorf("%s: power %v after off for all", vm.Name, vm.Power())
		}
	}
	if o := env.JobOptions(); o.EachPower || o.Power != LeaveOff {
		t.Errorf("options read back %+v, want off for all", o)
	}
}

// TestSelectVMsKeepsEachOption (QA: confirming step 5 with WebApp1 on
// company-network and WebApp3 on dmz, each with its own storage policy
// and RPO in the plan file, wrote the last VM's to both): the options of a
// plan whose VMs differ keep each VM's own target network, storage policy
// and RPO, the fields say whose is what, a value typed is written to all,
// and clearing it comes back to each VM's own.
func TestSelectVMsKeepsEachOption(t *testing.T) {
	pf := &PlanFile{VDC: "Company-VDC", RPO: "5m", Network: NetworkPlan{Name: "company-network"}, VMs: []VMPlan{
		{Name: "WebApp1", TargetVApp: "web-1", TargetNetwork: "company-network", RPO: replication.RPO(5 * time.Minute)},
		{Name: "WebApp3", TargetNetwork: "dmz", StorageProfile: "gold", RPO: replication.RPO(15 * time.Minute)}}}
	env := NewEnv(nil, pf, NewState(""))
	o := env.JobOptions()
	if !o.EachNetwork || !o.EachStorage || !o.EachRPO {
		t.Fatalf("options of a plan whose VMs differ: %+v, want each VM's own network, storage, RPO", o)
	}
	sel := []string{"WebApp1", "WebApp3", "db01"}
	fields := map[string]Field{}
	for _, f := range o.Fields(func() string { return "" }, func() []string { return sel }) {
		fields[f.Key] = f
	}
	for key, want := range map[string]string{
		"target_network":  "as each VM has it: company-network for WebApp1 and db01; dmz for WebApp3",
		"storage_profile": "as each VM has it: the VDC default for WebApp1 and db01; gold for WebApp3",
		"rpo":             "as each VM has it: 5m for WebApp1 and db01; 15m for WebApp3",
	} {
		f := fields[key]
		if f.Each == nil || f.Each(env.Plan()) != want {
			t.Errorf("%s: Each = %q, want %q", key, f.Each(env.Plan()), want)
		}
		if f.Get(env.Plan()) != "" || f.Check(env.Plan()) != nil {
			t.Errorf("%s: value %q, check %v; want empty (each VM's own) and valid", key, f.Get(env.Plan()), f.Check(env.Plan()))
		}
	}
	type opts struct{ network, storage, rpo string }
	written := func() map[string]opts {
		out := map[string]opts{}
		for _, vm := range env.Plan().VMs {
			out[vm.Name] = opts{vm.TargetNetwork, vm.StorageProfile, vm.RPO.String()}
		}
		return out
	}
	env.SelectVMs(sel, o)
	env.Plan().ApplyVMDefaults() // as the wizard saves it
	if got, want := written(), map[string]opts{
		"WebApp1": {"company-network", "", "5m"}, "WebApp3": {"dmz", "gold", "15m"}, "db01": {"company-network", "", "5m"},
	}; !maps.Equal(got, want) {
		t.Errorf("confirmed untouched: %v, want each VM's own %v", got, want)
	}
	if env.Plan().RPO != "5m" || env.Plan().VMs[0].TargetVApp != "web-1" {
		t.Errorf("plan rpo %q, WebApp1's vApp %q: want 5m and web-1 kept", env.Plan().RPO, env.Plan().VMs[0].TargetVApp)
	}
	// Typed, then cleared: each VM's own again, said so.
	storage := fields["storage_profile"]
	storage.Set(env.Plan(), "silver")
	if o.EachStorage || storage.Each(env.Plan()) != "" || storage.Get(env.Plan()) != "silver" {
		t.Errorf("storage typed: each %v, words %q, value %q; want silver for all", o.EachStorage, storage.Each(env.Plan()), storage.Get(env.Plan()))
	}
	storage.Set(env.Plan(), "")
	if !o.EachStorage || storage.Each(env.Plan()) == "" {
		t.Errorf("storage cleared while the VMs differ: each %v, words %q; want each VM's own again", o.EachStorage, storage.Each(env.Plan()))
	}
	// A value typed is written to all.
	fields["target_network"].Set(env.Plan(), "company-network")
	storage.Set(env.Plan(), "silver")
	fields["rpo"].Set(env.Plan(), "10m")
	env.SelectVMs(sel, o)
	for name, got := range written() {
		if want := (opts{"company-network", "silver", "10m"}); got != want {
			t.Errorf("%s: %v after values for all, want %v", name, got, want)
		}
	}
	if env.Plan().RPO != "10m" {
		t.Errorf("plan rpo %q, want 10m typed for all", env.Plan().RPO)
	}
	// The VMs agreeing now, cleared is what empty always is: the VDC
	// default policy for all; and the RPO they share is the option's.
	o = env.JobOptions()
	if o.EachNetwork || o.EachStorage || o.EachRPO || o.RPO != "10m" || o.Storage != "silver" {
		t.Fatalf("options read back %+v, want one value for all", o)
	}
	for _, f := range o.Fields(func() string { return "" }, func() []string { return sel }) {
		if f.Key == "storage_profile" {
			f.Set(env.Plan(), "")
		}
	}
	env.SelectVMs(sel, o)
	for _, vm := range env.Plan().VMs {
		if vm.StorageProfile != "" {
			t.Errorf("%s: storage_profile %q after cleared for VMs that agree, want the VDC default", vm.Name, vm.StorageProfile)
		}
	}
	env.Plan().RPO = "5m" // each VM's rpo 10m in the file, the plan's 5m
	if o := env.JobOptions(); o.RPO != "10m" || o.EachRPO {
		t.Errorf("options of VMs sharing an RPO but the plan's: RPO %q (each %v), want theirs, 10m", o.RPO, o.EachRPO)
	}
}

// TestSelectVMsSecondWave: a selection replaces the plan's VMs but keeps
// those cut over in an earlier wave; the default job name counts them; the
// options read back are the ones written.
func TestSelectVMsSecondWave(t *testing.T) {
	env := waveEnv(t) // WebApp2 cut over
	env.Plan().Network.Name = "company-network"
	// The job is the wave's: a VM cut over before is not named (QA:
	// "WebApp2-and-2-more-Migration" for a wave of WebApp1 and WebApp3).
	if got, want := env.DefaultJobName(nil), ""; got != want {
		t.Fatalf("DefaultJobName() = %q, want %q", got, want)
	}
	if got, want := env.DefaultJobName([]string{"WebApp1", "WebApp2"}), "WebApp1-Migration"; got != want {
		t.Fatalf("DefaultJobName(WebApp1, WebApp2) = %q, want %q", got, want)
	}
	if got, want := env.DefaultJobName([]string{"WebApp1", "WebApp3"}), "WebApp1-WebApp3-Migration"; got != want {
		t.Fatalf("DefaultJobName(WebApp1, WebApp3) = %q, want %q", got, want)
	}
	if got, want := env.DefaultJobName([]string{"WebApp1", "WebApp3", "db01"}), "WebApp1-and-2-more-Migration"; got != want {
		t.Fatalf("DefaultJobName(WebApp1, WebApp3, db01) = %q, want %q", got, want)
	}
	// A name ferry gave, this wave's or an earlier one's, follows the
	// selection; a typed one is kept.
	sel := []string{"WebApp1", "WebApp3"}
	for job, want := range map[string]bool{
		"WebApp1-WebApp3-Migration":       true,
		"WebApp2-Migration":               true,  // the first wave's
		"WebApp2-and-2-more-Migration":    true,  // an older ferry's
		"WebApp2-WebApp1-Migration":       false, // WebApp1 is not in the plan yet: typed
		"wave-2":                          false,
		"WebApp2-and-many-more-Migration": false,
		"":                                false,
	} {
		if got := env.IsDefaultJobName(job, sel); got != want {
			t.Errorf("IsDefaultJobName(%q) = %v, want %v", job, got, want)
		}
	}
	o := env.JobOptions()
	if o.Network != "company-network" || o.Power != PowerOnTarget || o.RPO != "" {
		t.Fatalf("options of the plan: %+v", o)
	}
	o.VDC, o.Job, o.Storage, o.Power = "Company-VDC", "wave-2", "gold", LeaveOff
	env.SelectVMs([]string{"WebApp1", "WebApp3"}, o)
	pf := env.Plan()
	if len(pf.VMs) != 3 || pf.VMs[0].Name != "WebApp2" || pf.VMs[1].Name != "WebApp1" || pf.VMs[2].Name != "WebApp3" {
		t.Fatalf("VMs %+v: want WebApp2 (cut over, kept) then WebApp1, WebApp3", pf.VMs)
	}
	if pf.VMs[0].PowerOn != nil || pf.VMs[0].StorageProfile != "" {
		t.Fatalf("the cut-over VM changed: %+v", pf.VMs[0])
	}
	for _, vm := range pf.VMs[1:] {
		if vm.TargetVApp != vm.Name || vm.TargetNetwork != "company-network" || vm.StorageProfile != "gold" || vm.RPO.String() != DefaultRPO || vm.Power() != LeaveOff {
			t.Fatalf("selected VM %+v", vm)
		}
	}
	if pf.VDC != "Company-VDC" || pf.Job != "wave-2" || pf.RPO != DefaultRPO {
		t.Fatalf("plan vdc %q job %q rpo %q", pf.VDC, pf.Job, pf.RPO)
	}
	if got := env.JobOptions(); got.Power != LeaveOff || got.Storage != "gold" || got.VDC != "Company-VDC" || got.Job != "wave-2" {
		t.Fatalf("options read back %+v", got)
	}
}

// TestJobOptionsFromTheVMsToMigrate: a hand-written plan that lists a VM
// cut over (on dmz, gold) after the one still to migrate (on
// company-network, the VDC default): step 5's options are the latter's,
// not the last entry's, so confirming them does not move it to dmz and
// gold; with none left to migrate, a new wave starts from the earlier
// wave's choices.
func TestJobOptionsFromTheVMsToMigrate(t *testing.T) {
	env := waveEnv(t) // WebApp2 cut over
	pf := env.Plan()
	pf.Network.Name = "company-network"
	pf.VMs[0].TargetNetwork, pf.VMs[0].StorageProfile = "dmz", "gold"
	if o := env.JobOptions(); o.Network != "dmz" || o.Storage != "gold" {
		t.Fatalf("options with only a VM cut over: %+v; want the earlier wave's dmz, gold", o)
	}
	pf.VMs = append([]VMPlan{{Name: "WebApp1", TargetVApp: "WebApp1", TargetNetwork: "company-network"}}, pf.VMs...)
	if o := env.JobOptions(); o.Network != "company-network" || o.Storage != "" || o.EachNetwork || o.EachStorage {
		t.Fatalf("options with WebApp1 to migrate, listed before WebApp2 cut over: %+v; want WebApp1's company-network and the VDC default", o)
	}
}

// TestSelectVMsTheVDCDefaultForAll (with WebApp1 on the VDC's default
// policy and WebApp3 on gold, the storage policy field had no answer for
// the VDC's default for both: empty kept each VM's own, and the pick
// list's default policy, noted "empty picks it", wrote its name): while
// the selected VMs' policies differ, the field offers PolicyDefaultForAll
// first and notes the default policy as its name; that answer writes an
// empty storage_profile to every VM, and the field shows it while it
// holds; while they agree, the choices are as listed.
func TestSelectVMsTheVDCDefaultForAll(t *testing.T) {
	pf := &PlanFile{VDC: "Company-VDC", RPO: "5m", Network: NetworkPlan{Name: "company-network"}, VMs: []VMPlan{
		{Name: "WebApp1", TargetNetwork: "company-network", RPO: replication.RPO(5 * time.Minute)},
		{Name: "WebApp3", TargetNetwork: "dmz", StorageProfile: "gold", RPO: replication.RPO(15 * time.Minute)}}}
	env := NewEnv(nil, pf, NewState(""))
	o := env.JobOptions()
	sel := []string{"WebApp1", "WebApp3"}
	var storage Field
	for _, f := range o.Fields(func() string { return "" }, func() []string { return sel }) {
		if f.Key == "storage_profile" {
			storage = f
		}
	}
	listed := []Choice{{Value: "*", Note: defaultPolicyNote + "; 2 GiB left of 10 GiB", Default: true}, {Value: "gold"}}
	offered := storage.Offer(env.Plan(), listed)
	if len(offered) != 3 || offered[0].Value != PolicyDefaultForAll || offered[1].Note != "the VDC's default, by name (empty keeps each VM's own); 2 GiB left of 10 GiB" || offered[2] != listed[1] {
		t.Errorf("offered while the VMs differ: %+v, want the VDC's default for all first, the default policy noted as its name", offered)
	}
	storage.Set(env.Plan(), PolicyDefaultForAll)
	if storage.Get(env.Plan()) != PolicyDefaultForAll || storage.Each(env.Plan()) != "" || storage.Check(env.Plan()) != nil {
		t.Errorf("the VDC's default for all: value %q, words %q, check %v", storage.Get(env.Plan()), storage.Each(env.Plan()), storage.Check(env.Plan()))
	}
	env.SelectVMs(sel, o)
	env.Plan().ApplyVMDefaults()
	for _, vm := range env.Plan().VMs {
		if vm.StorageProfile != "" {
			t.Errorf("%s: storage_profile %q after the VDC's default for all, want empty", vm.Name, vm.StorageProfile)
		}
	}
	if got := env.Plan().VMs[1].TargetNetwork + " " + env.Plan().VMs[1].RPO.String(); got != "dmz 15m" {
		t.Errorf("WebApp3's network and RPO %q, want its own kept: dmz 15m", got)
	}
	// The VMs agreeing now: empty is the VDC's default, and says so.
	if got := storage.Offer(env.Plan(), listed); !slices.Equal(got, listed) || storage.Get(env.Plan()) != "" {
		t.Errorf("offered while the VMs agree: %+v (value %q), want the choices as listed", got, storage.Get(env.Plan()))
	}
}
