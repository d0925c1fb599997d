package vcdsim

import (
	"fmt"
	"net/http"
	"time"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// Guest customization of imported VMs, as Cloud Director treats a VM whose
// settings it manages: while the VM's GuestCustomizationSection is enabled,
// a change of its name or network settings in Cloud Director (a NIC
// connected to another network or given another address) marks the guest
// out of sync, and the next power-on re-customizes it: the guest's network
// settings, computer name (and on Windows possibly its SID) are rewritten by
// Cloud Director's tools. For a migrated VM that is damage, so a migration
// tool turns customization off before the first power-on. The simulator
// leaves customization enabled on an imported VM (the stricter case) and
// records every re-customization (Server.Recustomizations).

// Recustomization is one power-on that re-customized a guest.
type Recustomization struct {
	VM     string // VM name in Cloud Director
	VApp   string
	Reason string
	At     time.Time
}

// Recustomizations lists the guests re-customized at power-on, oldest first.
func (s *Server) Recustomizations() []Recustomization {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recustomization(nil), s.m.recustomized...)
}

// gcSection is an imported VM's customization setting.
type gcSection struct {
	disabled bool   // Enabled=false was set
	dirty    string // why the guest is out of sync ("" when it is not)
}

// changed records a change of the VM's settings that the guest would have
// to be re-customized for.
func (g *gcSection) changed(why string) {
	if !g.disabled && g.dirty == "" {
		g.dirty = why
	}
}

// poweredOn re-customizes the guest when it is out of sync and enabled.
func (m *model) poweredOn(v *vm) {
	if v.composed || v.gcs.disabled || v.gcs.dirty == "" {
		return
	}
	m.recustomized = append(m.recustomized, Recustomization{VM: v.name, VApp: v.vapp.name, Reason: v.gcs.dirty, At: time.Now()})
	v.gcs.dirty = ""
}

func gcHREF(c *reqCtx, v *vm) string { return c.abs(v.href() + "/guestCustomizationSection/") }

func (c *reqCtx) gcXML(v *vm) *types.GuestCustomizationSection {
	enabled := v.composed && v.gc.status != "" || !v.composed && !v.gcs.disabled
	f := false
	name := v.name
	if len(name) > 15 {
		name = name[:15] // a NetBIOS computer name
	}
	return &types.GuestCustomizationSection{
		Xmlns: xmlnsVcloud, Ovf: types.XMLNamespaceOVF,
		HREF: gcHREF(c, v), Type: types.MimeGuestCustomizationSection,
		Info: "Specifies Guest OS Customization Settings", Enabled: &enabled, ChangeSid: &f,
		VirtualMachineID: v.id, JoinDomainEnabled: &f, UseOrgSettings: &f, AdminPasswordEnabled: &f,
		ResetPasswordRequired: &f, ComputerName: name,
		Link: types.LinkList{{Rel: "edit", Type: types.MimeGuestCustomizationSection, HREF: gcHREF(c, v)}},
	}
}

func handleGetGCS(c *reqCtx) {
	if _, v := c.entityFromPath(); v != nil {
		c.xml(http.StatusOK, types.MimeGuestCustomizationSection, "GuestCustomizationSection", c.gcXML(v))
	}
}

// handlePutGCS sets Enabled (the other settings are accepted and not
// modelled); it answers a task, as Cloud Director does.
func handlePutGCS(c *reqCtx) {
	_, v := c.entityFromPath()
	if v == nil {
		return
	}
	var in types.GuestCustomizationSection
	if !c.readXML(&in) {
		return
	}
	if in.Enabled == nil {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "GuestCustomizationSection: Enabled is required")
		return
	}
	if v.importing {
		c.fail(http.StatusBadRequest, "BUSY_ENTITY", "VM %s is busy: it is being imported", v.name)
		return
	}
	if !v.composed {
		v.gcs.disabled = !*in.Enabled
		if v.gcs.disabled {
			v.gcs.dirty = ""
		}
	}
	t := c.m.newTask(c, "vappUpdateVm", fmt.Sprintf("Updating guest customization of %s", v.name), v.ref(), nil)
	c.taskResponse(t)
}
