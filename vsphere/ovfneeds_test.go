package vsphere

import (
	"strings"
	"testing"

	"github.com/vmware/govmomi/ovf"
)

// TestOVFNeeds: what an OVF's VM takes on its datastore, deployed thin:
// its disks' data (populatedSize, else the uploaded file), what they may
// grow to (their capacity, in the units the OVF gives), and its swap file
// (its memory less its reservation; the largest deployment option's).
func TestOVFNeeds(t *testing.T) {
	const desc = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>
    <File ovf:href="edge-disk1.vmdk" ovf:id="file1" ovf:size="3221225472"/>
    <File ovf:href="edge-disk2.vmdk" ovf:id="file2" ovf:size="1048576"/>
  </References>
  <DiskSection>
    <Info>disks</Info>
    <Disk ovf:capacity="200" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:populatedSize="5368709120"/>
    <Disk ovf:capacity="1024" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk2" ovf:fileRef="file2"/>
  </DiskSection>
  <VirtualSystem ovf:id="edge">
    <Info>edge</Info>
    <VirtualHardwareSection>
      <Info>hw</Info>
      <Item ovf:configuration="medium">
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:Reservation>2048</rasd:Reservation>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>8192</rasd:VirtualQuantity>
      </Item>
      <Item ovf:configuration="small">
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>4096</rasd:VirtualQuantity>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>`
	e, err := ovf.Unmarshal(strings.NewReader(desc))
	if err != nil {
		t.Fatal(err)
	}
	want := OVFRoom{Disks: 200<<30 + 1<<30, Populated: 5<<30 + 1<<20, Swap: 6 << 30}
	if got := OVFNeeds(e); got != want {
		t.Errorf("OVFNeeds: %+v, want %+v", got, want)
	}
}
