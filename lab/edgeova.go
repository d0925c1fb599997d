package lab

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vmware/govmomi/vmdk"
)

// The lab's L2VPN client appliance: an OVA with the descriptor shape of the
// vendor's NSX autonomous edge (the NSX Edge OVA deployed with
// is_autonomous_edge=True), so that ferry's mapping of the vendor's networks
// and properties is exercised. Where each fact comes from (and what is not
// verified: docs/real-world.md, "NSX autonomous edge"):
//
//   - Networks "Network 0" .. "Network 3" and the properties nsx_passwd_0,
//     nsx_cli_passwd_0 (both required to install), nsx_hostname, nsx_ip_0,
//     nsx_netmask_0 (dotted), nsx_gateway_0, nsx_dns1_0, nsx_domain_0,
//     nsx_ntp_0, nsx_isSSHEnabled, nsx_allowSSHRootLogin, is_autonomous_edge
//     (True/False, default False): Broadcom techdocs, NSX (VCF 9.0) "Install
//     NSX Edge on ESX Using the Command-Line OVF Tool". For the autonomous
//     edge, Network 0 is management, Network 1 the uplink, Network 2 the
//     trunk (L2 extension), Network 3 HA ("Add an Autonomous Edge as an L2
//     VPN Client", same documentation).
//   - The passwords are password properties with a minimum length: NSX
//     appliance passwords need at least 12 characters (NSX Edge installation
//     requirements); the lab requires 12.
//   - The labels, categories and the order of the properties are the lab's;
//     the vendor's External Port and HA properties (their keys are not in a
//     public source) are left out.
//
// The disk is an empty stream-optimized VMDK: the lab "boots" the appliance
// by watching the on-prem vCenter (edgevm.go), not by running the image.

// EdgeOVAName is the file name of the lab's autonomous edge OVA in the lab
// directory.
const EdgeOVAName = "nsx-autonomous-edge.ova"

const edgeOVADisk = "nsx-autonomous-edge-disk1.vmdk"

var edgeOVF = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>
    <File ovf:id="file1" ovf:href="` + edgeOVADisk + `"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="Network 0"><Description>Management</Description></Network>
    <Network ovf:name="Network 1"><Description>Uplink (external)</Description></Network>
    <Network ovf:name="Network 2"><Description>Trunk (L2 extension)</Description></Network>
    <Network ovf:name="Network 3"><Description>HA</Description></Network>
  </NetworkSection>
  <VirtualSystem ovf:id="nsx-edge">
    <Info>NSX Edge (lab model of the autonomous edge OVA)</Info>
    <Name>nsx-edge</Name>
    <ProductSection>
      <Info>NSX Edge settings</Info>
      <Product>NSX Edge</Product>
      <Vendor>VMware, Inc.</Vendor>
      <Version>lab</Version>
      <Category>Application</Category>
      <Property ovf:key="nsx_passwd_0" ovf:type="string" ovf:password="true" ovf:userConfigurable="true" vmw:qualifiers="MinLen(12)">
        <Label>System Root User Password</Label>
      </Property>
      <Property ovf:key="nsx_cli_passwd_0" ovf:type="string" ovf:password="true" ovf:userConfigurable="true" vmw:qualifiers="MinLen(12)">
        <Label>CLI "admin" User Password</Label>
      </Property>
      <Category>Network Properties</Category>
      <Property ovf:key="nsx_hostname" ovf:type="string" ovf:userConfigurable="true" ovf:value="">
        <Label>Hostname</Label>
      </Property>
      <Property ovf:key="nsx_ip_0" ovf:type="string" ovf:userConfigurable="true" ovf:value="">
        <Label>Management Network IPv4 Address</Label>
      </Property>
      <Property ovf:key="nsx_netmask_0" ovf:type="string" ovf:userConfigurable="true" ovf:value="">
        <Label>Management Network Netmask</Label>
      </Property>
      <Property ovf:key="nsx_gateway_0" ovf:type="string" ovf:userConfigurable="true" ovf:value="">
        <Label>Default IPv4 Gateway</Label>
      </Property>
      <Category>DNS</Category>
      <Property ovf:key="nsx_dns1_0" ovf:type="string" ovf:userConfigurable="true" ovf:value="">
        <Label>DNS Server list</Label>
      </Property>
      <Property ovf:key="nsx_domain_0" ovf:type="string" ovf:userConfigurable="true" ovf:value="">
        <Label>Domain Search List</Label>
      </Property>
      <Category>Services Configuration</Category>
      <Property ovf:key="nsx_ntp_0" ovf:type="string" ovf:userConfigurable="true" ovf:value="">
        <Label>NTP Server List</Label>
      </Property>
      <Property ovf:key="nsx_isSSHEnabled" ovf:type="boolean" ovf:userConfigurable="true" ovf:value="False">
        <Label>Enable SSH</Label>
      </Property>
      <Property ovf:key="nsx_allowSSHRootLogin" ovf:type="boolean" ovf:userConfigurable="true" ovf:value="False">
        <Label>Allow root SSH logins</Label>
      </Property>
      <Category>Autonomous Edge</Category>
      <Property ovf:key="is_autonomous_edge" ovf:type="boolean" ovf:userConfigurable="true" ovf:value="False">
        <Label>Is Autonomous Edge</Label>
      </Property>
    </ProductSection>
    <OperatingSystemSection ovf:id="96" vmw:osType="ubuntu64Guest">
      <Info>The guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>nsx-edge</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:ElementName>2 virtual CPUs</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:ElementName>4096 MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>4096</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>` + edgeNICs + `
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`

var edgeNICs = func() string {
	var s string
	for i := range 4 {
		s += fmt.Sprintf(`
      <Item>
        <rasd:AddressOnParent>%d</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>Network %d</rasd:Connection>
        <rasd:ElementName>Network adapter %d</rasd:ElementName>
        <rasd:InstanceID>%d</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>`, 7+i, i, i+1, 5+i)
	}
	return s
}()

// EdgeOVF is the descriptor of the lab's autonomous edge OVA (for tests
// that vary it).
func EdgeOVF() string { return edgeOVF }

// WriteEdgeOVA writes an OVA with descriptor ovf (EdgeOVF, or a variant)
// and an empty disk to path.
func WriteEdgeOVA(path, ovf string) error {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".edge-ova-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	disk := filepath.Join(dir, edgeOVADisk)
	w, err := vmdk.NewStreamOptimizedWriter(disk, 1<<20)
	if err != nil {
		return err
	}
	if err := w.Write(io.LimitReader(zeroReader{}, 1<<20)); err != nil {
		_ = w.Abort()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data))}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	diskData, err := os.ReadFile(disk)
	if err == nil {
		err = add("nsx-autonomous-edge.ovf", []byte(ovf))
	}
	if err == nil {
		err = add(edgeOVADisk, diskData)
	}
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("lab edge OVA: %w", err)
	}
	return nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
