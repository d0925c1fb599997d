package steps

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ferry-migrate/ferry/vcd"
)

// wireItems are the cutover plan's conflicts about what the targets of vms
// need of the network, checked before any source is shut down: every org
// VDC network their NICs connect to still exists, and the L2 stretch that
// carries the stretched network (when one of them connects to it) is UP.
// QA: with the stretch down (the edge's session disabled, the tunnel
// deleted, the L2 appliance off) the cutover shut the source down, powered
// the target on and waited minutes for probes that could not answer; with
// a network deleted it failed at "connect networks", after the shutdown.
func (e *Env) wireItems(ctx context.Context, vms []VMPlan) ([]Item, error) {
	if len(vms) == 0 {
		return nil, nil
	}
	pf := e.Plan()
	existing, err := targetNetworks(ctx, e)
	if err != nil {
		return nil, err
	}
	var out []Item
	stretched := false
	for _, p := range vms {
		name := p.Name
		cfg, ok, err := savedVMConfig(e.State, name)
		if err != nil || !ok {
			continue
		}
		for _, nic := range cfg.NICs {
			n, ok := pf.NICNetwork(p, nic.Portgroup)
			if !ok {
				continue
			}
			stretched = stretched || n == pf.Network.Name
			if !existing[n] {
				mend := "Create the network again in Cloud Director"
				if n == pf.Network.Name && !slices.Contains(pf.Skip, "trunk-network") {
					mend = "Make the network again (step 2 makes it: ferry run --redo=trunk-network,dc-extension)"
				}
				out = append(out, Item{Action: ActionConflict, Kind: "network", Name: n, Detail: fmt.Sprintf(
					"%s's NIC %s connects to org VDC network %s, which VDC %s no longer has (networks: %s): the cutover would shut %s down and then fail to connect its target. %s, or map the NIC's port group %s to another network (networks: in the plan)",
					name, nic.MAC, n, pf.VDC, strings.Join(slices.Sorted(maps.Keys(existing)), ", "), name, mend, nic.Portgroup)})
			}
		}
	}
	if stretched {
		if it, ok := e.stretchItem(ctx); ok {
			out = append(out, it)
		}
	}
	return out, nil
}

// stretchItem is a conflict when the plan's L2 VPN tunnel is gone,
// disabled, no longer stretches the plan's network, or Cloud Director
// reports it not UP: the targets on the stretched network would be cut off
// from the sources' network. ok=false when the stretch is UP, cannot be
// read, or is not ferry's to check (step 2 skipped by the plan and no
// tunnel of its name: the stretch was made some other way).
func (e *Env) stretchItem(ctx context.Context) (Item, bool) {
	pf, err := answers(e.Plan(), (&Extension{}).Fields())
	if err != nil {
		return Item{}, false
	}
	site, err := lookSite(ctx, e, pf)
	if err != nil {
		return Item{}, false
	}
	tun, err := findTunnel(ctx, e, site.egw, pf.Tunnel.Name)
	switch {
	case err != nil:
		return Item{}, false
	case tun == nil && slices.Contains(pf.Skip, "trunk-network"):
		return Item{}, false
	case tun == nil:
		return Item{Action: ActionConflict, Kind: "L2 stretch", Name: pf.Network.Name, Detail: fmt.Sprintf(
			"L2 VPN tunnel %s is gone from edge gateway %s: the migrated VMs would be cut off from the on-prem network. Make it again (ferry run --redo=trunk-network,dc-extension), then confirm again",
			pf.Tunnel.Name, pf.EdgeGateway)}, true
	}
	switch {
	case !tun.Enabled:
		return Item{Action: ActionConflict, Kind: "L2 stretch", Name: pf.Network.Name, Detail: fmt.Sprintf(
			"L2 VPN tunnel %s is disabled in Cloud Director: the migrated VMs would be cut off from the on-prem network. Enable it (ferry run --redo=trunk-network), then confirm again",
			pf.Tunnel.Name)}, true
	case !slices.ContainsFunc(tun.Stretched, func(n vcd.StretchedNetwork) bool { return n.Name == pf.Network.Name }):
		// UP, but carrying other networks (QA: the cutover went ahead).
		var names []string
		for _, n := range tun.Stretched {
			names = append(names, n.Name)
		}
		return Item{Action: ActionConflict, Kind: "L2 stretch", Name: pf.Network.Name, Detail: fmt.Sprintf(
			"L2 VPN tunnel %s no longer stretches %s (it stretches: %s): the migrated VMs would be cut off from the on-prem network. Stretch it again (ferry run --redo=trunk-network,dc-extension), then confirm again",
			pf.Tunnel.Name, pf.Network.Name, listOrNone(names))}, true
	}
	st, err := site.c.TunnelStatus(site.egw.ID, tun.ID)
	if err != nil || st.Up {
		return Item{}, false
	}
	return Item{Action: ActionConflict, Kind: "L2 stretch", Name: pf.Network.Name, Detail: fmt.Sprintf(
		"the L2 stretch is down: Cloud Director reports L2 VPN tunnel %s %s; the cutover would shut the sources down and power on targets their on-prem peers cannot reach. Bring it UP again (apply step 4, dc-extension, again, or step 3, appliance, if its VM is off: ferry run --redo=dc-extension, or that step's screen in the wizard), then confirm again",
		pf.Tunnel.Name, tunnelStatusText(st))}, true
}
