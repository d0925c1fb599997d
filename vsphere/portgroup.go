package vsphere

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
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
	Ref    Ref
	Key    string
	DVS    string // switch name
	DVSRef Ref
	// Security policy; nil means not set on the port group (inherited).
	Promiscuous, ForgedTransmits, MACChanges *bool
	// Trunk is the VLAN trunk range ("0-4094"); empty when the port group
	// is not a trunk.
	Trunk string
	// VLAN is the VLAN id of an access port group (0: none).
	VLAN int32
	// MACLearning: the MAC management policy's MAC learning is enabled.
	MACLearning bool
	// VMs are the VMs with a NIC on the port group (VMsOn names them).
	VMs []Ref

	config types.DVPortgroupConfigInfo
}

// SinkPolicy is how a sink port group delivers the stretched networks'
// frames to the L2VPN client appliance.
type SinkPolicy struct {
	// MACLearning: MAC learning + forged transmits (VDS 6.6 and later);
	// otherwise promiscuous mode + forged transmits.
	MACLearning bool
	// Trunk is the VLAN trunk range, e.g. "0-4094" or "0,20-30".
	Trunk string
}

// DefaultSinkTrunk trunks every VLAN.
const DefaultSinkTrunk = "0-4094"

func (w SinkPolicy) String() string {
	mode := "promiscuous mode and forged transmits Accept"
	if w.MACLearning {
		mode = "MAC learning and forged transmits Accept"
	}
	return mode + ", VLAN trunk " + w.trunk()
}

// trunk is the trunk range as a port group reads back ("0-0,20-30").
func (w SinkPolicy) trunk() string {
	if w.Trunk == "" {
		return DefaultSinkTrunk
	}
	r, err := ParseVLANRanges(w.Trunk)
	if err != nil {
		return w.Trunk
	}
	parts := make([]string, len(r))
	for i, n := range r {
		parts[i] = fmt.Sprintf("%d-%d", n.Start, n.End)
	}
	return strings.Join(parts, ",")
}

// ParseVLANRanges reads a VLAN trunk range list ("0-4094", "0,20-30").
func ParseVLANRanges(v string) ([]types.NumericRange, error) {
	var out []types.NumericRange
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		var a, b int
		_, err := fmt.Sscanf(strings.TrimSpace(lo), "%d", &a)
		b = a
		if err == nil && isRange {
			_, err = fmt.Sscanf(strings.TrimSpace(hi), "%d", &b)
		}
		if err != nil || a < 0 || b > 4094 || a > b {
			return nil, fmt.Errorf("%q is not a VLAN range list: want ranges of 0-4094 such as 0-4094 or 0,20-30", v)
		}
		out = append(out, types.NumericRange{Start: int32(a), End: int32(b)})
	}
	return out, nil
}

// VLANInRanges says whether vlan is in the trunk range list v.
func VLANInRanges(v string, vlan int32) bool {
	r, err := ParseVLANRanges(v)
	if err != nil {
		return false
	}
	for _, n := range r {
		if n.Start <= vlan && vlan <= n.End {
			return true
		}
	}
	return false
}

