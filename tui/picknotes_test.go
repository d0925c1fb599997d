package tui

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/steps"
)

// TestPickListNotesKeepWhatComesOfThePick (QA walk at 80x24: step 3's
// sink port group listed "backend-network  VMs on it (…" and
// "company-network  VMs on it (…": cut under the answer's column, 31
// cells, the notes lost "refused as the sink", and step 5's storage policy
// "NFS  not on provider-ds: the…" lost "the import would copy the disks"):
// a choice that is not highlighted keeps the end of its note, what would
// come of the pick, and its name whole.
func TestPickListNotesKeepWhatComesOfThePick(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		h := newHarness(t, setup{pf: withVMs(), done: []string{"rights", "trunk-network"}})
		h.m.w.choices = func(_ context.Context, key string, _ map[string]string) ([]steps.Choice, error) {
			if key != "appliance.stretched_portgroup" {
				return nil, nil
			}
			return []steps.Choice{
				{Value: "backend-network", Note: "VMs on it (WinSrv1): refused as the sink"},
				{Value: "company-network", Note: "VMs on it (LinuxDB1, WebApp1, WebApp2, WebApp3, WinSrv1): refused as the sink"},
				{Value: "nfs-network", Note: "not on provider-ds: the import would copy the disks"},
				{Value: "uplink-network"},
			}, nil
		}
		h.start(size[0], size[1])
		for range 3 {
			h.send(press("down"))
		}
		h.mustSee(t, "› uplink-network", "  backend-network  VMs on it", "  company-network  VMs on it",
			"  nfs-network  no", ": the import would copy the disks")
		for _, vm := range []string{"backend-network", "company-network"} {
			if l := lineWith(h.view(), "  "+vm+"  "); !strings.HasSuffix(strings.TrimRight(l, " "), ": refused as the sink") {
				t.Errorf("at %dx%d %s's line is %q, want its note's end, \": refused as the sink\"", size[0], size[1], vm, l)
			}
		}
	}
}
