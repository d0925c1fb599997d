package vcdsim

import (
	"testing"

	"github.com/vmware/go-vcloud-director/v2/govcd"
)

// The lab's NSX-T has no segment left to import: the list is empty for the
// VDC, a lookup by name is not found, and a filter is required.
func TestImportableSwitches(t *testing.T) {
	env := start(t, Config{})
	c := env.tenant(t)
	vdc := must(must(c.GetOrgByName("Company"))(t).GetVDCByName("Company-VDC", false))(t)
	if l := must(vdc.GetAllNsxtImportableSwitches())(t); len(l) != 0 {
		t.Fatalf("importable switches %+v", l)
	}
	if _, err := vdc.GetNsxtImportableSwitchByName("segment-1"); !govcd.ContainsNotFound(err) {
		t.Fatalf("lookup of a segment the lab does not have: %v", err)
	}
	if _, err := c.GetFilteredNsxtImportableSwitches(map[string]string{}); err == nil {
		t.Fatal("unfiltered importable switches answered")
	}
	if _, err := c.GetFilteredNsxtImportableSwitches(map[string]string{"orgVdc": nameUUID("vdc", "other")}); err == nil {
		t.Fatal("importable switches of an unknown VDC answered")
	}
}
