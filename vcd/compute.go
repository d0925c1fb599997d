package vcd

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// Compute is an org VDC's compute quota and what its running VMs use, as
// Cloud Director reports it to the provider (the admin view). Cloud
// Director refuses to power a VM on when the VMs running in the VDC would
// then use more CPU or memory than its limit ("the total CPU used by all
// VMs running in the VDC cannot exceed" the allocation: Service Provider
// Admin Guide, Flex allocation model; Broadcom KB 436477). A VM uses its
// vCPUs times the VDC's vCPU speed, and its memory (a VDC that includes VM
// memory overhead, or a VM sizing policy with a CPU limit of its own,
// counts somewhat differently: Admits is the plain rule).
type Compute struct {
	AllocationModel string
	// Limits and use; a limit of 0 is unlimited.
	CPULimitMHz, CPUUsedMHz int64
	MemLimitMB, MemUsedMB   int64
	// VCPUMHz is the VDC's vCPU speed (0: not reported).
	VCPUMHz int64
}

// Admits reports whether Cloud Director's quota leaves room for VMs of
// vcpus vCPUs and memMB of memory to power on in the VDC; when it does
// not, why names what is short. A reservation pool's Used is a percentage
// of its reservation, and no admission control applies there: it admits.
func (c Compute) Admits(vcpus, memMB int64) (ok bool, why string) {
	if c.AllocationModel == "ReservationPool" {
		return true, ""
	}
	var short []string
	if cpu := vcpus * c.VCPUMHz; c.CPULimitMHz > 0 && c.VCPUMHz > 0 && c.CPUUsedMHz+cpu > c.CPULimitMHz {
		short = append(short, fmt.Sprintf("CPU: %d vCPUs at %d MHz need %d MHz, and %d of its %d MHz are in use", vcpus, c.VCPUMHz, cpu, c.CPUUsedMHz, c.CPULimitMHz))
	}
	if c.MemLimitMB > 0 && c.MemUsedMB+memMB > c.MemLimitMB {
		short = append(short, fmt.Sprintf("memory: %d MB needed, and %d of its %d MB are in use", memMB, c.MemUsedMB, c.MemLimitMB))
	}
	return len(short) == 0, strings.Join(short, "; ")
}

// VDCCompute reads vdc's compute quota and use (provider only).
func (c *Client) VDCCompute(vdcH *VDC) (Compute, error) {
	vdc := vdcH.vdc
	href := strings.Replace(vdc.Vdc.HREF, "/api/vdc/", "/api/admin/vdc/", 1)
	var admin types.AdminVdc
	if _, err := c.Client.ExecuteRequest(href, http.MethodGet, "", "read admin VDC: %s", nil, &admin); err != nil {
		return Compute{}, fmt.Errorf("VDC %s as the provider sees it: %w", vdc.Vdc.Name, err)
	}
	out := Compute{AllocationModel: admin.AllocationModel}
	if admin.VCpuInMhz2 != nil {
		out.VCPUMHz = *admin.VCpuInMhz2
	} else if admin.VCpuInMhz != nil {
		out.VCPUMHz = *admin.VCpuInMhz
	}
	if len(admin.ComputeCapacity) == 0 || admin.ComputeCapacity[0] == nil {
		return out, nil
	}
	cc := admin.ComputeCapacity[0]
	if cc.CPU != nil {
		k := unitScale(cc.CPU.Units, "GHz")
		out.CPULimitMHz, out.CPUUsedMHz = cc.CPU.Limit*k, cc.CPU.Used*k
	}
	if cc.Memory != nil {
		k := unitScale(cc.Memory.Units, "GB")
		out.MemLimitMB, out.MemUsedMB = cc.Memory.Limit*k, cc.Memory.Used*k
	}
	return out, nil
}

// unitScale is 1024 for memory in GB, 1000 for CPU in GHz (big, the unit
// given), else 1 (MB, MHz).
func unitScale(units, big string) int64 {
	if !strings.EqualFold(units, big) {
		return 1
	}
	if big == "GB" {
		return 1024
	}
	return 1000
}

// Summary is the quota and its use in a few words: "CPU 2000 of 100000
// MHz, memory 1024 of 131072 MB in use" ("unlimited" for no limit).
func (c Compute) Summary() string {
	limit := func(n int64, unit string) string {
		if n <= 0 {
			return "unlimited " + unit
		}
		return fmt.Sprintf("%d %s", n, unit)
	}
	return fmt.Sprintf("CPU %d of %s, memory %d of %s in use", c.CPUUsedMHz, limit(c.CPULimitMHz, "MHz"), c.MemUsedMB, limit(c.MemLimitMB, "MB"))
}
