package steps

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// NetworksKey is the plan's answer mapping source port groups to org VDC
// networks (networks:, PlanFile.Networks).
const NetworksKey = "networks"

// NetworksError is a refusal of VM selection that the networks: answer
// fixes: a NIC on a port group mapped to no org VDC network, or to one the
// VDC does not have, or an entry for a port group no VM uses. Its message is
// the refusal's own (it names the plan file's networks:, which headless runs
// read); a front end that asks the answer opens it.
type NetworksError struct{ Err error }

func (e *NetworksError) Error() string { return e.Err.Error() }
func (e *NetworksError) Unwrap() error { return e.Err }

// networksField asks the plan's networks: as "port group=org VDC network"
// pairs, comma-separated: the wizard's way to map the port groups of a VM's
// other NICs (the stretched one maps to the VM's target network). Several
// port groups may map to one network. Entries it cannot show that way (a
// name with a comma or an equals sign in it) stay in the plan as they are.
// Whether a port group is one a VM uses and a network one the VDC has is
// checked by VM selection's plan (checkNetworkMap, nicNetworks), which reads
// vCenter and Cloud Director; the pick list offers those pairs.
func networksField() Field {
	return Field{Key: NetworksKey, Title: "Other networks", List: true,
		Description: "where NICs on port groups other than the stretched one go: port group=org VDC network, comma-separated (e.g. backend-network=company-network)",
		Get: func(pf *PlanFile) string {
			var parts []string
			for _, pg := range slices.Sorted(maps.Keys(pf.Networks)) {
				if n := pf.Networks[pg]; showableNetwork(pg, n) {
					parts = append(parts, pg+"="+n)
				}
			}
			return strings.Join(parts, ", ")
		},
		Set: func(pf *PlanFile, v string) {
			m, err := parseNetworkMap(v)
			if err != nil {
				return // the field shows why; the plan keeps its networks
			}
			// A new map: the plan being replaced may be read meanwhile.
			out := map[string]string{}
			for pg, n := range pf.Networks {
				if !showableNetwork(pg, n) {
					out[pg] = n
				}
			}
			maps.Copy(out, m)
			if len(out) == 0 {
				out = nil
			}
			pf.Networks = out
		},
		Validate: func(v string, _ *PlanFile) error {
			_, err := parseNetworkMap(v)
			return err
		}}
}

// showableNetwork says whether the networks field can show the entry
// pg -> n as pg=n and read it back.
func showableNetwork(pg, n string) bool {
	ok := func(s string) bool {
		return s != "" && strings.TrimSpace(s) == s && !strings.ContainsAny(s, ",=")
	}
	return ok(pg) && ok(n)
}

// parseNetworkMap reads the networks field.
func parseNetworkMap(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		pg, n, ok := strings.Cut(part, "=")
		pg, n = strings.TrimSpace(pg), strings.TrimSpace(n)
		if !ok || pg == "" || n == "" {
			return nil, fmt.Errorf("%q: want port group=org VDC network (e.g. backend-network=company-network), pairs separated by commas", part)
		}
		if err := ValidName(pg, nil); err != nil {
			return nil, fmt.Errorf("%q: port group %w", part, err)
		}
		if err := ValidName(n, nil); err != nil {
			return nil, fmt.Errorf("%q: org VDC network %w", part, err)
		}
		if was, dup := out[pg]; dup && was != n {
			return nil, fmt.Errorf("port group %q is mapped twice (to %s and %s): a port group's NICs go to one org VDC network", pg, was, n)
		}
		out[pg] = n
	}
	return out, nil
}

// networkChoices are the pairs the networks field may hold: each port group
// a VM on the on-prem vCenter has a NIC on (but the stretched one, which
// maps to the VM's target network, and those only ferry's own appliance or
// a VM cut over uses) with each org VDC network of the VDC,
// and the network step 2 creates (noted so).
func (e *Env) networkChoices(ctx context.Context, answers map[string]string) ([]Choice, error) {
	pf := e.Plan()
	org, vdcName := answer(answers, "org", pf.Org), answer(answers, "vdc", pf.VDC)
	if org == "" || vdcName == "" {
		return nil, fmt.Errorf("name the VDC first")
	}
	onprem, err := e.OnPrem(ctx)
	if err != nil {
		return nil, err
	}
	vms, err := onprem.VMs(ctx)
	if err != nil {
		return nil, err
	}
	c, err := e.VCD(ctx)
	if err != nil {
		return nil, err
	}
	vdc, err := c.VDCByName(org, vdcName)
	if err != nil {
		return nil, err
	}
	names, err := vdc.NetworkNames()
	if err != nil {
		return nil, err
	}
	nets := map[string]string{}
	for _, n := range names {
		nets[n] = ""
	}
	if n := pf.Network.Name; n != "" && !slices.Contains(pf.Skip, "trunk-network") {
		if _, ok := nets[n]; !ok {
			nets[n] = "created by step 2 (trunk network)"
		}
	}
	users := map[string][]string{}
	for _, vm := range vms {
		if e.ownedRefusal(vm.Name) != "" {
			continue // never migrated (ferry's appliance), or moved already
		}
		for _, pg := range vm.Networks {
			if pg != stretchedPortgroup(pf) && !slices.Contains(users[pg], vm.Name) {
				users[pg] = append(users[pg], vm.Name)
			}
		}
	}
	var out []Choice
	for _, pg := range slices.Sorted(maps.Keys(users)) {
		if strings.ContainsAny(pg, ",=") {
			continue // only the plan file can name it
		}
		for _, n := range slices.Sorted(maps.Keys(nets)) {
			note := "NICs of " + strings.Join(users[pg], ", ")
			if nets[n] != "" {
				note += "; " + n + " " + nets[n]
			}
			out = append(out, Choice{Value: pg + "=" + n, Note: note})
		}
	}
	return out, nil
}
