package lab_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
)

// TestReceiverApplianceManyReplicas: the receiver appliance takes the
// replica disks of more VMs than one SCSI controller holds (15 disks), one
// VM at a time as step 6 hot-adds them: another paravirtual controller is
// hot-added when one is full, no disk gets a unit beyond 15 or the
// controller's own (7), and every disk shows in the appliance by UUID.
// (It used to crash with an index out of range past the first controller.)
func TestReceiverApplianceManyReplicas(t *testing.T) {
	t.Parallel()
	l, c := providerLab(t)
	ctx := context.Background()
	const n = 34
	for i := range n {
		_, dev := hotAdd(t, l, c, newReplica(t, c, fmt.Sprintf("WebApp%d", i+1), 1<<20))
		if _, err := os.Stat(dev); err != nil {
			t.Fatalf("replica %d in the appliance: %v", i+1, err)
		}
	}
	ref, err := c.VMByName(ctx, lab.ApplianceVM)
	if err != nil {
		t.Fatal(err)
	}
	var m mo.VirtualMachine
	if err := object.NewVirtualMachine(c.Client.Client, ref.Ref.Reference()).Properties(ctx, ref.Ref.Reference(), []string{"config.hardware.device"}, &m); err != nil {
		t.Fatal(err)
	}
	devices := object.VirtualDeviceList(m.Config.Hardware.Device)
	ctrls := map[int32]bool{}
	for _, d := range devices {
		if sc, ok := d.(types.BaseVirtualSCSIController); ok {
			ctrls[sc.GetVirtualSCSIController().Key] = true
		}
	}
	slots := map[string]bool{}
	disks := 0
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		v := d.GetVirtualDevice()
		if !ctrls[v.ControllerKey] || v.UnitNumber == nil || *v.UnitNumber < 0 || *v.UnitNumber > 15 || *v.UnitNumber == 7 {
			t.Errorf("disk %d on controller %d unit %v", v.Key, v.ControllerKey, v.UnitNumber)
			continue
		}
		slot := fmt.Sprintf("%d:%d", v.ControllerKey, *v.UnitNumber)
		if slots[slot] {
			t.Errorf("two disks on %s", slot)
		}
		slots[slot] = true
		disks++
	}
	if disks < n || len(ctrls) < 3 {
		t.Fatalf("%d disks on %d SCSI controllers, want %d replicas (and the appliance's own) on 3", disks, len(ctrls), n)
	}
}
