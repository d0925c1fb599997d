package vcdsim

import "github.com/vmware/go-vcloud-director/v2/types/v56"

// impliedRights is vCD's table of implied rights, as far as public output
// of a real vCD shows it; the other rights list no implied rights.
//
//   - "Catalog: Add vApp from My Cloud": the sample output of
//     terraform-provider-vcd's vcd_right data source
//     (website/docs/d/right.html.markdown), read from a vCD 10.x.
//   - "Catalog: Edit Properties": go-vcloud-director's Test_GlobalRoles and
//     Test_RightsBundle say these two rights "include 5 implied rights", and
//     terraform-provider-vcd's vcd_role / vcd_global_role examples list the
//     closure of the two as the four rights below plus themselves; so Edit
//     Properties implies the two rights that Add vApp from My Cloud does not
//     account for, plus the shared "Catalog: View Private and Shared
//     Catalogs" (3 + 2 = 5).
//
// Implied rights are not of the same entity nor only VIEW rights: adding a
// vApp to a catalog implies editing vApp templates.
var impliedRights = map[string][]string{
	"Catalog: Add vApp from My Cloud": {
		"vApp Template / Media: View", "vApp Template / Media: Edit", "Catalog: View Private and Shared Catalogs",
	},
	"Catalog: Edit Properties": {
		"Catalog: View Private and Shared Catalogs", "Organization vDC Compute Policy: View",
	},
}

// realRightIDs are the ids a real vCD gives some rights (same source as
// above); vCD derives right ids from their names, identically on every
// installation. Other rights get a name-based id of the simulator's own.
var realRightIDs = map[string]string{
	"Catalog: Add vApp from My Cloud":           "4886663f-ae31-37fc-9a70-3dbe2f24a8c5",
	"vApp Template / Media: View":               "1aa46727-6192-365d-b571-5ce51beb3b48",
	"vApp Template / Media: Edit":               "3eedbfb4-c4a3-373d-b4b5-d76ca363ab50",
	"Catalog: View Private and Shared Catalogs": "fa4ce8f8-c640-3b65-8fa5-a863b56c3d51",
}

// rightID is the id of a right of the catalogue.
func rightID(name string) string {
	if id, ok := realRightIDs[name]; ok {
		return id
	}
	return nameUUID("right", name)
}

// seedImpliedRights lists each right's implied rights (impliedRights).
func (m *model) seedImpliedRights() {
	for name, implied := range impliedRights {
		r := m.rightByName(name)
		if r == nil {
			continue
		}
		for _, n := range implied {
			if v := m.rightByName(n); v != nil {
				r.ImpliedRights = append(r.ImpliedRights, types.OpenApiReference{Name: v.Name, ID: v.ID})
			}
		}
	}
}
