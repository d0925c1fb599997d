package steps

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

// ProviderOrg is Cloud Director's own organization: the provider's, never a
// tenant's.
const ProviderOrg = "System"

// OnPremVMs lists the on-prem vCenter's VMs, for a front end to pick from
// (PickRefusal says which can be picked, and why not).
func (e *Env) OnPremVMs(ctx context.Context) ([]vsphere.VM, error) {
	c, err := e.OnPrem(ctx)
	if err != nil {
		return nil, err
	}
	return c.VMs(ctx)
}

// Choice is a value a field may take, and what a front end shows beside it.
type Choice struct {
	Value string
	// Note says how the value would do ("" for nothing to say): the VDC's
	// default storage policy, its room.
	Note string
	// Default: the value is what an empty answer gets now (the VDC's
	// default storage policy), which a field's Offer may note otherwise.
	Default bool
}

// Values are the choices' values.
func Values(cs []Choice) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Value
	}
	return out
}

func plain(names []string, err error) ([]Choice, error) {
	out := make([]Choice, len(names))
	for i, n := range names {
		out[i] = Choice{Value: n}
	}
	return out, err
}

// ChoicesDependOn names the fields whose answers a field's choices are
// read for: a front end reads them again when one of those changes.
func ChoicesDependOn(key string) []string {
	switch key {
	case "vdc":
		return []string{"org"}
	case "edge_gateway", "storage_profile", TestNetworkKey, NetworksKey:
		return []string{"org", "vdc"}
	case "provider.resource_pool", "provider.datastore", "provider.network":
		return []string{"provider.datacenter"}
	case "provider.receiver_vm":
		return []string{"provider.datacenter", "provider.resource_pool"}
	case "appliance.stretched_portgroup", "appliance.uplink_portgroup", "appliance.sink_portgroup", "appliance.datastore":
		return []string{"appliance.datacenter"}
	}
	return nil
}

// Choices lists what exists for a field that names something, by field
// key, as the logins see it:
//   - Cloud Director: the tenant organizations ("org"; never ProviderOrg;
//     noted: the tenant login's), the org's VDCs ("vdc"), the VDC's edge
//     gateways ("edge_gateway") and enabled storage policies
//     ("storage_profile"; noted: the default, the room left, a policy that
//     does not hold the replica datastore) and the VDC's networks a test
//     copy may run on (TestNetworkKey: the ISOLATED ones; none is an
//     error saying what to do);
//   - both: the networks: pairs (NetworksKey), each port group a VM uses
//     with each of the VDC's networks (networkChoices);
//   - the on-prem vCenter: datacenters and datastores (noted: free space)
//     and appliance.datacenter's port groups (the sink's noted: VMs on it,
//     a trunk) for the appliance's fields;
//   - the provider vCenter: datacenters, and a datacenter's resource pools,
//     datastores, VMs (those of the org VDC's resource pool last, noted:
//     Cloud Director's, a tenant's) and port groups for the provider.*
//     fields; the receiver kinds.
//
// answers are the form's answers not yet in the plan (keys of
// ChoicesDependOn); the plan's are used for the others. nil, nil: the field
// is free text.
func (e *Env) Choices(ctx context.Context, key string, answers map[string]string) ([]Choice, error) {
	switch key {
	case "org", "vdc", "edge_gateway", "storage_profile", TestNetworkKey:
		return e.cloudChoices(ctx, key, answers)
	case "appliance.stretched_portgroup", "appliance.uplink_portgroup", "appliance.sink_portgroup":
		return e.portgroupChoices(ctx, key, answers)
	case "appliance.datacenter", "appliance.datastore":
		c, err := e.OnPrem(ctx)
		if err != nil {
			return nil, err
		}
		if key == "appliance.datacenter" {
			return plain(c.InventoryNames(ctx, "", "Datacenter"))
		}
		return datastoreChoices(ctx, c, answer(answers, "appliance.datacenter", e.Plan().Appliance.Datacenter))
	case "provider.datacenter", "provider.resource_pool", "provider.datastore", "provider.receiver_vm", "provider.network":
		return e.providerChoices(ctx, key, answers)
	case NetworksKey:
		return e.networkChoices(ctx, answers)
	case "provider.receiver_kind":
		return []Choice{
			{Value: replication.KindAppliance, Note: "the replica disks hot-added to the receiver appliance VM (the default)"},
			{Value: replication.KindNFS, Note: "written through an NFS mount of the replica datastore on the receiver host"},
		}, nil
	}
	return nil, nil
}

