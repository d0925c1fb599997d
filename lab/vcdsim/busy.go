package vcdsim

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
)

// Cloud Director runs one operation at a time on an entity: while a task
// holds a vApp, a VM, an org VDC network or an edge gateway, another
// change of it is refused with HTTP 400, minorErrorCode BUSY_ENTITY:
//
//	[ <request id> ] The entity Ref: com.vmware.vcloud.entity.vm:<uuid> is
//	busy completing an operation VAPP_UPDATE_VM.
//	VAPP_UPDATE_VM(com.vmware.vcloud.entity.task:<uuid>)
//
// (vmware/go-vcloud-director#616 quotes that error for a VM; a vApp busy
// with VDC_COMPOSE_VAPP refused a vApp network update in
// vmware/terraform-provider-vcd#649, and one busy with
// VDC_UPDATE_VAPP_NETWORK_SECTION in #208; an org VDC network was busy
// while a vApp on it was made in
// vmware-archive/cloud-provider-for-cloud-director#112.) Clients retry:
// go-vcloud-director's edge gateway calls every 3 s on "is busy completing
// an operation", terraform-provider-vcd serialises the operations on one
// vApp (its VMs' included) behind a lock of the parent vApp.
//
// The lab's rule: a task holds its owner; a VM's task its vApp too, a
// vApp's task its VMs; an L2 VPN tunnel's task its edge gateway; a change
// of a vApp's networks the org VDC networks it adds or removes
// (handlePutNetworkConfig). A change (any method but GET) of an entity in
// a request's path, or of one a handler names (refuseBusy), is refused
// while a running task holds it or, for a VM or vApp, its vApp or VMs.

// expand is the set of entities a change of id involves: a VM and its
// vApp, a vApp and its VMs, anything else alone.
func (m *model) expand(id string) []string {
	if id == "" {
		return nil
	}
	out := []string{id}
	for _, a := range m.vapps {
		if a.urn() == id {
			for _, v := range a.vms {
				out = append(out, v.urn())
			}
			return out
		}
		for _, v := range a.vms {
			if v.urn() == id {
				return append(out, a.urn())
			}
		}
	}
	return out
}

// lock makes the running task t hold ids too.
func (t *task) lock(ids ...string) {
	for _, id := range ids {
		if id != "" {
			t.locks = append(t.locks, id)
		}
	}
}

// busyWith is a running task holding one of the entities a change of ids
// involves, and which of them it holds.
func (m *model) busyWith(ids ...string) (*task, string) {
	var want []string
	for _, id := range ids {
		want = append(want, m.expand(id)...)
	}
	for _, t := range m.running {
		if t.status != "running" {
			continue
		}
		for _, l := range t.locks {
			for _, w := range want {
				if l == w {
					return t, l
				}
			}
		}
	}
	return nil, ""
}

// refuseBusy answers BUSY_ENTITY, as Cloud Director does, when a running
// task holds one of the entities a change of ids involves; it reports
// whether it did.
func (c *reqCtx) refuseBusy(ids ...string) bool {
	t, id := c.m.busyWith(ids...)
	if t == nil {
		return false
	}
	op := upperSnake(t.name)
	msg := fmt.Sprintf("[ %s ] The entity Ref: %s is busy completing an operation %s. %s(com.vmware.vcloud.entity.task:%s)",
		c.w.Header().Get("X-VMWARE-VCLOUD-REQUEST-ID"), entityRef(id), op, op, t.id)
	c.s.busyRefusals.Add(1)
	c.fail(http.StatusBadRequest, "BUSY_ENTITY", "%s", msg)
	return true
}

// entityRef is an urn (urn:vcloud:vm:<uuid>) as Cloud Director names the
// entity in errors (com.vmware.vcloud.entity.vm:<uuid>).
func entityRef(id string) string {
	if rest, ok := strings.CutPrefix(id, "urn:vcloud:"); ok {
		return "com.vmware.vcloud.entity." + rest
	}
	return "com.vmware.vcloud.entity." + id
}

// upperSnake is an operationName (vappUpdateVm) as Cloud Director's busy
// error names it (VAPP_UPDATE_VM).
func upperSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// pathEntities are the entities a request's path changes: a vApp or VM of
// the XML API (/api/vApp/vapp-<id>, /api/vApp/vm-<id>), an OpenAPI entity
// by urn (/cloudapi/1.0.0/orgVdcNetworks/urn:vcloud:network:<id>), an L2
// VPN tunnel (.../l2vpn/tunnels/<id>).
func pathEntities(path string) []string {
	var out []string
	segs := strings.Split(path, "/")
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, "urn:vcloud:"):
			out = append(out, s)
		case i > 0 && segs[i-1] == "vApp" && strings.HasPrefix(s, "vapp-"):
			out = append(out, urn("vapp", strings.TrimPrefix(s, "vapp-")))
		case i > 0 && segs[i-1] == "vApp" && strings.HasPrefix(s, "vm-"):
			out = append(out, urn("vm", strings.TrimPrefix(s, "vm-")))
		case i > 0 && segs[i-1] == "tunnels" && s != "":
			out = append(out, s)
		}
	}
	return out
}

// changes says whether r asks for a change that a busy entity refuses:
// any method but GET and HEAD, except cancelling a task and logging in or
// out.
func changes(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	p := r.URL.Path
	return !strings.HasPrefix(p, "/api/task/") && !strings.Contains(p, "/sessions")
}

// BusyRefusals counts the changes refused BUSY_ENTITY so far.
func (s *Server) BusyRefusals() int64 { return s.busyRefusals.Load() }

// SetTaskTime sets how long tasks created from now on run at least.
func (s *Server) SetTaskTime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.TaskTime = max(d, 0)
}
