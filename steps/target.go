package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

// targetConfig is the source configuration the target is built from: the
// one captured at VM selection, or (a state from before ferry captured it)
// the source's as it is now.
func (c *vmCutover) targetConfig(ctx context.Context) (vsphere.VMConfig, error) {
	cfg, ok, err := savedVMConfig(c.env.State, c.plan.Name)
	if err != nil || ok {
		return cfg, err
	}
	c.emit(Warning(c.plan.Name + ": no configuration was captured at VM selection (an older state file): building the target from the source as it is now"))
	return c.onprem.VMConfig(ctx, c.src.Ref)
}

// targetSpec describes the VM to build at the provider over the replica
// disks: the source's firmware, guest id, hardware version, CPU, memory,
// controllers, disk positions, and every NIC with its type and MAC. A NIC
// whose org VDC network is the stretched one goes on the provider port
// group behind it (provider.network) as it was connected at the source; a
// NIC of another org VDC network is created on that port group too but
// not connected, so that nothing reaches the wrong segment before Cloud
// Director connects it to its own network. replicas maps a source disk
// file to its replica's path.
func (c *vmCutover) targetSpec(ctx context.Context, replicas map[string]string) (vsphere.VMOverDisks, vsphere.VMConfig, error) {
	pp := c.env.Plan().Provider
	spec := vsphere.VMOverDisks{Name: c.plan.Name, Datacenter: pp.Datacenter, Pool: pp.ResourcePool, Datastore: pp.Datastore}
	cfg, err := c.targetConfig(ctx)
	if err != nil {
		return spec, cfg, err
	}
	disks := make([]string, len(cfg.Disks))
	for i, d := range cfg.Disks {
		r, ok := replicas[d.File]
		if !ok {
			return spec, cfg, fmt.Errorf("source disk %s (%s) has no replica: the source's disks changed since VM selection; select the VM again", d.File, d.Position())
		}
		disks[i] = r
	}
	stretched := c.plan.TargetNetwork
	if stretched == "" {
		stretched = c.env.Plan().Network.Name
	}
	nets := make([]string, len(cfg.NICs))
	for i, n := range cfg.NICs {
		orgNet, ok := c.env.Plan().NICNetwork(c.plan, n.Portgroup)
		if !ok {
			return spec, cfg, fmt.Errorf("NIC %s %s on port group %q %w (networks: in the plan)", n.Type, n.MAC, n.Portgroup, ErrNoNetworkMapping)
		}
		nets[i] = pp.Network
		if orgNet != stretched {
			cfg.NICs[i].StartConnected = false
		}
	}
	if err := spec.FromConfig(cfg, disks, nets); err != nil {
		return spec, cfg, err
	}
	if c.plan.KeepBIOSUUID {
		if cfg.UUID == "" {
			return spec, cfg, fmt.Errorf("vms[].keep_bios_uuid: the captured configuration of %s has no BIOS UUID: select the VM again", c.plan.Name)
		}
		spec.UUID = cfg.UUID
	}
	return spec, cfg, nil
}

// importOptions are the import's VM name and storage policy: the plan's
// storage_profile, or the VDC's only policy (none given: Cloud Director's
// default for the VDC).
func (c *vmCutover) importOptions(vdc *vcd.VDC) (vcd.ImportOptions, error) {
	sp, err := c.sys.StorageProfile(vdc, c.plan.StorageProfile)
	if err != nil {
		return vcd.ImportOptions{}, fmt.Errorf("storage_profile of VM %s: %w", c.plan.Name, err)
	}
	return vcd.ImportOptions{VMName: c.plan.Name, StorageProfile: sp}, nil
}

// connectNetworks connects every NIC of the imported VM to the org VDC
// network the plan maps its source port group to, with the source's MAC
// and, where the source's address is known, that address (MANUAL).
func (c *vmCutover) connectNetworks(ctx context.Context) (string, error) {
	cfg, err := c.targetConfig(ctx)
	if err != nil {
		return "", err
	}
	var nics []vcd.NICConnection
	var parts []string
	for _, n := range cfg.NICs {
		net, ok := c.env.Plan().NICNetwork(c.plan, n.Portgroup)
		if !ok {
			return "", fmt.Errorf("NIC %s %s on port group %q %w (networks: in the plan)", n.Type, n.MAC, n.Portgroup, ErrNoNetworkMapping)
		}
		ip := firstIPv4(n.IPs)
		nics = append(nics, vcd.NICConnection{MAC: n.MAC, Network: net, IP: ip})
		how := "DHCP (no address known)"
		if ip != "" {
			how = ip + " MANUAL"
		}
		parts = append(parts, fmt.Sprintf("%s on %s at %s", n.MAC, net, how))
	}
	if err := c.sys.ConnectNICs(c.vapp, c.plan.Name, nics); err != nil {
		return "", err
	}
	return strings.Join(parts, "; "), nil
}