// SinkProblems says what keeps p from being a sink port for an L2VPN
// client with policy want: forged transmits must be Accept, and promiscuous
// mode Accept or (want.MACLearning) MAC learning on, and the port group
// must trunk want's VLANs. Empty when p is ready.
func (p *Portgroup) SinkProblems(want SinkPolicy) []string {
	var out []string
	if want.MACLearning {
		if !p.MACLearning {
			out = append(out, "MAC learning is off")
		}
	} else if !isTrue(p.Promiscuous) {
		out = append(out, "promiscuous mode is "+acceptReject(p.Promiscuous))
	}
	if !isTrue(p.ForgedTransmits) {
		out = append(out, "forged transmits is "+acceptReject(p.ForgedTransmits))
	}
	if p.Trunk != want.trunk() {
		out = append(out, fmt.Sprintf("VLAN is %s, want trunk %s", p.vlanString(), want.trunk()))
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
func (c *Client) Datacenter(ctx context.Context, name string) (*Datacenter, error) {
	f := c.Finder()
	if name == "" {
		dc, err := f.DefaultDatacenter(ctx)
		if err == nil {
			return &Datacenter{dc}, nil
		}
		names, lerr := c.datacenterNames(ctx)
		if lerr != nil {
			return nil, fmt.Errorf("vCenter %s: its datacenter: %w", c.Endpoint, lerr)
		}
		return nil, fmt.Errorf("vCenter %s: choose a datacenter (datacenters: %s)", c.Endpoint, list(names))
	}
	dc, err := f.Datacenter(ctx, name)
	if err != nil {
		if _, notFound := errors.AsType[*find.NotFoundError](err); !notFound {
			return nil, fmt.Errorf("datacenter %q on vCenter %s: %w", name, c.Endpoint, err)
		}
		names, lerr := c.datacenterNames(ctx)
		if lerr != nil {
			return nil, fmt.Errorf("datacenter %q on vCenter %s: %w", name, c.Endpoint, lerr)
		}
		return nil, fmt.Errorf("datacenter %q %w on vCenter %s (datacenters: %s)", name, ErrNotFound, c.Endpoint, list(names))
	}
	return &Datacenter{dc}, nil
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
func (c *Client) Portgroups(ctx context.Context, dcH *Datacenter) ([]Portgroup, error) {
	dc := dcH.dc
	m := view.NewManager(c.Client.Client)
	v, err := m.CreateContainerView(ctx, dc.Reference(), []string{"DistributedVirtualPortgroup", "DistributedVirtualSwitch"}, true)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: list port groups: %w", c.Endpoint, err)
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var pgs []mo.DistributedVirtualPortgroup
	if err := v.Retrieve(ctx, []string{"DistributedVirtualPortgroup"}, []string{"name", "key", "config", "vm"}, &pgs); err != nil {
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
		pg := toPortgroup(&pgs[i], dvsName)
		for _, r := range pgs[i].Vm {
			pg.VMs = append(pg.VMs, refOf(r))
		}
		out = append(out, pg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// VMsOn names the VMs on port group pg, sorted, leaving out those named
// in except, in one retrieval (a VM removed meanwhile by its id). Only a
// caller that shows or judges them pays for it: a port group lookup does not.
func (c *Client) VMsOn(ctx context.Context, pg *Portgroup, except ...string) ([]string, error) {
	if len(pg.VMs) == 0 {
		return nil, nil
	}
	refs := make([]types.ManagedObjectReference, len(pg.VMs))
	name := map[types.ManagedObjectReference]string{}
	for i, r := range pg.VMs {
		refs[i] = r.Reference()
		name[refs[i]] = r.Value
	}
	var vms []mo.VirtualMachine
	if err := c.PropertyCollector().Retrieve(ctx, refs, []string{"name"}, &vms); err != nil && !fault.Is(err, &types.ManagedObjectNotFound{}) {
		return nil, fmt.Errorf("vCenter %s: the VMs on port group %s: %w", c.Endpoint, pg.Name, err)
	}
	for _, vm := range vms {
		name[vm.Self] = vm.Name
	}
	var out []string
	for _, r := range refs {
		if n := name[r]; !slices.Contains(except, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func toPortgroup(pg *mo.DistributedVirtualPortgroup, dvsName map[types.ManagedObjectReference]string) Portgroup {
	p := Portgroup{Name: pg.Name, Ref: refOf(pg.Self), Key: pg.Key, config: pg.Config}
	if r := pg.Config.DistributedVirtualSwitch; r != nil {
		p.DVSRef, p.DVS = refOf(*r), dvsName[*r]
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
	// vSphere 6.7+ reports the same switches in the MAC management policy,
	// with MAC learning beside them; it wins where both are set.
	if m := s.MacManagementPolicy; m != nil {
		if m.AllowPromiscuous != nil {
			p.Promiscuous = m.AllowPromiscuous
		}
		if m.ForgedTransmits != nil {
			p.ForgedTransmits = m.ForgedTransmits
		}
		p.MACLearning = m.MacLearningPolicy != nil && m.MacLearningPolicy.Enabled
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
func (c *Client) Portgroup(ctx context.Context, dcH *Datacenter, name string) (*Portgroup, error) {
	dc := dcH.dc
	pgs, err := c.Portgroups(ctx, dcH)
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
func (c *Client) Network(ctx context.Context, dcH *Datacenter, name string) (Ref, error) {
	dc := dcH.dc
	m := view.NewManager(c.Client.Client)
	v, err := m.CreateContainerView(ctx, dc.Reference(), []string{"Network"}, true)
	if err != nil {
		return Ref{}, fmt.Errorf("vCenter %s: list networks: %w", c.Endpoint, err)
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var nets []mo.Network
	if err := v.Retrieve(ctx, []string{"Network"}, []string{"name"}, &nets); err != nil {
		return Ref{}, fmt.Errorf("vCenter %s: list networks: %w", c.Endpoint, err)
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
		return refOf(found[0]), nil
	case 0:
		sort.Strings(names)
		return Ref{}, fmt.Errorf("network %q %w in datacenter %s (networks: %s)", name, ErrNotFound, dc.Name(), list(names))
	}
	return Ref{}, fmt.Errorf("%d networks are named %q in datacenter %s; rename all but one", len(found), name, dc.Name())
}

// CheckNetwork says whether a VM created in datacenter (CreateVMOverDisks)
// finds network name, as that creation looks it up: nil, or an error that
// lists the networks of the datacenter.
func (c *Client) CheckNetwork(ctx context.Context, datacenter, name string) error {
	dcH, err := c.Datacenter(ctx, datacenter)
	if err != nil {
		return err
	}
	f := c.Finder()
	f.SetDatacenter(dcH.dc)
	_, err = f.Network(ctx, name)
	if _, notFound := errors.AsType[*find.NotFoundError](err); notFound {
		_, err = c.Network(ctx, dcH, name) // its error lists the networks
	}
	if err != nil {
		return fmt.Errorf("vCenter %s: %w", c.Endpoint, err)
	}
	return nil
}

// DVS finds a distributed switch of dc by name; the error lists the switches.
func (c *Client) DVS(ctx context.Context, dcH *Datacenter, name string) (*DVS, error) {
	dc := dcH.dc
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
			return &DVS{d}, nil
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
func (c *Client) CreateSinkPortgroup(ctx context.Context, dcH *Datacenter, dvsH *DVS, name string, want SinkPolicy) (*Portgroup, error) {
	dvs := dvsH.dvs
	setting, err := sinkPortSetting(nil, want)
	if err != nil {
		return nil, err
	}
	spec := types.DVPortgroupConfigSpec{
		Name:              name,
		Type:              string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding),
		NumPorts:          8,
		AutoExpand:        types.NewBool(true),
		Description:       "L2VPN client sink port (ferry)",
		DefaultPortConfig: setting,
	}
	task, err := dvs.AddPortgroup(ctx, []types.DVPortgroupConfigSpec{spec})
	if err != nil {
		return nil, fmt.Errorf("create port group %q on %s: %w", name, dvs.Name(), err)
	}
	if _, err := WaitTask(ctx, task); err != nil {
		return nil, fmt.Errorf("create port group %q on %s: %w", name, dvs.Name(), err)
	}
	pg, err := c.Portgroup(ctx, dcH, name)
	if err != nil {
		return nil, fmt.Errorf("read back port group %q: %w", name, err)
	}
	if len(pg.SinkProblems(want)) > 0 {
		// vCenter did not keep the policy: apply it once more with a
		// complete spec; SecureSinkPortgroup fails if it still reads back wrong.
		return c.SecureSinkPortgroup(ctx, dcH, pg, want)
	}
	return pg, nil
}

// SecureSinkPortgroup reconfigures pg as a sink port (see
// CreateSinkPortgroup). ReconfigureDVPortgroup replaces the whole
// configuration, so the spec carries every setting read from pg with only
// the security policy and VLAN changed. It reads the result back.
func (c *Client) SecureSinkPortgroup(ctx context.Context, dcH *Datacenter, pg *Portgroup, want SinkPolicy) (*Portgroup, error) {
	cfg := pg.config
	setting, err := sinkPortSetting(cfg.DefaultPortConfig, want)
	if err != nil {
		return nil, err
	}
	spec := types.DVPortgroupConfigSpec{
		ConfigVersion:                cfg.ConfigVersion,
		Name:                         cfg.Name,
		NumPorts:                     cfg.NumPorts,
		PortNameFormat:               cfg.PortNameFormat,
		DefaultPortConfig:            setting,
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
	obj := object.NewDistributedVirtualPortgroup(c.Client.Client, pg.Ref.Reference())
	task, err := obj.Reconfigure(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("reconfigure port group %q: %w", pg.Name, err)
	}
	if _, err := WaitTask(ctx, task); err != nil {
		return nil, fmt.Errorf("reconfigure port group %q: %w", pg.Name, err)
	}
	back, err := c.Portgroup(ctx, dcH, pg.Name)
	if err != nil {
		return nil, fmt.Errorf("read back port group %q: %w", pg.Name, err)
	}
	if p := back.SinkProblems(want); len(p) > 0 {
		return back, fmt.Errorf("port group %q was reconfigured but reads back wrong: %s", pg.Name, strings.Join(p, ", "))
	}
	return back, nil
}

// sinkPortSetting returns base (copied; a fresh setting when nil) with the
// sink port's security policy (want: MAC learning or promiscuous mode, with
// forged transmits) and VLAN trunk.
func sinkPortSetting(base types.BaseDVPortSetting, want SinkPolicy) (*types.VMwareDVSPortSetting, error) {
	trunk, err := ParseVLANRanges(want.trunk())
	if err != nil {
		return nil, err
	}
	s := &types.VMwareDVSPortSetting{}
	if b, ok := base.(*types.VMwareDVSPortSetting); ok && b != nil {
		c := *b
		s = &c
	}
	sp := &types.DVSSecurityPolicy{}
	if s.SecurityPolicy != nil {
		c := *s.SecurityPolicy
		sp = &c
	}
	promiscuous := !want.MACLearning
	sp.AllowPromiscuous = &types.BoolPolicy{Value: types.NewBool(promiscuous)}
	sp.ForgedTransmits = &types.BoolPolicy{Value: types.NewBool(true)}
	s.SecurityPolicy = sp
	// vSphere 6.7+ exposes the same switches as the MAC management policy,
	// with MAC learning (VDS 6.6+); keep the two consistent.
	m := &types.DVSMacManagementPolicy{}
	if s.MacManagementPolicy != nil {
		c := *s.MacManagementPolicy
		m = &c
	}
	if want.MACLearning || s.MacManagementPolicy != nil {
		m.AllowPromiscuous, m.ForgedTransmits = types.NewBool(promiscuous), types.NewBool(true)
		if m.MacChanges == nil {
			m.MacChanges = types.NewBool(false)
		}
		if want.MACLearning {
			m.MacLearningPolicy = &types.DVSMacLearningPolicy{Enabled: true, AllowUnicastFlooding: types.NewBool(true),
				Limit: types.NewInt32(4096), LimitPolicy: string(types.DVSMacLimitPolicyTypeDrop)}
		} else if m.MacLearningPolicy != nil {
			c := *m.MacLearningPolicy
			c.Enabled = false
			m.MacLearningPolicy = &c
		}
		s.MacManagementPolicy = m
	}
	s.Vlan = &types.VmwareDistributedVirtualSwitchTrunkVlanSpec{VlanId: trunk}
	return s, nil
}

// DVSVersion is the product version of a distributed switch ("7.0.3").
func (c *Client) DVSVersion(ctx context.Context, dvsH *DVS) (string, error) {
	dvs := dvsH.dvs
	var d mo.DistributedVirtualSwitch
	if err := property.DefaultCollector(c.Client.Client).RetrieveOne(ctx, dvs.Reference(), []string{"summary.productInfo"}, &d); err != nil {
		return "", fmt.Errorf("read the version of distributed switch %s: %w", dvs.Name(), err)
	}
	if d.Summary.ProductInfo == nil {
		return "", nil
	}
	return d.Summary.ProductInfo.Version, nil
}

// MACLearningSupported says whether a VDS of this version supports MAC
// learning (6.6.0 and later).
func MACLearningSupported(version string) bool {
	var a, b int
	if _, err := fmt.Sscanf(version, "%d.%d", &a, &b); err != nil {
		return false
	}
	return a > 6 || a == 6 && b >= 6
}
