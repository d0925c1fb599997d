package lab_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestStaticMACsESXiRefuses: a provider VM whose NIC has a static (manual)
// MAC address in VMware's reserved ranges (what vCenter or ESXi generated
// for a source VM: 00:50:56:80-BF, 00:0C:29) does not power on, as on ESXi
// 5.5 and later, unless its ethernetN.checkMACAddress is false; a static
// address in 00:50:56:00-3F does (stock vcsim powered them all on).
func TestStaticMACsESXiRefuses(t *testing.T) {
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	ctx := context.Background()
	prov := connect(t, l.Provider.URL, l.Provider.Username, l.Provider.Password, l.CAFile)
	f, dc, pool := providerPlace(t, prov)
	pg, err := f.Network(ctx, lab.ProviderSpec().Portgroups[0])
	if err != nil {
		t.Fatal(err)
	}
	backing, err := pg.EthernetCardBackingInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		macs    []string
		extra   map[string]string
		refused string // "" : powers on
	}{
		{macs: []string{"00:0c:29:35:39:35"}, refused: `ethernet0. Invalid MAC address specified. 00:0c:29:35:39:35 is not an allowed static Ethernet address. It conflicts with VMware reserved MACs`},
		{macs: []string{"00:50:56:12:34:56", "00:50:56:9a:bc:de"}, refused: "ethernet1. Invalid MAC address specified. 00:50:56:9a:bc:de"},
		{macs: []string{"00:50:56:12:34:56", "00:50:56:9a:bc:de"}, extra: map[string]string{"ethernet0.checkMACAddress": "false"}, refused: "ethernet1."},
		{macs: []string{"00:50:56:12:34:56", "00:50:56:9a:bc:de"}, extra: map[string]string{"ethernet1.checkMACAddress": "FALSE"}},
		{macs: []string{"00:50:56:3f:ff:ff", "02:00:00:00:00:01"}},
	} {
		spec := types.VirtualMachineConfigSpec{Name: fmt.Sprintf("mactest%d", i), GuestId: "otherLinux64Guest", NumCPUs: 1, MemoryMB: 64,
			Files: &types.VirtualMachineFileInfo{VmPathName: "[provider-ds] "}}
		for n, mac := range tc.macs {
			card := &types.VirtualVmxnet3{VirtualVmxnet: types.VirtualVmxnet{VirtualEthernetCard: types.VirtualEthernetCard{
				VirtualDevice: types.VirtualDevice{Key: int32(-100 - n), Backing: backing},
				AddressType:   string(types.VirtualEthernetCardMacTypeManual), MacAddress: mac}}}
			spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: card})
		}
		for k, v := range tc.extra {
			spec.ExtraConfig = append(spec.ExtraConfig, &types.OptionValue{Key: k, Value: v})
		}
		ct, err := folders.VmFolder.CreateVM(ctx, spec, pool, nil)
		if err != nil {
			t.Fatal(err)
		}
		info, err := ct.WaitForResult(ctx)
		if err != nil {
			t.Fatal(err)
		}
		vm := object.NewVirtualMachine(prov.Client.Client, info.Result.(types.ManagedObjectReference))
		err = power(vm.PowerOn)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%v %v: power-on refused: %v", tc.macs, tc.extra, err)
		case tc.refused != "" && (err == nil || !strings.Contains(fmt.Sprint(err, faultText(err)), tc.refused)):
			t.Errorf("%v %v: power-on: %v %s, want it refused for %q", tc.macs, tc.extra, err, faultText(err), tc.refused)
		}
	}
}

// faultText is what a failed task's fault says (its reason and messages).
func faultText(err error) string {
	var te task.Error
	if !errors.As(err, &te) || te.Fault() == nil {
		return ""
	}
	var out []string
	if g, ok := te.Fault().(*types.GenericVmConfigFault); ok {
		out = append(out, g.Reason)
	}
	for _, m := range te.Fault().GetMethodFault().FaultMessage {
		out = append(out, m.Message)
	}
	return strings.Join(out, "; ")
}

// providerPlace is a finder set to the provider's datacenter, that
// datacenter, and the provider VDC's resource pool, where tests create VMs.
func providerPlace(t *testing.T, prov *vsphere.Client) (*find.Finder, *object.Datacenter, *object.ResourcePool) {
	t.Helper()
	ctx := context.Background()
	f := prov.Finder()
	dc, err := f.Datacenter(ctx, "Provider-DC")
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	pool, err := f.ResourcePool(ctx, "Company-VDC")
	if err != nil {
		t.Fatal(err)
	}
	return f, dc, pool
}