// checkPlacement refuses, before any cutover starts, a provider placement
// that Cloud Director's import would move: the plan's resource pool must be
// the org VDC's pool or inside its provider VDC's pools (otherwise vCD
// relocates the VM), and the replica datastore one of the provider VDC's
// datastores (otherwise the import copies every disk, inside the downtime).
func checkPlacement(ctx context.Context, env *Env) error {
	pp := env.Plan().Provider
	if pp.Datacenter == "" || pp.ResourcePool == "" || pp.Datastore == "" || env.Config == nil || env.Config.Provider.URL == "" {
		return nil
	}
	pl, err := vdcPlacement(ctx, env)
	if err != nil {
		return err
	}
	prov, err := env.ProviderVC(ctx)
	if err != nil {
		return err
	}
	if _, err := prov.Datacenter(ctx, pp.Datacenter); err != nil {
		return &FieldError{"provider.datacenter", err}
	}
	chain, err := prov.PoolChain(ctx, pp.Datacenter, pp.ResourcePool)
	if err != nil {
		return &FieldError{"provider.resource_pool", err}
	}
	inPool := len(chain) > 0 && slices.Contains(pl.VDCPools, chain[0])
	for _, p := range chain {
		inPool = inPool || slices.Contains(pl.ProviderPools, p)
	}
	if !inPool {
		return &FieldError{"provider.resource_pool", fmt.Errorf("%s (%v) is neither VDC %s's resource pool (%s) nor inside provider VDC %s's (%s): Cloud Director would relocate the VM at import, inside the downtime",
			pp.ResourcePool, chain, env.Plan().VDC, strings.Join(pl.VDCPools, ", "), pl.ProviderVDC, strings.Join(pl.ProviderPools, ", "))}
	}
	ds, err := prov.DatastoreID(ctx, pp.Datacenter, pp.Datastore)
	if err != nil {
		return &FieldError{"provider.datastore", err}
	}
	if !slices.Contains(pl.Datastores, ds) {
		return &FieldError{"provider.datastore", fmt.Errorf("%s (%s) is not a datastore of provider VDC %s (%s): the import would copy every replica disk, inside the downtime",
			pp.Datastore, ds, pl.ProviderVDC, strings.Join(prov.DatastoreNames(ctx, pl.Datastores), ", "))}
	}
	// The cutover builds the VM's NICs on this port group: a name it
	// would not find fails the cutover after the source's shutdown. Cloud
	// Director may make it with the stretched network, so it is looked for
	// once step 2 has run.
	if pp.Network != "" && !stepPending(ctx, env, "trunk-network") {
		if err := prov.CheckNetwork(ctx, pp.Datacenter, pp.Network); err != nil {
			return &FieldError{"provider.network", err}
		}
	}
	return nil
}

// vdcPlacement is where the plan's org VDC places VMs: its resource
// pools, datastores and highest hardware version.
func vdcPlacement(ctx context.Context, env *Env) (vcd.Placement, error) {
	sys, vdc, err := env.planVDC(ctx)
	if err != nil {
		return vcd.Placement{}, err
	}
	pl, err := sys.VDCPlacement(vdc)
	if err != nil {
		return pl, fmt.Errorf("placement of VDC %s: %w", env.Plan().VDC, err)
	}
	return pl, nil
}

// hwAbove reports whether hardware version v ("vmx-19") is newer than
// highest; false when either cannot be read.
func hwAbove(v, highest string) bool {
	a, errA := strconv.Atoi(strings.TrimPrefix(v, "vmx-"))
	b, errB := strconv.Atoi(strings.TrimPrefix(highest, "vmx-"))
	return errA == nil && errB == nil && a > b
}

// checkHWPolicy refuses a VM whose hardware version is newer than the
// highest its org VDC's provider VDC supports (Cloud Director's
// hardware-version policy): the target keeps the source's version.
func checkHWPolicy(ctx context.Context, env *Env, vm, version string) error {
	pl, err := vdcPlacement(ctx, env)
	if err != nil {
		return err
	}
	if hwAbove(version, pl.HighestHWVersion) {
		return fmt.Errorf("VM %s: hardware version %s is newer than %s, the highest provider VDC %s supports: Cloud Director cannot run it in VDC %s; ferry does not change a guest's hardware",
			vm, version, pl.HighestHWVersion, pl.ProviderVDC, env.Plan().VDC)
	}
	return nil
}

