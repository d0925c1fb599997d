package steps

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/ovf/importer"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/vsphere"
)

// Step 3: the on-prem half of the stretch. A sink (trunk) distributed port
// group with promiscuous mode and forged transmits = Accept on the DVS that
// carries the stretched network, and the standalone L2VPN client appliance
// deployed from an OVF, with its uplink on the operator's port group and
// address, its trunk NIC on the sink port group, powered on.

//go:embed assets/ferry-l2vpn-client.ovf
var builtinOVF []byte

const (
	builtinOVFFile  = "ferry-l2vpn-client.ovf"
	builtinDiskFile = "ferry-l2vpn-client-disk1.vmdk"
	builtinDiskSize = 1 << 20

	// The OVF's network names ferry maps; an appliance OVF of your own must
	// declare both.
	ovfNetUplink = "Uplink"
	ovfNetTrunk  = "Trunk"
)

// OVF property keys ferry sets when the OVF declares them.
const (
	propIP      = "ferry.ip"
	propPrefix  = "ferry.prefix"
	propGateway = "ferry.gateway"
	propEgress  = "ferry.egress_gateway"
)

// Appliance is step 3, the L2 appliance.
type Appliance struct{}

func (*Appliance) ID() string    { return "appliance" }
func (*Appliance) Title() string { return "L2 appliance" }

func (*Appliance) Fields() []Field {
	ap := func(f func(a *AppliancePlan) *string) func(*PlanFile) *string {
		return func(pf *PlanFile) *string { return f(&pf.Appliance) }
	}
	ip := func(pf *PlanFile) string { return pf.Appliance.IP }
	prefix := func(pf *PlanFile) string { return pf.Appliance.Prefix }
	stretched := func(pf *PlanFile) string {
		if v := pf.Appliance.StretchedPortgroup; v != "" {
			return v
		}
		return pf.Network.Name
	}
	return []Field{
		str("appliance.datacenter", "Datacenter", "the on-prem datacenter (default: the only one)", false,
			ap(func(a *AppliancePlan) *string { return &a.Datacenter }), ValidName, nil),
		str("appliance.stretched_portgroup", "Stretched port group", "the on-prem port group whose L2 segment is stretched (default: network.name)", true,
			ap(func(a *AppliancePlan) *string { return &a.StretchedPortgroup }), ValidName, stretched),
		str("appliance.dvs", "Distributed switch", "the DVS that gets the sink port group (default: the stretched port group's)", false,
			ap(func(a *AppliancePlan) *string { return &a.DVS }), ValidName, nil),
		str("appliance.sink_portgroup", "Sink port group", "the trunk port group for the appliance, created with promiscuous mode and forged transmits Accept", true,
			ap(func(a *AppliancePlan) *string { return &a.SinkPortgroup }), ValidName, fixed("ferry-sink")),
		str("appliance.uplink_portgroup", "Uplink port group", "the port group (distributed or standard) of the appliance's own address (default: the stretched port group)", true,
			ap(func(a *AppliancePlan) *string { return &a.UplinkPortgroup }), ValidName, stretched),
		str("appliance.name", "Appliance VM name", "the L2VPN client appliance VM", true,
			ap(func(a *AppliancePlan) *string { return &a.Name }), ValidName, fixed("ferry-l2vpn-client")),
		str("appliance.ip", "Appliance IP", "the appliance's uplink address, e.g. 172.16.10.250", true,
			ap(func(a *AppliancePlan) *string { return &a.IP }), ValidIPv4, nil),
		str("appliance.prefix", "Prefix length", "the uplink's prefix length, e.g. 24", true,
			ap(func(a *AppliancePlan) *string { return &a.Prefix }), ValidPrefix, nil),
		str("appliance.gateway", "Default gateway", "the uplink's default gateway, in the appliance's subnet", true,
			ap(func(a *AppliancePlan) *string { return &a.Gateway }), inSubnet("appliance.ip", ip, prefix), nil),
		str("appliance.egress_gateway", "Egress gateway", "local egress optimization gateway: traffic to it stays on-prem (optional)", false,
			ap(func(a *AppliancePlan) *string { return &a.EgressGateway }), inSubnet("appliance.ip", ip, prefix), nil),
		str("appliance.datastore", "Datastore", "where the appliance goes (default: the most free space on a host of the uplink port group)", false,
			ap(func(a *AppliancePlan) *string { return &a.Datastore }), ValidName, nil),
		str("appliance.ovf", "Appliance OVF", "an .ovf/.ova path or URL with networks Uplink and Trunk (default: ferry's built-in minimal appliance)", false,
			ap(func(a *AppliancePlan) *string { return &a.OVF }), validOVFSource, nil),
	}
}

