package vcd

import (
	"fmt"
	"net/http"
	"strings"

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
func (c *Client) VDCPlacement(vdcH *VDC) (Placement, error) {
	vdc := vdcH.vdc
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

// vmwStorageProfiles is VMWStorageProfilesType (vmwextensions.xsd): the
// vCenter storage policies of a registered vCenter and the datastores that
// support each.
type vmwStorageProfiles struct {
	Profiles []struct {
		Name          string              `xml:"name,attr"`
		MoRef         string              `xml:"MoRef"`
		DataStoreRefs types.VimObjectRefs `xml:"DataStoreRefs"`
	} `xml:"VMWStorageProfile"`
}

// PolicyDatastores lists the datastores (managed object ids) that support
// the vCenter storage policy named policy on vc, as Cloud Director reports
// them (GET /api/admin/extension/vimServer/{id}/storageProfiles).
func (c *Client) PolicyDatastores(vc VirtualCenter, policy string) ([]string, error) {
	href := fmt.Sprintf("%s/admin/extension/vimServer/%s/storageProfiles", c.Client.VCDHREF.String(), vc.UUID)
	var sp vmwStorageProfiles
	if _, err := c.Client.ExecuteRequest(href, http.MethodGet, "", "read storage policies: %s", nil, &sp); err != nil {
		return nil, fmt.Errorf("storage policies of vCenter %s: %w", vc.Name, err)
	}
	var names []string
	for _, p := range sp.Profiles {
		if p.Name == policy {
			var out []string
			for _, r := range p.DataStoreRefs.VimObjectRef {
				out = append(out, r.MoRef)
			}
			return out, nil
		}
		names = append(names, p.Name)
	}
	return nil, notFound("storage policy of vCenter "+vc.Name, policy, names)
}
