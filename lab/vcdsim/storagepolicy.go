package vcdsim

import (
	"cmp"
	"context"
	"fmt"
	"net/http"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
)

// StoragePolicy is a VM storage policy of the provider vCenter that the
// provider VDC and the org VDC offer: the datastores (by name) that
// support it. Cloud Director places a VM's disks on a datastore of its
// policy; an import of a VM whose disks are elsewhere copies them into
// the policy (vcenter.go, placement).
type StoragePolicy struct {
	Name       string
	Datastores []string
	// LimitMB is the org VDC's storage limit in the policy (0: unlimited;
	// SetStoragePolicyLimit changes it): Cloud Director refuses a VM whose
	// disks' capacity would take the policy's use past it.
	LimitMB int64
}

// mimeVdcStorageProfile is a VdcStorageProfile's media type.
const mimeVdcStorageProfile = "application/vnd.vmware.vcloud.vdcStorageProfile+xml"

func (s *Server) storagePolicyRoutes() {
	s.handle("GET /api/vdcStorageProfile/{id}", handleVdcStorageProfile)
}

// policies are the org VDCs' storage policies: ProviderVC.StoragePolicies,
// or "*" backed by every datastore of the provider VDC.
func (m *model) policies() []StoragePolicy {
	if m.cfg.ProviderVC != nil && len(m.cfg.ProviderVC.StoragePolicies) > 0 {
		return m.cfg.ProviderVC.StoragePolicies
	}
	var dss []string
	if m.cfg.ProviderVC != nil {
		dss = m.cfg.ProviderVC.Datastores
	}
	return []StoragePolicy{{Name: "*", Datastores: dss}}
}

// defaultPolicy is the name of the org VDCs' default storage policy: the
// one Cloud Director uses for a VM created or imported without one.
func (m *model) defaultPolicy() string {
	if m.defaultSP != "" {
		return m.defaultSP
	}
	return m.policies()[0].Name
}

// SetDefaultStoragePolicy makes the named storage policy the org VDC's
// default, as a provider administrator may at any time (an enabled one:
// Cloud Director keeps its default enabled).
func (s *Server) SetDefaultStoragePolicy(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m.policyNamed(name); !ok {
		return fmt.Errorf("no storage policy %q", name)
	}
	if s.m.disabledSP[name] {
		return fmt.Errorf("storage policy %q is disabled: the default must be enabled", name)
	}
	s.m.defaultSP = name
	return nil
}

// SetStoragePolicyLimit sets the org VDC's storage limit in the named
// policy (MB, 0: unlimited), as a provider administrator may.
func (s *Server) SetStoragePolicyLimit(name string, mb int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m.policyNamed(name); !ok {
		return fmt.Errorf("no storage policy %q", name)
	}
	if s.m.limitSP == nil {
		s.m.limitSP = map[string]int64{}
	}
	s.m.limitSP[name] = mb
	return nil
}

// policyLimit is the named policy's limit in MB (0: unlimited).
func (m *model) policyLimit(name string) int64 {
	if mb, ok := m.limitSP[name]; ok {
		return mb
	}
	p, _ := m.policyNamed(name)
	return p.LimitMB
}

// policyUsedMB is what the org VDC's VMs in the named policy take of its
// limit: their disks' capacity (thin or not, as Cloud Director counts it).
func (m *model) policyUsedMB(name string) int64 {
	var kb int64
	for _, a := range m.vapps {
		for _, v := range a.vms {
			if cmp.Or(v.policy, m.defaultPolicy()) != name {
				continue
			}
			for _, d := range v.disks {
				kb += d.CapacityKB
			}
		}
	}
	return kb / 1024
}

// SetStoragePolicyEnabled enables or disables the named storage policy of
// the org VDC, as a provider administrator may: Cloud Director places no
// new VM in a disabled policy (an import naming it is refused). The
// default cannot be disabled.
func (s *Server) SetStoragePolicyEnabled(name string, enabled bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m.policyNamed(name); !ok {
		return fmt.Errorf("no storage policy %q", name)
	}
	if !enabled && name == s.m.defaultPolicy() {
		return fmt.Errorf("storage policy %q is the default: make another one the default first", name)
	}
	if s.m.disabledSP == nil {
		s.m.disabledSP = map[string]bool{}
	}
	s.m.disabledSP[name] = !enabled
	return nil
}