func validOVFSource(v string, _ *PlanFile) error {
	if importer.IsRemotePath(v) {
		return nil
	}
	ext := strings.ToLower(filepath.Ext(v))
	if ext != ".ovf" && ext != ".ova" {
		return fmt.Errorf("%q is not an .ovf or .ova file", v)
	}
	if _, err := os.Stat(v); err != nil {
		return fmt.Errorf("%q: %v", v, errors.Unwrap(err))
	}
	return nil
}

// applianceWorld is what the step found on-prem (read only).
type applianceWorld struct {
	c         *vsphere.Client
	dc        *object.Datacenter
	a         AppliancePlan // with defaults applied
	stretched *vsphere.Portgroup
	dvs       *object.DistributedVirtualSwitch
	uplink    types.ManagedObjectReference // distributed or standard port group
	sink      *vsphere.Portgroup           // nil: not there yet
	vm        *vsphere.DeployedVM          // nil: not there yet
	props     map[string]string            // OVF properties to set
	warnings  []string
}

// inputs checks the step's answers and fills their defaults, then refuses
// a sink port group that is also the stretched or the uplink one: the sink
// gets the promiscuous trunk policy, the other two stay regular port groups.
func (s *Appliance) inputs(pf *PlanFile) (AppliancePlan, error) {
	c, err := answers(pf, s.Fields())
	if err != nil {
		return AppliancePlan{}, err
	}
	a := c.Appliance
	var errs []error
	if a.SinkPortgroup == a.StretchedPortgroup {
		errs = append(errs, &FieldError{"appliance.sink_portgroup", fmt.Errorf("%q is the stretched port group; the sink needs a port group of its own (e.g. ferry-sink)", a.SinkPortgroup)})
	}
	if a.UplinkPortgroup == a.SinkPortgroup {
		errs = append(errs, &FieldError{"appliance.uplink_portgroup", fmt.Errorf("%q is also the sink port group; the uplink needs a regular port group", a.UplinkPortgroup)})
	}
	if len(errs) > 0 {
		return AppliancePlan{}, &ValidationError{Path: pf.path, Errs: errs}
	}
	return a, nil
}

