package vsphere

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// ErrNotFound is wrapped by lookups that find nothing; the message lists
// what exists.
var ErrNotFound = errors.New("not found")

// Portgroup is a distributed port group as ferry sees it.
type Portgroup struct {
	Name   string
	Ref    types.ManagedObjectReference
	Key    string
	DVS    string // switch name
	DVSRef types.ManagedObjectReference
	// Security policy; nil means not set on the port group (inherited).
	Promiscuous, ForgedTransmits, MACChanges *bool
	// Trunk is the VLAN trunk range ("0-4094"); empty when the port group
	// is not a trunk.
	Trunk string
	// VLAN is the VLAN id of an access port group (0: none).
	VLAN int32

	config types.DVPortgroupConfigInfo
}

// SinkProblems says what keeps p from being a sink port for an L2VPN
// client: promiscuous mode and forged transmits must be Accept and the port
// group must trunk every VLAN. Empty when p is ready.
func (p *Portgroup) SinkProblems() []string {
	var out []string
	if !isTrue(p.Promiscuous) {
		out = append(out, "promiscuous mode is "+acceptReject(p.Promiscuous))
	}
	if !isTrue(p.ForgedTransmits) {
		out = append(out, "forged transmits is "+acceptReject(p.ForgedTransmits))
	}
	if p.Trunk != sinkTrunk {
		out = append(out, fmt.Sprintf("VLAN is %s, want trunk %s", p.vlanString(), sinkTrunk))
	}
	return out
}

func (p *Portgroup) vlanString() string {
	switch {
	case p.Trunk != "":
		return "trunk " + p.Trunk
	case p.VLAN != 0:
		return fmt.Sprintf("access VLAN %d", p.VLAN)
	}
	return "none"
}

const sinkTrunk = "0-4094"

func isTrue(b *bool) bool { return b != nil && *b }

func acceptReject(b *bool) string {
	switch {
	case b == nil:
		return "unset (Reject)"
	case *b:
		return "Accept"
	}
	return "Reject"
}

// Datacenter finds a datacenter by name; an empty name means the only one.
func (c *Client) Datacenter(ctx context.Context, name string) (*object.Datacenter, error) {
	f := c.Finder()
	if name == "" {
		dc, err := f.DefaultDatacenter(ctx)
		if err == nil {
			return dc, nil
		}
		names, _ := c.datacenterNames(ctx)
		return nil, fmt.Errorf("vCenter %s: choose a datacenter (datacenters: %s)", c.Endpoint, list(names))
	}
	dc, err := f.Datacenter(ctx, name)
	if err != nil {
		names, _ := c.datacenterNames(ctx)
		return nil, fmt.Errorf("datacenter %q %w on vCenter %s (datacenters: %s)", name, ErrNotFound, c.Endpoint, list(names))
	}
	return dc, nil
}

func (c *Client) datacenterNames(ctx context.Context) ([]string, error) {
	dcs, err := c.Finder().DatacenterList(ctx, "*")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, dc := range dcs {
		names = append(names, dc.Name())
	}
	sort.Strings(names)
	return names, nil
}

