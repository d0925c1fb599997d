package lab

import (
	"net/http"
	"path/filepath"

	"github.com/ferry-migrate/ferry/lab/dsfile"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// lockedBy names the powered-on VM that writes the file at local path p,
// "" when none does. A running VM writes the top of each disk chain: its
// base disk's flat extent while it has no snapshot. ESXi holds that file
// with an exclusive lock, and other readers, hostd's /folder among them,
// cannot open it (docs/real-world.md "Reading source disks"). Once the VM
// has a snapshot it writes the delta, and the base is opened read-only:
// readable (ESXHosts.serveFrozen serves it as the snapshot froze it).
func (e *ESXHosts) lockedBy(p string) string {
	p = filepath.Clean(p)
	reg := e.model.Map()
	for _, o := range reg.All("VirtualMachine") {
		vm, ok := o.(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		var name string
		var tops []string
		reg.WithLock(&simulator.Context{}, vm, func() {
			if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn || vm.Config == nil {
				return
			}
			name = vm.Name
			for _, d := range vm.Config.Hardware.Device {
				vd, ok := d.(*types.VirtualDisk)
				if !ok {
					continue
				}
				if b, ok := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && b.Parent == nil {
					tops = append(tops, b.FileName)
				}
			}
		})
		for _, f := range tops {
			// A flat extent is in its descriptor's folder: only those
			// descriptors are read (a lab of 100 VMs reads one or two).
			if desc, err := dsfile.Local(e.model, f); err != nil || filepath.Dir(desc) != filepath.Dir(p) {
				continue
			}
			if flat, err := dsfile.Flat(e.model, f); err == nil && filepath.Clean(flat) == p {
				return name
			}
		}
	}
	return ""
}

// refuseLocked answers a /folder GET of a file a running VM writes as
// ESXi's hostd does, and reports whether it did.
func (e *ESXHosts) refuseLocked(w http.ResponseWriter, p string) bool {
	vm := e.lockedBy(p)
	if vm == "" {
		return false
	}
	e.locked.Add(1)
	http.Error(w, "Cannot open file "+filepath.Base(p)+": Device or resource busy (locked by the running virtual machine "+vm+")", http.StatusInternalServerError)
	return true
}
