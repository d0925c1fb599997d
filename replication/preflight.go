package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-migrate/ferry/vsphere"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// PreflightReport says whether a VM can be warm-migrated.
type PreflightReport struct {
	VM              string
	PoweredOn       bool
	CBTEnabled      bool     // config.changeTrackingEnabled
	DisksWithoutCBT []string // device keys of disks with no changeId yet
	Snapshots       []string // names of existing snapshots (not ferry's)
	// Refusals are the problems ferry cannot fix: disks its transport cannot
	// read (independent, RDM, vSAN/vVols, encrypted, delta chains) and
	// snapshots of the VM's own, each with the reason and what to do.
	Refusals []string
	Problems []string // human-readable, empty when ready (includes Refusals)
}

// Refused returns nil when nothing stops ferry from replicating the VM (CBT
// can still be off: ferry turns it on), or an error listing the refusals.
func (r PreflightReport) Refused() error {
	if len(r.Refusals) == 0 {
		return nil
	}
	return fmt.Errorf("VM %s cannot be replicated by ferry: %s", r.VM, strings.Join(r.Refusals, "; "))
}

// Err returns nil when the VM is ready, or an error listing the problems.
func (r PreflightReport) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return fmt.Errorf("VM %s is not ready for replication: %s", r.VM, strings.Join(r.Problems, "; "))
}

// Preflight checks that the VM is powered on, has CBT on every disk, has
// no snapshots of its own (docs/real-world.md "Changed block tracking": forklift #2397, #1030) and only
// disks the transport can read: flat base disks in persistent mode, not
// encrypted, on VMFS or NFS (docs/real-world.md "Reading source disks").
func Preflight(ctx context.Context, c *vim25.Client, vm types.ManagedObjectReference) (PreflightReport, error) {
	s := NewVSphereSource(c, vm)
	m, err := s.vm(ctx, "name", "snapshot", "runtime.powerState", "runtime.consolidationNeeded", "config.changeTrackingEnabled", "config.hardware.device", "config.keyId")
	if err != nil {
		return PreflightReport{}, err
	}
	dsTypes, err := vsphere.DatastoreTypes(ctx, c, []mo.VirtualMachine{m})
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
	r.Refusals = vsphere.UnreadableDisks(&m, dsTypes)
	disks := flatDisks(m.Config.Hardware.Device)
	if len(disks) == 0 && len(r.Refusals) == 0 {
		r.Refusals = append(r.Refusals, "no virtual disks to replicate")
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
		var names []string
		snapshotTree(m.Snapshot.RootSnapshotList, func(t types.VirtualMachineSnapshotTree) { names = append(names, t.Name) })
		r.Snapshots = ForeignSnapshots(names)
	}
	if len(r.Snapshots) > 0 {
		r.Refusals = append(r.Refusals, fmt.Sprintf("has snapshots (%s): its disks are delta chains ferry does not read; delete (consolidate) them in vCenter first", strings.Join(r.Snapshots, ", ")))
	}
	r.Problems = append(r.Problems, r.Refusals...)
	return r, nil
}

// EnableCBT turns on changed block tracking and activates it with a
// snapshot create/delete cycle (disks get a changeId at the next stun).
func EnableCBT(ctx context.Context, c *vim25.Client, vm types.ManagedObjectReference) error {
	s := NewVSphereSource(c, vm)
	if err := s.enableCBT(ctx); err != nil {
		return err
	}
	r, err := s.runTask(ctx, func() (*object.Task, error) {
		return object.NewVirtualMachine(c, vm).CreateSnapshot(ctx, SnapshotPrefix+"cbt-activate", "", false, false)
	})
	if err != nil {
		return fmt.Errorf("activate CBT: %w", err)
	}
	ref, ok := r.(types.ManagedObjectReference)
	if !ok {
		return errors.New("activate CBT: snapshot task returned no snapshot")
	}
	return s.removeSnapshot(ctx, ref)
}

// enableCBT turns changed block tracking on in the VM's configuration; it
// takes effect at the VM's next stun (a snapshot's creation).
func (s *VSphereSource) enableCBT(ctx context.Context) error {
	if _, err := s.runTask(ctx, func() (*object.Task, error) {
		return object.NewVirtualMachine(s.Client, s.VM).Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(true)})
	}); err != nil {
		return fmt.Errorf("enable CBT: %w", err)
	}
	return nil
}
