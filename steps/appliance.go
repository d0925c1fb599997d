package steps

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/ferry-migrate/ferry/vsphere"
)

// Step 3: the on-prem half of the stretch. A sink (trunk) distributed port
// group that delivers the stretched networks' frames to the appliance (MAC
// learning + forged transmits on a VDS of 6.6 or later, promiscuous mode +
// forged transmits otherwise) and trunks their VLANs, and the vendor's
// L2VPN client appliance (the NSX autonomous edge) deployed from its OVA,
// its networks and properties mapped by ApplianceOVFMap (ovfmap.go): the
// management address (where step 4 finds its API) on the operator's port
// group, the trunk NIC on the sink, powered on.

// DefaultSinkPortgroup is the sink port group step 3 makes when the plan
// names none.
const DefaultSinkPortgroup = "ferry-sink"

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
		str("appliance.sink_portgroup", "Sink port group", "the trunk port group for the appliance's trunk NIC, created with MAC learning (VDS 6.6+) or promiscuous mode, and forged transmits Accept", true,
			ap(func(a *AppliancePlan) *string { return &a.SinkPortgroup }), ValidName, fixed(DefaultSinkPortgroup)),
		str("appliance.sink_vlans", "Sink VLAN trunk", "the sink's VLAN trunk range; it must include the stretched port group's VLAN (0: untagged)", false,
			ap(func(a *AppliancePlan) *string { return &a.SinkVLANs }), validVLANRanges, fixed(vsphere.DefaultSinkTrunk)),
		str("appliance.mac_learning", "Sink MAC learning", "auto (on for a VDS of version 6.6 or later), true (MAC learning + forged transmits) or false (promiscuous mode + forged transmits)", false,
			ap(func(a *AppliancePlan) *string { return &a.MACLearning }), validAuto, fixed("auto")),
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
		str("appliance.egress_gateway", "Egress gateway", "the stretched network's gateway, which exists on both sides: local egress optimisation routes traffic to it locally on each site (default: network.gateway_cidr's address)", false,
			ap(func(a *AppliancePlan) *string { return &a.EgressGateway }), inStretchedNetwork, stretchedGateway),
		str("appliance.datastore", "Datastore", "where the appliance goes (default: the most free space on a host of the uplink port group, vSAN and vVols only when there is no other)", false,
			ap(func(a *AppliancePlan) *string { return &a.Datastore }), ValidName, nil),
		str("appliance.ovf", "Appliance OVA", "the vendor's L2VPN client appliance, the NSX autonomous edge: a path or URL of its .ova/.ovf, the NSX Edge OVA from the Broadcom Support Portal (support.broadcom.com, VMware NSX downloads), which ferry deploys as an autonomous edge", true,
			ap(func(a *AppliancePlan) *string { return &a.OVF }), validOVFSource, nil),
		{Key: "appliance.properties", Title: "OVF properties",
			Description: "values of OVF properties ferry's table does not fill, as key=value, key=value (never passwords)",
			Get:         func(pf *PlanFile) string { return formatProps(pf.Appliance.Properties) },
			Set: func(pf *PlanFile, v string) {
				if m, err := parseProps(v); err == nil {
					if len(m) == 0 {
						m = nil
					}
					pf.Appliance.Properties = m
				}
			},
			Validate: validProps},
	}
}

// stretchedGateway is the address of network.gateway_cidr: the gateway the
// stretched network has on both sides.
func stretchedGateway(pf *PlanFile) string {
	p, err := netip.ParsePrefix(pf.Network.GatewayCIDR)
	if err != nil {
		return ""
	}
	return p.Addr().String()
}

func inStretchedNetwork(v string, pf *PlanFile) error {
	if err := ValidIPv4(v, pf); err != nil {
		return err
	}
	p, err := netip.ParsePrefix(pf.Network.GatewayCIDR)
	if err != nil {
		return nil // network.gateway_cidr reports its own problem
	}
	if a, _ := netip.ParseAddr(v); !p.Masked().Contains(a) {
		return fmt.Errorf("%s is not in the stretched network %s (network.gateway_cidr)", v, p.Masked())
	}
	return nil
}

func validVLANRanges(v string, _ *PlanFile) error {
	_, err := vsphere.ParseVLANRanges(v)
	return err
}

func validAuto(v string, pf *PlanFile) error {
	if v == "auto" {
		return nil
	}
	if err := validBool(v, pf); err != nil {
		return fmt.Errorf("%q is not auto, true or false", v)
	}
	return nil
}

func validBool(v string, _ *PlanFile) error {
	if _, err := strconv.ParseBool(v); err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	return nil
}

