package vcd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// taskPoll is how often ferry first polls a Cloud Director task: most end
// within a second or two, and go-vcloud-director's 3 s polls would add
// seconds to a cutover's downtime (and to a setup, per network and tunnel
// change). A task that runs on is polled less often (pollPause), up to
// every taskPollMax.
const (
	taskPoll    = 100 * time.Millisecond
	taskPollMax = time.Second
)

// pollPause is the pause before the next poll of a task followed for
// elapsed: taskPoll, growing by a tenth of elapsed up to taskPollMax. A
// task's end is seen at most a tenth of its time (and a second) late, and
// a long import is not polled ten times a second for minutes.
func pollPause(elapsed time.Duration) time.Duration {
	return min(taskPoll+elapsed/10, taskPollMax)
}

// VirtualCenter is a vCenter registered in Cloud Director.
type VirtualCenter struct {
	ID   string // urn:vcloud:vimserver:<uuid>
	UUID string // the <uuid> of ID, used by the admin extension API
	Name string
	URL  string
}

// VirtualCenters lists the vCenters registered in Cloud Director (provider only).
func (c *Client) VirtualCenters() ([]VirtualCenter, error) {
	u, err := c.Client.OpenApiBuildEndpoint(types.OpenApiPathVersion1_0_0 + types.OpenApiEndpointVirtualCenters)
	if err != nil {
		return nil, err
	}
	var vcs []*types.VSphereVirtualCenter
	if err := c.Client.OpenApiGetAllItems("37.0", u, nil, &vcs, nil); err != nil {
		return nil, fmt.Errorf("list virtual centers: %w", err)
	}
	out := make([]VirtualCenter, 0, len(vcs))
	for _, v := range vcs {
		out = append(out, VirtualCenter{ID: v.VcId, UUID: v.VcId[strings.LastIndex(v.VcId, ":")+1:], Name: v.Name, URL: v.Url})
	}
	return out, nil
}

// VirtualCenterFor finds the registered vCenter whose URL has host (the
// provider vCenter ferry writes replicas to); with one vCenter, that one.
func (c *Client) VirtualCenterFor(host string) (VirtualCenter, error) {
	vcs, err := c.VirtualCenters()
	if err != nil {
		return VirtualCenter{}, err
	}
	var names []string
	for _, v := range vcs {
		if u, err := url.Parse(v.URL); err == nil && (u.Host == host || u.Hostname() == host) {
			return v, nil
		}
		names = append(names, v.Name+" ("+v.URL+")")
	}
	if len(vcs) == 1 {
		return vcs[0], nil
	}
	return VirtualCenter{}, notFound("virtual center for", host, names)
}

type importHref struct {
	HREF string `xml:"href,attr"`
	Name string `xml:"name,attr,omitempty"`
}

// The import bodies follow vmwextensions.xsd, which Cloud Director
// validates (elementFormDefault qualified): the elements an ImportVm*Params
// type declares itself (VmName, VmMoRef, VdcStorageProfile, Vdc, VApp) are
// in the extension namespace, only what it inherits from vCloud types
// (ParamsType's Description) in the vCloud namespace. Bodies that real Cloud
// Director accepted put VmMoRef and Vdc in the extension namespace
// (<ImportVmAsVAppParams xmlns="http://www.vmware.com/vcloud/extension/v1.5"
// name=".." sourceMove="true"><VmMoRef>vm-111</VmMoRef><Vdc href=".."/>).

// importAsVAppParams is ImportVmAsVAppParamsType (extends
// VAppCreationParamsType): the name attribute names the new vApp; the
// elements, in schema order: Description (vCloud), VmName, VmMoRef,
// VdcStorageProfile, Vdc (extension).
type importAsVAppParams struct {
	XMLName        xml.Name    `xml:"vmext:ImportVmAsVAppParams"`
	Xmlns          string      `xml:"xmlns,attr"`
	XmlnsVmext     string      `xml:"xmlns:vmext,attr"`
	Name           string      `xml:"name,attr"`
	SourceMove     bool        `xml:"sourceMove,attr"`
	Description    string      `xml:"Description,omitempty"`
	VMName         string      `xml:"vmext:VmName,omitempty"`
	VMMoRef        string      `xml:"vmext:VmMoRef"`
	StorageProfile *importHref `xml:"vmext:VdcStorageProfile,omitempty"`
	Vdc            importHref  `xml:"vmext:Vdc"`
}

