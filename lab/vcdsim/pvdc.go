package vcdsim

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
)

// The provider VDC behind the org VDC, as Cloud Director's provider sees
// it: GET /api/admin/vdc/{id} is an AdminVdc with its ProviderVdcReference
// and its own resource pool (ResourcePoolRefs), and GET
// /api/admin/extension/providervdc/{id} a VMWProviderVdc with the resource
// pools and datastores backing it in the provider vCenter
// (ProviderVC.ResourcePool's parent cluster pool, ProviderVC.Datastores).

func (s *Server) pvdcRoutes() {
	s.handle("GET /api/admin/extension/providervdc/{id}", handleProviderVdcExtension, provider)
	s.handle("GET /api/admin/providervdc/{id}", handleProviderVdc, provider)
	s.handle("GET /api/admin/extension/vimServer/{vc}/storageProfiles", handleVimStorageProfiles, provider)
}

const pvdcName = "Provider-PVDC"

func (m *model) pvdcID() string { return nameUUID("pvdc", m.vdc.id) }

func (c *reqCtx) pvdcRef() *types.Reference {
	return &types.Reference{HREF: c.abs("/api/admin/providervdc/" + c.m.pvdcID()), Name: pvdcName,
		Type: "application/vnd.vmware.admin.providervdc+xml", ID: urn("providervdc", c.m.pvdcID())}
}

// backing reads the morefs of the org VDC's resource pool, of the provider
// VDC's pool (the cluster's root pool above it) and of the datastores.
func (m *model) backing() (vdcPool, pvdcPool string, datastores []string, err error) {
	if m.vc == nil || m.vc.cfg.ResourcePool == "" {
		return "", "", nil, fmt.Errorf("no provider vCenter resource pool configured")
	}
	err = m.vc.call(func(ctx context.Context, c *vim25.Client) error {
		v, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"ResourcePool", "Datastore"}, true)
		if err != nil {
			return err
		}
		defer v.Destroy(context.WithoutCancel(ctx))
		var pools []mo.ResourcePool
		if err := v.Retrieve(ctx, []string{"ResourcePool"}, []string{"name", "parent"}, &pools); err != nil {
			return err
		}
		for _, p := range pools {
			if p.Name != m.vc.cfg.ResourcePool {
				continue
			}
			vdcPool = p.Self.Value
			if p.Parent != nil && p.Parent.Type == "ResourcePool" {
				pvdcPool = p.Parent.Value
			}
		}
		var dss []mo.Datastore
		if err := v.Retrieve(ctx, []string{"Datastore"}, []string{"name"}, &dss); err != nil {
			return err
		}
		for _, d := range dss {
			for _, want := range m.vc.cfg.Datastores {
				if d.Name == want {
					datastores = append(datastores, d.Self.Value)
				}
			}
		}
		return nil
	})
	if err == nil && (vdcPool == "" || pvdcPool == "") {
		err = fmt.Errorf("resource pool %s not found in the provider vCenter", m.vc.cfg.ResourcePool)
	}
	return vdcPool, pvdcPool, datastores, err
}

func (c *reqCtx) vimRef(moref, typ string) *types.VimObjectRef {
	return &types.VimObjectRef{
		VimServerRef:  &types.Reference{HREF: c.abs("/api/admin/extension/vimServer/" + c.m.vc.id), Name: c.m.vc.cfg.Name, Type: "application/vnd.vmware.admin.vmwvirtualcenter+xml"},
		MoRef:         moref,
		VimObjectType: typ,
	}
}

func (c *reqCtx) pvdcFromPath() bool {
	if bareID(c.r.PathValue("id")) != c.m.pvdcID() || c.m.vc == nil {
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "provider VDC %s: no such provider VDC", c.r.PathValue("id"))
		return false
	}
	return true
}

func (c *reqCtx) providerVdc() (*types.VMWProviderVdc, bool) {
	_, pvdcPool, dss, err := c.m.backing()
	if err != nil {
		c.fail(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "provider VDC %s: %v", pvdcName, err)
		return nil, false
	}
	ref := c.pvdcRef()
	x := &types.VMWProviderVdc{
		ProviderVdc: types.ProviderVdc{HREF: ref.HREF, ID: ref.ID, Name: pvdcName, Type: "application/vnd.vmware.admin.vmwprovidervdc+xml",
			Status: 1, IsEnabled: addrOf(true)},
		ResourcePoolRefs:                &types.VimObjectRefs{VimObjectRef: []*types.VimObjectRef{c.vimRef(pvdcPool, "RESOURCE_POOL")}},
		HighestSupportedHardwareVersion: "vmx-21",
	}
	for _, d := range dss {
		x.DataStoreRefs.VimObjectRef = append(x.DataStoreRefs.VimObjectRef, c.vimRef(d, "DATASTORE"))
	}
	return x, true
}