// storageProfileError is err, from resolving VM p's storage policy, as
// the failure says it: a storage_profile the VDC does not have is the
// plan's answer to change (a FieldError of storage_profile, the field the
// wizard's esc opens: Storage policy, in VM selection's options), rather
// than a failure a retry might cure; any other error (Cloud Director not
// answering) stays as it is.
func storageProfileError(p VMPlan, err error) error {
	if p.StorageProfile != "" && errors.Is(err, vcd.ErrNotFound) {
		err = &FieldError{"storage_profile", err}
	} else {
		err = fmt.Errorf("storage_profile: %w", err)
	}
	return fmt.Errorf("VM %s: %w", p.Name, err)
}

// checkStoragePolicy resolves the VDC storage policy the VM's import will
// name (the plan's storage_profile, refused when the VDC lacks it or it is
// disabled; else the VDC's only or default one), and refuses a replica
// datastore that does not support it: Cloud Director would move the disks
// into the policy at import, a full copy inside the downtime.
func checkStoragePolicy(ctx context.Context, env *Env, p VMPlan) (*vcd.StoragePolicy, error) {
	sys, vdc, err := env.planVDC(ctx)
	if err != nil {
		return nil, err
	}
	sp, err := sys.StorageProfile(vdc, p.StorageProfile)
	if err != nil {
		return nil, storageProfileError(p, err)
	}
	in, err := replicaDatastoreIn(ctx, env, sys, sp.Name)
	if err != nil {
		return nil, fmt.Errorf("VM %s: %w", p.Name, err)
	}
	if in == nil || in.holds {
		return sp, nil
	}
	name := fmt.Sprintf("%q", sp.Name)
	if what := policyWhat(sp.Name); what != "" {
		name += " (" + what + ")"
	}
	which := fmt.Sprintf("storage policy %s of VM %s", name, p.Name)
	if p.StorageProfile == "" {
		which = fmt.Sprintf("storage policy %s, VDC %s's default, which VM %s gets with no storage_profile named", name, env.Plan().VDC, p.Name)
	}
	return nil, &FieldError{"provider.datastore", fmt.Errorf("%s (%s) does not support %s (its datastores: %s): the import would copy every replica disk into the policy, inside the downtime; name a policy this datastore supports as the VM's storage_profile, or choose a datastore of the policy",
		in.datastore, in.id, which, strings.Join(in.policyDatastores, ", "))}
}

// datastoreIn says whether the plan's replica datastore is one of a
// storage policy's.
type datastoreIn struct {
	holds            bool
	datastore, id    string   // provider.datastore, and its id
	policyDatastores []string // the policy's, by name
}

// replicaDatastoreIn reads whether storage policy policy supports the plan's
// replica datastore (provider.datastore) from the provider vCenter's policies
// as Cloud Director has them; nil when the plan names no datastore yet.
func replicaDatastoreIn(ctx context.Context, env *Env, sys *vcd.Client, policy string) (*datastoreIn, error) {
	pp, ok := env.providerDatastore()
	if !ok {
		return nil, nil
	}
	u, err := vsphere.ParseURL(env.Config.Provider.URL)
	if err != nil {
		return nil, fmt.Errorf("provider vCenter URL: %w", err)
	}
	vc, err := sys.VirtualCenterFor(u.Host)
	if err != nil {
		return nil, err
	}
	dss, err := sys.PolicyDatastores(vc, policy)
	if err != nil {
		return nil, fmt.Errorf("storage policy %s: %w", policy, err)
	}
	prov, err := env.ProviderVC(ctx)
	if err != nil {
		return nil, err
	}
	ds, err := prov.DatastoreID(ctx, pp.Datacenter, pp.Datastore)
	if err != nil {
		return nil, fmt.Errorf("provider.datastore: %w", err)
	}
	return &datastoreIn{holds: slices.Contains(dss, ds), datastore: pp.Datastore, id: ds, policyDatastores: prov.DatastoreNames(ctx, dss)}, nil
}

// policyUse is what VMs still to be imported into one storage policy
// take of its storage limit: their disks' capacity, which Cloud Director
// counts.
type policyUse struct {
	sp    *vcd.StoragePolicy
	bytes int64
	names []string
}

