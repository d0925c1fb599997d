package steps

import (
	"fmt"
	"github.com/ferry-migrate/ferry/internal/nearname"
	"github.com/ferry-migrate/ferry/replication"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is what sort of step a stage is: what a front end needs to know to
// show it (the wizard has a screen per kind). Steps that are a form, a plan
// and an apply are KindForm, the zero value.
type Kind int

const (
	// KindForm: answers, then plan, apply and result (steps 1 to 3).
	KindForm Kind = iota
	// KindExtension: a form step whose success means the stretch is UP on
	// both ends (step 4).
	KindExtension
	// KindVMSelection: the on-prem VMs to pick and the job's options (step 5).
	KindVMSelection
	// KindReplication: replication runs and is watched (step 6).
	KindReplication
	// KindChecks: connectivity probes across the stretch (step 7).
	KindChecks
	// KindCutover: the dangerous step, confirmed by typing the VM names
	// (step 8).
	KindCutover
)

// Stage is one entry of the itinerary: a step and when it applies.
type Stage struct {
	Step Step
	// Kind says how a front end shows the step (default KindForm).
	Kind Kind
	// Skip returns why the step does not apply to this plan ("" = it does).
	Skip func(pf *PlanFile) string
	// Confirm marks a dangerous step that needs a typed confirmation
	// (cutover: --confirm-cutover=NAME, or the TUI's confirmation prompt).
	Confirm bool
}

// PlanSkip says why the plan's own skip list skips the step ("" = it does
// not). It is known before the step is reached, unlike the stage's
// predicate, which looks at answers earlier steps collect.
func (st Stage) PlanSkip(pf *PlanFile) string {
	if id := st.Step.ID(); slices.Contains(pf.Skip, id) {
		return "skipped by the plan (skip: " + id + ")"
	}
	return ""
}

// SkipReason says why the step does not apply to the plan as it is now
// ("" = it does): the plan's skip list, then the stage's predicate. The
// wizard and the headless runner both show it.
func (st Stage) SkipReason(pf *PlanFile) string {
	if r := st.PlanSkip(pf); r != "" {
		return r
	}
	if st.Skip != nil {
		return st.Skip(pf)
	}
	return ""
}

// Itinerary is the ordered list of steps: data, not control flow (forklift).
type Itinerary []Stage

// IDs lists the step IDs in order.
func (it Itinerary) IDs() []string {
	ids := make([]string, len(it))
	for i, st := range it {
		ids[i] = st.Step.ID()
	}
	return ids
}

// Number is the step id's 1-based position in it, as the runner numbers
// its events ("[8/8] cutover: ..."; 0 when it has no such step).
func (it Itinerary) Number(id string) int {
	for i, st := range it {
		if st.Step.ID() == id {
			return i + 1
		}
	}
	return 0
}

// SettledEvents are Env.SettledRollbacks' lines as the cutover step's
// progress events (numbered as the runner numbers its steps).
func (it Itinerary) SettledEvents(lines []string) []Event {
	idx := it.Number("cutover")
	out := make([]Event, len(lines))
	for i, l := range lines {
		out[i] = Event{Time: time.Now().UTC(), Step: "cutover", Index: idx, Kind: EventProgress, Message: l, Fraction: -1}
	}
	return out
}

// NewItinerary returns the eight steps (docs/itinerary.md). The migration
// steps (5 to 8) do not apply to a plan without VMs.
func NewItinerary() Itinerary {
	return Itinerary{
		{Step: &Rights{}},
		{Step: &Trunk{}},
		{Step: &Appliance{}},
		{Step: &Extension{}, Kind: KindExtension},
		{Step: &VMSelection{}, Kind: KindVMSelection, Skip: noVMs},
		{Step: &Replicate{}, Kind: KindReplication, Skip: noVMs},
		{Step: &Checks{}, Kind: KindChecks, Skip: noVMs},
		{Step: &Cutover{}, Kind: KindCutover, Skip: noVMs, Confirm: true},
	}
}

func noVMs(pf *PlanFile) string {
	if len(pf.VMs) == 0 {
		return "no VMs in the plan (infrastructure only)"
	}
	return ""
}

// str builds a Field over a string in the plan file.
func str(key, title, desc string, required bool, ptr func(*PlanFile) *string, validate func(string, *PlanFile) error, def func(*PlanFile) string) Field {
	return Field{
		Key: key, Title: title, Description: desc, Required: required, Default: def, Validate: validate,
		Get: func(pf *PlanFile) string { return *ptr(pf) },
		Set: func(pf *PlanFile, v string) { *ptr(pf) = v },
	}
}

func orgField() Field {
	return str("org", "Organization", "the tenant organization in Cloud Director", true,
		func(pf *PlanFile) *string { return &pf.Org }, ValidName, nil)
}

func networkNameField() Field {
	return str("network.name", "Network", "the org VDC network to stretch, e.g. company-network", true,
		func(pf *PlanFile) *string { return &pf.Network.Name }, ValidName, nil)
}

func trunkFields() []Field {
	return []Field{
		orgField(),
		str("vdc", "Org VDC", "the organization VDC that gets the network", true,
			func(pf *PlanFile) *string { return &pf.VDC }, ValidName, nil),
		str("edge_gateway", "Edge gateway", "the tenant edge gateway that runs the L2VPN server", true,
			func(pf *PlanFile) *string { return &pf.EdgeGateway }, ValidName, nil),
		networkNameField(),
		str("network.gateway_cidr", "Gateway CIDR", "the network's gateway and prefix, e.g. 172.16.10.1/24", true,
			func(pf *PlanFile) *string { return &pf.Network.GatewayCIDR }, ValidGatewayCIDR, nil),
		Field{Key: "network.other_subnet_ok", Title: "Other subnet OK", Bool: true,
			Description: "true: go on although on-prem VMs on the stretched port group use addresses outside the gateway CIDR (the plan shows them; false refuses)",
			Default:     fixed("false"),
			Get: func(pf *PlanFile) string {
				if pf.Network.OtherSubnetOK {
					return "true"
				}
				return ""
			},
			Set: func(pf *PlanFile, v string) {
				ok, err := strconv.ParseBool(strings.TrimSpace(v))
				pf.Network.OtherSubnetOK = err == nil && ok
			},
			Validate: validBool},
		str("tunnel.name", "Tunnel name", "the L2VPN server session's name", false,
			func(pf *PlanFile) *string { return &pf.Tunnel.Name }, ValidName, fixed("ferry-l2vpn")),
		str("tunnel.local_endpoint_ip", "Local endpoint IP", "the edge gateway IP the L2VPN server listens on (default: a free address of the edge gateway's uplink)", false,
			func(pf *PlanFile) *string { return &pf.Tunnel.LocalEndpointIP }, ValidIPv4, nil),
		remoteEndpointField(),
	}
}

// remoteEndpointField is required until step 3 answers appliance.ip, its
// default.
func remoteEndpointField() Field {
	f := str("tunnel.remote_endpoint_ip", "Remote endpoint IP", "the address the on-prem client connects from (default: appliance.ip, step 3's answer, so it is needed here until step 3 is answered; give it behind NAT)", false,
		func(pf *PlanFile) *string { return &pf.Tunnel.RemoteEndpointIP }, ValidIPv4,
		func(pf *PlanFile) string { return pf.Appliance.IP })
	f.RequiredWhen = func(pf *PlanFile) bool { return pf.Appliance.IP == "" }
	return f
}

func vmFields() []Field {
	return append([]Field{
		str("rpo", "RPO", "how old the replica may get, between 1m and 24h (each VM may override it)", false,
			func(pf *PlanFile) *string { return &pf.RPO }, ValidRPO, fixed(DefaultRPO)),
	}, append(providerFields(), networksField(), probesField())...)
}

// providerFields are where the replicas and the target VMs go in the
// provider vCenter: VM selection checks them against the VDC (placement,
// storage policy, room), replication creates the replica disks there.
func providerFields() []Field {
	pp := func(f func(*ProviderPlan) *string) func(*PlanFile) *string {
		return func(pf *PlanFile) *string { return f(&pf.Provider) }
	}
	return []Field{
		str("provider.datacenter", "Provider datacenter", "the provider vCenter's datacenter of the org VDC's cluster, where the replica disks are made", true,
			pp(func(p *ProviderPlan) *string { return &p.Datacenter }), ValidName, nil),
		str("provider.resource_pool", "Resource pool", "the org VDC's resource pool in the provider vCenter, where the target VMs are made (Cloud Director moves a VM outside it at import)", true,
			pp(func(p *ProviderPlan) *string { return &p.ResourcePool }), validInventoryPath, nil),
		str("provider.datastore", "Replica datastore", "the provider datastore where vCenter creates the replica disks: a datastore of one of the VDC's storage policies (else the import copies them)", true,
			pp(func(p *ProviderPlan) *string { return &p.Datastore }), ValidName, nil),
		str("provider.network", "Provider network", "the provider port group backing the stretched org VDC network, on which the cutover builds the target VMs' NICs", true,
			pp(func(p *ProviderPlan) *string { return &p.Network }), ValidName, nil),
		str("provider.receiver_kind", "Receiver kind", "appliance: the replica disks are hot-added to the receiver appliance VM; nfs: written through an NFS mount of the datastore", false,
			pp(func(p *ProviderPlan) *string { return &p.ReceiverKind }), validReceiverKind, fixed(replication.KindAppliance)),
		receiverVMField(pp),
	}
}

func receiverVMField(pp func(func(*ProviderPlan) *string) func(*PlanFile) *string) Field {
	f := str("provider.receiver_vm", "Receiver appliance", "the provider VM that runs `ferry receiver` and gets the replica disks hot-added (not used with the nfs receiver kind)", false,
		pp(func(p *ProviderPlan) *string { return &p.ReceiverVM }), ValidName, nil)
	f.RequiredWhen = func(pf *PlanFile) bool { return pf.Provider.ReceiverKind != replication.KindNFS }
	return f
}

// validInventoryPath accepts an object name or an inventory path of names
// (a resource pool: "Cluster/Resources/Company-VDC").
func validInventoryPath(v string, pf *PlanFile) error {
	for _, part := range strings.Split(v, "/") {
		if err := ValidName(part, pf); err != nil {
			return err
		}
	}
	return nil
}

func validReceiverKind(v string, _ *PlanFile) error {
	switch v {
	case "", replication.KindAppliance, replication.KindNFS:
		return nil
	}
	return fmt.Errorf("%q: want %s (the default: the receiver appliance) or %s", v, replication.KindAppliance, replication.KindNFS)
}

// ConfirmedVMs checks a cutover confirmation that may name only some of the
// plan's VMs (to cut them over one by one) and returns the names, in plan
// order. A name not in the plan is refused.
func ConfirmedVMs(pf *PlanFile, typed string) ([]string, error) {
	in := map[string]bool{}
	var all []string
	for _, vm := range pf.VMs {
		in[vm.Name] = true
		all = append(all, vm.Name)
	}
	got := map[string]bool{}
	for _, n := range strings.Split(typed, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !in[n] {
			return nil, fmt.Errorf("--confirm-cutover=%q names %q, which is not in the plan%s (VMs: %s)", typed, n, nearname.Hint(n, all), strings.Join(all, ","))
		}
		got[n] = true
	}
	if len(got) == 0 {
		return nil, fmt.Errorf("--confirm-cutover=%q names no VM (VMs of the plan: %s)", typed, strings.Join(all, ","))
	}
	var out []string
	for _, n := range all {
		if got[n] {
			out = append(out, n)
		}
	}
	return out, nil
}