// Portgroups lists the distributed port groups of dc (uplink port groups
// excluded), sorted by name.
func (c *Client) Portgroups(ctx context.Context, dc *object.Datacenter) ([]Portgroup, error) {
	m := view.NewManager(c.Client.Client)
	v, err := m.CreateContainerView(ctx, dc.Reference(), []string{"DistributedVirtualPortgroup", "DistributedVirtualSwitch"}, true)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: list port groups: %w", c.Endpoint, err)
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var pgs []mo.DistributedVirtualPortgroup
	if err := v.Retrieve(ctx, []string{"DistributedVirtualPortgroup"}, []string{"name", "key", "config"}, &pgs); err != nil {
		return nil, fmt.Errorf("vCenter %s: list port groups: %w", c.Endpoint, err)
	}
	var switches []mo.DistributedVirtualSwitch
	if err := v.Retrieve(ctx, []string{"DistributedVirtualSwitch"}, []string{"name"}, &switches); err != nil {
		return nil, fmt.Errorf("vCenter %s: list switches: %w", c.Endpoint, err)
	}
	dvsName := map[types.ManagedObjectReference]string{}
	for _, s := range switches {
		dvsName[s.Self] = s.Name
	}
	out := make([]Portgroup, 0, len(pgs))
	for i := range pgs {
		if pgs[i].Config.Uplink != nil && *pgs[i].Config.Uplink {
			continue
		}
		out = append(out, toPortgroup(&pgs[i], dvsName))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func toPortgroup(pg *mo.DistributedVirtualPortgroup, dvsName map[types.ManagedObjectReference]string) Portgroup {
	p := Portgroup{Name: pg.Name, Ref: pg.Self, Key: pg.Key, config: pg.Config}
	if r := pg.Config.DistributedVirtualSwitch; r != nil {
		p.DVSRef, p.DVS = *r, dvsName[*r]
	}
	s, ok := pg.Config.DefaultPortConfig.(*types.VMwareDVSPortSetting)
	if !ok || s == nil {
		return p
	}
	if sp := s.SecurityPolicy; sp != nil {
		p.Promiscuous = boolValue(sp.AllowPromiscuous)
		p.ForgedTransmits = boolValue(sp.ForgedTransmits)
		p.MACChanges = boolValue(sp.MacChanges)
	}
	switch v := s.Vlan.(type) {
	case *types.VmwareDistributedVirtualSwitchTrunkVlanSpec:
		var r []string
		for _, n := range v.VlanId {
			r = append(r, fmt.Sprintf("%d-%d", n.Start, n.End))
		}
		p.Trunk = strings.Join(r, ",")
	case *types.VmwareDistributedVirtualSwitchVlanIdSpec:
		p.VLAN = v.VlanId
	}
	return p
}

func boolValue(p *types.BoolPolicy) *bool {
	if p == nil {
		return nil
	}
	return p.Value
}

// Portgroup finds a distributed port group of dc by name. Not found: the
// error wraps ErrNotFound and lists the port groups that exist.
func (c *Client) Portgroup(ctx context.Context, dc *object.Datacenter, name string) (*Portgroup, error) {
	pgs, err := c.Portgroups(ctx, dc)
	if err != nil {
		return nil, err
	}
	var names []string
	for i := range pgs {
		if pgs[i].Name == name {
			return &pgs[i], nil
		}
		names = append(names, pgs[i].Name)
	}
	return nil, fmt.Errorf("distributed port group %q %w in datacenter %s (port groups: %s)", name, ErrNotFound, dc.Name(), list(names))
}

// Network finds any network of dc by name: a distributed port group, a
// standard port group ("VM Network") or an opaque network. The error lists
// the networks that exist.
func (c *Client) Network(ctx context.Context, dc *object.Datacenter, name string) (types.ManagedObjectReference, error) {
	m := view.NewManager(c.Client.Client)
	v, err := m.CreateContainerView(ctx, dc.Reference(), []string{"Network"}, true)
	if err != nil {
		return types.ManagedObjectReference{}, fmt.Errorf("vCenter %s: list networks: %w", c.Endpoint, err)
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var nets []mo.Network
	if err := v.Retrieve(ctx, []string{"Network"}, []string{"name"}, &nets); err != nil {
		return types.ManagedObjectReference{}, fmt.Errorf("vCenter %s: list networks: %w", c.Endpoint, err)
	}
	var names []string
	var found []types.ManagedObjectReference
	for _, n := range nets {
		if n.Name == name {
			found = append(found, n.Self)
		}
		names = append(names, n.Name)
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		sort.Strings(names)
		return types.ManagedObjectReference{}, fmt.Errorf("network %q %w in datacenter %s (networks: %s)", name, ErrNotFound, dc.Name(), list(names))
	}
	return types.ManagedObjectReference{}, fmt.Errorf("%d networks are named %q in datacenter %s; rename all but one", len(found), name, dc.Name())
}

// DVS finds a distributed switch of dc by name; the error lists the switches.
func (c *Client) DVS(ctx context.Context, dc *object.Datacenter, name string) (*object.DistributedVirtualSwitch, error) {
	m := view.NewManager(c.Client.Client)
	v, err := m.CreateContainerView(ctx, dc.Reference(), []string{"DistributedVirtualSwitch"}, true)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: list switches: %w", c.Endpoint, err)
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var switches []mo.DistributedVirtualSwitch
	if err := v.Retrieve(ctx, []string{"DistributedVirtualSwitch"}, []string{"name"}, &switches); err != nil {
		return nil, fmt.Errorf("vCenter %s: list switches: %w", c.Endpoint, err)
	}
	var names []string
	for _, s := range switches {
		if s.Name == name {
			d := object.NewDistributedVirtualSwitch(c.Client.Client, s.Self)
			d.InventoryPath = s.Name
			return d, nil
		}
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("distributed switch %q %w in datacenter %s (switches: %s)", name, ErrNotFound, dc.Name(), list(names))
}

// CreateSinkPortgroup adds a sink port group to dvs: early binding, VLAN
// trunk 0-4094, promiscuous mode and forged transmits Accept. It reads the
// port group back, re-applies the policy once if vCenter did not keep it,
// and fails if it still reads back wrong.
func (c *Client) CreateSinkPortgroup(ctx context.Context, dc *object.Datacenter, dvs *object.DistributedVirtualSwitch, name string) (*Portgroup, error) {
	spec := types.DVPortgroupConfigSpec{
		Name:              name,
		Type:              string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding),
		NumPorts:          8,
		AutoExpand:        types.NewBool(true),
		Description:       "L2VPN client sink port (ferry)",
		DefaultPortConfig: sinkPortSetting(nil),
	}
	task, err := dvs.AddPortgroup(ctx, []types.DVPortgroupConfigSpec{spec})
	if err != nil {
		return nil, fmt.Errorf("create port group %q on %s: %w", name, dvs.Name(), err)
	}
	if err := task.Wait(ctx); err != nil {
		return nil, fmt.Errorf("create port group %q on %s: %w", name, dvs.Name(), err)
	}
	pg, err := c.Portgroup(ctx, dc, name)
	if err != nil {
		return nil, fmt.Errorf("read back port group %q: %w", name, err)
	}
	if len(pg.SinkProblems()) > 0 {
		// vCenter did not keep the policy: apply it once more with a
		// complete spec; SecureSinkPortgroup fails if it still reads back wrong.
		return c.SecureSinkPortgroup(ctx, dc, pg)
	}
	return pg, nil
}

// SecureSinkPortgroup reconfigures pg as a sink port (see
// CreateSinkPortgroup). ReconfigureDVPortgroup replaces the whole
// configuration, so the spec carries every setting read from pg with only
// the security policy and VLAN changed. It reads the result back.
func (c *Client) SecureSinkPortgroup(ctx context.Context, dc *object.Datacenter, pg *Portgroup) (*Portgroup, error) {
	cfg := pg.config
	spec := types.DVPortgroupConfigSpec{
		ConfigVersion:                cfg.ConfigVersion,
		Name:                         cfg.Name,
		NumPorts:                     cfg.NumPorts,
		PortNameFormat:               cfg.PortNameFormat,
		DefaultPortConfig:            sinkPortSetting(cfg.DefaultPortConfig),
		Description:                  cfg.Description,
		Type:                         cfg.Type,
		BackingType:                  cfg.BackingType,
		Scope:                        cfg.Scope,
		Policy:                       cfg.Policy,
		VendorSpecificConfig:         cfg.VendorSpecificConfig,
		AutoExpand:                   cfg.AutoExpand,
		VmVnicNetworkResourcePoolKey: cfg.VmVnicNetworkResourcePoolKey,
		TransportZoneUuid:            cfg.TransportZoneUuid,
		TransportZoneName:            cfg.TransportZoneName,
		LogicalSwitchUuid:            cfg.LogicalSwitchUuid,
		SegmentId:                    cfg.SegmentId,
		SubnetId:                     cfg.SubnetId,
	}
	obj := object.NewDistributedVirtualPortgroup(c.Client.Client, pg.Ref)
	task, err := obj.Reconfigure(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("reconfigure port group %q: %w", pg.Name, err)
	}
	if err := task.Wait(ctx); err != nil {
		return nil, fmt.Errorf("reconfigure port group %q: %w", pg.Name, err)
	}
	back, err := c.Portgroup(ctx, dc, pg.Name)
	if err != nil {
		return nil, fmt.Errorf("read back port group %q: %w", pg.Name, err)
	}
	if p := back.SinkProblems(); len(p) > 0 {
		return back, fmt.Errorf("port group %q was reconfigured but reads back wrong: %s", pg.Name, strings.Join(p, ", "))
	}
	return back, nil
}

// sinkPortSetting returns base (copied; a fresh setting when nil) with the
// sink port's security policy and VLAN trunk.
func sinkPortSetting(base types.BaseDVPortSetting) *types.VMwareDVSPortSetting {
	s := &types.VMwareDVSPortSetting{}
	if b, ok := base.(*types.VMwareDVSPortSetting); ok && b != nil {
		c := *b
		s = &c
	}
	accept := &types.BoolPolicy{Value: types.NewBool(true)}
	sp := &types.DVSSecurityPolicy{}
	if s.SecurityPolicy != nil {
		c := *s.SecurityPolicy
		sp = &c
	}
	sp.AllowPromiscuous, sp.ForgedTransmits = accept, accept
	s.SecurityPolicy = sp
	// vSphere 6.7+ also exposes the same switches as the MAC management
	// policy; keep the two consistent when the server reports it.
	if m := s.MacManagementPolicy; m != nil {
		c := *m
		c.AllowPromiscuous, c.ForgedTransmits = types.NewBool(true), types.NewBool(true)
		s.MacManagementPolicy = &c
	}
	s.Vlan = &types.VmwareDistributedVirtualSwitchTrunkVlanSpec{
		VlanId: []types.NumericRange{{Start: 0, End: 4094}},
	}
	return s
}
