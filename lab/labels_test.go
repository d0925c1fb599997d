package lab_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/vsphere"
)

// deviceLabels reads vm's devices' labels (govmomi), by kind.
func deviceLabels(t *testing.T, c *vsphere.Client, vm string) (disks, nics, scsi []string) {
	t.Helper()
	ctx := context.Background()
	ref, err := c.VMByName(ctx, vm)
	if err != nil {
		t.Fatal(err)
	}
	var m mo.VirtualMachine
	if err := object.NewVirtualMachine(c.Client.Client, ref.Ref.Reference()).Properties(ctx, ref.Ref.Reference(), []string{"config.hardware.device"}, &m); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Config.Hardware.Device {
		label := ""
		if info := d.GetVirtualDevice().DeviceInfo; info != nil {
			label = info.GetDescription().Label
		}
		switch d.(type) {
		case *types.VirtualDisk:
			disks = append(disks, label)
		case types.BaseVirtualEthernetCard:
			nics = append(nics, label)
		case types.BaseVirtualSCSIController:
			scsi = append(scsi, label)
		}
	}
	slices.Sort(disks)
	slices.Sort(nics)
	slices.Sort(scsi)
	return disks, nics, scsi
}

// TestDevicesLabelledAsVCenterDoes: the lab's vCenters label disks, NICs
// and SCSI controllers as vCenter does, not vcsim's "disk-202-0", so
// that ferry's messages name a disk as an operator sees it in the vSphere
// Client: a source VM's own, and the replica disks hot-added to the
// receiver appliance, numbered after the disks it has.
func TestDevicesLabelledAsVCenterDoes(t *testing.T) {
	t.Parallel()
	l, c := providerLab(t)
	onprem := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	disks, nics, scsi := deviceLabels(t, onprem, "WinSrv1")
	if want := []string{"Hard disk 1", "Hard disk 2", "Hard disk 3"}; !slices.Equal(disks, want) {
		t.Errorf("WinSrv1's disks are labelled %q, want %q", disks, want)
	}
	if want := []string{"Network adapter 1", "Network adapter 2"}; !slices.Equal(nics, want) {
		t.Errorf("WinSrv1's NICs are labelled %q, want %q", nics, want)
	}
	if want := []string{"SCSI controller 0", "SCSI controller 1"}; !slices.Equal(scsi, want) {
		t.Errorf("WinSrv1's SCSI controllers are labelled %q, want %q", scsi, want)
	}
	before, _, _ := deviceLabels(t, c, lab.ApplianceVM)
	for i := range 2 {
		hotAdd(t, l, c, newReplica(t, c, fmt.Sprintf("WebApp%d", i+1), 1<<20))
	}
	after, _, _ := deviceLabels(t, c, lab.ApplianceVM)
	want := slices.Clone(before)
	for i := range 2 {
		want = append(want, fmt.Sprintf("Hard disk %d", len(before)+i+1))
	}
	slices.Sort(want)
	if !slices.Equal(after, want) {
		t.Errorf("the appliance's disks after two hot-adds are labelled %q, want %q", after, want)
	}
}
