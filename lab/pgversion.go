package lab

import (
	"strconv"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// checkPortgroupVersions makes a distributed port group's configVersion
// work as vCenter's does (vcsim ignores it): each reconfiguration must
// carry the version the caller read (DVPortgroupConfigSpec.configVersion:
// "should be set to the same value as the ConfigInfo.configVersion"), is
// refused with ConcurrentAccess otherwise, and moves the version on. A
// spec built from a configuration read before someone else changed the
// port group would otherwise put that change back without a word.
func checkPortgroupVersions(reg *simulator.Registry) {
	prev := reg.Handler
	reg.Handler = func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
		if req, ok := method.Body.(*types.ReconfigureDVPortgroup_Task); ok {
			if pg, ok := ctx.Map.Get(method.This).(*simulator.DistributedVirtualPortgroup); ok {
				var fault types.BaseMethodFault
				ctx.WithLock(pg, func() {
					cur := pg.Config.ConfigVersion
					if req.Spec.ConfigVersion != cur {
						fault = &types.ConcurrentAccess{}
						return
					}
					n, _ := strconv.Atoi(cur)
					pg.Config.ConfigVersion = strconv.Itoa(n + 1)
				})
				if fault != nil {
					return nil, fault
				}
			}
		}
		if prev != nil {
			return prev(ctx, method)
		}
		return nil, nil
	}
}