// spID is the id of VDC vdcID's profile of policy name ("*" keeps the id
// it had when it was the only one).
func spID(vdcID, name string) string {
	if name == "*" {
		return nameUUID("sp", vdcID)
	}
	return nameUUID("sp", vdcID, name)
}

// storageProfileRefs are the references of v's storage profiles.
func (c *reqCtx) storageProfileRefs(v *vdc) []*types.Reference {
	var out []*types.Reference
	for _, p := range c.m.policies() {
		out = append(out, &types.Reference{HREF: c.abs("/api/vdcStorageProfile/" + spID(v.id, p.Name)), Name: p.Name, Type: mimeVdcStorageProfile})
	}
	return out
}

// policyByHref is the policy of the lab VDC's storage profile at href.
func (m *model) policyByHref(href string) (StoragePolicy, bool) {
	for _, p := range m.policies() {
		if normHref(href) == "/api/vdcStorageProfile/"+spID(m.vdc.id, p.Name) {
			return p, true
		}
	}
	return StoragePolicy{}, false
}

// policyNamed is the policy called name (ok false when there is none).
func (m *model) policyNamed(name string) (StoragePolicy, bool) {
	for _, p := range m.policies() {
		if p.Name == name {
			return p, true
		}
	}
	return StoragePolicy{}, false
}

// handleVdcStorageProfile answers GET /api/vdcStorageProfile/{id}: the
// profile of a VDC the caller sees, with whether it is the VDC's default.
func handleVdcStorageProfile(c *reqCtx) {
	id := c.r.PathValue("id")
	vdcs := append([]*vdc{c.m.vdc}, c.m.extraVdcs...)
	for _, v := range vdcs {
		if !c.canSeeOrg(v.org) {
			continue
		}
		for _, p := range c.m.policies() {
			if spID(v.id, p.Name) != id {
				continue
			}
			enabled := !c.m.disabledSP[p.Name]
			c.xml(http.StatusOK, mimeVdcStorageProfile, "VdcStorageProfile", &types.VdcStorageProfile{
				ID: urn("vdcstorageProfile", id), Name: p.Name, Enabled: &enabled, Units: "MB",
				Limit: c.m.policyLimit(p.Name), StorageUsedMB: c.m.policyUsedMB(p.Name),
				Default: p.Name == c.m.defaultPolicy(),
			})
			return
		}
	}
	c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.vdcstorageProfile:%s\".", id)
}

// datastoreRefs maps the provider vCenter's datastore names to their
// managed object ids.
func (m *model) datastoreRefs() (map[string]string, error) {
	if m.vc == nil {
		return nil, fmt.Errorf("no provider vCenter configured")
	}
	out := map[string]string{}
	err := m.vc.call(func(ctx context.Context, c *vim25.Client) error {
		v, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"Datastore"}, true)
		if err != nil {
			return err
		}
		defer v.Destroy(context.WithoutCancel(ctx))
		var dss []mo.Datastore
		if err := v.Retrieve(ctx, []string{"Datastore"}, []string{"name"}, &dss); err != nil {
			return err
		}
		for _, d := range dss {
			out[d.Name] = d.Self.Value
		}
		return nil
	})
	return out, err
}

// policyDatastores are the managed object ids of p's datastores.
func (m *model) policyDatastores(p StoragePolicy) ([]string, error) {
	refs, err := m.datastoreRefs()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range p.Datastores {
		if r, ok := refs[n]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// vmStorageProfile is the reference of v's storage profile.
func (c *reqCtx) vmStorageProfile(v *vm) *types.Reference {
	name := v.policy
	if name == "" {
		name = c.m.defaultPolicy()
	}
	return &types.Reference{Name: name, HREF: c.abs("/api/vdcStorageProfile/" + spID(c.m.vdc.id, name)), Type: mimeVdcStorageProfile}
}