// importIntoVAppParams is ImportVmIntoExistingVAppParamsType (extends
// VCloudExtensibleType: no name attribute, no Description): VmName,
// VmDescription, VmMoRef, VdcStorageProfile and VApp, all in the extension
// namespace, in that order.
type importIntoVAppParams struct {
	XMLName        xml.Name    `xml:"vmext:ImportVmIntoExistingVAppParams"`
	Xmlns          string      `xml:"xmlns,attr"`
	XmlnsVmext     string      `xml:"xmlns:vmext,attr"`
	SourceMove     bool        `xml:"sourceMove,attr"`
	VMName         string      `xml:"vmext:VmName,omitempty"`
	VMDescription  string      `xml:"vmext:VmDescription,omitempty"`
	VMMoRef        string      `xml:"vmext:VmMoRef"`
	StorageProfile *importHref `xml:"vmext:VdcStorageProfile,omitempty"`
	VApp           importHref  `xml:"vmext:VApp"`
}

// ImportOptions are the optional parts of an import.
type ImportOptions struct {
	// VMName names the VM in Cloud Director (default: its vCenter name).
	VMName string
	// StorageProfile is the VDC storage policy the VM is placed in (nil:
	// the VDC's default). See StorageProfile.
	StorageProfile *StoragePolicy
}

// StorageProfile finds the VDC storage policy named name among vdc's
// (refused when disabled: GET /api/vdcStorageProfile/{id}), or, for "", the
// one Cloud Director uses for a VM given none: the VDC's only one, or of
// several its default (each profile read until the default is found).
func (c *Client) StorageProfile(vdcH *VDC, name string) (*StoragePolicy, error) {
	refs := storageProfileRefs(vdcH)
	var names []string
	for _, r := range refs {
		if name != "" && r.Name == name {
			p, err := c.readStoragePolicy(vdcH, r)
			if err != nil {
				return nil, err
			}
			if p.Disabled {
				return nil, fmt.Errorf("storage policy %q of VDC %s is disabled: Cloud Director places no VM in it (its import would fail inside the downtime); name an enabled one, or ask the provider to enable it", name, vdcH.Name)
			}
			return p, nil
		}
		names = append(names, r.Name)
	}
	switch {
	case name != "":
		return nil, notFound("storage policy", name, names)
	case len(refs) == 0:
		return nil, fmt.Errorf("VDC %s has no storage policy", vdcH.Name)
	case len(refs) == 1:
		return c.readStoragePolicy(vdcH, refs[0])
	}
	for _, r := range refs {
		p, err := c.readStoragePolicy(vdcH, r)
		if err != nil {
			return nil, err
		}
		if p.Default {
			return p, nil
		}
	}
	return nil, fmt.Errorf("VDC %s has several storage policies (%s) and none is its default: name one as storage_profile", vdcH.Name, strings.Join(names, ", "))
}

