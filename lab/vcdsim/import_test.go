package vcdsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	vimsession "github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	vim "github.com/vmware/govmomi/vim25/types"
)

// providerVC starts a vcsim VPX with its own self-signed TLS certificate
// and credentials, and returns its configuration for vcdsim plus a client.
func providerVC(t *testing.T) (*ProviderVC, *govmomi.Client) {
	t.Helper()
	m := simulator.VPX()
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Remove)
	m.Service.TLS = new(tls.Config)
	m.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword("provider-admin", "s3cret!")}
	s := m.Service.NewServer()
	t.Cleanup(s.Close)
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	u := &url.URL{Scheme: "https", Host: s.URL.Host, Path: "/sdk"}
	cfg := &ProviderVC{URL: u.String(), Username: "provider-admin", Password: "s3cret!", RootCAs: pool}

	cu := *u
	cu.User = url.UserPassword(cfg.Username, cfg.Password)
	c, err := govmomi.NewClient(context.Background(), &cu, true)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, c
}

type importVmAsVAppParams struct {
	XMLName     struct{} `xml:"vmext:ImportVmAsVAppParams"`
	XmlnsVmext  string   `xml:"xmlns:vmext,attr"`
	Xmlns       string   `xml:"xmlns,attr"`
	Name        string   `xml:"name,attr"`
	SourceMove  bool     `xml:"sourceMove,attr"`
	Description string   `xml:"Description,omitempty"`
	VMMoRef     string   `xml:"vmext:VmMoRef"`
	Profile     *hrefRef `xml:"vmext:VdcStorageProfile,omitempty"`
	Vdc         *hrefRef `xml:"vmext:Vdc"`
}

type importVmIntoExistingVAppParams struct {
	XMLName    struct{} `xml:"vmext:ImportVmIntoExistingVAppParams"`
	XmlnsVmext string   `xml:"xmlns:vmext,attr"`
	Xmlns      string   `xml:"xmlns,attr"`
	SourceMove bool     `xml:"sourceMove,attr"`
	VMMoRef    string   `xml:"vmext:VmMoRef"`
	VApp       *hrefRef `xml:"vmext:VApp"`
}