func validOVFSource(v string, _ *PlanFile) error {
	if vsphere.IsRemoteOVF(v) {
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
	dc        *vsphere.Datacenter
	a         AppliancePlan // with defaults applied
	stretched *vsphere.Portgroup
	dvs       *vsphere.DVS
	uplink    vsphere.Ref        // distributed or standard port group
	sink      *vsphere.Portgroup // nil: not there yet
	dsPicked  bool               // a.Datastore was picked by free space, not named
	// sinkOthers are the VMs other than the appliance on an existing port
	// group that is not a sink yet (sinkUsed refuses to make it one).
	sinkOthers []string
	vm         *vsphere.DeployedVM   // nil: not there yet
	policy     vsphere.SinkPolicy    // what the sink must be
	dvsVer     string                // the DVS's version
	ovf        OVFMap                // the table with the plan's overrides
	nets       map[string]string     // OVF network -> port group
	props      map[string]string     // OVF properties to set (no secrets)
	secrets    []vsphere.OVFProperty // OVF properties that get the edge password
	warnings   []string
	// interrupted is the import a killed deploy left (its VM found, so
	// vm is nil: it is deployed anew once that import is aborted).
	interrupted *applianceImport
	// importing is a VM named as the appliance that an OVF import in
	// progress holds, one ferry did not record (a run stopped after vCenter
	// accepted its import, before it knew the VM; or another deploy): never
	// the appliance until that import ends (vm is nil then).
	importing *vsphere.DeployedVM
	need      vsphere.OVFRoom // what the OVF's VM takes (checkOVF)
	edgePass  string          // the edge password the deploy gives it (Apply)
	use       *datastoreUse   // what the deploy or power-on is to take (nil: nothing)
	// noRoom says why the appliance's datastore cannot take the deploy or
	// the power-on (""  when it can).
	noRoom string
}

// importWait bounds the wait for an OVF import in progress that holds a VM
// named as the appliance: twice vCenter's default lease timeout (300 s
// without HttpNfcLeaseProgress), after which that import is not an
// interrupted deploy's.
const importWait = 10 * time.Minute

// importKey is the appliance step's output that records the OVF import of
// the appliance in flight (JSON applianceImport), from when vCenter made
// its lease and VM until the import completed.
const importKey = "import"

// applianceImport is an OVF import of the appliance: its lease and the VM
// vCenter made for it.
type applianceImport struct {
	Lease vsphere.Ref `json:"lease"`
	VM    vsphere.Ref `json:"vm"`
}

// importInFlight is the import a deploy recorded and did not finish.
func importInFlight(env *Env) (applianceImport, bool) {
	var imp applianceImport
	v := env.State.Get("appliance").Outputs[importKey]
	if v == "" || json.Unmarshal([]byte(v), &imp) != nil || imp.VM.Value == "" {
		return imp, false
	}
	return imp, true
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
	errs = append(errs, checkOVFMapPlan(a)...)
	m := ovfMap(a)
	for _, k := range sortedKeys(a.Properties) {
		if secretKey.MatchString(k) || strings.Contains(strings.ToLower(k), "passw") || m.secret(k) {
			errs = append(errs, &FieldError{"appliance.properties." + k, fmt.Errorf("looks like a password: %w; the appliance's passwords are the edge password (FERRY_EDGE_PASSWORD or the prompt)", ErrSecretInPlan)})
		}
	}
	if len(errs) > 0 {
		return AppliancePlan{}, &ValidationError{Path: pf.path, Errs: errs}
	}
	return a, nil
}

// look reads what exists. Missing inputs (port group, switch, datacenter)
// are errors naming what exists; a missing sink or appliance is not.
func (s *Appliance) look(ctx context.Context, env *Env) (*applianceWorld, error) {
	env.applianceUse.Store(nil)
	a, err := s.inputs(env.Plan())
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
	if err := w.sinkPolicy(ctx, env.Plan()); err != nil {
		return nil, err
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
	if w.sink != nil && len(w.sink.SinkProblems(w.policy)) > 0 {
		// Not a sink yet: the VMs on it decide whether it may become one.
		if w.sinkOthers, err = c.VMsOn(ctx, w.sink, a.Name); err != nil {
			return nil, err
		}
	}
	if w.vm, err = c.FindDeployedVM(ctx, w.dc, a.Name); err != nil {
		return nil, err
	}
	if imp, ok := importInFlight(env); ok && w.vm != nil && w.vm.Ref == imp.VM && !w.vm.PoweredOn() && w.vm.Importing != nil {
		// A ferry killed during the upload: that VM is half-imported
		// (vCenter refuses to power it on while its lease is held, and
		// removes it when the lease times out). One whose import is
		// over (not aborted: vCenter would have removed it) is whole: a
		// ferry killed after the lease completed, before it ran.
		w.interrupted, w.vm = &imp, nil
	}
	if w.vm != nil && w.vm.Importing != nil {
		// Half-imported: its disks are not whole and vCenter refuses to
		// power it on until the import ends.
		w.importing, w.vm = w.vm, nil
	}
	w.ovf = ovfMap(a)
	if w.vm == nil {
		if err := w.checkOVF(env.Plan()); err != nil {
			return nil, err
		}
		// The plan looks up what the deploy will use: a datastore that the
		// uplink's hosts do not have fails here, before the sink port
		// group is created, not halfway through the apply; one without
		// room for the appliance is a conflict.
		place, err := c.PlaceOnNetwork(ctx, w.dc, w.uplink, a.Datastore)
		if err != nil {
			if a.Datastore != "" {
				return nil, fmt.Errorf("appliance.datastore: %w", err)
			}
			return nil, err
		}
		if err := w.checkRoom(ctx, place.DatastoreName); err != nil {
			return nil, err
		}
		// The deploy goes where the room was checked, not wherever a
		// new ranking would put it.
		w.dsPicked = a.Datastore == ""
		w.a.Datastore = place.DatastoreName
	} else if !w.vm.PoweredOn() && w.vm.Datastore != "" {
		if err := w.checkRoom(ctx, w.vm.Datastore); err != nil {
			return nil, err
		}
	}
	env.applianceUse.Store(w.use)
	return w, nil
}

// checkRoom sets w.noRoom when datastore ds has no room for what the
// appliance still needs there: its disks and its swap file for a deploy,
// its swap file to power on one that is off. ESXi makes a VM's swap file
// (its memory beyond its reservation) when it powers on, and a VM without
// room for it does not start: found after the upload, a deploy would leave
// an appliance that is off.
func (w *applianceWorld) checkRoom(ctx context.Context, ds string) error {
	_, free, err := w.c.DatastoreSpace(ctx, w.a.Datacenter, ds)
	if err != nil {
		return err
	}
	swapWhy := "ESXi makes one of a VM's memory beyond its reservation when it powers on, and a VM without room for it does not start"
	w.use = &datastoreUse{datastore: ds, bytes: w.need.Populated + w.need.Swap, what: "the L2 appliance step 3 deploys there"}
	if w.vm != nil {
		w.use.bytes, w.use.what = w.vm.Swap, "the swap file of the L2 appliance step 3 powers on"
	}
	if w.vm == nil {
		// Deployed thin: its disks take what the OVF carries, and grow
		// as the appliance writes (a warning when they could not grow
		// to their capacity).
		if need := w.need.Populated + w.need.Swap; need > free {
			has, needs := bytesApart(free, need)
			w.noRoom = fmt.Sprintf("datastore %s has %s free; the appliance needs %s there: its disks as deployed (%s, thin) and its swap file (%s: %s). Free space on %s, or set appliance.datastore to a datastore of the uplink's hosts with room",
				ds, has, needs, Bytes(w.need.Populated), Bytes(w.need.Swap), swapWhy, ds)
		} else if full := w.need.Disks + w.need.Swap; full > free {
			w.warnings = append(w.warnings, fmt.Sprintf("datastore %s has %s free: room for the appliance as deployed (%s), not for its thin disks grown to their capacity (%s) beside its swap file (%s); on a full datastore ESXi pauses a VM whose thin disk must grow",
				ds, Bytes(free), Bytes(need), Bytes(w.need.Disks), Bytes(w.need.Swap)))
		}
		return nil
	}
	if w.vm.Swap > free {
		has, needs := bytesApart(free, w.vm.Swap)
		w.noRoom = fmt.Sprintf("VM %s is %s, and datastore %s has %s free: powering it on needs %s there for its swap file (%s). Free space on %s",
			w.vm.Name, w.vm.PowerState, ds, has, needs, swapWhy, ds)
	}
	return nil
}

// sinkPolicy decides how the sink delivers frames (MAC learning where the
// switch supports it) and checks that its trunk carries the stretched port
// group's VLAN: a VLAN-backed port group's frames arrive tagged on the sink.
func (w *applianceWorld) sinkPolicy(ctx context.Context, pf *PlanFile) error {
	ver, err := w.c.DVSVersion(ctx, w.dvs)
	if err != nil {
		return err
	}
	w.dvsVer = ver
	supported := vsphere.MACLearningSupported(ver)
	learn := supported
	if v := w.a.MACLearning; v != "" && v != "auto" {
		learn, _ = strconv.ParseBool(v)
		if learn && !supported {
			return &ValidationError{Path: pf.path, Errs: []error{&FieldError{"appliance.mac_learning",
				fmt.Errorf("distributed switch %s is version %s; MAC learning needs 6.6 or later: set it to false (promiscuous mode and forged transmits)", w.a.DVS, ver)}}}
		}
	}
	w.policy = vsphere.SinkPolicy{MACLearning: learn, Trunk: w.a.SinkVLANs}
	st := w.stretched
	if st.Trunk != "" {
		return fmt.Errorf("appliance.stretched_portgroup: %q is a VLAN trunk (%s), not the port group of a VM network", st.Name, st.Trunk)
	}
	if !vsphere.VLANInRanges(w.a.SinkVLANs, st.VLAN) {
		return &ValidationError{Path: pf.path, Errs: []error{&FieldError{"appliance.sink_vlans",
			fmt.Errorf("%q does not include VLAN %d of stretched port group %s: its frames arrive tagged %d on the sink and would be dropped; include %d (e.g. 0-4094)", w.a.SinkVLANs, st.VLAN, st.Name, st.VLAN, st.VLAN)}}}
	}
	return nil
}

// checkOVF reads the appliance OVF before anything is created and maps it
// with the table: every OVF network must have a role (uplink or sink, one of
// each at least); each declared property gets its value from the plan's
// appliance.properties, else from the table's source; a property that needs
// a value (no default, or a minimum length) and gets none is refused by name.
func (w *applianceWorld) checkOVF(pf *PlanFile) error {
	e, err := w.c.ReadOVF(w.a.OVF)
	if err != nil {
		return fmt.Errorf("appliance.ovf: %w", err)
	}
	w.need = vsphere.OVFNeeds(e)
	nets, props := vsphere.OVFNetworks(e), vsphere.OVFPropertyInfo(e)
	w.nets = map[string]string{}
	roles := map[string]bool{}
	var unmapped []string
	for _, n := range nets {
		switch w.ovf.Networks[n] {
		case ovfRoleUplink:
			w.nets[n] = w.a.UplinkPortgroup
		case ovfRoleSink:
			w.nets[n] = w.a.SinkPortgroup
		default:
			unmapped = append(unmapped, n)
			continue
		}
		roles[w.ovf.Networks[n]] = true
	}
	if len(unmapped) > 0 || !roles[ovfRoleUplink] || !roles[ovfRoleSink] {
		return fmt.Errorf("appliance.ovf: %s declares networks %s; ferry's table maps %s; every network needs a role, and one at least uplink and one sink: set appliance.ovf_networks (e.g. %q: sink)",
			w.a.OVF, quoteList(nets), describeMap(w.ovf.Networks), firstOr(unmapped, "Network 2"))
	}
	w.props = map[string]string{}
	w.secrets = nil
	var missing []string
	declared := map[string]bool{}
	for _, p := range props {
		declared[p.Key] = true
		src, mapped := w.ovf.Properties[p.Key]
		if v, ok := w.a.Properties[p.Key]; ok {
			if p.Password {
				return &ValidationError{Path: pf.path, Errs: []error{&FieldError{"appliance.properties." + p.Key,
					fmt.Errorf("is a password property of the OVF: %w", ErrSecretInPlan)}}}
			}
			w.props[p.Key] = v
			continue
		}
		if mapped && src == ovfSrcPassword {
			w.secrets = append(w.secrets, p)
			continue
		}
		v := ""
		if mapped {
			v = sourceValue(src, w.a)
		}
		if v != "" {
			w.props[p.Key] = v
			continue
		}
		if p.MinLen > 0 || (p.Default == "" && p.Password) {
			label := p.Label
			if label == "" {
				label = p.Key
			}
			missing = append(missing, fmt.Sprintf("%s (%s)", p.Key, label))
		}
	}
	if len(missing) > 0 {
		return &ValidationError{Path: pf.path, Errs: []error{&FieldError{"appliance.properties",
			fmt.Errorf("the appliance OVF %s needs a value for %s: add them as key=value", w.a.OVF, strings.Join(missing, ", "))}}}
	}
	for _, k := range sortedKeys(w.ovf.Properties) {
		if declared[k] {
			continue
		}
		if src := w.ovf.Properties[k]; src == ovfSrcIP {
			w.warnings = append(w.warnings, fmt.Sprintf("%s declares no property %s: set the appliance's management address %s on its console", w.a.OVF, k, w.a.IP))
		}
	}
	if w.ovf.mgmtKey() == "" || !declared[w.ovf.mgmtKey()] {
		w.warnings = append(w.warnings, fmt.Sprintf("%s: no OVF property carries the management address; step 4 needs the edge's URL in the configuration (FERRY_EDGE_URL)", w.a.OVF))
	}
	return nil
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

func describeMap(m map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, strconv.Quote(k)+" to "+m[k])
	}
	return strings.Join(parts, ", ")
}

func firstOr(s []string, d string) string {
	if len(s) > 0 {
		return s[0]
	}
	return d
}

func (w *applianceWorld) ovfName() string { return w.a.OVF }

// egressKey is the OVF property that takes the egress gateway ("": none).
func (w *applianceWorld) egressKey() string {
	for _, k := range sortedKeys(w.ovf.Properties) {
		if w.ovf.Properties[k] == ovfSrcEgress {
			return k
		}
	}
	return ""
}

// egressItem says how the duplicate gateway is handled: local egress
// optimisation (the approach README.md documents). It is not a change of
// its own: the appliance carries it.
func (w *applianceWorld) egressItem() Item {
	gw := w.a.EgressGateway
	d := "exists on both sides of the stretch (the on-prem router and Cloud Director's edge gateway)"
	if k := w.egressKey(); k != "" {
		return Item{Action: ActionExists, Kind: "duplicate gateway", Name: gw, Detail: fmt.Sprintf("%s: local egress optimisation, traffic to %s is routed on the site it starts from, never over the tunnel; the appliance gets it as %s", d, gw, k)}
	}
	return Item{Action: ActionExists, Kind: "duplicate gateway", Name: gw,
		Detail: fmt.Sprintf("%s; WARNING: local egress optimisation is not set up: the appliance OVF takes no egress gateway (map its property in the plan file, which the wizard's forms do not write: appliance.ovf_properties: {KEY: egress_gateway}; or set it on the edge): until then migrated VMs reach %s across the tunnel", d, gw)}
}

// sinkUsed refuses to make an existing port group the sink while VMs other
// than the appliance are on it: the sink policy (a VLAN trunk, MAC learning
// or promiscuous mode, forged transmits) would change their network.
func (w *applianceWorld) sinkUsed() error {
	if len(w.sinkOthers) == 0 {
		return nil
	}
	return fmt.Errorf("port group %s is not a sink and VMs are on it (%s): making it the sink (%s) would change their network; name a port group no VM uses as appliance.sink_portgroup (ferry creates one that does not exist), or move those VMs off it",
		w.sink.Name, strings.Join(w.sinkOthers, ", "), w.policy)
}

func (w *applianceWorld) sinkDetail() string {
	return fmt.Sprintf("on %s (VDS %s), %s; carries VLAN %d of %s", w.a.DVS, w.dvsVer, w.policy, w.stretched.VLAN, w.stretched.Name)
}

func (w *applianceWorld) vmDetail() string {
	d := fmt.Sprintf("from %s; management address %s on %s via %s", w.ovfName(), w.a.IP+"/"+w.a.Prefix, w.a.UplinkPortgroup, w.a.Gateway)
	if w.a.Datastore != "" {
		d += "; on datastore " + w.a.Datastore
		if w.dsPicked {
			d += " (the most free space of the uplink's hosts' datastores, vSAN and vVols only when there is no other; appliance.datastore names another)"
		}
	}
	if w.a.EgressGateway != "" && w.egressKey() != "" {
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
		p.Items = append(p.Items, Item{Action: ActionConflict, Kind: "port group", Name: w.sink.Name, Field: "appliance.sink_portgroup",
			Detail: fmt.Sprintf("exists on %s, the plan wants it on %s; rename appliance.sink_portgroup or set appliance.dvs", w.sink.DVS, w.a.DVS)})
	case len(w.sink.SinkProblems(w.policy)) > 0 && w.sinkUsed() != nil:
		p.Items = append(p.Items, Item{Action: ActionConflict, Kind: "port group", Name: w.sink.Name, Detail: w.sinkUsed().Error(), Field: "appliance.sink_portgroup"})
	case len(w.sink.SinkProblems(w.policy)) > 0:
		p.Items = append(p.Items, Item{Action: ActionUpdate, Kind: "port group", Name: w.sink.Name,
			Detail: "apply the sink policy (" + w.policy.String() + "): " + strings.Join(w.sink.SinkProblems(w.policy), ", ")})
	default:
		p.Items = append(p.Items, Item{Action: ActionExists, Kind: "port group", Name: w.sink.Name, Detail: w.sinkDetail(),
			Resource: &Resource{Kind: "port group", Name: w.sink.Name, ID: w.sink.Ref.Value}})
	}
	if w.a.EgressGateway != "" {
		p.Items = append(p.Items, w.egressItem())
	}
	if w.vm == nil {
		d := w.vmDetail()
		if w.interrupted != nil {
			d += "; first the import an interrupted deploy left (VM " + w.interrupted.VM.Value + ", half-uploaded) is aborted, and vCenter removes that VM"
		}
		if v := w.importing; v != nil {
			d += "; first ferry waits for vCenter to end the OVF import in progress of VM " + v.Ref.Value + " (task " + v.Importing.Task.Value + "), named as the appliance: an interrupted deploy's, whose lease times out (5 minutes without progress) and vCenter removes that VM"
		}
		p.Items = append(p.Items, Item{Action: ActionCreate, Kind: "VM", Name: w.a.Name, Detail: d})
		if w.noRoom != "" {
			p.Items = append(p.Items, Item{Action: ActionConflict, Kind: "VM", Name: w.a.Name, Detail: w.noRoom})
		}
		return p
	}
	if c, field := w.vmConflicts(); len(c) > 0 {
		// Field: the wizard's esc opens the first answer that differs
		// (QA: it opened the field last typed in, and the conflict named
		// no answer to change).
		p.Items = append(p.Items, Item{Action: ActionConflict, Kind: "VM", Name: w.vm.Name, Field: field,
			Detail: strings.Join(c, "; ") + "; fix the plan, or remove or rename the VM"})
		return p
	}
	res := &Resource{Kind: "VM", Name: w.vm.Name, ID: w.vm.Ref.Value}
	if !w.vm.PoweredOn() {
		p.Items = append(p.Items, Item{Action: ActionPower, Kind: "VM", Name: w.vm.Name, Detail: "is " + string(w.vm.PowerState), Resource: res})
		if w.noRoom != "" {
			p.Items = append(p.Items, Item{Action: ActionConflict, Kind: "VM", Name: w.vm.Name, Detail: w.noRoom})
		}
	} else {
		p.Items = append(p.Items, Item{Action: ActionExists, Kind: "VM", Name: w.vm.Name, Detail: "powered on, uplink " + w.a.IP + "/" + w.a.Prefix, Resource: res})
	}
	return p
}

// vmConflicts compares an existing appliance with the plan (the address
// properties the table maps; never the passwords), each difference naming
// the plan's answer, and field, the first of those answers. ferry does not
// re-address a running edge on its own: the tunnel would drop.
func (w *applianceWorld) vmConflicts() (out []string, field string) {
	for _, k := range sortedKeys(w.ovf.Properties) {
		src := w.ovf.Properties[k]
		if src == ovfSrcPassword || strings.HasPrefix(src, "=") {
			continue
		}
		want := sourceValue(src, w.a)
		if got, ok := w.vm.Properties[k]; ok && got != want {
			key := ovfSourceKey(src)
			out = append(out, fmt.Sprintf("%s is %q, the plan says %q (%s)", k, got, want, cmp.Or(key, src)))
			field = cmp.Or(field, key)
		}
	}
	var networks []string // each once: an edge has several NICs on its uplink
	for _, n := range w.vm.Networks {
		if !slices.Contains(networks, n) {
			networks = append(networks, n)
		}
	}
	for _, n := range []struct{ key, name string }{{"appliance.uplink_portgroup", w.a.UplinkPortgroup}, {"appliance.sink_portgroup", w.a.SinkPortgroup}} {
		if w.sink != nil && !slices.Contains(w.vm.Networks, n.name) {
			out = append(out, fmt.Sprintf("not connected to %s, the plan's %s (its networks: %s)", n.name, n.key, strings.Join(networks, ", ")))
			field = cmp.Or(field, n.key)
		}
	}
	return out, field
}

// ovfSourceKey is the plan answer an OVF property's value comes from (""
// for a fixed text or the password).
func ovfSourceKey(src string) string {
	switch src {
	case ovfSrcIP:
		return "appliance.ip"
	case ovfSrcPrefix, ovfSrcNetmask:
		return "appliance.prefix"
	case ovfSrcGateway:
		return "appliance.gateway"
	case ovfSrcEgress:
		return "appliance.egress_gateway"
	case ovfSrcHostname:
		return "appliance.name"
	}
	return ""
}

// Plan says what Apply would create; it changes nothing.
func (s *Appliance) Plan(ctx context.Context, env *Env) (Plan, error) {
	w, err := s.look(ctx, env)
	if err != nil {
		return Plan{Step: s.ID()}, err
	}
	p := w.plan()
	p.Items = append(p.Items, w.passwordItems(env)...)
	conflicts, err := w.privilegeItems(ctx)
	if err != nil {
		return p, err
	}
	p.Items = append(p.Items, conflicts...)
	return p, nil
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
	plan.Items = append(plan.Items, w.passwordItems(env)...)
	if c := plan.Conflicts(); len(c) > 0 {
		return Result{}, fmt.Errorf("%w, nothing changed: %s", ErrConflict, c[0])
	}
	for _, msg := range w.warnings {
		emit(Warning(msg))
	}
	if w.a.EgressGateway != "" && w.egressKey() == "" {
		emit(Warning("duplicate gateway " + w.a.EgressGateway + ": " + w.egressItem().Detail))
	}
	if w.vm == nil && len(w.secrets) > 0 {
		// The password first (the wizard asks for it now), checked
		// before anything changes: a refused one must not leave the sink
		// port group behind.
		pass, err := env.Password(env.Config.Edge, edgePasswordEnv, "the password to give the L2VPN client appliance (and log in to its API with)")
		if err != nil {
			return Result{}, err
		}
		from := edgePasswordFrom
		if knownEdgePassword(env) == "" {
			from = "the one typed at the prompt"
		}
		if err := w.checkEdgePassword(pass, from); err != nil {
			return Result{}, fmt.Errorf("%w; nothing was changed", err)
		}
		w.edgePass = pass
		if env.Prompts && w.a.Datastore != "" {
			// The prompt may have stayed open a while: the room again.
			if err := w.checkRoom(ctx, w.a.Datastore); err != nil {
				return Result{}, err
			}
			if w.noRoom != "" {
				return Result{}, fmt.Errorf("%w, nothing changed: %s", ErrConflict, w.noRoom)
			}
		}
	}
	var res Result
	change := func(it Item) {
		res.Changes = append(res.Changes, it)
		emit(Changed(it))
	}

	switch {
	case w.sink == nil:
		emit(Progress("creating port group "+w.a.SinkPortgroup, 0.02))
		pg, err := w.c.CreateSinkPortgroup(ctx, w.dc, w.dvs, w.a.SinkPortgroup, w.policy)
		if pg != nil {
			// Record it even when the read-back failed: it exists now.
			change(Item{Action: ActionCreate, Kind: "port group", Name: pg.Name, Detail: w.sinkDetail(),
				Resource: &Resource{Kind: "port group", Name: pg.Name, ID: pg.Ref.Value}})
		}
		if err != nil {
			return res, err
		}
		w.sink = pg
	case len(w.sink.SinkProblems(w.policy)) > 0 && w.sinkUsed() != nil:
		return res, fmt.Errorf("appliance.sink_portgroup: %w", w.sinkUsed())
	case len(w.sink.SinkProblems(w.policy)) > 0:
		problems := strings.Join(w.sink.SinkProblems(w.policy), ", ")
		emit(Warning(fmt.Sprintf("port group %s drifted (%s); a sink that does not deliver the stretched frames breaks the stretch; re-applying %s", w.sink.Name, problems, w.policy)))
		pg, err := w.c.SecureSinkPortgroup(ctx, w.dc, w.sink, w.policy)
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
		if imp := w.interrupted; imp != nil {
			emit(Warning(fmt.Sprintf("the deploy of %s was interrupted during its upload (ferry stopped): VM %s is half-imported and vCenter refuses to power it on; aborting its import (lease %s), so that vCenter removes it, then deploying the appliance anew",
				w.a.Name, imp.VM.Value, imp.Lease.Value)))
			if err := w.c.AbortImport(ctx, imp.Lease, imp.VM, 2*time.Minute); err != nil {
				return res, err
			}
			change(Item{Action: ActionUpdate, Kind: "VM", Name: w.a.Name, Detail: "the interrupted import of VM " + imp.VM.Value + " aborted: vCenter removed it"})
		}
		if v := w.importing; v != nil {
			by := ""
			if v.Importing.User != "" {
				by = " by " + v.Importing.User
			}
			emit(Warning(fmt.Sprintf("VM %s (%s), named as the appliance, is being imported from an OVF (vCenter task %s, begun%s): a deploy interrupted after vCenter accepted it, or another one; its disks are not whole and vCenter refuses to power it on, so ferry waits for that import to end, then deploys the appliance anew if vCenter removed that VM",
				v.Name, v.Ref.Value, v.Importing.Task.Value, by)))
			removed, err := w.c.WaitImportEnded(ctx, v.Ref, v.Importing, importWait, func(msg string) { emit(Progress(msg, 0.5)) })
			if err != nil {
				return res, err
			}
			if !removed {
				return res, fmt.Errorf("VM %s (%s), named as the appliance, was being imported by another deploy, which completed meanwhile; nothing was deployed: run again to check it as the appliance, or rename or remove it to deploy ferry's", v.Name, v.Ref.Value)
			}
		}
		ref, err := w.deploy(ctx, env, emit)
		if ref.Value != "" {
			change(Item{Action: ActionCreate, Kind: "VM", Name: w.a.Name, Detail: w.vmDetail(),
				Resource: &Resource{Kind: "VM", Name: w.a.Name, ID: ref.Value}})
		}
		if err != nil && ref.Value == "" && w.dsPicked {
			// The datastore was ferry's pick, by free space: say so, and
			// where to name another.
			return res, &FieldError{"appliance.datastore", fmt.Errorf("%w (datastore %s was picked for having the most free space; name another as appliance.datastore)", err, w.a.Datastore)}
		}
		if err != nil {
			return res, err
		}
		res.Resources = append(res.Resources, Resource{Kind: "VM", Name: w.a.Name, ID: ref.Value})
	case !w.vm.PoweredOn():
		if err := w.importEnded(env); err != nil {
			return res, err
		}
		emit(Progress("powering on "+w.vm.Name, 0.9))
		if err := w.c.EnsurePoweredOn(ctx, w.vm.Ref); err != nil {
			return res, err
		}
		change(Item{Action: ActionPower, Kind: "VM", Name: w.vm.Name, Detail: "was " + string(w.vm.PowerState),
			Resource: &Resource{Kind: "VM", Name: w.vm.Name, ID: w.vm.Ref.Value}})
		res.Resources = append(res.Resources, Resource{Kind: "VM", Name: w.vm.Name, ID: w.vm.Ref.Value})
	default:
		if err := w.importEnded(env); err != nil {
			return res, err
		}
		res.Resources = append(res.Resources, Resource{Kind: "VM", Name: w.vm.Name, ID: w.vm.Ref.Value})
	}
	emit(Progress("L2 appliance ready", 1))
	return res, nil
}

func (w *applianceWorld) deploy(ctx context.Context, env *Env, emit Emit) (ref vsphere.Ref, err error) {
	props := maps.Clone(w.props)
	for _, p := range w.secrets {
		props[p.Key] = w.edgePass // asked for and checked by Apply
	}
	placeBy := ""
	for _, n := range sortedKeys(w.nets) {
		if w.ovf.Networks[n] == ovfRoleUplink && placeBy == "" {
			placeBy = n
		}
	}
	ref, err = w.c.DeployOVF(ctx, vsphere.OVFDeploy{
		Source:     w.a.OVF,
		Name:       w.a.Name,
		Datacenter: w.dc,
		Datastore:  w.a.Datastore,
		Networks:   w.nets,
		PlaceBy:    placeBy,
		Properties: props,
		// Powered on below, once the state says the import completed: a
		// run killed in between finds a whole VM, not one to abort.
		Progress: func(msg string, f float64) { emit(Progress(msg, f)) },
		// Recorded before the upload: a run killed during it leaves a VM
		// the next run must abort the import of (importInFlight).
		Importing: func(lease, vm vsphere.Ref) error {
			b, err := json.Marshal(applianceImport{Lease: lease, VM: vm})
			if err != nil {
				return err
			}
			return env.State.SetOutput("appliance", importKey, string(b))
		},
	})
	if ref.Value == "" || err != nil {
		return ref, err
	}
	// Imported whole (DeployOVF names the VM once the lease is complete):
	// nothing to abort from now on.
	if err := env.State.SetOutput("appliance", importKey, ""); err != nil {
		return ref, err
	}
	emit(Progress("powering on "+w.a.Name, 0.95))
	return ref, w.c.EnsurePoweredOn(ctx, ref)
}

// importEnded forgets the appliance's import that the state still records
// when its VM is whole (a run killed after the import's lease completed,
// before it recorded that).
func (w *applianceWorld) importEnded(env *Env) error {
	if imp, ok := importInFlight(env); ok && imp.VM == w.vm.Ref {
		return env.State.SetOutput("appliance", importKey, "")
	}
	return nil
}

// drift says when the appliance step 3 deployed is gone, off, or a VM of
// its name is being imported (the L2 stretch is down then).
func (s *Appliance) drift(ctx context.Context, env *Env) (string, string) {
	w, err := s.look(ctx, env)
	switch {
	case err != nil:
		return "", ""
	case w.importing != nil:
		// Not gone: a deploy (another ferry's redo, an admin's) holds a
		// VM of its name, half-imported (QA: this said "is gone").
		v := w.importing
		task := "vCenter task " + v.Importing.Task.Value
		if v.Importing.User != "" {
			task += ", begun by " + v.Importing.User
		}
		if !v.Importing.Started.IsZero() {
			task += " at " + v.Importing.Started.Local().Format(time.RFC3339)
		}
		return fmt.Sprintf("the L2 appliance VM %s (%s) is being imported from an OVF (%s, %d%%): its disks are not whole and vCenter refuses to power it on until that import ends; the L2 stretch is down meanwhile",
			v.Name, v.Ref.Value, task, v.Importing.Progress), ""
	case w.vm == nil:
		return "the L2 appliance VM " + w.a.Name + " is gone: the L2 stretch is down", ""
	case !w.vm.PoweredOn():
		return fmt.Sprintf("the L2 appliance VM %s is %s: the L2 stretch is down", w.vm.Name, w.vm.PowerState), ""
	}
	return "", ""
}

// edgePasswordFrom names where the edge password comes from, for errors.
const edgePasswordFrom = "the config's edge.password, or " + edgePasswordEnv

// edgePasswordEnv is the environment variable of the edge password.
const edgePasswordEnv = "FERRY_EDGE_PASSWORD"

// knownEdgePassword is the edge password known without asking (the
// config's, else the environment's); "" when only a prompt could give it.
func knownEdgePassword(env *Env) string {
	return cmp.Or(env.Config.Edge.Password, os.Getenv(edgePasswordEnv))
}

// passwordItems is a conflict when the appliance is to be deployed with
// an edge password its OVF refuses: said by the plan, so a run's preflight
// refuses before steps 1 and 2 change anything. Only a password known
// without asking (config or environment) is checked here; one the wizard
// asks for at the deploy is checked there.
func (w *applianceWorld) passwordItems(env *Env) []Item {
	if w.vm != nil || len(w.secrets) == 0 {
		return nil
	}
	pass := knownEdgePassword(env)
	if pass == "" {
		if env.Prompts {
			return nil // the wizard asks for it at the deploy
		}
		return []Item{{Action: ActionConflict, Kind: "VM", Name: w.a.Name,
			Detail: fmt.Sprintf("the appliance OVF %s takes the edge password (the L2VPN client's admin password, which ferry then logs in to its API with), and none is set: set %s; a run without a terminal cannot ask for it", w.ovfName(), edgePasswordFrom)}}
	}
	if err := w.checkEdgePassword(pass, edgePasswordFrom); err != nil {
		return []Item{{Action: ActionConflict, Kind: "VM", Name: w.a.Name, Detail: err.Error()}}
	}
	return nil
}

// checkEdgePassword is an error when pass is shorter than one of the OVF's
// password properties asks for.
func (w *applianceWorld) checkEdgePassword(pass, from string) error {
	for _, p := range w.secrets {
		if len(pass) < p.MinLen {
			return fmt.Errorf("the edge password (%s) has %d characters; the appliance OVF %s asks for at least %d for %s: set a longer one",
				from, len(pass), w.ovfName(), p.MinLen, p.Key)
		}
	}
	if lacks := edgePasswordLacks(pass); lacks != "" {
		return fmt.Errorf("the edge password (%s) %s; NSX takes an appliance password of at least 12 characters with at least one lowercase, one uppercase, one numeric and one special character (not a quote), no palindrome: set another (the OVF checks only its length, and the edge would refuse it after the upload and boot)",
			from, lacks)
	}
	return nil
}

// edgePasswordLacks says what NSX's password rule for its appliances'
// users finds missing in pass ("" when nothing is): one lowercase, one
// uppercase, one numeric and one special character other than a quote, and
// no palindrome (NSX API, PolicyEdgeTransportNodeCredential.cli_password;
// the autonomous edge's default PasswordComplexityProperties ask one of
// each). It never quotes the password.
func edgePasswordLacks(pass string) string {
	var lower, upper, digit, special bool
	for _, r := range pass {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		case r != '"' && r != '\'' && r != '`' && (unicode.IsPunct(r) || unicode.IsSymbol(r)):
			special = true
		}
	}
	var missing []string
	for _, m := range []struct {
		ok   bool
		what string
	}{{lower, "a lowercase letter"}, {upper, "an uppercase letter"}, {digit, "a digit"}, {special, "a special character"}} {
		if !m.ok {
			missing = append(missing, m.what)
		}
	}
	if len(missing) > 0 {
		return "lacks " + strings.Join(missing, ", ")
	}
	r := []rune(pass)
	back := slices.Clone(r)
	slices.Reverse(back)
	if slices.Equal(r, back) {
		return "is a palindrome"
	}
	return ""
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
	case len(w.sink.SinkProblems(w.policy)) > 0:
		errs = append(errs, fmt.Errorf("port group %q: %s", w.sink.Name, strings.Join(w.sink.SinkProblems(w.policy), ", ")))
	}
	switch {
	case w.vm == nil:
		errs = append(errs, fmt.Errorf("appliance VM %q does not exist", w.a.Name))
	case !w.vm.PoweredOn():
		errs = append(errs, fmt.Errorf("appliance VM %q is %s", w.vm.Name, w.vm.PowerState))
	default:
		c, _ := w.vmConflicts()
		for _, c := range c {
			errs = append(errs, fmt.Errorf("appliance VM %q: %s", w.vm.Name, c))
		}
	}
	return errors.Join(errs...)
}

// bytesApart says have and need, need being more, so that they read apart:
// in MiB when Bytes rounds them alike ("4.0 GiB free; needs 4.0 GiB").
func bytesApart(have, need int64) (string, string) {
	if h, n := Bytes(have), Bytes(need); h != n {
		return h, n
	}
	return fmt.Sprintf("%d MiB", have>>20), fmt.Sprintf("%d MiB", (need+1<<20-1)>>20)
}