// full says the policy's limit has less room left than the VMs take.
func (u *policyUse) full() bool {
	return u.sp.LimitMB > 0 && u.bytes > (u.sp.LimitMB-u.sp.UsedMB)<<20
}

// room is what the VMs take of the policy, said as who they are.
func (u *policyUse) room(env *Env, who string) string {
	return fmt.Sprintf("storage policy %q of VDC %s has %s left of its %s limit (%s used), and %s take %s (Cloud Director counts the disks' capacity)",
		u.sp.Name, env.Plan().VDC, Bytes(max(0, (u.sp.LimitMB-u.sp.UsedMB)<<20)), Bytes(u.sp.LimitMB<<20), Bytes(u.sp.UsedMB<<20), who, Bytes(u.bytes))
}

// disks names the VMs' disks.
func (u *policyUse) disks() string {
	if len(u.names) == 1 {
		return "VM " + u.names[0] + "'s disks"
	}
	return "the disks of VMs " + strings.Join(u.names, ", ")
}

// refusal is the error of VMs whose imports the policy's limit would refuse.
func (u *policyUse) refusal(env *Env) error {
	return errors.New(u.room(env, u.disks()) + ": it would refuse the import after the source's shutdown; ask the provider to raise the limit, or name another policy as storage_profile")
}

// policyUses sums VMs per storage policy, in the order first seen.
type policyUses []*policyUse

// add counts VM name's disks (bytes) in policy sp and returns its use.
func (us *policyUses) add(sp *vcd.StoragePolicy, name string, bytes int64) *policyUse {
	i := slices.IndexFunc(*us, func(u *policyUse) bool { return u.sp.Name == sp.Name })
	if i < 0 {
		*us, i = append(*us, &policyUse{sp: sp}), len(*us)
	}
	u := (*us)[i]
	u.bytes, u.names = u.bytes+bytes, append(u.names, name)
	return u
}

// targetPlaceAnswered says which answer the cutover needs to build the
// target VM that the plan lacks (checkPlacement checks nothing without
// them, and the cutover would fail after the source's shutdown).
func targetPlaceAnswered(pp ProviderPlan) error {
	switch {
	case pp.ResourcePool == "":
		return &FieldError{"provider.resource_pool", errors.New("is required: the org VDC's resource pool in the provider vCenter, where the cutover makes the target VM (anywhere else Cloud Director moves it at import, inside the downtime)")}
	case pp.Network == "":
		return &FieldError{"provider.network", errors.New("is required: the provider port group behind the stretched org VDC network, on which the cutover builds the target VM's NICs")}
	}
	return nil
}

// checkTargetPlacement is checkPlacement and checkStoragePolicy for one VM
// whose disks take need bytes, with room for them in the policy's limit.
func checkTargetPlacement(ctx context.Context, env *Env, p VMPlan, need int64) error {
	if err := targetPlaceAnswered(env.Plan().Provider); err != nil {
		return err
	}
	if err := checkPlacement(ctx, env); err != nil {
		return err
	}
	sp, err := checkStoragePolicy(ctx, env, p)
	if err != nil {
		return err
	}
	if u := (&policyUses{}).add(sp, p.Name, need); u.full() {
		return u.refusal(env)
	}
	return nil
}

// storageRoomItems are the conflicts of the storage policies whose limits
// have less room left than vms' targets take (their captured disks'
// capacity, summed per policy each VM resolves to): fails says what
// would happen.
func (e *Env) storageRoomItems(ctx context.Context, vms []VMPlan, fails string) ([]Item, error) {
	if len(vms) == 0 {
		return nil, nil
	}
	sys, vdc, err := e.planVDC(ctx)
	if err != nil {
		return nil, err
	}
	var uses policyUses
	for _, p := range vms {
		cfg, ok, err := savedVMConfig(e.State, p.Name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // its cutover refuses without it
		}
		sp, err := sys.StorageProfile(vdc, p.StorageProfile)
		if err != nil {
			return nil, storageProfileError(p, err)
		}
		var bytes int64
		for _, d := range cfg.Disks {
			bytes += d.Capacity
		}
		uses.add(sp, p.Name, bytes)
	}
	var out []Item
	for _, u := range uses {
		if u.full() {
			out = append(out, Item{Action: ActionConflict, Kind: "storage policy", Name: u.sp.Name,
				Detail: fmt.Sprintf("%s: Cloud Director refuses an import past the limit, so %s. Ask the provider to raise the limit, or name another policy as storage_profile, first",
					u.room(e, "the targets of "+strings.Join(u.names, ", ")), fails)})
		}
	}
	return out, nil
}
