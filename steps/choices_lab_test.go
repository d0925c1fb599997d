package steps_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vcd"
)

// choicesLab starts a lab and an Env of its plan.
func choicesLab(t *testing.T) (*lab.Lab, *steps.Env) {
	t.Helper()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	pf, err := steps.LoadPlanFile(labPlan(t, l, nil))
	if err != nil {
		t.Fatal(err)
	}
	env := steps.NewEnv(l.Config(), pf, nil)
	t.Cleanup(func() { env.Close(context.Background()) })
	return l, env
}

// TestChoicesFromTheLab: what the wizard offers for the fields that name
// something is what Cloud Director and the on-prem vCenter hold, read
// through the steps; the provider's own org is never offered as a tenant.
func TestChoicesFromTheLab(t *testing.T) {
	t.Parallel()
	_, env := choicesLab(t)
	ctx := context.Background()
	choices := func(key string) []string {
		t.Helper()
		got, err := env.Choices(ctx, key, nil)
		if err != nil {
			t.Fatalf("Choices(%q): %v", key, err)
		}
		return steps.Values(got)
	}
	if got := choices("org"); !slices.Contains(got, "Company") || slices.Contains(got, steps.ProviderOrg) {
		t.Errorf("org choices %v: want the tenant Company, never %s", got, steps.ProviderOrg)
	}
	if got := choices("vdc"); !slices.Contains(got, "Company-VDC") {
		t.Errorf("vdc choices %v: want Company-VDC", got)
	}
	if got := choices("edge_gateway"); !slices.Contains(got, "company-edge") {
		t.Errorf("edge_gateway choices %v: want company-edge", got)
	}
	for _, key := range []string{"appliance.stretched_portgroup", "appliance.uplink_portgroup", "appliance.sink_portgroup"} {
		if got := choices(key); !slices.Contains(got, "company-network") || !slices.Contains(got, "uplink-network") {
			t.Errorf("%s choices %v: want the on-prem port groups company-network and uplink-network", key, got)
		}
	}
	if got, err := env.Choices(ctx, "appliance.ip", nil); got != nil || err != nil {
		t.Errorf("appliance.ip choices %v: want none (free text)", got)
	}
	noted := func(key, value string) (string, bool) {
		t.Helper()
		got, err := env.Choices(ctx, key, nil)
		if err != nil {
			t.Fatalf("Choices(%q): %v", key, err)
		}
		for _, c := range got {
			if c.Value == value {
				return c.Note, true
			}
		}
		t.Errorf("%s choices %v: want %s", key, steps.Values(got), value)
		return "", false
	}
	if n, ok := noted("appliance.sink_portgroup", lab.SecondPortgroup); ok && !strings.Contains(n, "WinSrv1") {
		t.Errorf("sink choice %s noted %q: want it refused, naming WinSrv1 on it", lab.SecondPortgroup, n)
	}
	// The sink's default, which step 3 makes, is offered, said to be made
	// (QA: the form called it "not one of them: pick one, or type it").
	if n, ok := noted("appliance.sink_portgroup", steps.DefaultSinkPortgroup); ok && !strings.Contains(n, "step 3 creates it") {
		t.Errorf("sink choice %s noted %q: want it said that step 3 creates it", steps.DefaultSinkPortgroup, n)
	}
	if got := choices("appliance.stretched_portgroup"); slices.Contains(got, steps.DefaultSinkPortgroup) {
		t.Errorf("stretched port group choices %v: %s offered, which does not exist", got, steps.DefaultSinkPortgroup)
	}
	if n, ok := noted("appliance.datastore", "onprem-ds"); ok && !strings.Contains(n, "free of") {
		t.Errorf("appliance datastore onprem-ds noted %q: want its free space", n)
	}
	if n, ok := noted("provider.datastore", "provider-ds"); ok && !strings.Contains(n, "free of") {
		t.Errorf("provider datastore provider-ds noted %q: want its free space", n)
	}
	noted("provider.datacenter", "Provider-DC")
	if n, ok := noted("org", "Company"); ok && !strings.Contains(n, "the tenant login's") {
		t.Errorf("org Company noted %q: want it marked the tenant login's", n)
	}
	if n, ok := noted("org", "Globex"); ok && !strings.Contains(n, "not the tenant login's org") {
		t.Errorf("org Globex noted %q: want it marked not the tenant login's", n)
	}
	noted("provider.receiver_vm", lab.ApplianceVM)
	// The form's answers not saved yet: a VDC typed in VM selection, an
	// organization typed beside its VDC.
	if _, err := env.Choices(ctx, "vdc", map[string]string{"org": ""}); err == nil || !strings.Contains(err.Error(), "name the organization first") {
		t.Errorf("vdc choices with no organization typed: %v, want it asked for first", err)
	}
	if _, err := env.Choices(ctx, "edge_gateway", map[string]string{"vdc": "Nope-VDC"}); err == nil || !strings.Contains(err.Error(), "Nope-VDC") {
		t.Errorf("edge_gateway choices of a VDC typed that does not exist: %v, want it named", err)
	}
	vms, err := env.OnPremVMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, vm := range vms {
		names = append(names, vm.Name)
	}
	if !slices.Contains(names, "WebApp2") {
		t.Errorf("on-prem VMs %v: want WebApp2", names)
	}
}

