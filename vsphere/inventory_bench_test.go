package vsphere_test

import (
	"context"
	"slices"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// BenchmarkVMByName looks one VM up in an on-prem vCenter of 100 VMs: by
// reading every VM's name, then that VM's devices and the rest
// (VMByName), against reading all of every VM (VMs, as VMByName did).
// The ratio of the two is what a lookup saves; on a vCenter of thousands
// of VMs their devices come to megabytes per lookup.
func BenchmarkVMByName(b *testing.B) {
	l := labtest.Start(b, lab.Options{DiskSize: 16 << 20, VMs: 100, WorkloadRate: -1})
	ctx := context.Background()
	c, err := vsphere.Connect(ctx, vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	b.Run("named", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.VMByName(ctx, "WebApp2"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			vms, err := c.VMs(ctx)
			if err != nil || !slices.ContainsFunc(vms, func(v vsphere.VM) bool { return v.Name == "WebApp2" }) {
				b.Fatal(err)
			}
		}
	})
}
