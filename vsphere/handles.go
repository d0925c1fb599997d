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

// Ref names a vCenter object (its managed object type and id: a VM, a port
// group). It is govmomi's reference under ferry's name: callers pass it back
// to this package and read its Value, nothing more.
type Ref = types.ManagedObjectReference

// PoweredOff is the power state of a VM that is off (PowerState).
const PoweredOff = types.VirtualMachinePowerStatePoweredOff

// IsRemoteOVF reports whether an OVF/OVA source is a URL rather than a
// local file (what the OVF deployment fetches over HTTP).
func IsRemoteOVF(path string) bool { return importer.IsRemotePath(path) }
