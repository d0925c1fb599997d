package vcdsim

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// queryRecord is one query result with the fields it can be filtered on.
type queryRecord struct {
	fields map[string]string
	rec    any
}

// parseRawQuery splits the query by hand: the client sends filters
// unencoded (filter=org==https%3A...;name==x), and url.ParseQuery drops
// pairs that contain ';'.
func parseRawQuery(raw string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		out[k] = v
	}
	return out
}

// parseQueryFilter turns "a==x;b==y" into terms, unescaping each value.
// Parenthesised or OR (",") expressions are not supported and ignored.
func parseQueryFilter(f string) map[string]string {
	terms := map[string]string{}
	if uf, err := url.QueryUnescape(f); err == nil && !strings.Contains(f, "==") {
		f = uf // a fully encoded filter
	}
	for _, t := range strings.Split(f, ";") {
		k, v, ok := strings.Cut(strings.Trim(t, "()"), "==")
		if !ok {
			continue
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		terms[k] = v
	}
	return terms
}

// normHref compares hrefs regardless of host and of the /api/admin prefix.
func normHref(h string) string {
	if u, err := url.Parse(h); err == nil && u.Path != "" {
		h = u.Path
	}
	return strings.Replace(h, "/api/admin/", "/api/", 1)
}

var hrefFields = map[string]bool{"providerVdc": true, "org": true, "vdc": true, "container": true, "href": true, "network": true, "object": true, "catalog": true}

func (q queryRecord) matches(terms map[string]string) bool {
	for k, want := range terms {
		got, ok := q.fields[k]
		if !ok {
			continue
		}
		if hrefFields[k] {
			got, want = normHref(got), normHref(want)
		}
		if k == "id" {
			got, want = bareID(got), bareID(want)
		}
		hit := false
		for _, alt := range strings.Split(want, ","+k+"==") { // FIQL OR: k==a,k==b
			hit = hit || matchFIQL(got, alt)
		}
		if !hit {
			return false
		}
	}
	return true
}

func handleQuery(c *reqCtx) {
	params := parseRawQuery(c.r.URL.RawQuery)
	qtype := params["type"]
	terms := parseQueryFilter(params["filter"])
	admin := strings.HasPrefix(qtype, "admin")
	if admin && !c.sess.provider {
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Query type %s is for the provider only", qtype)
		return
	}
	var recs []queryRecord
	switch qtype {
	case "orgVdc", "adminOrgVdc":
		recs = c.vdcRecords()
	case "vApp", "adminVApp":
		recs = c.vappRecords()
	case "vm", "adminVM":
		recs = append(c.vmRecords(), c.templateVMRecords()...)
	case "edgeGateway":
		recs = c.edgeRecords()
	case "orgVdcNetwork":
		recs = c.networkRecords()
	case "organization":
		recs = c.orgRecords()
	case "catalog", "adminCatalog":
		recs = c.catalogRecords()
	case "catalogItem", "adminCatalogItem":
		recs = c.catalogItemRecords()
	case "vAppTemplate", "adminVAppTemplate":
		recs = c.vappTemplateRecords()
	case "task", "adminTask":
		recs = c.taskRecords()
	case "providerVdc":
		var ok bool
		if recs, ok = c.pvdcRecords(); !ok {
			return
		}
	case "networkPool": // pvdcquery.go
		var ok bool
		if recs, ok = c.networkPoolRecords(); !ok {
			return
		}
	case "providerVdcStorageProfile": // pvdcquery.go
		var ok bool
		if recs, ok = c.pvdcStorageProfileRecords(); !ok {
			return
		}
	case "vAppNetwork", "adminVAppNetwork":
		recs = c.vappNetworkRecords()
	case "media", "adminMedia":
		// the lab's catalog holds no media: a valid, empty answer
	case "nsxTManager":
		if !c.sess.provider {
			c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "Query type %s is for the provider only", qtype)
			return
		}
		recs = c.nsxtManagerRecords()
	default:
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "Query type %q is not supported by this simulator", qtype)
		return
	}
	var hits []queryRecord
	for _, r := range recs {
		if r.matches(terms) {
			hits = append(hits, r)
		}
	}
	size, _ := strconv.Atoi(params["pageSize"])
	if size <= 0 {
		size = 25
	}
	size = min(size, maxPageSize)
	pg, _ := strconv.Atoi(params["page"])
	if pg <= 0 {
		pg = 1
	}
	lo := min((pg-1)*size, len(hits))
	hi := min(lo+size, len(hits))
	res := &types.QueryResultRecordsType{
		HREF: c.abs(c.r.URL.RequestURI()), Type: "application/vnd.vmware.vcloud.query.records+xml",
		Name: qtype, Page: pg, PageSize: size, Total: float64(len(hits)),
	}
	for _, h := range hits[lo:hi] {
		switch r := h.rec.(type) {
		case *types.QueryResultOrgVdcRecordType:
			if admin {
				res.OrgVdcAdminRecord = append(res.OrgVdcAdminRecord, r)
			} else {
				res.OrgVdcRecord = append(res.OrgVdcRecord, r)
			}
		case *types.QueryResultVAppRecordType:
			if admin {
				res.AdminVAppRecord = append(res.AdminVAppRecord, r)
			} else {
				res.VAppRecord = append(res.VAppRecord, r)
			}
		case *types.QueryResultVMRecordType:
			if admin {
				res.AdminVMRecord = append(res.AdminVMRecord, r)
			} else {
				res.VMRecord = append(res.VMRecord, r)
			}
		case *types.QueryResultEdgeGatewayRecordType:
			res.EdgeGatewayRecord = append(res.EdgeGatewayRecord, r)
		case *types.QueryResultOrgVdcNetworkRecordType:
			res.OrgVdcNetworkRecord = append(res.OrgVdcNetworkRecord, r)
		case *types.QueryResultOrgRecordType:
			res.OrgRecord = append(res.OrgRecord, r)
		case *types.QueryResultNsxtManagerRecordType:
			res.NsxtManagerRecord = append(res.NsxtManagerRecord, r)
		case *types.CatalogRecord:
			if admin {
				res.AdminCatalogRecord = append(res.AdminCatalogRecord, r)
			} else {
				res.CatalogRecord = append(res.CatalogRecord, r)
			}
		case *types.QueryResultCatalogItemType:
			if admin {
				res.AdminCatalogItemRecord = append(res.AdminCatalogItemRecord, r)
			} else {
				res.CatalogItemRecord = append(res.CatalogItemRecord, r)
			}
		case *types.QueryResultVappTemplateType:
			if admin {
				res.AdminVappTemplateRecord = append(res.AdminVappTemplateRecord, r)
			} else {
				res.VappTemplateRecord = append(res.VappTemplateRecord, r)
			}
		case *types.QueryResultVMWProviderVdcRecordType:
			res.VMWProviderVdcRecord = append(res.VMWProviderVdcRecord, r)
		case *types.QueryResultNetworkPoolRecordType:
			res.NetworkPoolRecord = append(res.NetworkPoolRecord, r)
		case *types.QueryResultProviderVdcStorageProfileRecordType:
			res.ProviderVdcStorageProfileRecord = append(res.ProviderVdcStorageProfileRecord, r)
		case *types.QueryResultVappNetworkRecordType:
			if admin {
				res.AdminVappNetworkRecord = append(res.AdminVappNetworkRecord, r)
			} else {
				res.VappNetworkRecord = append(res.VappNetworkRecord, r)
			}
		case *types.QueryResultTaskRecordType:
			if admin {
				res.AdminTaskRecord = append(res.AdminTaskRecord, r)
			} else {
				res.TaskRecord = append(res.TaskRecord, r)
			}
		}
	}
	c.xml(http.StatusOK, "application/vnd.vmware.vcloud.query.records+xml", "QueryResultRecords", res)
}

