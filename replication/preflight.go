package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// PreflightReport says whether a VM can be warm-migrated.
type PreflightReport struct {
	VM              string
	PoweredOn       bool
	CBTEnabled      bool     // config.changeTrackingEnabled
	DisksWithoutCBT []string // device keys of disks with no changeId yet
	Snapshots       []string // names of existing snapshots (not ferry's)
	Problems        []string // human-readable, empty when ready
}

// Err returns nil when the VM is ready, or an error listing the problems.
func (r PreflightReport) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return fmt.Errorf("VM %s is not ready for replication: %s", r.VM, strings.Join(r.Problems, "; "))
}

// Preflight checks that the VM is powered on, has CBT on every disk and has
// no snapshots of its own (replication.md: forklift #2397, #1030).
func Preflight(ctx context.Context, c *vim25.Client, vm types.ManagedObjectReference) (PreflightReport, error) {
	s := NewVSphereSource(c, vm)
	m, err := s.vm(ctx, "name", "snapshot", "runtime.powerState", "config.changeTrackingEnabled", "config.hardware.device")
	if err != nil {
		return PreflightReport{}, err
	}
	r := PreflightReport{VM: m.Name, PoweredOn: m.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn}
	if m.Config != nil && m.Config.ChangeTrackingEnabled != nil {
		r.CBTEnabled = *m.Config.ChangeTrackingEnabled
	}
	if !r.PoweredOn {
		r.Problems = append(r.Problems, fmt.Sprintf("powered %s: warm migration needs a running VM", strings.TrimPrefix(string(m.Runtime.PowerState), "powered")))
	}
	disks := flatDisks(m.Config.Hardware.Device)
	if len(disks) == 0 {
		r.Problems = append(r.Problems, "no flat virtual disks")
	}
	for _, d := range disks {
		if d.changeID == "" {
			r.DisksWithoutCBT = append(r.DisksWithoutCBT, d.Key)
		}
	}
	switch {
	case !r.CBTEnabled:
		r.Problems = append(r.Problems, "changed block tracking is disabled (EnableCBT turns it on)")
	case len(r.DisksWithoutCBT) > 0:
		r.Problems = append(r.Problems, fmt.Sprintf("CBT not active yet on disks %s (EnableCBT activates it)", strings.Join(r.DisksWithoutCBT, ", ")))
	}
	if m.Snapshot != nil {
		snapshotTree(m.Snapshot.RootSnapshotList, func(t types.VirtualMachineSnapshotTree) {
			if !strings.HasPrefix(t.Name, SnapshotPrefix) {
				r.Snapshots = append(r.Snapshots, t.Name)
			}
		})
	}
	if len(r.Snapshots) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("has snapshots (%s): consolidate or delete them first", strings.Join(r.Snapshots, ", ")))
	}
	return r, nil
}

// EnableCBT turns on changed block tracking and activates it with a
// snapshot create/delete cycle (disks get a changeId at the next stun).
func EnableCBT(ctx context.Context, c *vim25.Client, vm types.ManagedObjectReference) error {
	o := object.NewVirtualMachine(c, vm)
	task, err := o.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(true)})
	if err != nil {
		return fmt.Errorf("enable CBT: %w", err)
	}
	if err := task.Wait(ctx); err != nil {
		return fmt.Errorf("enable CBT: %w", err)
	}
	res, err := methods.CreateSnapshot_Task(ctx, c, &types.CreateSnapshot_Task{This: vm, Name: SnapshotPrefix + "cbt-activate"})
	if err != nil {
		return fmt.Errorf("activate CBT: %w", err)
	}
	s := NewVSphereSource(c, vm)
	r, err := s.waitTask(ctx, res.Returnval)
	if err != nil {
		return fmt.Errorf("activate CBT: %w", err)
	}
	ref, ok := r.(types.ManagedObjectReference)
	if !ok {
		return errors.New("activate CBT: snapshot task returned no snapshot")
	}
	return s.removeSnapshot(ctx, ref)
}
