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

// NetworkPoolName is the provider VDC's network pool: NSX-T's overlay
// transport zone (Geneve), from which vCD backs the org VDCs' networks.
const NetworkPoolName = "NSX-T Overlay 1"

// networkPoolRecords is the networkPool query (provider only).
func (c *reqCtx) networkPoolRecords() ([]queryRecord, bool) {
	if !c.sess.provider {
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Query type networkPool is for the provider only")
		return nil, false
	}
	id := nameUUID("networkpool", NetworkPoolName)
	rec := &types.QueryResultNetworkPoolRecordType{HREF: c.abs("/api/admin/extension/networkPool/" + id), Name: NetworkPoolName}
	return []queryRecord{{rec: rec, fields: map[string]string{"name": rec.Name, "href": rec.HREF, "id": id}}}, true
}

// pvdcStorageProfileRecords is the providerVdcStorageProfile query
// (provider only): the provider VDC's storage policies (by default "*",
// any datastore of the provider VDC), which the org VDC's profiles come
// from (storagepolicy.go).
func (c *reqCtx) pvdcStorageProfileRecords() ([]queryRecord, bool) {
	if !c.sess.provider {
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Query type providerVdcStorageProfile is for the provider only")
		return nil, false
	}
	var out []queryRecord
	for _, p := range c.m.policies() {
		id := nameUUID("pvdcStorageProfile", c.m.pvdcID(), p.Name)
		pvdc := c.pvdcRef().HREF
		rec := &types.QueryResultProviderVdcStorageProfileRecordType{HREF: c.abs("/api/admin/pvdcStorageProfile/" + id), Name: p.Name,
			ProviderVdcHREF: pvdc, IsEnabled: true}
		if c.m.vc != nil {
			rec.VcHREF = c.abs("/api/admin/extension/vimServer/" + c.m.vc.id)
		}
		out = append(out, queryRecord{rec: rec, fields: map[string]string{"name": rec.Name, "href": rec.HREF, "id": id, "providerVdc": pvdc, "isEnabled": "true"}})
	}
	return out, true
}