func (c *reqCtx) vdcRecords() []queryRecord {
	var out []queryRecord
	for _, v := range append([]*vdc{c.m.vdc}, c.m.extraVdcs...) { // orgvdcs.go
		if !c.canSeeOrg(v.org) {
			continue
		}
		href := c.abs(v.href())
		if c.sess.provider {
			href = c.abs("/api/admin/vdc/" + v.id)
		}
		rec := &types.QueryResultOrgVdcRecordType{
			HREF: href, Name: v.name, OrgName: v.org.name, Org: c.abs(v.org.href()),
			IsEnabled: "true", AllocationModel: "Flex", Status: "READY", IsBusy: "false",
			NetworkProviderType: "NSX_T", ProviderVdcName: pvdcName, VcName: "provider-vc",
		}
		out = append(out, queryRecord{rec: rec, fields: map[string]string{
			"name": v.name, "org": rec.Org, "orgName": v.org.name, "id": v.id, "href": href, "isEnabled": "true",
		}})
	}
	return out
}

func (c *reqCtx) edgeRecords() []queryRecord {
	var out []queryRecord
	for _, e := range c.visibleEdges() {
		rec := &types.QueryResultEdgeGatewayRecordType{
			HREF: c.abs("/api/admin/edgeGateway/" + bareID(e.ID)), Type: "application/vnd.vmware.admin.edgeGateway+xml",
			Name: e.Name, Vdc: c.abs(c.m.vdc.href()), OrgVdcName: c.m.vdc.name, NumberOfExtNetworks: 1, GatewayStatus: "READY", HaStatus: "UP",
		}
		out = append(out, queryRecord{rec: rec, fields: map[string]string{"name": e.Name, "vdc": rec.Vdc, "orgVdcName": rec.OrgVdcName, "id": e.ID}})
	}
	return out
}

