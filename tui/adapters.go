package tui

import (
	"context"

	"github.com/ferry-migrate/ferry/steps"
	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

// envInventory lists the on-prem VMs through the step environment's client.
func envInventory(env *steps.Env) func(context.Context) ([]vsphere.VM, error) {
	return func(ctx context.Context) ([]vsphere.VM, error) {
		c, err := env.OnPrem(ctx)
		if err != nil {
			return nil, err
		}
		return c.VMs(ctx)
	}
}

// envChoices offers what exists for the fields that name something: the
// Cloud Director organizations, VDCs and edge gateways (as the provider
// sees them), and the on-prem port groups for the appliance.
func envChoices(env *steps.Env) func(context.Context, string) ([]string, error) {
	return func(ctx context.Context, key string) ([]string, error) {
		switch key {
		case "org", "vdc", "edge_gateway":
			return cloudChoices(ctx, env, key)
		case "appliance.stretched_portgroup", "appliance.uplink_portgroup", "appliance.sink_portgroup":
		default:
			return nil, nil
		}
		c, err := env.OnPrem(ctx)
		if err != nil {
			return nil, err
		}
		dc, err := c.Datacenter(ctx, env.Plan.Appliance.Datacenter)
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
}

func cloudChoices(ctx context.Context, env *steps.Env, key string) ([]string, error) {
	c, err := env.VCD(ctx)
	if err != nil {
		return nil, err
	}
	switch key {
	case "org":
		names, err := c.OrgNames()
		var tenants []string
		for _, n := range names {
			if n != "System" { // the provider's own org is never a tenant
				tenants = append(tenants, n)
			}
		}
		return tenants, err
	case "vdc":
		return c.VDCNames(env.Plan.Org)
	}
	vdc, err := c.VDCByName(env.Plan.Org, env.Plan.VDC)
	if err != nil {
		return nil, err
	}
	return vcd.EdgeGatewayNames(vdc)
}