// look reads what exists. Missing inputs (port group, switch, datacenter)
// are errors naming what exists; a missing sink or appliance is not.
func (s *Appliance) look(ctx context.Context, env *Env) (*applianceWorld, error) {
	a, err := s.inputs(env.Plan)
	if err != nil {
		return nil, err
	}
	c, err := env.OnPrem(ctx)
	if err != nil {
		return nil, err
	}
	w := &applianceWorld{c: c, a: a}
	if w.dc, err = c.Datacenter(ctx, a.Datacenter); err != nil {
		return nil, fmt.Errorf("appliance.datacenter: %w", err)
	}
	if w.stretched, err = c.Portgroup(ctx, w.dc, a.StretchedPortgroup); err != nil {
		return nil, fmt.Errorf("appliance.stretched_portgroup: %w", err)
	}
	if w.a.DVS == "" {
		w.a.DVS = w.stretched.DVS
	}
	if w.dvs, err = c.DVS(ctx, w.dc, w.a.DVS); err != nil {
		return nil, fmt.Errorf("appliance.dvs: %w", err)
	}
	if w.uplink, err = c.Network(ctx, w.dc, a.UplinkPortgroup); err != nil {
		return nil, fmt.Errorf("appliance.uplink_portgroup: %w", err)
	}
	w.sink, err = c.Portgroup(ctx, w.dc, a.SinkPortgroup)
	if errors.Is(err, vsphere.ErrNotFound) {
		w.sink, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if w.vm, err = c.FindDeployedVM(ctx, w.dc, a.Name); err != nil {
		return nil, err
	}
	if w.vm == nil {
		if err := w.checkOVF(); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// checkOVF reads the appliance OVF before anything is created: it must
// declare the Uplink and Trunk networks; the address properties ferry sets
// are passed only when declared.
func (w *applianceWorld) checkOVF() error {
	var nets, keys []string
	if w.a.OVF == "" {
		e, err := importer.ReadEnvelope(builtinOVF)
		if err != nil {
			return fmt.Errorf("built-in appliance OVF: %w", err)
		}
		nets, keys = vsphere.OVFNetworks(e), vsphere.OVFProperties(e)
	} else {
		e, err := w.c.ReadOVF(w.a.OVF)
		if err != nil {
			return fmt.Errorf("appliance.ovf: %w", err)
		}
		nets, keys = vsphere.OVFNetworks(e), vsphere.OVFProperties(e)
	}
	for _, n := range []string{ovfNetUplink, ovfNetTrunk} {
		if !slices.Contains(nets, n) {
			return fmt.Errorf("appliance.ovf: %s declares no network %q (it declares: %s); ferry maps %q to the uplink and %q to the sink port group",
				w.ovfName(), n, strings.Join(nets, ", "), ovfNetUplink, ovfNetTrunk)
		}
	}
	want := map[string]string{propIP: w.a.IP, propPrefix: w.a.Prefix, propGateway: w.a.Gateway, propEgress: w.a.EgressGateway}
	w.props = map[string]string{}
	for _, k := range []string{propIP, propPrefix, propGateway, propEgress} {
		if !slices.Contains(keys, k) {
			if want[k] != "" {
				w.warnings = append(w.warnings, fmt.Sprintf("%s declares no property %s: set %s on the appliance's console", w.ovfName(), k, want[k]))
			}
			continue
		}
		w.props[k] = want[k]
	}
	return nil
}

func (w *applianceWorld) ovfName() string {
	if w.a.OVF == "" {
		return "the built-in appliance OVF"
	}
	return w.a.OVF
}

func (w *applianceWorld) sinkDetail() string {
	return fmt.Sprintf("on %s, promiscuous mode and forged transmits Accept, VLAN trunk 0-4094", w.a.DVS)
}

func (w *applianceWorld) vmDetail() string {
	d := fmt.Sprintf("from %s; uplink %s on %s via %s", w.ovfName(), w.a.IP+"/"+w.a.Prefix, w.a.UplinkPortgroup, w.a.Gateway)
	if w.a.EgressGateway != "" {
		d += ", egress gateway " + w.a.EgressGateway
	}
	return d + ", trunk on " + w.a.SinkPortgroup + ", powered on"
}

func (w *applianceWorld) plan() Plan {
	p := Plan{Step: "appliance"}
	p.Items = append(p.Items, Item{Action: ActionExists, Kind: "port group", Name: w.stretched.Name,
		Detail: "stretched network, on " + w.stretched.DVS})
	switch {
	case w.sink == nil:
		p.Items = append(p.Items, Item{Action: ActionCreate, Kind: "port group", Name: w.a.SinkPortgroup, Detail: w.sinkDetail()})
	case w.sink.DVS != w.a.DVS:
		p.Items = append(p.Items, Item{Action: ActionConflict, Kind: "port group", Name: w.sink.Name,
			Detail: fmt.Sprintf("exists on %s, the plan wants it on %s; rename appliance.sink_portgroup or set appliance.dvs", w.sink.DVS, w.a.DVS)})
	case len(w.sink.SinkProblems()) > 0:
		p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "port group", Name: w.sink.Name,
			Detail: "re-apply the sink policy: " + strings.Join(w.sink.SinkProblems(), ", ")})
	default:
		p.Items = append(p.Items, Item{Action: ActionExists, Kind: "port group", Name: w.sink.Name, Detail: w.sinkDetail(),
			Resource: &Resource{Kind: "port group", Name: w.sink.Name, ID: w.sink.Ref.Value}})
	}
	if w.vm == nil {
		p.Items = append(p.Items, Item{Action: ActionCreate, Kind: "VM", Name: w.a.Name, Detail: w.vmDetail()})
		return p
	}
	if c := w.vmConflicts(); len(c) > 0 {
		p.Items = append(p.Items, Item{Action: ActionConflict, Kind: "VM", Name: w.vm.Name,
			Detail: strings.Join(c, "; ") + "; fix the plan, or remove or rename the VM"})
		return p
	}
	res := &Resource{Kind: "VM", Name: w.vm.Name, ID: w.vm.Ref.Value}
	if !w.vm.PoweredOn() {
		p.Items = append(p.Items, Item{Action: ActionPower, Kind: "VM", Name: w.vm.Name, Detail: "is " + string(w.vm.PowerState), Resource: res})
	} else {
		p.Items = append(p.Items, Item{Action: ActionExists, Kind: "VM", Name: w.vm.Name, Detail: "powered on, uplink " + w.a.IP + "/" + w.a.Prefix, Resource: res})
	}
	return p
}

// vmConflicts compares an existing appliance with the plan. ferry does not
// re-address a running edge on its own: the tunnel would drop.
func (w *applianceWorld) vmConflicts() []string {
	var out []string
	want := map[string]string{propIP: w.a.IP, propPrefix: w.a.Prefix, propGateway: w.a.Gateway, propEgress: w.a.EgressGateway}
	for _, k := range []string{propIP, propPrefix, propGateway, propEgress} {
		if got, ok := w.vm.Properties[k]; ok && got != want[k] {
			out = append(out, fmt.Sprintf("%s is %q, the plan says %q", k, got, want[k]))
		}
	}
	for _, n := range []string{w.a.UplinkPortgroup, w.a.SinkPortgroup} {
		if w.sink != nil && !slices.Contains(w.vm.Networks, n) {
			out = append(out, fmt.Sprintf("not connected to %s (networks: %s)", n, strings.Join(w.vm.Networks, ", ")))
		}
	}
	return out
}

// Plan says what Apply would create; it changes nothing.
func (s *Appliance) Plan(ctx context.Context, env *Env) (Plan, error) {
	w, err := s.look(ctx, env)
	if err != nil {
		return Plan{Step: s.ID()}, err
	}
	return w.plan(), nil
}

// Apply creates the sink port group (or re-applies its policy when it
// drifted) and deploys and powers on the appliance. All inputs are resolved
// before the first change.
func (s *Appliance) Apply(ctx context.Context, env *Env, emit Emit) (Result, error) {
	w, err := s.look(ctx, env)
	if err != nil {
		return Result{}, err
	}
	plan := w.plan()
	if c := plan.Conflicts(); len(c) > 0 {
		return Result{}, fmt.Errorf("%w, nothing changed: %s", ErrConflict, c[0])
	}
	for _, msg := range w.warnings {
		emit(Warning(msg))
	}
	var res Result
	change := func(it Item) {
		res.Changes = append(res.Changes, it)
		emit(Changed(it))
	}

	switch {
	case w.sink == nil:
		emit(Progress("creating port group "+w.a.SinkPortgroup, 0.02))
		pg, err := w.c.CreateSinkPortgroup(ctx, w.dc, w.dvs, w.a.SinkPortgroup)
		if pg != nil {
			// Record it even when the read-back failed: it exists now.
			change(Item{Action: ActionCreate, Kind: "port group", Name: pg.Name, Detail: w.sinkDetail(),
				Resource: &Resource{Kind: "port group", Name: pg.Name, ID: pg.Ref.Value}})
		}
		if err != nil {
			return res, err
		}
		w.sink = pg
	case len(w.sink.SinkProblems()) > 0:
		problems := strings.Join(w.sink.SinkProblems(), ", ")
		emit(Warning(fmt.Sprintf("port group %s drifted (%s); a sink port without promiscuous mode and forged transmits breaks the stretch; re-applying", w.sink.Name, problems)))
		pg, err := w.c.SecureSinkPortgroup(ctx, w.dc, w.sink)
		if err != nil {
			return res, err
		}
		change(Item{Action: ActionUpdate, Kind: "port group", Name: pg.Name, Detail: "re-applied the sink policy (was: " + problems + ")",
			Resource: &Resource{Kind: "port group", Name: pg.Name, ID: pg.Ref.Value}})
		w.sink = pg
	}
	res.Resources = append(res.Resources, Resource{Kind: "port group", Name: w.sink.Name, ID: w.sink.Ref.Value})

	switch {
	case w.vm == nil:
		ref, err := w.deploy(ctx, emit)
		if ref.Value != "" {
			change(Item{Action: ActionCreate, Kind: "VM", Name: w.a.Name, Detail: w.vmDetail(),
				Resource: &Resource{Kind: "VM", Name: w.a.Name, ID: ref.Value}})
		}
		if err != nil {
			return res, err
		}
		res.Resources = append(res.Resources, Resource{Kind: "VM", Name: w.a.Name, ID: ref.Value})
	case !w.vm.PoweredOn():
		emit(Progress("powering on "+w.vm.Name, 0.9))
		if err := w.c.EnsurePoweredOn(ctx, w.vm.Ref); err != nil {
			return res, err
		}
		change(Item{Action: ActionPower, Kind: "VM", Name: w.vm.Name, Detail: "was " + string(w.vm.PowerState),
			Resource: &Resource{Kind: "VM", Name: w.vm.Name, ID: w.vm.Ref.Value}})
		res.Resources = append(res.Resources, Resource{Kind: "VM", Name: w.vm.Name, ID: w.vm.Ref.Value})
	default:
		res.Resources = append(res.Resources, Resource{Kind: "VM", Name: w.vm.Name, ID: w.vm.Ref.Value})
	}
	emit(Progress("L2 appliance ready", 1))
	return res, nil
}

func (w *applianceWorld) deploy(ctx context.Context, emit Emit) (ref types.ManagedObjectReference, err error) {
	src := w.a.OVF
	if src == "" {
		dir, err := os.MkdirTemp("", "ferry-appliance-")
		if err != nil {
			return ref, err
		}
		defer os.RemoveAll(dir)
		src = filepath.Join(dir, builtinOVFFile)
		if err := os.WriteFile(src, builtinOVF, 0o600); err != nil {
			return ref, err
		}
		if err := vsphere.WriteBlankDisk(filepath.Join(dir, builtinDiskFile), builtinDiskSize); err != nil {
			return ref, fmt.Errorf("built-in appliance disk: %w", err)
		}
	}
	r, err := w.c.DeployOVF(ctx, vsphere.OVFDeploy{
		Source:     src,
		Name:       w.a.Name,
		Datacenter: w.dc,
		Datastore:  w.a.Datastore,
		Networks:   map[string]string{ovfNetUplink: w.a.UplinkPortgroup, ovfNetTrunk: w.a.SinkPortgroup},
		PlaceBy:    ovfNetUplink,
		Properties: w.props,
		PowerOn:    true,
		Progress:   func(msg string, f float64) { emit(Progress(msg, f)) },
	})
	return r, err
}

// Verify reads the port group and the appliance back.
func (s *Appliance) Verify(ctx context.Context, env *Env) error {
	w, err := s.look(ctx, env)
	if err != nil {
		return err
	}
	var errs []error
	switch {
	case w.sink == nil:
		errs = append(errs, fmt.Errorf("port group %q does not exist", w.a.SinkPortgroup))
	case len(w.sink.SinkProblems()) > 0:
		errs = append(errs, fmt.Errorf("port group %q: %s", w.sink.Name, strings.Join(w.sink.SinkProblems(), ", ")))
	}
	switch {
	case w.vm == nil:
		errs = append(errs, fmt.Errorf("appliance VM %q does not exist", w.a.Name))
	case !w.vm.PoweredOn():
		errs = append(errs, fmt.Errorf("appliance VM %q is %s", w.vm.Name, w.vm.PowerState))
	default:
		for _, c := range w.vmConflicts() {
			errs = append(errs, fmt.Errorf("appliance VM %q: %s", w.vm.Name, c))
		}
	}
	return errors.Join(errs...)
}
