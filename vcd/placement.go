package vcd

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// Placement is where an org VDC's VMs live in the provider vCenter, as
// Cloud Director (the provider) reports it: the org VDC's own resource
// pools, its provider VDC's resource pools, and the provider VDC's
// datastores (managed object ids). A VM imported from outside these is
// relocated by the import (its disks copied when its datastore is not one
// of them).
type Placement struct {
	ProviderVDC   string
	VDCPools      []string
	ProviderPools []string
	Datastores    []string
	// HighestHWVersion is the provider VDC's highest supported virtual
	// hardware version ("vmx-21"), "" when it names none.
	HighestHWVersion string
}

// VDCPlacement reads the placement of vdc (provider only).
func (c *Client) VDCPlacement(vdc *govcd.Vdc) (Placement, error) {
	var p Placement
	href := strings.Replace(vdc.Vdc.HREF, "/api/vdc/", "/api/admin/vdc/", 1)
	var admin types.AdminVdc
	if _, err := c.Client.ExecuteRequest(href, http.MethodGet, "", "read admin VDC: %s", nil, &admin); err != nil {
		return p, fmt.Errorf("VDC %s as the provider sees it: %w", vdc.Vdc.Name, err)
	}
	if admin.ProviderVdcReference == nil || admin.ProviderVdcReference.HREF == "" {
		return p, fmt.Errorf("VDC %s: Cloud Director names no provider VDC for it", vdc.Vdc.Name)
	}
	if admin.ResourcePoolRefs != nil {
		for _, r := range admin.ResourcePoolRefs.VimObjectRef {
			p.VDCPools = append(p.VDCPools, r.MoRef)
		}
	}
	pvdc, err := c.GetProviderVdcExtendedByHref(admin.ProviderVdcReference.HREF)
	if err != nil {
		return p, fmt.Errorf("provider VDC of %s: %w", vdc.Vdc.Name, err)
	}
	p.ProviderVDC = pvdc.VMWProviderVdc.Name
	p.HighestHWVersion = pvdc.VMWProviderVdc.HighestSupportedHardwareVersion
	if pvdc.VMWProviderVdc.ResourcePoolRefs != nil {
		for _, r := range pvdc.VMWProviderVdc.ResourcePoolRefs.VimObjectRef {
			p.ProviderPools = append(p.ProviderPools, r.MoRef)
		}
	}
	for _, r := range pvdc.VMWProviderVdc.DataStoreRefs.VimObjectRef {
		p.Datastores = append(p.Datastores, r.MoRef)
	}
	return p, nil
}
