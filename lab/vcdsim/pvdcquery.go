package vcdsim

import (
	"net/http"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// pvdcRecords is the providerVdc query (provider only): the provider VDC
// that backs the lab's org VDC (pvdc.go).
func (c *reqCtx) pvdcRecords() ([]queryRecord, bool) {
	if !c.sess.provider {
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Query type providerVdc is for the provider only")
		return nil, false
	}
	ref := c.pvdcRef()
	rec := &types.QueryResultVMWProviderVdcRecordType{HREF: ref.HREF, Name: ref.Name, Status: "READY", IsEnabled: true}
	if c.m.vc != nil {
		rec.NumberOfDatastores = len(c.m.vc.cfg.Datastores)
	}
	return []queryRecord{{rec: rec, fields: map[string]string{"name": ref.Name, "href": ref.HREF, "id": c.m.pvdcID(), "isEnabled": "true"}}}, true
}