// providerChoices lists the provider vCenter's datacenters, and a
// datacenter's resource pools, datastores (noted with their free space),
// VMs (for the receiver appliance: templates left out, one not running
// noted) and port groups.
func (e *Env) providerChoices(ctx context.Context, key string, answers map[string]string) ([]Choice, error) {
	c, err := e.ProviderVC(ctx)
	if err != nil {
		return nil, err
	}
	dc := answer(answers, "provider.datacenter", e.Plan().Provider.Datacenter)
	switch key {
	case "provider.datacenter":
		return plain(c.InventoryNames(ctx, "", "Datacenter"))
	case "provider.resource_pool":
		return plain(c.InventoryNames(ctx, dc, "ResourcePool"))
	case "provider.receiver_vm":
		vms, err := c.VMStates(ctx, dc)
		if err != nil {
			return nil, err
		}
		// The org VDC's resource pool holds the VMs Cloud Director runs
		// for the tenant (it moves a VM it imports there, and manages
		// what runs there): none is the receiver appliance, and the
		// migrated VMs are among them. They go last, noted, so that
		// enter on the empty answer does not pick one (QA: it picked
		// "WebApp2 (<uuid>)", cut over the day before).
		// A pool inside the org VDC's is part of it, and so is every
		// other pool Cloud Director lists for the VDC (step 5 refuses an
		// appliance in any of them): their VMs go last alike.
		pool := answer(answers, "provider.resource_pool", e.Plan().Provider.ResourcePool)
		tenantPools, _ := e.tenantPools(ctx, c, dc, pool, false)
		out := make([]Choice, 0, len(vms))
		var tenants []Choice
		for _, vm := range vms {
			ch := Choice{Value: vm.Name}
			switch tp, ok := tenantPools[vm.Pool]; {
			case ok:
				ch.Note = tp.note(e.Plan().VDC)
				tenants = append(tenants, ch)
				continue
			case vm.PowerState != vsphere.PoweredOn:
				ch.Note = string(vm.PowerState) + ": the receiver runs in it, power it on before replicating"
			}
			out = append(out, ch)
		}
		return append(out, tenants...), nil
	case "provider.network":
		d, err := c.Datacenter(ctx, dc)
		if err != nil {
			return nil, err
		}
		pgs, err := c.Portgroups(ctx, d)
		var names []string
		for _, pg := range pgs {
			names = append(names, pg.Name)
		}
		return plain(names, err)
	}
	return datastoreChoices(ctx, c, dc)
}

// datastoreChoices are datacenter dc's datastores, noted with their free
// space.
func datastoreChoices(ctx context.Context, c *vsphere.Client, dc string) ([]Choice, error) {
	names, err := c.InventoryNames(ctx, dc, "Datastore")
	if err != nil {
		return nil, err
	}
	out := make([]Choice, 0, len(names))
	for _, n := range names {
		ch := Choice{Value: n}
		if capacity, free, err := c.DatastoreSpace(ctx, dc, n); err == nil {
			ch.Note = fmt.Sprintf("%s free of %s", Bytes(free), Bytes(capacity))
		}
		out = append(out, ch)
	}
	return out, nil
}

// answer is the form's answer of key when it has one, else the plan's.
func answer(answers map[string]string, key, plan string) string {
	if v, ok := answers[key]; ok {
		return strings.TrimSpace(v)
	}
	return plan
}

// portgroupChoices are the on-prem port groups of appliance.datacenter;
// for the sink, each noted with what step 3 would do with it (VMs on it:
// refused; a trunk already: kept).
func (e *Env) portgroupChoices(ctx context.Context, key string, answers map[string]string) ([]Choice, error) {
	c, err := e.OnPrem(ctx)
	if err != nil {
		return nil, err
	}
	dc, err := c.Datacenter(ctx, answer(answers, "appliance.datacenter", e.Plan().Appliance.Datacenter))
	if err != nil {
		return nil, err
	}
	pgs, err := c.Portgroups(ctx, dc)
	if err != nil {
		return nil, err
	}
	out := make([]Choice, 0, len(pgs))
	for _, pg := range pgs {
		ch := Choice{Value: pg.Name}
		switch {
		case key != "appliance.sink_portgroup":
		case pg.Trunk != "":
			ch.Note = "a VLAN trunk (" + pg.Trunk + ")"
		case len(pg.VMs) > 0:
			others, err := c.VMsOn(ctx, &pg, e.Plan().Appliance.Name)
			if err != nil {
				return nil, err
			}
			if len(others) > 0 {
				ch.Note = fmt.Sprintf("VMs on it (%s): refused as the sink", strings.Join(others, ", "))
			}
		}
		out = append(out, ch)
	}
	// The sink's default is a port group step 3 makes: offered first, so
	// that the form does not call it "not one of them" (QA: an empty
	// field read 'the default "ferry-sink" is not one of them: pick one,
	// or type it', pointing at port groups VMs use).
	if key == "appliance.sink_portgroup" && !slices.Contains(Values(out), DefaultSinkPortgroup) {
		out = append([]Choice{{Value: DefaultSinkPortgroup, Note: "not there yet: step 3 creates it"}}, out...)
	}
	return out, nil
}

