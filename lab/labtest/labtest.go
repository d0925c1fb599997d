// Package labtest holds the test helpers that the tests of several packages
// share: starting the embedded lab for one test, reaching its on-prem
// vCenter and its Cloud Director as an operator would, and reading the exit code of a command the
// test ran. Only tests import it.
package labtest

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/vcd"
	"github.com/ferry-migrate/ferry/vsphere"
)

// Start starts a lab with opts for the test t and closes it when the test
// ends; a lab that does not start fails the test.
func Start(t testing.TB, opts lab.Options) *lab.Lab {
	t.Helper()
	l, err := lab.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// OnPrem logs in to the lab's on-prem vCenter as its administrator (TLS
// verified against the lab's CA), for a test that looks at or changes the
// inventory through govmomi as an operator would in vCenter; the finder
// is set to the on-prem datacenter. The caller logs out (c.Logout). A
// failed login fails the test.
func OnPrem(t testing.TB, l *lab.Lab) (c *govmomi.Client, f *find.Finder) {
	t.Helper()
	ctx := context.Background()
	vc, err := vsphere.Connect(ctx, vsphere.Config{URL: l.OnPrem.URL, Username: l.OnPrem.Username, Password: l.OnPrem.Password, CAFile: l.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	f = find.NewFinder(vc.Client.Client, true)
	dc, err := f.Datacenter(ctx, l.OnPrem.Spec.Datacenter)
	if err != nil {
		_ = vc.Logout(ctx)
		t.Fatal(err)
	}
	return vc.Client, f.SetDatacenter(dc)
}

// VCD logs in to Cloud Director as the endpoint e names (the lab's provider
// administrator l.Config().VCD, or its tenant l.Config().Tenant) and logs
// out when the test ends. A failed login fails the test.
func VCD(t testing.TB, e config.Endpoint) *vcd.Client {
	t.Helper()
	c, err := vcd.Connect(context.Background(), vcd.Config{URL: e.URL, User: e.Username, Password: e.Password, APIToken: e.APIToken, APITokenFile: e.APITokenFile, Org: e.Org, CAFile: e.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ExitCode is the exit code of a command that ran and returned err
// (exec.Cmd.Run and friends): 0 for nil, the process's code for an
// *exec.ExitError, -1 for a command that did not run or was killed.
func ExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// ProviderVM finds a VM of a vCenter by the name ferry gave it: the VM
// named name, or the one Cloud Director renamed when it adopted it, "name
// (uuid)" (as an operator searching vCenter for name finds it).
func ProviderVM(ctx context.Context, c *vsphere.Client, name string) (vsphere.Ref, bool, error) {
	if ref, ok, err := c.FindVM(ctx, name); err != nil || ok {
		return ref, ok, err
	}
	vc := c.Client.Client
	v, err := view.NewManager(vc).CreateContainerView(ctx, vc.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return vsphere.Ref{}, false, err
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name"}, &vms); err != nil {
		return vsphere.Ref{}, false, err
	}
	for _, m := range vms {
		if strings.HasPrefix(m.Name, name+" (") && strings.HasSuffix(m.Name, ")") {
			return vsphere.Ref{Type: m.Self.Type, Value: m.Self.Value}, true, nil
		}
	}
	return vsphere.Ref{}, false, nil
}

// PlanUnwrapped is ferry plan's text with each line it wrapped to 80
// columns joined again (a line's next ones are two columns deeper than
// it), for a test that looks for a phrase of a plan line.
func PlanUnwrapped(out string) string {
	var lines []string
	indent := 0 // of the last line's first line
	for _, line := range strings.Split(out, "\n") {
		lead := len(line) - len(strings.TrimLeft(line, " "))
		if len(lines) > 0 && strings.TrimSpace(line) != "" && lead == indent+2 {
			lines[len(lines)-1] += " " + line[lead:]
			continue
		}
		lines = append(lines, line)
		indent = lead
	}
	return strings.Join(lines, "\n")
}
