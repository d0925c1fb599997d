package vcdsim

import (
	"fmt"
	"strings"
)

// The org VDC's compute quota, as Cloud Director keeps it. A Flex VDC has
// a CPU allocation (MHz) and a memory allocation (MB), each with a limit:
// "the total CPU used by all VMs running in the VDC cannot exceed" it
// (VMware Cloud Director Service Provider Admin Guide, "Flex allocation
// model"; likewise memory). A VM running uses its vCPUs times the VDC's
// vCPU speed, and its memory. Cloud Director refuses a power-on that would
// take the VDC past its limit (Broadcom KB 436477: "a VM power on failed in
// Cloud Director due to resource CPU allocation limit being hit"; a power-on
// in vCenter bypasses the check, so ferry powers its targets on through
// Cloud Director). The VDC reports what its running VMs use
// (ComputeCapacity Cpu/Memory Used) beside the limits, and the admin view
// its vCPU speed (VCpuInMhz2). Stock vcsim has no such quota; before this,
// vcdsim reported fixed figures and let any VM power on.

// Default compute quota of the lab's org VDC: 128 vCPUs at 1 GHz and
// 128 GiB, room for the lab's largest inventory (--vms 100) to run there.
const (
	DefaultVDCCPUMHz  = 128000
	DefaultVDCMemMB   = 128 << 10
	DefaultVCPUSpeedM = 1000
)

// compute is the org VDC's quota; a limit of 0 is unlimited.
type compute struct {
	cpuMHz, memMB, vcpuMHz int64
}

// SetVDCCompute sets the org VDC's CPU limit (MHz) and memory limit (MB),
// as a provider administrator resizing it would (0: unlimited).
func (s *Server) SetVDCCompute(cpuMHz, memMB int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m.quota.cpuMHz, s.m.quota.memMB = cpuMHz, memMB
}

// usedCompute is what the org VDC's running VMs use.
func (m *model) usedCompute() (cpuMHz, memMB int64) {
	for _, a := range m.vapps {
		for _, v := range a.vms {
			if v.poweredOn {
				cpuMHz += int64(v.cpus) * m.quota.vcpuMHz
				memMB += int64(v.memMB)
			}
		}
	}
	return cpuMHz, memMB
}

// admitPowerOn is nil when the VDC's limits leave room for vms (those not
// running yet) to power on, else Cloud Director's refusal.
func (m *model) admitPowerOn(vms []*vm) error {
	var cpu, mem int64
	var names []string
	for _, v := range vms {
		if !v.poweredOn {
			cpu += int64(v.cpus) * m.quota.vcpuMHz
			mem += int64(v.memMB)
			names = append(names, v.name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	usedCPU, usedMem := m.usedCompute()
	var short []string
	if m.quota.cpuMHz > 0 && usedCPU+cpu > m.quota.cpuMHz {
		short = append(short, fmt.Sprintf("CPU: %d MHz needed, %d of the %d MHz limit in use", cpu, usedCPU, m.quota.cpuMHz))
	}
	if m.quota.memMB > 0 && usedMem+mem > m.quota.memMB {
		short = append(short, fmt.Sprintf("memory: %d MB needed, %d of the %d MB limit in use", mem, usedMem, m.quota.memMB))
	}
	if len(short) == 0 {
		return nil
	}
	return fmt.Errorf("Unable to power on %s: the organization VDC %s does not have enough resources left within its allocation (%s)",
		strings.Join(names, ", "), m.vdc.name, strings.Join(short, "; "))
}
