package vcdsim

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	vim "github.com/vmware/govmomi/vim25/types"
)

// Importable distributed port groups
// (/cloudapi/1.0.0/virtualCenters/resources/importableDvpgs, provider
// only, filter orgVdcId required) and org VDC networks of type OPAQUE backed
// by one (backingNetworkType DV_PORTGROUP). As in vCD, the list holds the
// port groups of the provider vCenter's distributed switches that are
// neither uplink port groups nor already the backing of an org VDC
// network; the lab's org VDC networks are NSX-T segments, so every other
// port group of the provider DVS is importable. An imported NSX-T segment
// (OPAQUE without DV_PORTGROUP) is refused: the lab's NSX-T has no segment
// left to import (importable.go).

const backingDvpg = "DV_PORTGROUP"

func (s *Server) dvpgRoutes(coll func(method, path string, h handlerFunc, opts ...routeOpt)) {
	coll("GET", "virtualCenters/resources/importableDvpgs", handleImportableDvpgs, provider)
}

// providerDvpgs reads the provider vCenter's port groups that are not
// uplinks, with their switch and VLAN.
func (m *model) providerDvpgs() ([]*types.VcenterImportableDvpg, error) {
	if m.vc == nil {
		return nil, fmt.Errorf("no provider vCenter is registered")
	}
	var out []*types.VcenterImportableDvpg
	err := m.vc.call(func(ctx context.Context, c *vim25.Client) error {
		v, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"DistributedVirtualSwitch", "DistributedVirtualPortgroup"}, true)
		if err != nil {
			return err
		}
		defer v.Destroy(context.WithoutCancel(ctx))
		var switches []mo.DistributedVirtualSwitch
		if err := v.Retrieve(ctx, []string{"DistributedVirtualSwitch"}, []string{"name", "config"}, &switches); err != nil {
			return err
		}
		names, uplinks := map[string]string{}, map[string]bool{}
		for _, s := range switches {
			names[s.Self.Value] = s.Name
			if cfg, ok := s.Config.(*vim.VMwareDVSConfigInfo); ok {
				for _, u := range cfg.UplinkPortgroup {
					uplinks[u.Value] = true
				}
			}
		}
		var pgs []mo.DistributedVirtualPortgroup
		if err := v.Retrieve(ctx, []string{"DistributedVirtualPortgroup"}, []string{"name", "config"}, &pgs); err != nil {
			return err
		}
		vc := &types.OpenApiReference{Name: m.vc.cfg.Name, ID: urn("vimserver", m.vc.id)}
		for _, pg := range pgs {
			if pg.Config.DistributedVirtualSwitch == nil {
				continue
			}
			sw := pg.Config.DistributedVirtualSwitch.Value
			// vSphere flags the uplink port group (config.uplink, the
			// switch's uplinkPortgroup); vcsim sets neither, so its name
			// "<switch>-DVUplinks-<n>", vSphere's own, also marks it
			if uplinks[pg.Self.Value] || (pg.Config.Uplink != nil && *pg.Config.Uplink) || strings.HasPrefix(pg.Name, names[sw]+"-DVUplinks") {
				continue
			}
			d := &types.VcenterImportableDvpg{BackingRef: &types.OpenApiReference{Name: pg.Name, ID: pg.Self.Value}, VirtualCenter: vc, Vlan: "0"}
			d.DvSwitch.BackingRef = &types.OpenApiReference{Name: names[sw], ID: sw}
			d.DvSwitch.VirtualCenter = vc
			if pc, ok := pg.Config.DefaultPortConfig.(*vim.VMwareDVSPortSetting); ok {
				if vlan, ok := pc.Vlan.(*vim.VmwareDistributedVirtualSwitchVlanIdSpec); ok {
					d.Vlan = fmt.Sprint(vlan.VlanId)
				}
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// importableDvpgs are the port groups no org VDC network uses (except).
func (m *model) importableDvpgs(except *network) ([]*types.VcenterImportableDvpg, error) {
	all, err := m.providerDvpgs()
	if err != nil {
		return nil, err
	}
	out := all[:0]
next:
	for _, d := range all {
		for _, n := range m.networks {
			if n != except && n.BackingNetworkType == backingDvpg && n.BackingNetworkId == d.BackingRef.ID {
				continue next
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func handleImportableDvpgs(c *reqCtx) {
	// a port group backs a network of an org VDC, not of a VDC group
	if !c.vdcScope("importableDvpgs", false) {
		return
	}
	ds, err := c.m.importableDvpgs(nil)
	if err != nil {
		c.fail(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "importable port groups: %v", err)
		return
	}
	var items []any
	for _, d := range ds {
		items = append(items, d)
	}
	c.writePage(items, scopeFields)
}

// checkImportedBacking validates the backing of an OPAQUE (imported)
// network: an importable port group, which only the provider may import,
// and which an update cannot change.
func (c *reqCtx) checkImportedBacking(in *types.OpenApiOrgVdcNetwork, self *network) bool {
	if in.BackingNetworkType != backingDvpg {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "backingNetworkId %q: no importable NSX-T segment of that id (the NSX-T manager has none left); an imported network needs an unused NSX-T segment or backingNetworkType DV_PORTGROUP with an importable port group", in.BackingNetworkId)
		return false
	}
	if in.OrgVdc == nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "ownerRef: a network backed by a distributed port group belongs to an org VDC, not a VDC group")
		return false
	}
	if !c.sess.provider {
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Importing a distributed port group as an org VDC network needs the right \"Organization vDC Distributed Network: Import\" (provider)")
		return false
	}
	if self != nil {
		if self.BackingNetworkId != in.BackingNetworkId || self.BackingNetworkType != in.BackingNetworkType {
			c.fail(http.StatusBadRequest, "BAD_REQUEST", "backingNetworkId: the backing of imported network %s cannot change", self.Name)
			return false
		}
		return true
	}
	ds, err := c.m.importableDvpgs(self)
	if err != nil {
		c.fail(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "importable port groups: %v", err)
		return false
	}
	for _, d := range ds {
		if d.BackingRef.ID == in.BackingNetworkId {
			return true
		}
	}
	c.fail(http.StatusBadRequest, "BAD_REQUEST", "backingNetworkId %q: not an importable distributed port group of vCenter %s (see virtualCenters/resources/importableDvpgs)", in.BackingNetworkId, c.m.vc.cfg.Name)
	return false
}