func handleProviderVdcExtension(c *reqCtx) {
	if !c.pvdcFromPath() {
		return
	}
	if x, ok := c.providerVdc(); ok {
		c.xml(http.StatusOK, "application/vnd.vmware.admin.vmwprovidervdc+xml", "VMWProviderVdc", x)
	}
}

func handleProviderVdc(c *reqCtx) {
	if !c.pvdcFromPath() {
		return
	}
	if x, ok := c.providerVdc(); ok {
		c.xml(http.StatusOK, "application/vnd.vmware.admin.providervdc+xml", "ProviderVdc", &x.ProviderVdc)
	}
}

// writeVdc answers a VDC: for /api/admin/vdc/{id} an AdminVdc, with what
// the provider sees of it (its provider VDC and resource pool).
func (c *reqCtx) writeVdc(x *types.Vdc) {
	if c.m.vc == nil || !strings.HasPrefix(c.r.URL.Path, "/api/admin/") {
		c.xml(http.StatusOK, mimeVdc, "Vdc", x)
		return
	}
	a := &types.AdminVdc{Xmlns: xmlnsVcloud, Vdc: *x}
	a.Type = "application/vnd.vmware.admin.vdc+xml"
	a.ProviderVdcReference = c.pvdcRef()
	a.VCpuInMhz2 = addrOf(c.m.quota.vcpuMHz)
	if pools, err := c.m.vdcPools(); err == nil {
		a.ResourcePoolRefs = &types.VimObjectRefs{}
		for _, p := range pools {
			a.ResourcePoolRefs.VimObjectRef = append(a.ResourcePoolRefs.VimObjectRef, c.vimRef(p, "RESOURCE_POOL"))
		}
	}
	c.xml(http.StatusOK, a.Type, "AdminVdc", a)
}

func addrOf[T any](v T) *T { return &v }

// AddVDCPool backs the org VDC with one more resource pool of the provider
// vCenter, named name, as a provider administrator adding a cluster to a
// Flex org VDC makes it span both: Cloud Director lists the pool among the
// VDC's ResourcePoolRefs, and an imported VM already in it stays there.
// The VMs Cloud Director creates go on in the VDC's first pool.
func (s *Server) AddVDCPool(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m.morePools = append(s.m.morePools, name)
}

// vdcPools are the morefs of the resource pools backing the org VDC: its
// own (backing) first, then AddVDCPool's.
func (m *model) vdcPools() ([]string, error) {
	own, _, _, err := m.backing()
	if err != nil {
		return nil, err
	}
	out := []string{own}
	if len(m.morePools) == 0 {
		return out, nil
	}
	err = m.vc.call(func(ctx context.Context, c *vim25.Client) error {
		v, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"ResourcePool"}, true)
		if err != nil {
			return err
		}
		defer v.Destroy(context.WithoutCancel(ctx))
		var pools []mo.ResourcePool
		if err := v.Retrieve(ctx, []string{"ResourcePool"}, []string{"name"}, &pools); err != nil {
			return err
		}
		for _, name := range m.morePools {
			i := slices.IndexFunc(pools, func(p mo.ResourcePool) bool { return p.Name == name })
			if i < 0 {
				return fmt.Errorf("resource pool %s not found in the provider vCenter", name)
			}
			out = append(out, pools[i].Self.Value)
		}
		return nil
	})
	return out, err
}

// handleVimStorageProfiles lists the provider vCenter's storage policies
// and the datastores supporting each (storagepolicy.go): by default "*"
// (any datastore) backed by the provider VDC's datastores.
func handleVimStorageProfiles(c *reqCtx) {
	v := c.vcFromPath()
	if v == nil {
		return
	}
	type profile struct {
		Name          string              `xml:"name,attr"`
		MoRef         string              `xml:"MoRef"`
		VimObjectType string              `xml:"VimObjectType"`
		DataStoreRefs types.VimObjectRefs `xml:"DataStoreRefs"`
	}
	type profiles struct {
		HREF     string    `xml:"href,attr"`
		Type     string    `xml:"type,attr"`
		Profiles []profile `xml:"VMWStorageProfile"`
	}
	var ps []profile
	for _, sp := range c.m.policies() {
		dss, err := c.m.policyDatastores(sp)
		if err != nil {
			c.fail(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "storage policies: %v", err)
			return
		}
		p := profile{Name: sp.Name, MoRef: nameUUID("spbm", sp.Name), VimObjectType: "STORAGE_PROFILE"}
		if sp.Name == "*" {
			p.MoRef = "aa6d5a82-1c88-45da-85d3-3d74b91a5bad"
		}
		for _, d := range dss {
			p.DataStoreRefs.VimObjectRef = append(p.DataStoreRefs.VimObjectRef, c.vimRef(d, "DATASTORE"))
		}
		ps = append(ps, p)
	}
	c.xml(http.StatusOK, "application/vnd.vmware.admin.vmwStorageProfiles+xml", "VMWStorageProfiles",
		&profiles{HREF: c.abs(c.r.URL.Path), Type: "application/vnd.vmware.admin.vmwStorageProfiles+xml", Profiles: ps})
}