func TestImportFromProviderVCenter(t *testing.T) {
	vcCfg, vc := providerVC(t)
	env := start(t, Config{ProviderVC: vcCfg})
	c := env.provider(t)
	ctx := context.Background()

	// The provider vCenter as vCD knows it.
	ext, morefs := vimServer(t, env, c)
	moref := morefs["DC0_H0_VM0"]
	if moref == "" {
		t.Fatalf("DC0_H0_VM0 not in vmsList %v", morefs)
	}

	org := must(c.GetOrgByName("Company"))(t)
	vdc := must(org.GetVDCByName("Company-VDC", false))(t)
	params := &importVmAsVAppParams{
		XmlnsVmext: types.XMLNamespaceExtension, Xmlns: types.XMLNamespaceVCloud, Name: "WebApp2", SourceMove: true,
		VMMoRef: moref, Vdc: &hrefRef{HREF: vdc.Vdc.HREF},
	}
	var created types.VApp
	resp, err := c.Client.ExecuteRequest(ext+"/importVmAsVApp", http.MethodPost,
		"application/vnd.vmware.admin.importVmAsVAppParams+xml", "import: %s", params, &created)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") == "" || created.Status != 0 ||
		created.Tasks == nil || len(created.Tasks.Task) != 1 {
		t.Fatalf("import answer %d %+v", resp.StatusCode, created)
	}
	task := govcd.NewTask(&c.Client)
	task.Task = created.Tasks.Task[0]
	if err := task.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	vapp := must(vdc.GetVAppByName("WebApp2", true))(t)
	if vapp.VApp.Status != 4 || len(vapp.VApp.Children.VM) != 1 {
		t.Fatalf("imported vApp status %d, children %+v", vapp.VApp.Status, vapp.VApp.Children)
	}
	vmx := vapp.VApp.Children.VM[0]
	src := object.NewVirtualMachine(vc.Client, vim.ManagedObjectReference{Type: "VirtualMachine", Value: moref})
	devs := must(src.Device(ctx))(t)
	nics := devs.SelectByType((*vim.VirtualEthernetCard)(nil))
	if vmx.Name != "DC0_H0_VM0" || len(vmx.NetworkConnectionSection.NetworkConnection) != len(nics) ||
		vmx.NetworkConnectionSection.NetworkConnection[0].MACAddress != nics[0].(vim.BaseVirtualEthernetCard).GetVirtualEthernetCard().MacAddress {
		t.Fatalf("imported VM %+v / NICs %+v", vmx, vmx.NetworkConnectionSection)
	}
	if vmx.NetworkConnectionSection.NetworkConnection[0].Network == "" {
		t.Fatal("imported NIC has no network")
	}
	if len(vmx.VmSpecSection.DiskSection.DiskSettings) != len(devs.SelectByType((*vim.VirtualDisk)(nil))) {
		t.Fatal("disk count differs from the provider VM")
	}
	// Cloud Director renames the VM it adopted: "<name> (<uuid>)" in the
	// provider vCenter, and the query service says so.
	src0 := object.NewVirtualMachine(vc.Client, vim.ManagedObjectReference{Type: "VirtualMachine", Value: moref})
	if name := must(src0.ObjectName(ctx))(t); name != "DC0_H0_VM0 ("+strings.TrimPrefix(vmx.ID, "urn:vcloud:vm:")+")" {
		t.Fatalf("imported VM's name in the provider vCenter: %q (vCD id %s)", name, vmx.ID)
	}
	imports := env.srv.Imports()
	if len(imports) != 1 || !imports[0].SourceMove || imports[0].DiskCopied || imports[0].MoRef != moref || len(imports[0].Disks) == 0 {
		t.Fatalf("import records %+v", imports)
	}

	// Power goes through to the provider vCenter.
	powerState := func() vim.VirtualMachinePowerState { return must(src.PowerState(ctx))(t) }
	wait := func(tk govcd.Task, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := tk.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	// vcdsim renews its vSphere session when the provider vCenter drops it.
	env.srv.mu.Lock()
	err = vimsession.NewManager(env.srv.m.vc.c).Logout(ctx)
	env.srv.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	wait(vapp.PowerOff())
	if powerState() != vim.VirtualMachinePowerStatePoweredOff {
		t.Fatal("provider VM still on after vApp power off")
	}
	vm := must(c.Client.GetVMByHref(vmx.HREF))(t)
	if vm.VM.Status != 8 {
		t.Fatalf("VM status %d after power off", vm.VM.Status)
	}
	wait(vm.PowerOn())
	if powerState() != vim.VirtualMachinePowerStatePoweredOn {
		t.Fatal("provider VM off after VM power on")
	}
	wait(vapp.PowerOff())
	wait(vapp.PowerOn())
	if err := vapp.Refresh(); err != nil || vapp.VApp.Status != 4 {
		t.Fatalf("vApp after power on: %v %d", err, vapp.VApp.Status)
	}

	// Reconnect the NIC to an org VDC network (unknown networks are
	// refused, and so is one the vApp was not given).
	tr := newTrunk(t, c)
	ncs := must(vm.GetNetworkConnectionSection())(t)
	ncs.NetworkConnection[0].Network = "nope"
	if err := vm.UpdateNetworkConnectionSection(ncs); err == nil {
		t.Fatal("NIC connected to an unknown network")
	}
	ncs.NetworkConnection[0].Network = "company-network"
	if err := vm.UpdateNetworkConnectionSection(ncs); err == nil || !strings.Contains(err.Error(), `The VCD entity network "company-network" does not exist`) {
		t.Fatalf("NIC connected to an org VDC network its vApp lacks: %v, want it refused", err)
	}
	tr.attach(t, c, vapp)
	ncs.NetworkConnection[0].IPAddress = "172.16.10.12"
	if err := vm.UpdateNetworkConnectionSection(ncs); err != nil {
		t.Fatal(err)
	}
	ncs = must(vm.GetNetworkConnectionSection())(t)
	if ncs.NetworkConnection[0].Network != "company-network" || ncs.NetworkConnection[0].MACAddress == "" {
		t.Fatalf("NIC after update %+v", ncs.NetworkConnection[0])
	}

	// Query service sees the VM with its moref.
	vms := must(vdc.QueryVmList(types.VmQueryFilterOnlyDeployed))(t)
	if len(vms) != 1 || vms[0].Moref != moref {
		t.Fatalf("VM query %+v", vms)
	}

	// A second VM into the existing vApp; an imported VM cannot be imported again.
	into := &importVmIntoExistingVAppParams{XmlnsVmext: types.XMLNamespaceExtension, Xmlns: types.XMLNamespaceVCloud, SourceMove: true,
		VMMoRef: morefs["DC0_H0_VM1"], VApp: &hrefRef{HREF: vapp.VApp.HREF}}
	t2 := govcd.NewTask(&c.Client)
	if _, err := c.Client.ExecuteRequest(ext+"/importVmIntoExistingVApp", http.MethodPost,
		"application/vnd.vmware.admin.importVmIntoExistingVAppParams+xml", "import into: %s", into, t2.Task); err != nil {
		t.Fatal(err)
	}
	if err := t2.WaitInspectTaskCompletion(nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := vapp.Refresh(); err != nil || len(vapp.VApp.Children.VM) != 2 {
		t.Fatalf("vApp children after second import: %v", err)
	}
	// Without sourceMove vCD copies the disks: recorded, so that callers can
	// check they never pay for that copy during a cutover.
	copied := *params
	copied.Name, copied.SourceMove, copied.VMMoRef = "copied", false, morefs["DC0_C0_RP0_VM0"]
	if _, err := c.Client.ExecuteRequest(ext+"/importVmAsVApp", http.MethodPost,
		"application/vnd.vmware.admin.importVmAsVAppParams+xml", "import: %s", &copied, &types.VApp{}); err != nil {
		t.Fatal(err)
	}
	if imp := env.srv.Imports(); len(imp) != 3 || !imp[2].DiskCopied || imp[1].DiskCopied {
		t.Fatalf("import records %+v", imp)
	}

	// Query pages are consistent: total, pageSize, page.
	seen := map[string]bool{}
	for pg := 1; pg <= 3; pg++ {
		res := must(c.Client.QueryWithNotEncodedParams(nil, map[string]string{"type": "adminVM", "filter": "isVAppTemplate==false", "pageSize": "1", "page": strconv.Itoa(pg)}))(t)
		if res.Results.Total != 3 || res.Results.PageSize != 1 || res.Results.Page != pg || len(res.Results.AdminVMRecord) != 1 {
			t.Fatalf("query page %d: %+v", pg, res.Results)
		}
		seen[res.Results.AdminVMRecord[0].Name] = true
	}
	if len(seen) != 3 {
		t.Fatalf("pages returned %v", seen)
	}

	params.Name = "again"
	if _, err := c.Client.ExecuteRequest(ext+"/importVmAsVApp", http.MethodPost,
		"application/vnd.vmware.admin.importVmAsVAppParams+xml", "import: %s", params, &created); err == nil {
		t.Fatal("importing a managed VM again succeeded")
	}
	var list vmObjectRefsList
	if _, err := c.Client.ExecuteRequest(ext+"/vmsList", http.MethodGet, "", "vms list: %s", nil, &list); err != nil {
		t.Fatal(err)
	}
	for _, r := range list.VmObjectRef {
		if r.MoRef == moref {
			t.Fatal("imported VM still listed as importable")
		}
	}

	// The tenant sees the vApp but cannot reach the vimServer extension.
	tc := env.tenant(t)
	tvdc := must(must(tc.GetOrgByName("Company"))(t).GetVDCByName("Company-VDC", false))(t)
	must(tvdc.GetVAppByName("WebApp2", true))(t)
	if _, err := tc.Client.ExecuteRequest(ext+"/vmsList", http.MethodGet, "", "vms list: %s", nil, &list); err == nil {
		t.Fatal("tenant listed provider VMs")
	}
}

// TestImportBodiesAreValidated: the simulator checks import bodies against
// vmwextensions.xsd's content models as Cloud Director does: elements the
// type declares are in the extension namespace, in schema order, the
// required ones present, no attribute the type lacks. VmName names the VM.
func TestImportBodiesAreValidated(t *testing.T) {
	vcCfg, _ := providerVC(t)
	env := start(t, Config{ProviderVC: vcCfg})
	c := env.provider(t)
	ext, morefs := vimServer(t, env, c)
	vdc := must(must(c.GetOrgByName("Company"))(t).GetVDCByName("Company-VDC", false))(t)

	post := func(endpoint, mime, body string) (int, string) {
		t.Helper()
		eu := must(url.Parse(ext + "/" + endpoint))(t)
		req := c.Client.NewRequest(nil, http.MethodPost, *eu, strings.NewReader(body))
		req.Header.Set("Content-Type", mime)
		resp, err := c.Client.Http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const (
		asMime   = "application/vnd.vmware.admin.importVmAsVAppParams+xml"
		intoMime = "application/vnd.vmware.admin.importVmIntoExistingVAppParams+xml"
		nsExt    = `xmlns="http://www.vmware.com/vcloud/extension/v1.5" xmlns:vc="http://www.vmware.com/vcloud/v1.5"`
	)
	vm0 := morefs["DC0_H0_VM0"]
	for name, body := range map[string]string{
		"Vdc in the vCloud namespace":  `<ImportVmAsVAppParams ` + nsExt + ` name="a" sourceMove="true"><VmMoRef>` + vm0 + `</VmMoRef><vc:Vdc href="` + vdc.Vdc.HREF + `"/></ImportVmAsVAppParams>`,
		"no VmMoRef":                   `<ImportVmAsVAppParams ` + nsExt + ` name="a" sourceMove="true"><Vdc href="` + vdc.Vdc.HREF + `"/></ImportVmAsVAppParams>`,
		"no Vdc":                       `<ImportVmAsVAppParams ` + nsExt + ` name="a" sourceMove="true"><VmMoRef>` + vm0 + `</VmMoRef></ImportVmAsVAppParams>`,
		"elements out of order":        `<ImportVmAsVAppParams ` + nsExt + ` name="a" sourceMove="true"><Vdc href="` + vdc.Vdc.HREF + `"/><VmMoRef>` + vm0 + `</VmMoRef></ImportVmAsVAppParams>`,
		"an element the type lacks":    `<ImportVmAsVAppParams ` + nsExt + ` name="a" sourceMove="true"><VmMoRef>` + vm0 + `</VmMoRef><Vdc href="` + vdc.Vdc.HREF + `"/><Catalog href="x"/></ImportVmAsVAppParams>`,
		"root in the vCloud namespace": `<ImportVmAsVAppParams xmlns="http://www.vmware.com/vcloud/v1.5" name="a" sourceMove="true"><VmMoRef>` + vm0 + `</VmMoRef><Vdc href="` + vdc.Vdc.HREF + `"/></ImportVmAsVAppParams>`,
	} {
		if code, msg := post("importVmAsVApp", asMime, body); code != http.StatusBadRequest || !strings.Contains(msg, "cvc-") {
			t.Errorf("%s: %d %s; want 400 with the schema's complaint", name, code, msg)
		}
	}
	// A storage profile that is not one of the org VDC's.
	if code, msg := post("importVmAsVApp", asMime, `<ImportVmAsVAppParams `+nsExt+` name="a" sourceMove="true"><VmMoRef>`+vm0+`</VmMoRef><VdcStorageProfile href="`+vdc.Vdc.HREF+`"/><Vdc href="`+vdc.Vdc.HREF+`"/></ImportVmAsVAppParams>`); code != http.StatusBadRequest || !strings.Contains(msg, "VdcStorageProfile") {
		t.Errorf("a storage profile of no org VDC: %d %s; want 400 naming VdcStorageProfile", code, msg)
	}
	if len(env.srv.Imports()) != 0 {
		t.Fatalf("refused bodies imported: %+v", env.srv.Imports())
	}

	// Valid, with VmName: the VM is named by it; in the VDC's storage
	// profile, which the import record names.
	sp := vdc.Vdc.VdcStorageProfiles.VdcStorageProfile[0]
	code, msg := post("importVmAsVApp", asMime, `<ImportVmAsVAppParams `+nsExt+` name="App1" sourceMove="true"><vc:Description>d</vc:Description><VmName>web</VmName><VmMoRef>`+vm0+`</VmMoRef><VdcStorageProfile href="`+sp.HREF+`"/><Vdc href="`+vdc.Vdc.HREF+`"/></ImportVmAsVAppParams>`)
	if code != http.StatusCreated {
		t.Fatalf("valid import: %d %s", code, msg)
	}
	if imp := env.srv.Imports(); len(imp) != 1 || imp[0].StorageProfile != sp.Name {
		t.Errorf("imports %+v: want one in storage profile %q", imp, sp.Name)
	}
	deadline := time.Now().Add(10 * time.Second)
	var vapp *govcd.VApp
	for {
		a, err := vdc.GetVAppByName("App1", true)
		if err == nil && a.VApp.Status != 0 {
			vapp = a
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vApp App1 not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if vapp.VApp.Children == nil || len(vapp.VApp.Children.VM) != 1 || vapp.VApp.Children.VM[0].Name != "web" {
		t.Fatalf("imported VM %+v, want it named web", vapp.VApp.Children)
	}

	// ImportVmIntoExistingVAppParams has no name attribute.
	vm1 := morefs["DC0_H0_VM1"]
	into := `<ImportVmIntoExistingVAppParams ` + nsExt + ` name="x" sourceMove="true"><VmMoRef>` + vm1 + `</VmMoRef><VApp href="` + vapp.VApp.HREF + `"/></ImportVmIntoExistingVAppParams>`
	if code, msg := post("importVmIntoExistingVApp", intoMime, into); code != http.StatusBadRequest || !strings.Contains(msg, "cvc-complex-type.3.2.2") {
		t.Errorf("name attribute on ImportVmIntoExistingVAppParams: %d %s", code, msg)
	}
	// A second VM named as the first is refused.
	into = `<ImportVmIntoExistingVAppParams ` + nsExt + ` sourceMove="true"><VmName>web</VmName><VmMoRef>` + vm1 + `</VmMoRef><VApp href="` + vapp.VApp.HREF + `"/></ImportVmIntoExistingVAppParams>`
	if code, msg := post("importVmIntoExistingVApp", intoMime, into); code != http.StatusBadRequest || !strings.Contains(msg, "DUPLICATE_NAME") {
		t.Errorf("duplicate VM name: %d %s", code, msg)
	}
}

// TestImportMovesAVMOutsideTheVDC: as Cloud Director does, an import adopts
// a VM in place only when it sits in the org VDC's resource pool on a
// datastore of its storage policy and sourceMove is asked; otherwise the VM
// is moved, and disks outside the policy (or any disk, without sourceMove)
// are copied, which takes their size over the copy rate. Either way the
// provider vCenter shows the VM in the org VDC's resource pool and in its
// vApp's folder afterwards (before, the lab recorded the move and left the
// VM where it was).
func TestImportMovesAVMOutsideTheVDC(t *testing.T) {
	vcCfg, vc := providerVC(t)
	ctx := context.Background()
	finder := find.NewFinder(vc.Client, true)
	dc := must(finder.DefaultDatacenter(ctx))(t)
	finder.SetDatacenter(dc)
	root := must(finder.ResourcePool(ctx, "/DC0/host/DC0_C0/Resources"))(t)
	pool := must(root.Create(ctx, "Tenant-VDC", vim.DefaultResourceConfigSpec()))(t)
	inside := must(finder.VirtualMachine(ctx, "DC0_C0_RP0_VM1"))(t)
	poolRef := pool.Reference()
	move := must(inside.Relocate(ctx, vim.VirtualMachineRelocateSpec{Pool: &poolRef}, vim.VirtualMachineMovePriorityDefaultPriority))(t)
	if err := move.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	outside := must(finder.VirtualMachine(ctx, "DC0_C0_RP0_VM0"))(t)
	third := must(finder.VirtualMachine(ctx, "DC0_H0_VM0"))(t)
	var size int64
	for _, d := range must(third.Device(ctx))(t).SelectByType((*vim.VirtualDisk)(nil)) {
		size += d.(*vim.VirtualDisk).CapacityInKB << 10
	}
	vcCfg.ResourcePool, vcCfg.Datastores = "Tenant-VDC", []string{"LocalDS_0"}
	rate := max(size, 1) // bytes per second: copying the third VM takes a second
	env := start(t, Config{ProviderVC: vcCfg, CopyRate: rate})
	c := env.provider(t)
	ext, _ := vimServer(t, env, c)
	vdc := must(must(c.GetOrgByName("Company"))(t).GetVDCByName("Company-VDC", false))(t)
	importAs := func(name, moref string, sourceMove bool) *types.Task {
		t.Helper()
		task, err := importVM(t, c, ext, &importVmAsVAppParams{XmlnsVmext: types.XMLNamespaceExtension, Xmlns: types.XMLNamespaceVCloud,
			Name: name, SourceMove: sourceMove, VMMoRef: moref, Vdc: &hrefRef{HREF: vdc.Vdc.HREF}})
		if err != nil {
			t.Fatal(err)
		}
		return task
	}

	// Where the provider vCenter shows an adopted VM (govmomi): in the
	// org VDC's resource pool, in its vApp's folder "<vApp> (<id>)" inside
	// the org VDC's "<VDC> (<id>)".
	placed := func(vm *object.VirtualMachine, vappName string) {
		t.Helper()
		var o mo.VirtualMachine
		if err := vm.Properties(ctx, vm.Reference(), []string{"resourcePool", "parent"}, &o); err != nil {
			t.Fatal(err)
		}
		if o.ResourcePool == nil || *o.ResourcePool != poolRef {
			t.Errorf("imported VM %s is in resource pool %v, want the org VDC's %s", vm.Reference().Value, o.ResourcePool, poolRef.Value)
		}
		vapp := must(vdc.GetVAppByName(vappName, true))(t)
		want := []string{vappName + " (" + strings.TrimPrefix(vapp.VApp.ID, "urn:vcloud:vapp:") + ")",
			vdc.Vdc.Name + " (" + strings.TrimPrefix(vdc.Vdc.ID, "urn:vcloud:vdc:") + ")", "vm"}
		var got []string
		for ref := o.Parent; ref != nil && ref.Type == "Folder" && len(got) < len(want); {
			var f mo.Folder
			if err := vm.Properties(ctx, *ref, []string{"name", "parent"}, &f); err != nil {
				t.Fatal(err)
			}
			got, ref = append(got, f.Name), f.Parent
		}
		if !slices.Equal(got, want) {
			t.Errorf("imported VM %s is in folder %v (innermost first), want %v", vm.Reference().Value, got, want)
		}
	}

	importAs("in-place", inside.Reference().Value, true)
	rec := env.srv.Imports()[0]
	if rec.Relocated || rec.DiskCopied || rec.Why != "" {
		t.Errorf("a VM in the VDC's pool on its datastore was moved: %+v", rec)
	}
	placed(inside, "in-place")

	importAs("moved", outside.Reference().Value, true)
	rec = env.srv.Imports()[1]
	if !rec.Relocated || rec.DiskCopied || !strings.Contains(rec.Why, "resource pool") {
		t.Errorf("a VM outside the VDC's pool: %+v; want it moved, its disks not copied", rec)
	}
	placed(outside, "moved")

	// Without sourceMove the disks are copied: the task lasts at least
	// their size over the copy rate.
	task := importAs("copied", third.Reference().Value, false)
	rec = env.srv.Imports()[2]
	if !rec.DiskCopied || rec.Copied <= 0 || !strings.Contains(rec.Why, "sourceMove=false") {
		t.Fatalf("import without sourceMove: %+v", rec)
	}
	start, err1 := time.Parse(time.RFC3339Nano, task.StartTime)
	end, err2 := time.Parse(time.RFC3339Nano, task.EndTime)
	if err1 != nil || err2 != nil {
		t.Fatalf("task times %q %q: %v %v", task.StartTime, task.EndTime, err1, err2)
	}
	if want := time.Duration(float64(rec.Copied) / float64(rate) * float64(time.Second)); end.Sub(start) < want-10*time.Millisecond {
		t.Errorf("copying %d bytes took %s; at %d B/s it takes at least %s", rec.Copied, end.Sub(start), rate, want)
	}
}

// importVM posts an import to the vimServer extension at ext and waits
// for its task (the error: Cloud Director refused the request).
func importVM(t *testing.T, c *govcd.VCDClient, ext string, params *importVmAsVAppParams) (*types.Task, error) {
	t.Helper()
	var created types.VApp
	if _, err := c.Client.ExecuteRequest(ext+"/importVmAsVApp", http.MethodPost,
		"application/vnd.vmware.admin.importVmAsVAppParams+xml", "import: %s", params, &created); err != nil {
		return nil, err
	}
	task := govcd.NewTask(&c.Client)
	task.Task = created.Tasks.Task[0]
	if err := task.WaitInspectTaskCompletion(nil, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	return task.Task, nil
}

// vimServer is the provider vCenter's extension URL as Cloud Director knows
// it (checked to be the only one), and its importable VMs' morefs by name.
func vimServer(t *testing.T, env *testEnv, c *govcd.VCDClient) (string, map[string]string) {
	t.Helper()
	u := must(c.Client.OpenApiBuildEndpoint(types.OpenApiPathVersion1_0_0 + types.OpenApiEndpointVirtualCenters))(t)
	var vcs []*types.VSphereVirtualCenter
	if err := c.Client.OpenApiGetAllItems("37.0", u, nil, &vcs, nil); err != nil {
		t.Fatal(err)
	}
	if len(vcs) != 1 || !strings.HasPrefix(vcs[0].VcId, "urn:vcloud:vimserver:") {
		t.Fatalf("virtual centers %+v", vcs)
	}
	ext := strings.TrimSuffix(env.srv.URL(), "/api") + "/api/admin/extension/vimServer/" + bareID(vcs[0].VcId)
	var list vmObjectRefsList
	if _, err := c.Client.ExecuteRequest(ext+"/vmsList", http.MethodGet, "", "vms list: %s", nil, &list); err != nil {
		t.Fatal(err)
	}
	morefs := map[string]string{}
	for _, r := range list.VmObjectRef {
		morefs[r.Name] = r.MoRef
	}
	return ext, morefs
}

// TestImportIntoTheDefaultStoragePolicy: an org VDC with several storage
// policies lists them all, and GET /api/vdcStorageProfile/{id} says which
// is its default (the provider can change it). An import that names no
// policy places the VM in the default one: when the VM's datastore does not
// support it, Cloud Director copies the disks into the policy (the import
// takes their size over the copy rate); naming a policy the datastore
// supports adopts the VM in place.
func TestImportIntoTheDefaultStoragePolicy(t *testing.T) {
	vcCfg, vc := providerVC(t)
	ctx := context.Background()
	finder := find.NewFinder(vc.Client, true)
	finder.SetDatacenter(must(finder.DefaultDatacenter(ctx))(t))
	// Both VMs in the org VDC's pool, on its datastore.
	root := must(finder.ResourcePool(ctx, "/DC0/host/DC0_C0/Resources"))(t)
	poolRef := must(root.Create(ctx, "Tenant-VDC", vim.DefaultResourceConfigSpec()))(t).Reference()
	for _, name := range []string{"DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1"} {
		move := must(must(finder.VirtualMachine(ctx, name))(t).Relocate(ctx, vim.VirtualMachineRelocateSpec{Pool: &poolRef}, vim.VirtualMachineMovePriorityDefaultPriority))(t)
		if err := move.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	vm := must(finder.VirtualMachine(ctx, "DC0_C0_RP0_VM0"))(t)
	vcCfg.ResourcePool, vcCfg.Datastores = "Tenant-VDC", []string{"LocalDS_0"}
	vcCfg.StoragePolicies = []StoragePolicy{{Name: "*", Datastores: []string{"LocalDS_0"}}, {Name: "Gold", Datastores: []string{"gold-ds"}}}
	env := start(t, Config{ProviderVC: vcCfg, CopyRate: 1 << 40})
	c := env.provider(t)
	ext, _ := vimServer(t, env, c)
	vdc := must(must(c.GetOrgByName("Company"))(t).GetVDCByName("Company-VDC", false))(t)
	profiles := map[string]string{} // name -> href
	defaults := func() []string {
		t.Helper()
		var out []string
		for name, href := range profiles {
			if must(c.Client.GetStorageProfileByHref(href))(t).Default {
				out = append(out, name)
			}
		}
		return out
	}
	for _, r := range vdc.Vdc.VdcStorageProfiles.VdcStorageProfile {
		profiles[r.Name] = r.HREF
	}
	if len(profiles) != 2 || profiles["*"] == "" || profiles["Gold"] == "" {
		t.Fatalf("the VDC's storage profiles: %v, want * and Gold", profiles)
	}
	if d := defaults(); len(d) != 1 || d[0] != "*" {
		t.Fatalf("default storage profiles %v, want [*]", d)
	}
	if err := env.srv.SetDefaultStoragePolicy("Gold"); err != nil {
		t.Fatal(err)
	}
	if d := defaults(); len(d) != 1 || d[0] != "Gold" {
		t.Fatalf("default storage profiles %v after the provider made Gold the default", d)
	}
	importAs := func(name, profile string) ImportRecord {
		t.Helper()
		params := &importVmAsVAppParams{XmlnsVmext: types.XMLNamespaceExtension, Xmlns: types.XMLNamespaceVCloud,
			Name: name, SourceMove: true, VMMoRef: vm.Reference().Value, Vdc: &hrefRef{HREF: vdc.Vdc.HREF}}
		if profile != "" {
			params.Profile = &hrefRef{HREF: profiles[profile]}
		}
		if _, err := importVM(t, c, ext, params); err != nil {
			t.Fatal(err)
		}
		imps := env.srv.Imports()
		return imps[len(imps)-1]
	}
	if rec := importAs("default", ""); !rec.DiskCopied || rec.Policy != "Gold" || !strings.Contains(rec.Why, "outside storage policy Gold") {
		t.Errorf("an import naming no policy, the default Gold not supported by the VM's datastore: %+v; want its disks copied into Gold", rec)
	}
	// Another VM beside it, in the policy its datastore supports.
	vm = must(finder.VirtualMachine(ctx, "DC0_C0_RP0_VM1"))(t)
	if rec := importAs("named", "*"); rec.DiskCopied || rec.Relocated || rec.Policy != "*" || rec.StorageProfile != "*" {
		t.Errorf("an import naming *, which the VM's datastore supports: %+v; want it adopted in place", rec)
	}

	// The storage limit: the VMs in a policy count their disks' capacity
	// against it, and an import past it is refused.
	star := must(c.Client.GetStorageProfileByHref(profiles["*"]))(t)
	if star.StorageUsedMB <= 0 || star.Limit != 0 {
		t.Errorf("policy * after an import into it: used %d MB, limit %d; want some used, no limit", star.StorageUsedMB, star.Limit)
	}
	if err := env.srv.SetStoragePolicyLimit("*", star.StorageUsedMB); err != nil {
		t.Fatal(err)
	}
	if p := must(c.Client.GetStorageProfileByHref(profiles["*"]))(t); p.Limit != star.StorageUsedMB {
		t.Errorf("policy * limit %d, want %d", p.Limit, star.StorageUsedMB)
	}
	full := &importVmAsVAppParams{XmlnsVmext: types.XMLNamespaceExtension, Xmlns: types.XMLNamespaceVCloud,
		Name: "full", SourceMove: true, VMMoRef: must(finder.VirtualMachine(ctx, "DC0_H0_VM0"))(t).Reference().Value,
		Profile: &hrefRef{HREF: profiles["*"]}, Vdc: &hrefRef{HREF: vdc.Vdc.HREF}}
	if _, err := importVM(t, c, ext, full); err == nil || !strings.Contains(err.Error(), "storage quota") {
		t.Errorf("an import past the policy's storage limit: %v, want it refused", err)
	}

	// A disabled policy: its profile says so, and an import naming it is
	// refused; the default cannot be disabled.
	if err := env.srv.SetStoragePolicyEnabled("Gold", false); err == nil {
		t.Error("the default storage policy was disabled")
	}
	if err := env.srv.SetDefaultStoragePolicy("*"); err != nil {
		t.Fatal(err)
	}
	if err := env.srv.SetStoragePolicyEnabled("Gold", false); err != nil {
		t.Fatal(err)
	}
	if p := must(c.Client.GetStorageProfileByHref(profiles["Gold"]))(t); p.Enabled == nil || *p.Enabled {
		t.Errorf("disabled Gold's profile: Enabled %v", p.Enabled)
	}
	params := &importVmAsVAppParams{XmlnsVmext: types.XMLNamespaceExtension, Xmlns: types.XMLNamespaceVCloud,
		Name: "disabled", SourceMove: true, VMMoRef: must(finder.VirtualMachine(ctx, "DC0_H0_VM0"))(t).Reference().Value,
		Profile: &hrefRef{HREF: profiles["Gold"]}, Vdc: &hrefRef{HREF: vdc.Vdc.HREF}}
	if _, err := importVM(t, c, ext, params); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("an import naming a disabled policy: %v, want it refused", err)
	}
}
