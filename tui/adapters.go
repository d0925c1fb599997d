package tui

import (
	"context"

	"github.com/ferry-migrate/ferry/steps"
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

// envChoices offers the on-prem port groups for the appliance's port group
// fields. Cloud Director lists (orgs, VDCs, edge gateways) come from the
// lead's Choices adapter once steps.Env has a Cloud Director client.
func envChoices(env *steps.Env) func(context.Context, string) ([]string, error) {
	return func(ctx context.Context, key string) ([]string, error) {
		switch key {
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