func (e *Env) cloudChoices(ctx context.Context, key string, answers map[string]string) ([]Choice, error) {
	pf := e.Plan()
	org, vdcName := answer(answers, "org", pf.Org), answer(answers, "vdc", pf.VDC)
	if key != "org" && org == "" {
		return nil, errors.New("name the organization first")
	}
	if (key == "edge_gateway" || key == "storage_profile" || key == TestNetworkKey) && vdcName == "" {
		return nil, errors.New("name the VDC first")
	}
	c, err := e.VCD(ctx)
	if err != nil {
		return nil, err
	}
	switch key {
	case "org":
		names, err := c.OrgNames()
		var tenants []Choice
		for _, n := range names {
			if n == ProviderOrg {
				continue
			}
			ch := Choice{Value: n}
			if t := e.Config; t != nil && (t.Tenant.Username != "" || t.Tenant.ByToken()) {
				// The tenant login works in its own org only.
				if strings.EqualFold(t.Tenant.Org, n) {
					ch.Note = "the tenant login's (" + cmp.Or(t.Tenant.Username, "its API token") + ")"
				} else {
					ch.Note = "not the tenant login's org (" + cmp.Or(t.Tenant.Org, "none set") + ")"
				}
			}
			tenants = append(tenants, ch)
		}
		return tenants, err
	case "vdc":
		return plain(c.VDCNames(org))
	}
	vdc, err := c.VDCByName(org, vdcName)
	if err != nil {
		return nil, err
	}
	if key == TestNetworkKey {
		return testNetworkChoices(vdc, vdcName)
	}
	if key == "edge_gateway" {
		return plain(vcd.EdgeGatewayNames(vdc))
	}
	return e.policyChoices(ctx, c, vdc)
}

// policyChoices are the VDC's enabled storage policies, each noted: the
// default (what an empty storage_profile gets), the room left under its
// limit, and when the plan names a replica datastore the policy does not
// hold, that the import would copy the disks.
func (e *Env) policyChoices(ctx context.Context, c *vcd.Client, vdc *vcd.VDC) ([]Choice, error) {
	sps, err := c.StoragePolicies(vdc)
	if err != nil {
		return nil, err
	}
	var out []Choice
	for _, sp := range sps {
		if sp.Disabled {
			continue
		}
		var notes []string
		if sp.Default {
			notes = append(notes, defaultPolicyNote)
		}
		if sp.LimitMB > 0 {
			notes = append(notes, fmt.Sprintf("%s left of %s", Bytes(max(0, (sp.LimitMB-sp.UsedMB)<<20)), Bytes(sp.LimitMB<<20)))
		}
		// What the policy's datastores are needs the provider's view; a
		// login without it lists the policy unnoted.
		if in, err := replicaDatastoreIn(ctx, e, c, sp.Name); err == nil && in != nil && !in.holds {
			notes = append(notes, fmt.Sprintf("not on %s: the import would copy the disks", in.datastore))
		}
		out = append(out, Choice{Value: sp.Name, Note: strings.Join(notes, "; "), Default: sp.Default})
	}
	return out, nil
}

// defaultPolicyNote notes the VDC's default storage policy among the
// choices: what an empty storage_profile gets.
const defaultPolicyNote = "the VDC's default (empty picks it)"

// PolicyDefaultForAll is the storage policy field's answer "the VDC's
// default for every VM selected": an empty storage_profile written to
// each, offered while the VMs' own differ, when empty keeps each VM's own
// (naming the default policy is another thing: the name stays when the
// VDC's default changes). No plan ever holds it.
const PolicyDefaultForAll = "(the VDC default for all)"

// offerPolicies are the storage policies listed (policyChoices) as the
// storage policy field offers them for VMs whose own policies differ or
// not: while they differ, empty keeps each VM's own, so the VDC's default
// for all comes first (PolicyDefaultForAll) and the default policy is
// noted as what picking it is, its name.
func offerPolicies(listed []Choice, differ bool) []Choice {
	if !differ {
		return listed
	}
	out := append(make([]Choice, 0, len(listed)+1),
		Choice{Value: PolicyDefaultForAll, Note: "no policy named: each VM's import gets the VDC's default"})
	for _, c := range listed {
		if c.Default {
			rest, ok := strings.CutPrefix(c.Note, defaultPolicyNote)
			if !ok && rest != "" {
				rest = "; " + rest
			}
			c.Note = "the VDC's default, by name (empty keeps each VM's own)" + rest
		}
		out = append(out, c)
	}
	return out
}
