package lab_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vsphere"
)

// TestPrivilegesWithheld: ferry's account on a lab vCenter is refused the
// calls that need a privilege its role lacks, as vCenter refuses them
// (NoPermission naming the privilege; ferry's error names it, the call and
// the object), and vCenter's privilege check for its own session says which
// it lacks; the administrator is not affected; a privilege given back works
// again; a privilege vCenter does not define is refused.
func TestPrivilegesWithheld(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1, OnPremWithheld: []string{"VirtualMachine.Interact.PowerOff"}})
	cfg := l.Config()
	if cfg.OnPrem.Username != lab.FerryUser {
		t.Fatalf("the lab's config gives ferry the account %q, want its own %s", cfg.OnPrem.Username, lab.FerryUser)
	}
	ferry := connect(t, cfg.OnPrem.URL, cfg.OnPrem.Username, cfg.OnPrem.Password, l.CAFile)
	admin := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	vm, err := ferry.VMByName(ctx, "WebApp3")
	if err != nil {
		t.Fatal(err)
	}

	err = ferry.PowerOff(ctx, vm.Ref)
	var pe *vsphere.PrivilegeError
	if !errors.As(err, &pe) || pe.Privilege != "VirtualMachine.Interact.PowerOff" || !fault.Is(err, &types.NoPermission{}) ||
		!strings.Contains(err.Error(), "PowerOffVM_Task") || !strings.Contains(err.Error(), "lacks the privilege VirtualMachine.Interact.PowerOff") {
		t.Fatalf("power-off by ferry's account without VirtualMachine.Interact.PowerOff: %v, want a NoPermission naming it", err)
	}
	if st, _ := admin.PowerState(ctx, vm.Ref); st != vsphere.PoweredOn {
		t.Fatalf("WebApp3 is %s after the refused power-off", st)
	}

	demand := []vsphere.Demand{{Ref: vm.Ref, Object: "VM WebApp3", Needs: []vsphere.Need{
		{Privilege: "VirtualMachine.Interact.PowerOff", For: "off"}, {Privilege: "VirtualMachine.Interact.PowerOn", For: "on"}}}}
	missing, err := ferry.MissingPrivileges(ctx, demand)
	if err != nil || len(missing) != 1 || missing[0].Privilege != "VirtualMachine.Interact.PowerOff" || missing[0].Object != "VM WebApp3" {
		t.Fatalf("ferry's privilege check: %+v, %v; want PowerOff missing on VM WebApp3, PowerOn held", missing, err)
	}
	if missing, err := admin.MissingPrivileges(ctx, demand); err != nil || len(missing) != 0 {
		t.Fatalf("the administrator's privilege check: %+v, %v; want none missing", missing, err)
	}

	l.OnPrem.Privileges.Grant("VirtualMachine.Interact.PowerOff")
	if missing, err := ferry.MissingPrivileges(ctx, demand); err != nil || len(missing) != 0 {
		t.Fatalf("after the grant: %+v, %v; want none missing", missing, err)
	}
	if err := ferry.PowerOff(ctx, vm.Ref); err != nil {
		t.Fatalf("power-off after the grant: %v", err)
	}

	if err := l.Provider.Privileges.Withhold("VirtualMachine.Interact.Teleport"); err == nil || !strings.Contains(err.Error(), "no such privilege") {
		t.Fatalf("withholding an unknown privilege: %v, want it refused", err)
	}
	if got := l.Provider.Privileges.Withheld(); len(got) != 0 {
		t.Fatalf("a refused withhold changed the role: %v", got)
	}
}

// TestPrivilegeCheckAfterServiceTicket: vCenter reports a session's own
// currentSession (what a privilege check names) after the session took a
// service ticket for a host-direct read, as before it.
func TestPrivilegeCheckAfterServiceTicket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1})
	cfg := l.Config()
	c := connect(t, cfg.OnPrem.URL, cfg.OnPrem.Username, cfg.OnPrem.Password, l.CAFile)
	if got := c.UserName(ctx); got != lab.FerryPrincipal {
		t.Fatalf("session user %q before a ticket, want %s (vCenter names a session by its principal)", got, lab.FerryPrincipal)
	}
	addr := l.OnPrem.ESX.Addr(l.OnPrem.Spec.Hosts[0])
	if _, err := methods.AcquireGenericServiceTicket(ctx, c.Client.Client, &types.AcquireGenericServiceTicket{
		This: *c.Client.ServiceContent.SessionManager,
		Spec: &types.SessionManagerHttpServiceRequestSpec{Method: "httpGet", Url: "https://" + addr + "/folder/WebApp1/WebApp1-flat.vmdk?dsName=onprem-ds"},
	}); err != nil {
		t.Fatal(err)
	}
	if got := c.UserName(ctx); got != lab.FerryPrincipal {
		t.Fatalf("session user %q after a service ticket, want %s", got, lab.FerryPrincipal)
	}
}