// TestStoragePolicyChoices: the wizard's storage_profile pick list is the
// VDC's enabled storage policies as Cloud Director has them, each saying
// what would come of it: the default (what no answer gets), the room under
// its limit, and a policy that does not hold the plan's replica datastore
// (its import would copy the disks inside the downtime).
func TestStoragePolicyChoices(t *testing.T) {
	t.Parallel()
	l, env := choicesLab(t)
	ctx := context.Background()
	policies := func() map[string]string {
		t.Helper()
		got, err := env.Choices(ctx, "storage_profile", map[string]string{"vdc": "Company-VDC"})
		if err != nil {
			t.Fatalf("storage_profile choices: %v", err)
		}
		notes := map[string]string{}
		for _, c := range got {
			notes[c.Value] = c.Note
			// The default is marked so: a field's Offer notes it as
			// it holds for the answers given (Choice.Default).
			if c.Default != (c.Value == "*") {
				t.Errorf("storage_profile choice %s: Default %v, want the VDC's default, *, alone marked", c.Value, c.Default)
			}
		}
		return notes
	}
	got := policies()
	if n, ok := got["*"]; !ok || !strings.Contains(n, "the VDC's default") || strings.Contains(n, "copy") {
		t.Errorf("storage_profile choices %q: want * noted as the VDC's default, on the replica datastore", got)
	}
	if n, ok := got[lab.NFSStoragePolicy]; !ok || strings.Contains(n, "default") || !strings.Contains(n, "not on provider-ds: the import would copy the disks") {
		t.Errorf("storage_profile choices %q: want %s noted as not holding provider-ds", got, lab.NFSStoragePolicy)
	}
	if err := l.VCD.SetStoragePolicyLimit("*", 10<<10); err != nil {
		t.Fatal(err)
	}
	if err := l.VCD.SetStoragePolicyEnabled(lab.NFSStoragePolicy, false); err != nil {
		t.Fatal(err)
	}
	got = policies()
	if _, ok := got[lab.NFSStoragePolicy]; ok {
		t.Errorf("storage_profile choices %q: want the disabled %s left out", got, lab.NFSStoragePolicy)
	}
	if n := got["*"]; !strings.Contains(n, "left of 10 GiB") {
		t.Errorf("storage_profile choices %q: want * noted with its 10 GiB limit", got)
	}
	if _, err := env.Choices(ctx, "storage_profile", map[string]string{"vdc": ""}); err == nil || !strings.Contains(err.Error(), "name the VDC first") {
		t.Errorf("storage_profile choices with no VDC typed: %v, want it asked for first", err)
	}
}

// TestTestNetworkChoices: what the wizard offers for test_migration.network
// is what a test migration accepts, by one rule: the VDC's ISOLATED org VDC
// networks as Cloud Director has them (the lab's test-bubble), never a
// routed one, which the test migration refuses; a VDC with none is an
// error naming its networks and what to do.
func TestTestNetworkChoices(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	pf, err := steps.LoadPlanFile(labPlan(t, l, nil))
	if err != nil {
		t.Fatal(err)
	}
	// A state, as ferry run has (the test migration reads it).
	state, err := steps.LoadState(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	env := steps.NewEnv(l.Config(), pf, state)
	t.Cleanup(func() { env.Close(context.Background()) })
	ctx := context.Background()
	c, err := env.VCD(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vdc, err := c.VDCByName(lab.TenantOrg, "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	egw, err := c.EdgeGatewayByName(vdc, "company-edge")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vcd.CreateRoutedNetwork(vdc, egw, vcd.NetworkSpec{Name: "routed-net", GatewayCIDR: "10.9.0.1/24"}); err != nil {
		t.Fatal(err)
	}
	got, err := env.Choices(ctx, steps.TestNetworkKey, nil)
	if err != nil {
		t.Fatalf("test network choices: %v", err)
	}
	if v := steps.Values(got); !slices.Equal(v, []string{lab.BubbleNetwork}) {
		t.Fatalf("test network choices %v: want the isolated %s alone", v, lab.BubbleNetwork)
	}
	// The routed network not offered is the one a test migration refuses.
	env.Plan().TestMigration.Network = "routed-net"
	if _, err := env.TestMigrate(ctx, []string{"WebApp2"}, func(steps.Event) {}); err == nil || !strings.Contains(err.Error(), "test_migration.network: routed-net is a NAT_ROUTED network") {
		t.Fatalf("test migration onto routed-net: %v, want it refused as not ISOLATED", err)
	}
	if _, err := env.Choices(ctx, steps.TestNetworkKey, map[string]string{"vdc": ""}); err == nil || !strings.Contains(err.Error(), "name the VDC first") {
		t.Errorf("test network choices with no VDC typed: %v, want it asked for first", err)
	}
	// No isolated network left: nothing to pick, and why.
	tc, err := vcd.Connect(ctx, vcd.Config{URL: l.Config().Tenant.URL, User: l.Config().Tenant.Username, Password: l.Config().Tenant.Password, Org: lab.TenantOrg, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	org, err := tc.GetOrgByName(lab.TenantOrg)
	if err != nil {
		t.Fatal(err)
	}
	gv, err := org.GetVDCByName("Company-VDC", false)
	if err != nil {
		t.Fatal(err)
	}
	bubble, err := gv.GetOpenApiOrgVdcNetworkByName(lab.BubbleNetwork)
	if err != nil {
		t.Fatal(err)
	}
	if err := bubble.Delete(); err != nil {
		t.Fatal(err)
	}
	got, err = env.Choices(ctx, steps.TestNetworkKey, nil)
	if len(got) > 0 || err == nil || !strings.Contains(err.Error(), "VDC Company-VDC has no ISOLATED org VDC network for the test copies (its networks: routed-net (NAT_ROUTED)): create one") {
		t.Fatalf("test network choices with no isolated network: %v, %v; want none, saying so", steps.Values(got), err)
	}
}
