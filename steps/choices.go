package steps

import (
	"context"

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

// Choices lists what exists for a field that names something, by field key:
// the tenant organizations ("org"; never ProviderOrg), the org's VDCs
// ("vdc") and the VDC's edge gateways ("edge_gateway") as the Cloud Director
// login sees them, and the on-prem port groups of appliance.datacenter for
// the appliance's port group fields. nil, nil: the field is free text.
func (e *Env) Choices(ctx context.Context, key string) ([]string, error) {
	switch key {
	case "org", "vdc", "edge_gateway":
		return e.cloudChoices(ctx, key)
	case "appliance.stretched_portgroup", "appliance.uplink_portgroup", "appliance.sink_portgroup":
		return e.portgroupChoices(ctx)
	}
	return nil, nil
}

func (e *Env) portgroupChoices(ctx context.Context) ([]string, error) {
	c, err := e.OnPrem(ctx)
	if err != nil {
		return nil, err
	}
	dc, err := c.Datacenter(ctx, e.Plan().Appliance.Datacenter)
	if err != nil {
		return nil, err
	}
	pgs, err := c.Portgroups(ctx, dc)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(pgs))
	for _, pg := range pgs {
		names = append(names, pg.Name)
	}
	return names, nil
}

func (e *Env) cloudChoices(ctx context.Context, key string) ([]string, error) {
	c, err := e.VCD(ctx)
	if err != nil {
		return nil, err
	}
	switch key {
	case "org":
		names, err := c.OrgNames()
		var tenants []string
		for _, n := range names {
			if n != ProviderOrg {
				tenants = append(tenants, n)
			}
		}
		return tenants, err
	case "vdc":
		return c.VDCNames(e.Plan().Org)
	}
	vdc, err := c.VDCByName(e.Plan().Org, e.Plan().VDC)
	if err != nil {
		return nil, err
	}
	return vcd.EdgeGatewayNames(vdc)
}
