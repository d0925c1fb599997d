package vsphere

import (
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/ovf/importer"
	"github.com/vmware/govmomi/vim25/types"
)

// Handles: what this package returns for vCenter objects, so that its
// callers work with ferry's types and not with govmomi's.

// Datacenter is a vCenter datacenter.
type Datacenter struct{ dc *object.Datacenter }

// Name is the datacenter's name.
func (d *Datacenter) Name() string { return d.dc.Name() }

// DVS is a distributed virtual switch.
type DVS struct {
	dvs *object.DistributedVirtualSwitch
}

// Name is the switch's name.
func (d *DVS) Name() string { return d.dvs.Name() }

// Ref is the switch's reference.
func (d *DVS) Ref() Ref { return refOf(d.dvs.Reference()) }

// Ref names a vCenter object: its managed object type ("VirtualMachine",
// "DistributedVirtualPortgroup", ...) and its id ("vm-42"). Callers pass it
// back to this package and read its Value; only this package converts it to
// and from govmomi's reference.
type Ref struct {
	Type  string
	Value string
}

// String is "Type:Value", as vCenter writes a managed object reference.
func (r Ref) String() string { return r.Type + ":" + r.Value }

// Reference is r as govmomi's reference (the mo.Reference interface), for
// code that reads vCenter through govmomi itself: the replication source.
func (r Ref) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: r.Type, Value: r.Value}
}

func refOf(m types.ManagedObjectReference) Ref { return Ref{Type: m.Type, Value: m.Value} }

// PowerState is a VM's power state, as vCenter names it.
type PowerState string

// The power states of a VM.
const (
	PoweredOn  = PowerState(types.VirtualMachinePowerStatePoweredOn)
	PoweredOff = PowerState(types.VirtualMachinePowerStatePoweredOff)
	Suspended  = PowerState(types.VirtualMachinePowerStateSuspended)
)

// IsRemoteOVF reports whether an OVF/OVA source is a URL rather than a
// local file (what the OVF deployment fetches over HTTP).
func IsRemoteOVF(path string) bool { return importer.IsRemotePath(path) }
