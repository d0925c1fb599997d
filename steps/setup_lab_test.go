package steps_test

// Steps 1 to 4 (rights, trunk network + L2VPN server, L2 appliance, DC
// extension) against the embedded lab, through the same clients as against
// real endpoints. This is an external test package: the steps package
// itself never imports the lab.

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	vcdtypes "github.com/vmware/go-vcloud-director/v2/types/v56"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vcd"
)

// setupSteps are the steps under test; the plan skips the others.
var setupSteps = []string{"rights", "trunk-network", "appliance", "dc-extension"}

// labPlan writes the lab's plan with steps 5 to 8 skipped, changed by edit,
// into a new directory, and returns its path.
func labPlan(t *testing.T, l *lab.Lab, edit func(pf *steps.PlanFile)) string {
	t.Helper()
	src, err := l.WritePlan()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := steps.LoadPlanFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range steps.NewItinerary().IDs() {
		if !slices.Contains(setupSteps, id) {
			pf.Skip = append(pf.Skip, id)
		}
	}
	if edit != nil {
		edit(pf)
	}
	path := filepath.Join(t.TempDir(), "plan.yaml")
	if err := pf.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// runner loads plan and state as `ferry run` does.
func runner(t *testing.T, cfg *config.Config, planPath, statePath string, emit steps.Emit) *steps.Runner {
	t.Helper()
	pf, err := steps.LoadPlanFile(planPath)
	if err != nil {
		t.Fatal(err)
	}
	it := steps.NewItinerary()
	if err := pf.Validate(it); err != nil {
		t.Fatal(err)
	}
	pf.ApplyDefaults(it)
	st, err := steps.LoadState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	env := steps.NewEnv(cfg, pf, st)
	t.Cleanup(func() { env.Close(context.Background()) })
	return &steps.Runner{Itinerary: it, Env: env, Emit: emit}
}

// events collects a run's events.
type events struct{ list []steps.Event }

func (e *events) emit(ev steps.Event) { e.list = append(e.list, ev) }

// of returns the events of one step and kind.
func (e *events) of(step string, kind steps.EventKind) []steps.Event {
	var out []steps.Event
	for _, ev := range e.list {
		if ev.Step == step && ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func (e *events) String() string {
	var b strings.Builder
	for _, ev := range e.list {
		b.WriteString(string(ev.Kind) + " " + ev.Step + ": " + ev.Message + ev.Error + "\n")
	}
	return b.String()
}

// run preflights and runs the itinerary in-process, as `ferry run` does.
func run(t *testing.T, cfg *config.Config, planPath, statePath string) (*events, error) {
	t.Helper()
	ev := &events{}
	r := runner(t, cfg, planPath, statePath, ev.emit)
	ctx := context.Background()
	if err := r.Preflight(ctx); err != nil {
		return ev, err
	}
	_, err := r.Run(ctx)
	return ev, err
}

// world is what the lab holds, read with go-vcloud-director and govmomi
// directly (not through ferry's own lookups).
type world struct {
	// the L2 VPN right: in the shared Default Rights Bundle, in the global
	// Organization Administrator role, in the tenant user's role
	bundleHas, globalRoleHas, tenantRoleHas bool
	network                                 string // gateway/prefix of company-network, "" if absent
	tunnelUp                                bool
	tunnels                                 int
	sessions                                int // on the on-prem edge
	sinkPromiscuous, sinkForged             bool
	sinkMACLearning                         bool
	sinkExists                              bool
	appliancePower                          types.VirtualMachinePowerState // "" if absent
}

const l2vpnRight = "Organization vDC Gateway: Configure L2 VPN"

// companyVDC is Company-VDC as go-vcloud-director reads it through c.
func companyVDC(t *testing.T, c *vcd.Client) *govcd.Vdc {
	t.Helper()
	org, err := c.GetOrgByName("Company")
	if err != nil {
		t.Fatal(err)
	}
	vdc, err := org.GetVDCByName("Company-VDC", false)
	if err != nil {
		t.Fatal(err)
	}
	return vdc
}

// uiTunnel is the L2 VPN tunnel name of Company's company-edge as
// go-vcloud-director reads it through c, for changes made as in Cloud
// Director's UI.
func uiTunnel(t *testing.T, c *vcd.Client, name string) *govcd.NsxtL2VpnTunnel {
	t.Helper()
	egw, err := companyVDC(t, c).GetNsxtEdgeGatewayByName("company-edge")
	if err != nil {
		t.Fatal(err)
	}
	// By id after the name: the list leaves out what only a read by id shows
	// (the masked key, the peer code).
	tun, err := egw.GetL2VpnTunnelByName(name)
	if err == nil {
		tun, err = egw.GetL2VpnTunnelById(tun.NsxtL2VpnTunnel.ID)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tun
}

// uiDeleteTunnel deletes the L2 VPN tunnel name of Company's company-edge
// as in Cloud Director's UI.
func uiDeleteTunnel(t *testing.T, c *vcd.Client, name string) {
	t.Helper()
	_, egw := companyEdge(t, c)
	labtest.UIChange(t, c, http.MethodDelete, labtest.TunnelPath(egw.ID, uiTunnel(t, c, name).NsxtL2VpnTunnel.ID), nil)
}

func look(t *testing.T, l *lab.Lab) world {
	t.Helper()
	ctx := context.Background()
	var w world
	cfg := l.Config()

	sys := labtest.VCD(t, cfg.VCD)
	rb, err := sys.Client.GetRightsBundleByName("Default Rights Bundle")
	if err != nil {
		t.Fatal(err)
	}
	rights, err := rb.GetRights(nil)
	if err != nil {
		t.Fatal(err)
	}
	w.bundleHas = slices.ContainsFunc(rights, func(r *vcdtypes.Right) bool { return r.Name == l2vpnRight })
	gr, err := sys.Client.GetGlobalRoleByName("Organization Administrator")
	if err != nil {
		t.Fatal(err)
	}
	if rights, err = gr.GetRights(nil); err != nil {
		t.Fatal(err)
	}
	w.globalRoleHas = slices.ContainsFunc(rights, func(r *vcdtypes.Right) bool { return r.Name == l2vpnRight })
	adminOrg, err := sys.GetAdminOrgByName("Company")
	if err != nil {
		t.Fatal(err)
	}
	// The role of the tenant user who sets up the L2 VPN.
	user, err := adminOrg.GetUserByName(cfg.Tenant.Username, false)
	if err != nil {
		t.Fatal(err)
	}
	role, err := adminOrg.GetRoleByName(user.User.Role.Name)
	if err != nil {
		t.Fatal(err)
	}
	if rights, err = role.GetRights(nil); err != nil {
		t.Fatal(err)
	}
	w.tenantRoleHas = slices.ContainsFunc(rights, func(r *vcdtypes.Right) bool { return r.Name == l2vpnRight })

	// The provider reads the tenant's objects: the tenant itself may not
	// read tunnels before step 1 (with rights enforced).
	vdc := companyVDC(t, sys)
	if n, err := vdc.GetOpenApiOrgVdcNetworkByName("company-network"); err == nil {
		s := n.OpenApiOrgVdcNetwork.Subnets.Values[0]
		w.network = s.Gateway + "/" + strconv.Itoa(s.PrefixLength)
	}
	egw, err := vdc.GetNsxtEdgeGatewayByName("company-edge")
	if err != nil {
		t.Fatal(err)
	}
	tuns, err := egw.GetAllL2VpnTunnels(nil)
	if err != nil {
		t.Fatal(err)
	}
	w.tunnels = len(tuns)
	for _, tun := range tuns {
		st, err := sys.TunnelStatus(egw.EdgeGateway.ID, tun.NsxtL2VpnTunnel.ID)
		if err != nil {
			t.Fatal(err)
		}
		w.tunnelUp = w.tunnelUp || st.Up
	}
	if e := l.Edge(); e != nil {
		w.sessions = len(e.Sessions())
	}

	c, f := labtest.OnPrem(t, l)
	defer c.Logout(ctx)
	if net, err := f.Network(ctx, "ferry-sink"); err == nil {
		var pg mo.DistributedVirtualPortgroup
		if err := c.PropertyCollector().RetrieveOne(ctx, net.Reference(), []string{"config"}, &pg); err != nil {
			t.Fatal(err)
		}
		sp := pg.Config.DefaultPortConfig.(*types.VMwareDVSPortSetting).SecurityPolicy
		w.sinkExists = true
		w.sinkPromiscuous = sp.AllowPromiscuous != nil && sp.AllowPromiscuous.Value != nil && *sp.AllowPromiscuous.Value
		if mp := pg.Config.DefaultPortConfig.(*types.VMwareDVSPortSetting).MacManagementPolicy; mp != nil {
			w.sinkMACLearning = mp.MacLearningPolicy != nil && mp.MacLearningPolicy.Enabled
		}
		w.sinkForged = sp.ForgedTransmits != nil && sp.ForgedTransmits.Value != nil && *sp.ForgedTransmits.Value
	} else if !errors.As(err, new(*find.NotFoundError)) {
		t.Fatal(err)
	}
	if vm, err := f.VirtualMachine(ctx, "ferry-l2vpn-client"); err == nil {
		if w.appliancePower, err = vm.PowerState(ctx); err != nil {
			t.Fatal(err)
		}
	} else if !errors.As(err, new(*find.NotFoundError)) {
		t.Fatal(err)
	}
	return w
}

// untouched checks that ferry created nothing in the lab.
func untouched(t *testing.T, l *lab.Lab) {
	t.Helper()
	w := look(t, l)
	if w.bundleHas || w.globalRoleHas || w.network != "" || w.tunnels != 0 || w.sessions != 0 || w.sinkExists || w.appliancePower != "" {
		t.Errorf("something was created: %+v", w)
	}
}

// TestSetupRunInProcess: `ferry plan` on a fresh lab lists every change and
// changes nothing; the run takes the lab through steps 1 to 4; a second run
// (new state, so every step applies again) changes nothing.
func TestSetupRunInProcess(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	cfg := l.Config()
	plan := labPlan(t, l, nil)
	ctx := context.Background()

	r := runner(t, cfg, plan, "", nil)
	plans, err := r.PlanAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	steps.WritePlans(&out, plans)
	t.Logf("ferry plan:\n%s", out.String())
	for _, sp := range plans {
		if slices.Contains(setupSteps, sp.Step.ID()) && sp.Plan.Changes() == 0 {
			t.Errorf("plan of %s on a fresh lab has no changes", sp.Step.ID())
		}
	}
	for _, want := range []string{l2vpnRight, `"company-network"`, `"ferry-l2vpn"`, `"ferry-sink"`, `"ferry-l2vpn-client"`, "stretched network"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan does not mention %s", want)
		}
	}
	untouched(t, l)

	state := filepath.Join(t.TempDir(), "state.json")
	ev, err := run(t, cfg, plan, state)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, ev)
	}
	for _, id := range setupSteps {
		if len(ev.of(id, steps.EventDone)) != 1 {
			t.Errorf("%s not done:\n%s", id, ev)
		}
	}
	if len(ev.of("rights", steps.EventWarning)) == 0 {
		t.Error("no warning for the rights this Cloud Director does not know")
	}
	w := look(t, l)
	// Step 1 widened no shared bundle or global role (see also
	// TestRightsLeaveOtherOrgsUntouched).
	want := world{bundleHas: false, globalRoleHas: false, tenantRoleHas: true, network: "172.16.10.1/24", tunnelUp: true, tunnels: 1, sessions: 1,
		sinkExists: true, sinkMACLearning: true, sinkForged: true, appliancePower: types.VirtualMachinePowerStatePoweredOn}
	if w != want {
		t.Errorf("after the run:\n got %+v\nwant %+v", w, want)
	}
	st, err := steps.LoadState(state)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range setupSteps {
		if s := st.Get(id); s.Status != steps.StatusDone || len(s.Resources) == 0 {
			t.Errorf("state of %s: %+v", id, s)
		}
	}
	if st.Get("trunk-network").Outputs[steps.OutTunnelID] == "" {
		t.Errorf("no tunnel id in the state: %+v", st.Get("trunk-network"))
	}
	raw, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "peer") || strings.Contains(strings.ToLower(string(raw)), "psk\"") {
		t.Errorf("the state file holds the peer code or a key:\n%s", raw)
	}

	// Again, from a new state: every step finds what exists.
	ev, err = run(t, cfg, plan, filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, ev)
	}
	for _, id := range setupSteps {
		done := ev.of(id, steps.EventDone)
		if len(done) != 1 || done[0].Message != "no changes" || len(ev.of(id, steps.EventChange)) != 0 {
			t.Errorf("second run of %s changed something:\n%s", id, ev)
		}
	}
	if w2 := look(t, l); w2 != want {
		t.Errorf("after the second run: %+v", w2)
	}
}
