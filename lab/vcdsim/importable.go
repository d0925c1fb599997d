package vcdsim

import (
	"net/http"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// handleImportableSwitches is GET /network/orgvdcnetworks/importableswitches/
// (JSON): the NSX-T segments of the VDC's NSX-T manager that no org VDC
// network uses yet, for an org VDC network of type OPAQUE (imported). One
// of the filters orgVdc or vdcGroup (plain UUIDs) is required. The lab's
// NSX-T has no segments besides those backing its org VDC networks, so the
// list is empty for its VDC; an unknown VDC is refused.
func handleImportableSwitches(c *reqCtx) {
	q := c.r.URL.Query()
	vdcID, group := q.Get("orgVdc"), q.Get("vdcGroup")
	switch {
	case vdcID == "" && group == "":
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "one of the filters orgVdc or vdcGroup is required")
		return
	case group != "":
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.vdcGroup:%s\".", group)
		return
	case bareID(vdcID) != c.m.vdc.id || !c.canSeeOrg(c.m.vdc.org):
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.vdc:%s\".", vdcID)
		return
	}
	c.json(http.StatusOK, []*types.NsxtImportableSwitch{})
}
