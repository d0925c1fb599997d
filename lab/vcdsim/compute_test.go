package vcdsim

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
	"github.com/vmware/govmomi/object"
	vim "github.com/vmware/govmomi/vim25/types"
)

// TestPowerOnWithinTheVDCQuota: the org VDC reports what its running VMs
// use beside its limits, and Cloud Director refuses a power-on that would
// take it past them (the provider VM stays off); stock vcsim and the old
// vcdsim let any VM power on.
func TestPowerOnWithinTheVDCQuota(t *testing.T) {
	vcCfg, vc := providerVC(t)
	env := start(t, Config{ProviderVC: vcCfg})
	c := env.provider(t)
	ctx := context.Background()
	ext, morefs := vimServer(t, env, c)
	moref := morefs["DC0_H0_VM0"]
	org := must(c.GetOrgByName("Company"))(t)
	vdc := must(org.GetVDCByName("Company-VDC", false))(t)
	var created types.VApp
	if _, err := c.Client.ExecuteRequest(ext+"/importVmAsVApp", http.MethodPost, "application/vnd.vmware.admin.importVmAsVAppParams+xml", "import: %s",
		&importVmAsVAppParams{XmlnsVmext: types.XMLNamespaceExtension, Xmlns: types.XMLNamespaceVCloud, Name: "WebApp2", SourceMove: true,
			VMMoRef: moref, Vdc: &hrefRef{HREF: vdc.Vdc.HREF}}, &created); err != nil {
		t.Fatal(err)
	}
	task := govcd.NewTask(&c.Client)
	task.Task = created.Tasks.Task[0]
	if err := task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	vapp := must(vdc.GetVAppByName("WebApp2", true))(t)
	vmx := vapp.VApp.Children.VM[0]
	mem := int64(vmx.VmSpecSection.MemoryResourceMb.Configured)
	cpus := int64(*vmx.VmSpecSection.NumCpus)

	capacity := func() *types.ComputeCapacity {
		t.Helper()
		var a types.AdminVdc
		href := strings.Replace(vdc.Vdc.HREF, "/api/vdc/", "/api/admin/vdc/", 1)
		if _, err := c.Client.ExecuteRequest(href, http.MethodGet, "", "read admin VDC: %s", nil, &a); err != nil {
			t.Fatal(err)
		}
		if a.VCpuInMhz2 == nil || *a.VCpuInMhz2 != DefaultVCPUSpeedM {
			t.Fatalf("admin VDC vCPU speed %v, want %d MHz", a.VCpuInMhz2, DefaultVCPUSpeedM)
		}
		return a.ComputeCapacity[0]
	}
	if cc := capacity(); cc.Memory.Used != mem || cc.CPU.Used != cpus*DefaultVCPUSpeedM || cc.Memory.Limit != DefaultVDCMemMB {
		t.Fatalf("VDC with the imported VM running: memory %+v, CPU %+v; want %d MB and %d MHz used", cc.Memory, cc.CPU, mem, cpus*DefaultVCPUSpeedM)
	}
	wait := func(tk govcd.Task, err error) error {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return tk.WaitInspectTaskCompletion(nil, 50*time.Millisecond)
	}
	if err := wait(vapp.PowerOff()); err != nil {
		t.Fatal(err)
	}
	if cc := capacity(); cc.Memory.Used != 0 || cc.CPU.Used != 0 {
		t.Fatalf("VDC with its VM off: memory %+v, CPU %+v; want nothing used", cc.Memory, cc.CPU)
	}

	// Memory limit below the VM's memory: refused, the provider VM stays off.
	env.srv.SetVDCCompute(DefaultVDCCPUMHz, mem-1)
	err := wait(vapp.PowerOn())
	if err == nil || !strings.Contains(err.Error(), "does not have enough resources") || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("power-on past the VDC's memory limit: %v, want refused", err)
	}
	src := object.NewVirtualMachine(vc.Client, vim.ManagedObjectReference{Type: "VirtualMachine", Value: moref})
	if st := must(src.PowerState(ctx))(t); st != vim.VirtualMachinePowerStatePoweredOff {
		t.Fatalf("provider VM %s after the refused power-on", st)
	}
	// CPU likewise.
	env.srv.SetVDCCompute(cpus*DefaultVCPUSpeedM-1, 0)
	if err := wait(vapp.PowerOn()); err == nil || !strings.Contains(err.Error(), "CPU") {
		t.Fatalf("power-on past the VDC's CPU limit: %v, want refused", err)
	}
	// Room again: it powers on.
	env.srv.SetVDCCompute(cpus*DefaultVCPUSpeedM, mem)
	if err := wait(vapp.PowerOn()); err != nil {
		t.Fatalf("power-on within the limits: %v", err)
	}
}