// StoragePolicies reads every storage policy of vdc, in the VDC's order,
// disabled ones included (marked).
func (c *Client) StoragePolicies(vdcH *VDC) ([]*StoragePolicy, error) {
	var out []*StoragePolicy
	for _, r := range storageProfileRefs(vdcH) {
		p, err := c.readStoragePolicy(vdcH, r)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func storageProfileRefs(vdcH *VDC) []*types.Reference {
	if vdcH.vdc.Vdc.VdcStorageProfiles == nil {
		return nil
	}
	return vdcH.vdc.Vdc.VdcStorageProfiles.VdcStorageProfile
}

// readStoragePolicy is the policy at r as Cloud Director has it now.
func (c *Client) readStoragePolicy(vdcH *VDC, r *types.Reference) (*StoragePolicy, error) {
	sp, err := c.Client.GetStorageProfileByHref(r.HREF)
	if err != nil {
		return nil, fmt.Errorf("VDC %s: storage policy %s: %w", vdcH.Name, r.Name, err)
	}
	p := wrapStoragePolicy(r)
	p.Default, p.Disabled = sp.Default, sp.Enabled != nil && !*sp.Enabled
	// The limit is in the profile's Units, its use always in MB.
	p.LimitMB, p.UsedMB = sp.Limit, sp.StorageUsedMB
	switch strings.ToUpper(sp.Units) {
	case "GB":
		p.LimitMB = sp.Limit << 10
	case "TB":
		p.LimitMB = sp.Limit << 20
	}
	return p, nil
}

// attachNetworks gives vapp the org VDC networks named that it lacks, as
// bridged vApp networks named after them (what Cloud Director's UI does
// when a VM of a vApp is connected to an org VDC network). A vApp network
// of the name that is not bridged to that org VDC network is refused.
func (c *Client) attachNetworks(vapp *govcd.VApp, names []string) error {
	if err := vapp.Refresh(); err != nil {
		return fmt.Errorf("vApp %q: %w", vapp.VApp.Name, err)
	}
	var vdc *govcd.Vdc
	for _, name := range names {
		if name == "" || name == "none" {
			continue
		}
		var have *types.VAppNetworkConfiguration
		if sec := vapp.VApp.NetworkConfigSection; sec != nil {
			for i := range sec.NetworkConfig {
				if sec.NetworkConfig[i].NetworkName == name {
					have = &sec.NetworkConfig[i]
				}
			}
		}
		if vapp.VApp.NetworkConfigSection == nil {
			// AddOrgNetwork appends to the section the vApp was read
			// with: read it when the vApp came without one.
			sec, err := vapp.GetNetworkConfig()
			if err != nil {
				return fmt.Errorf("networks of vApp %q: %w", vapp.VApp.Name, err)
			}
			vapp.VApp.NetworkConfigSection = sec
		}
		if vdc == nil {
			v, err := vapp.GetParentVDC()
			if err != nil {
				return fmt.Errorf("VDC of vApp %q: %w", vapp.VApp.Name, err)
			}
			vdc = &v
		}
		net, err := vdc.GetOpenApiOrgVdcNetworkByName(name)
		if err != nil {
			return fmt.Errorf("org VDC network %q: %w", name, err)
		}
		uuid := strings.TrimPrefix(net.OpenApiOrgVdcNetwork.ID, "urn:vcloud:network:")
		if have != nil {
			if cfg := have.Configuration; cfg == nil || cfg.ParentNetwork == nil || !strings.HasSuffix(strings.TrimSuffix(cfg.ParentNetwork.HREF, "/"), "/"+uuid) {
				return fmt.Errorf("vApp %q has a network %q of its own, not bridged to the org VDC network of that name: rename or remove it in Cloud Director, then run the step again", vapp.VApp.Name, name)
			}
			continue
		}
		org := &types.OrgVDCNetwork{Name: name, HREF: c.Client.VCDHREF.String() + "/network/" + uuid}
		// Followed with ferry's poll interval, not go-vcloud-director's 3 s
		// (AddOrgNetwork): this runs inside the cutover's downtime.
		if err := wait(vapp.AddOrgNetworkAsync(&govcd.VappNetworkSettings{}, org, false)); err != nil {
			return fmt.Errorf("give vApp %q the org VDC network %q: %w", vapp.VApp.Name, name, err)
		}
		// AddOrgNetwork writes the section it last read plus the new
		// network: read it again before the next.
		if err := vapp.Refresh(); err != nil {
			return fmt.Errorf("vApp %q: %w", vapp.VApp.Name, err)
		}
	}
	return nil
}

func (o ImportOptions) storageProfile() *importHref {
	if o.StorageProfile == nil {
		return nil
	}
	return &importHref{HREF: o.StorageProfile.href, Name: o.StorageProfile.Name}
}

// ImportVMAsVApp imports a provider-vCenter VM into a new vApp of vdc,
// without copying its disks (sourceMove: the VM stays where it is), and
// waits for the task.
func (c *Client) ImportVMAsVApp(vc VirtualCenter, vmMoRef string, vdcH *VDC, vappName string, opts ...ImportOptions) (*VApp, error) {
	vdc := vdcH.vdc
	var o ImportOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	body := importAsVAppParams{
		Xmlns: types.XMLNamespaceVCloud, XmlnsVmext: types.XMLNamespaceExtension,
		Name: vappName, SourceMove: true, VMName: o.VMName, VMMoRef: vmMoRef, Vdc: importHref{HREF: vdc.Vdc.HREF},
		StorageProfile: o.storageProfile(),
		Description:    "imported by ferry (warm migration)",
	}
	var vapp types.VApp
	if err := c.postXML(vc, "importVmAsVApp", "application/vnd.vmware.admin.importVmAsVAppParams+xml", body, &vapp); err != nil {
		return nil, fmt.Errorf("import VM %s as vApp %q: %w", vmMoRef, vappName, err)
	}
	if vapp.Tasks != nil {
		for _, t := range vapp.Tasks.Task {
			if err := c.waitTask(t); err != nil {
				return nil, fmt.Errorf("import VM %s as vApp %q: %w", vmMoRef, vappName, err)
			}
		}
	}
	a, err := vdc.GetVAppByHref(vapp.HREF)
	if err != nil {
		return nil, fmt.Errorf("read imported vApp %q: %w", vappName, err)
	}
	return &VApp{vapp: a}, nil
}

// ImportVMIntoVApp imports a provider-vCenter VM into an existing vApp.
func (c *Client) ImportVMIntoVApp(vc VirtualCenter, vmMoRef string, vappH *VApp, opts ...ImportOptions) error {
	vapp := vappH.vapp
	var o ImportOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	body := importIntoVAppParams{
		Xmlns: types.XMLNamespaceVCloud, XmlnsVmext: types.XMLNamespaceExtension,
		SourceMove: true, VMName: o.VMName, VMMoRef: vmMoRef, VApp: importHref{HREF: vapp.VApp.HREF},
		StorageProfile: o.storageProfile(),
	}
	var task types.Task
	if err := c.postXML(vc, "importVmIntoExistingVApp", "application/vnd.vmware.admin.importVmIntoExistingVAppParams+xml", body, &task); err != nil {
		return fmt.Errorf("import VM %s into vApp %q: %w", vmMoRef, vapp.VApp.Name, err)
	}
	if err := c.waitTask(&task); err != nil {
		return fmt.Errorf("import VM %s into vApp %q: %w", vmMoRef, vapp.VApp.Name, err)
	}
	return vapp.Refresh()
}

// NICConnection is how one NIC of an imported VM is connected: to the org
// VDC network Network, keeping its MAC, at IP (mode MANUAL) when the
// source's address is known, else with DHCP.
type NICConnection struct {
	MAC     string
	Network string
	IP      string
}

// ConnectNICs connects the named VM's NICs (matched by MAC) to their org
// VDC networks with the source's MACs and addresses, instead of the
// port-group network an import leaves, and keeps guest customization off
// (the guest keeps its identity and configuration). Every NIC of the VM
// must be given. The vApp is given each org VDC network first (a bridged
// vApp network of its name), when it has none of that name: Cloud Director
// connects a NIC only to a network of its vApp.
//
// Customization is switched off first: with it enabled, Cloud Director
// re-customizes a guest whose network settings it changed at its next
// power-on, rewriting the guest's network configuration and computer name.
func (c *Client) ConnectNICs(vappH *VApp, vmName string, nics []NICConnection) error {
	vapp := vappH.vapp
	vm, err := vapp.GetVMByName(vmName, true)
	if err != nil {
		return fmt.Errorf("VM %q in vApp %q: %w", vmName, vapp.VApp.Name, err)
	}
	if err := c.disableGuestCustomization(vm); err != nil {
		return fmt.Errorf("VM %q: turn guest customization off: %w", vmName, err)
	}
	var nets []string
	for _, n := range nics {
		if !slices.Contains(nets, n.Network) {
			nets = append(nets, n.Network)
		}
	}
	if err := c.attachNetworks(vapp, nets); err != nil {
		return err
	}
	ncs, err := vm.GetNetworkConnectionSection()
	if err != nil {
		return fmt.Errorf("network connections of VM %q: %w", vmName, err)
	}
	byMAC := map[string]NICConnection{}
	for _, n := range nics {
		byMAC[strings.ToLower(n.MAC)] = n
	}
	for _, nc := range ncs.NetworkConnection {
		n, ok := byMAC[strings.ToLower(nc.MACAddress)]
		if !ok {
			return fmt.Errorf("VM %q: NIC %d (MAC %s) is not one of the source's NICs", vmName, nc.NetworkConnectionIndex, nc.MACAddress)
		}
		delete(byMAC, strings.ToLower(nc.MACAddress))
		nc.Network, nc.IsConnected, nc.MACAddress = n.Network, true, n.MAC
		nc.NeedsCustomization = false
		nc.IPAddress, nc.IPAddressAllocationMode = n.IP, types.IPAllocationModeManual
		if n.IP == "" {
			nc.IPAddressAllocationMode = types.IPAllocationModeDHCP
		}
	}
	if len(byMAC) > 0 {
		var missing []string
		for m := range byMAC {
			missing = append(missing, m)
		}
		return fmt.Errorf("VM %q has no NIC with MAC %s", vmName, strings.Join(missing, ", "))
	}
	// VM.UpdateNetworkConnectionSection would wait with go-vcloud-director's
	// 3 s polls, inside the cutover's downtime: the same PUT, followed with
	// ferry's.
	ncs.Ovf, ncs.Xmlns = types.XMLNamespaceOVF, types.XMLNamespaceVCloud
	task, err := c.Client.ExecuteTaskRequest(vm.VM.HREF+"/networkConnectionSection/", http.MethodPut,
		types.MimeNetworkConnectionSection, "connect the NICs: %s", ncs)
	if err := wait(task, err); err != nil {
		return fmt.Errorf("connect the NICs of VM %q: %w", vmName, err)
	}
	return nil
}

// disableGuestCustomization sets the VM's GuestCustomizationSection to
// Enabled=false (nothing when it already is), waiting for the task with
// ferry's poll interval rather than go-vcloud-director's 3 s: this runs
// inside the cutover's downtime.
func (c *Client) disableGuestCustomization(vm *govcd.VM) error {
	gcs, err := vm.GetGuestCustomizationSection()
	if err != nil {
		return err
	}
	if gcs.Enabled != nil && !*gcs.Enabled {
		return nil
	}
	off := false
	gcs.Enabled = &off
	gcs.Xmlns, gcs.Ovf = types.XMLNamespaceVCloud, types.XMLNamespaceOVF
	task, err := c.Client.ExecuteTaskRequest(vm.VM.HREF+"/guestCustomizationSection", http.MethodPut,
		types.MimeGuestCustomizationSection, "turn guest customization off: %s", gcs)
	return wait(task, err)
}

func (c *Client) postXML(vc VirtualCenter, action, contentType string, body, out any) error {
	b, err := xml.Marshal(body)
	if err != nil {
		return err
	}
	u, err := url.Parse(fmt.Sprintf("%s/admin/extension/vimServer/%s/%s", c.Client.VCDHREF.String(), vc.UUID, action))
	if err != nil {
		return err
	}
	req := c.Client.NewRequest(nil, http.MethodPost, *u, bytes.NewReader(b))
	req.Header.Set("Content-Type", contentType)
	resp, err := checkResp(c.Client.Http.Do(req))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return xml.NewDecoder(resp.Body).Decode(out)
}

func (c *Client) waitTask(t *types.Task) error {
	task := govcd.NewTask(&c.Client)
	task.Task = t
	return followTask(task, taskPollGrace)
}

// wait follows the task of a call that returned one (err: the call
// failed, and there is no task).
func wait(task govcd.Task, err error) error {
	if err != nil {
		return err
	}
	return followTask(&task, taskPollGrace)
}

// taskPollGrace is how long a task is polled on through failed polls (a
// 5xx from a cell or load balancer, a dropped connection) before ferry
// gives up following it.
const taskPollGrace = 2 * time.Minute

// followTask polls a Cloud Director task until it ends (every taskPoll at
// first, then less often: pollPause), and says whether it succeeded. Unlike go-vcloud-director's
// WaitInspectTaskCompletion, a poll that fails does not end the wait (the
// task goes on in Cloud Director whatever its client saw: a cutover that
// took an import it could not follow for a failed one rolled back around
// a VM Cloud Director was importing), unless the failure will not pass
// (permanent) or polls kept failing for grace; and a task that ended
// aborted (cancelled) is a failure, not a success.
func followTask(task *govcd.Task, grace time.Duration) error {
	start := time.Now()
	var failing time.Time // since when polls fail; zero: the last one answered
	for {
		err := task.Refresh()
		switch {
		case err == nil:
			failing = time.Time{}
			switch task.Task.Status {
			case "success":
				return nil
			case "queued", "preRunning", "running":
			case "error":
				msg := task.Task.Operation
				if task.Task.Error != nil {
					msg = fmt.Sprintf("[%d:%s] - %s", task.Task.Error.MajorErrorCode, task.Task.Error.MinorErrorCode, task.Task.Error.Message)
				}
				return fmt.Errorf("task did not complete successfully: %s", msg)
			default: // aborted, canceled
				return fmt.Errorf("task %s (%s) ended %s in Cloud Director: it did not complete", task.Task.Name, task.Task.Operation, task.Task.Status)
			}
		case permanent(err):
			return fmt.Errorf("follow task %s: %w", task.Task.HREF, err)
		case failing.IsZero():
			failing = time.Now()
		case time.Since(failing) > grace:
			return fmt.Errorf("follow task %s: its status could not be read for %s: %w; it may still run in Cloud Director", task.Task.HREF, grace, err)
		}
		time.Sleep(pollPause(time.Since(start)))
	}
}

// ErrPowerOnRefused says Cloud Director answered a power-on with an error,
// or ran its task to an error: the VM was not powered on. Any other power-on
// failure (the connection dropped, the task could not be followed) leaves it
// unknown whether the VM runs.
var ErrPowerOnRefused = errors.New("Cloud Director refused the power-on")

// PowerOnVM powers on the named VM of a vApp. A failure wraps
// ErrPowerOnRefused only when Cloud Director itself said no.
func (c *Client) PowerOnVM(vappH *VApp, vmName string) error {
	vapp := vappH.vapp
	vm, err := vapp.GetVMByName(vmName, true)
	if err != nil {
		return fmt.Errorf("VM %q in vApp %q: %w", vmName, vapp.VApp.Name, err)
	}
	u, err := url.Parse(vm.VM.HREF + "/power/action/powerOn")
	if err != nil {
		return err
	}
	resp, err := c.Client.Http.Do(c.Client.NewRequest(nil, http.MethodPost, *u, nil))
	if err != nil {
		return fmt.Errorf("power on VM %q in vApp %q: %w", vmName, vapp.VApp.Name, err)
	}
	if resp, err = checkResp(resp, nil); err != nil {
		return fmt.Errorf("power on VM %q in vApp %q: %w: %v", vmName, vapp.VApp.Name, ErrPowerOnRefused, err)
	}
	defer resp.Body.Close()
	task := govcd.NewTask(&c.Client)
	if err := xml.NewDecoder(resp.Body).Decode(task.Task); err != nil {
		return fmt.Errorf("power on VM %q in vApp %q: read its task: %w", vmName, vapp.VApp.Name, err)
	}
	// Followed through failed polls, as the import is (followTask): a
	// poll a cell or load balancer answered 503 ended go-vcloud-director's
	// wait, and the cutover then stopped for a decision on a target that
	// Cloud Director was powering on.
	if err := followTask(task, taskPollGrace); err != nil {
		if st := task.Task.Status; st == "error" || st == "aborted" || st == "canceled" {
			return fmt.Errorf("power on VM %q in vApp %q: %w: %v", vmName, vapp.VApp.Name, ErrPowerOnRefused, err)
		}
		return fmt.Errorf("power on VM %q in vApp %q: %w", vmName, vapp.VApp.Name, err)
	}
	return nil
}

// VMStatus is the named VM's status in Cloud Director (POWERED_ON,
// POWERED_OFF, ...), read afresh.
func (c *Client) VMStatus(vappH *VApp, vmName string) (string, error) {
	vapp := vappH.vapp
	vm, err := vapp.GetVMByName(vmName, true)
	if err != nil {
		return "", fmt.Errorf("VM %q in vApp %q: %w", vmName, vapp.VApp.Name, err)
	}
	return vm.GetStatus()
}

// UndeployVM powers the named VM of a vApp off and undeploys it through
// Cloud Director (a no-op when it is off and undeployed; a VM powered off
// without an undeploy is still deployed); nothing is deleted.
func (c *Client) UndeployVM(vappH *VApp, vmName string) error {
	vapp := vappH.vapp
	vm, err := vapp.GetVMByName(vmName, true)
	if err != nil {
		return fmt.Errorf("VM %q in vApp %q: %w", vmName, vapp.VApp.Name, err)
	}
	st, err := vm.GetStatus()
	if err != nil {
		return fmt.Errorf("VM %q in vApp %q: %w", vmName, vapp.VApp.Name, err)
	}
	if st == "POWERED_OFF" && !vm.VM.Deployed {
		return nil
	}
	if err := wait(vm.Undeploy()); err != nil {
		return fmt.Errorf("undeploy VM %q in vApp %q: %w", vmName, vapp.VApp.Name, err)
	}
	return nil
}

// RemoveVApp powers off (if needed) and deletes a vApp. Cloud Director
// deletes the VMs' disks with it: detach what must survive first.
func (c *Client) RemoveVApp(vappH *VApp) error {
	vapp := vappH.vapp
	if err := vapp.Refresh(); err != nil {
		return fmt.Errorf("vApp %q: %w", vapp.VApp.Name, err)
	}
	// Cloud Director refuses to delete a deployed vApp: POWERED_ON, or MIXED
	// (some VMs on, or a deployed vApp with a VM off).
	if st := types.VAppStatuses[vapp.VApp.Status]; st == "POWERED_ON" || st == "MIXED" || vapp.VApp.Deployed {
		if err := wait(vapp.Undeploy()); err != nil {
			return fmt.Errorf("undeploy vApp %q: %w", vapp.VApp.Name, err)
		}
	}
	if err := wait(vapp.Delete()); err != nil {
		return fmt.Errorf("delete vApp %q: %w", vapp.VApp.Name, err)
	}
	return nil
}

// RemoveVM undeploys and deletes one VM of a vApp (the rollback of an
// import into an existing vApp, which must keep the vApp's other VMs).
// Cloud Director deletes the VM's disks with it: detach what must survive
// first.
func (c *Client) RemoveVM(vappH *VApp, vmName string) error {
	vapp := vappH.vapp
	vm, err := vapp.GetVMByName(vmName, true)
	if err != nil {
		return fmt.Errorf("VM %q in vApp %q: %w", vmName, vapp.VApp.Name, err)
	}
	// Powered off without an undeploy (Cloud Director's powerOff, or the
	// guest's shutdown), a VM is still deployed and cannot be deleted.
	if st, err := vm.GetStatus(); err == nil && (st == "POWERED_ON" || vm.VM.Deployed) {
		if err := wait(vm.Undeploy()); err != nil {
			return fmt.Errorf("undeploy VM %q: %w", vmName, err)
		}
	}
	task, err := c.Client.ExecuteTaskRequest(vm.VM.HREF, http.MethodDelete, "", "delete VM: %s", nil)
	if err := wait(task, err); err != nil {
		return fmt.Errorf("delete VM %q from vApp %q: %w", vmName, vapp.VApp.Name, err)
	}
	return vapp.Refresh()
}