// TestGuestOperationsNeedTheirPrivileges: a guest program started by
// ferry's account needs VirtualMachine.GuestOperations.Execute on the VM,
// as vCenter checks StartProgramInGuest (vSphere API: its vm parameter's
// required privilege); the administrator's works.
func TestGuestOperationsNeedTheirPrivileges(t *testing.T) {
	ctx := context.Background()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1, OnPremWithheld: []string{"VirtualMachine.GuestOperations.Execute"}})
	cfg := l.Config()
	ferry := connect(t, cfg.OnPrem.URL, cfg.OnPrem.Username, cfg.OnPrem.Password, l.CAFile)
	admin := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	vm, err := ferry.VMByName(ctx, "WebApp1")
	if err != nil {
		t.Fatal(err)
	}
	auth := vsphere.GuestAuth{Username: lab.GuestUser, Password: lab.GuestPassword}
	err = ferry.GuestPing(ctx, vm.Ref, auth, "172.16.10.12")
	var pe *vsphere.PrivilegeError
	if !errors.As(err, &pe) || pe.Privilege != "VirtualMachine.GuestOperations.Execute" || !strings.Contains(err.Error(), "StartProgramInGuest") {
		t.Fatalf("guest ping by ferry's account without VirtualMachine.GuestOperations.Execute: %v, want a NoPermission naming it", err)
	}
	if err := admin.GuestPing(ctx, vm.Ref, auth, "172.16.10.12"); err != nil {
		t.Fatalf("the administrator's guest ping: %v", err)
	}
}

// TestReadingDatastoreFilesNeedsBrowse: reading a datastore file over HTTP
// needs Datastore.Browse on its datastore, as any other access to it would
// (vSphere Web Services SDK Programming Guide, "Privilege Requirements for
// HTTP Access"): without it ferry's account gets a 403 from vCenter's
// /folder and no service ticket for a host's (the host cannot check
// vCenter's roles, vCenter checks when it issues the ticket); the
// administrator reads; the privilege given back, ferry's account reads.
func TestReadingDatastoreFilesNeedsBrowse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20, WorkloadRate: -1, OnPremWithheld: []string{"Datastore.Browse"}})
	cfg := l.Config()
	ferry := connect(t, cfg.OnPrem.URL, cfg.OnPrem.Username, cfg.OnPrem.Password, l.CAFile)
	admin := connect(t, l.OnPrem.URL, l.OnPrem.Username, l.OnPrem.Password, l.CAFile)
	file := "/folder/WebApp1/WebApp1.vmdk?dsName=onprem-ds" // the descriptor: the running VM locks its flat extent
	read := func(c *vsphere.Client) (int, error) {
		t.Helper()
		u, err := url.Parse(l.OnPrem.URL)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+u.Host+file, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Range", "bytes=0-511")
		code := 0
		err = c.Client.Client.Do(ctx, req, func(res *http.Response) error {
			code = res.StatusCode
			_, err := io.Copy(io.Discard, res.Body)
			return err
		})
		return code, err
	}
	ticket := func(c *vsphere.Client) error {
		_, err := methods.AcquireGenericServiceTicket(ctx, c.Client.Client, &types.AcquireGenericServiceTicket{
			This: *c.Client.ServiceContent.SessionManager,
			Spec: &types.SessionManagerHttpServiceRequestSpec{Method: "httpGet", Url: "https://" + l.OnPrem.ESX.Addr(l.OnPrem.Spec.Hosts[0]) + file},
		})
		return err
	}
	if code, err := read(ferry); err != nil || code != http.StatusForbidden {
		t.Errorf("vCenter /folder GET by ferry's account without Datastore.Browse: %d %v, want 403", code, err)
	}
	err := ticket(ferry)
	var pe *vsphere.PrivilegeError
	if !errors.As(err, &pe) || pe.Privilege != "Datastore.Browse" || !strings.HasPrefix(pe.Object, "Datastore:") {
		t.Errorf("a host /folder ticket for ferry's account without Datastore.Browse: %v, want NoPermission naming it on the datastore", err)
	}
	if code, err := read(admin); err != nil || code != http.StatusPartialContent {
		t.Errorf("the administrator's /folder GET: %d %v, want 206", code, err)
	}
	if err := ticket(admin); err != nil {
		t.Errorf("the administrator's ticket: %v", err)
	}
	l.OnPrem.Privileges.Grant("Datastore.Browse")
	if code, err := read(ferry); err != nil || code != http.StatusPartialContent {
		t.Errorf("vCenter /folder GET by ferry's account with Datastore.Browse: %d %v, want 206", code, err)
	}
	if err := ticket(ferry); err != nil {
		t.Errorf("a ticket for ferry's account with Datastore.Browse: %v", err)
	}
}