func (c *reqCtx) networkRecords() []queryRecord {
	var out []queryRecord
	for _, n := range c.visibleNetworks() {
		rec := &types.QueryResultOrgVdcNetworkRecordType{
			HREF: c.abs(n.adminHref()), Id: n.ID, Type: "application/vnd.vmware.vcloud.orgNetwork+xml", Name: n.Name,
			Vdc: c.abs(c.m.vdc.href()), VdcName: c.m.vdc.name, LinkType: 2,
		}
		if len(n.Subnets.Values) > 0 {
			rec.DefaultGateway = n.Subnets.Values[0].Gateway
			rec.Netmask = prefixMask(n.Subnets.Values[0].PrefixLength)
		}
		if n.Connection != nil {
			rec.LinkType, rec.ConnectedTo = 1, n.Connection.RouterRef.Name
		}
		out = append(out, queryRecord{rec: rec, fields: map[string]string{"name": n.Name, "vdc": rec.Vdc, "vdcName": rec.VdcName, "id": n.ID}})
	}
	return out
}

func prefixMask(bits int) string {
	var m uint32 = ^uint32(0) << (32 - bits)
	return strconv.Itoa(int(m>>24)) + "." + strconv.Itoa(int(m>>16&255)) + "." + strconv.Itoa(int(m>>8&255)) + "." + strconv.Itoa(int(m&255))
}

// NsxtManagerName is the NSX-T manager that backs the lab's VDC and edge
// gateway.
const NsxtManagerName = "nsxt-manager"

func (c *reqCtx) nsxtManagerRecords() []queryRecord {
	id := nameUUID("nsxtManager", NsxtManagerName)
	rec := &types.QueryResultNsxtManagerRecordType{
		Name: NsxtManagerName, HREF: c.abs("/api/admin/extension/nsxtManagers/" + id), URL: "https://" + NsxtManagerName + ".lab.invalid",
	}
	return []queryRecord{{rec: rec, fields: map[string]string{"name": rec.Name, "href": rec.HREF, "id": id}}}
}

// handleNsxtManager is GET /api/admin/extension/nsxtManagers/{id} (JSON,
// as the client asks for it): the manager named by the nsxTManager query.
func handleNsxtManager(c *reqCtx) {
	id := nameUUID("nsxtManager", NsxtManagerName)
	if bareID(c.r.PathValue("id")) != id {
		c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", "No access to entity \"com.vmware.vcloud.entity.nsxtmanager:%s\".", c.r.PathValue("id"))
		return
	}
	c.json(http.StatusOK, &types.NsxtManager{
		Href: c.abs("/api/admin/extension/nsxtManagers/" + id), Type: "application/vnd.vmware.admin.nsxTmanager+json",
		ID: urn("nsxtmanager", id), Name: NsxtManagerName, Description: "NSX-T manager of the lab",
		Username: "admin", URL: "https://" + NsxtManagerName + ".lab.invalid", DeploymentType: "ON_PREM",
	})
}
