package steps

import "testing"

// A front end reads back the right an item adds (it lists a resource's
// rights together), whatever the right's name holds; other items add none.
func TestAddedRight(t *testing.T) {
	for _, right := range []string{"Organization vDC Gateway: Configure DHCP", `odd "quoted" (name)`, "Enable/Disable"} {
		it := AddRight("rights bundle", "ferry L2 VPN (Company)", right, "org Company only")
		got, scope, ok := it.AddedRight()
		if !ok || got != right || scope != "org Company only" {
			t.Errorf("AddedRight of %q = %q, %q, %v", it.Detail, got, scope, ok)
		}
	}
	for _, it := range []Item{
		{Action: ActionUpdate, Kind: "rights bundle", Name: "b", Detail: "publish to org Company only"},
		{Action: ActionUpdate, Kind: "org-local role", Name: "r", Detail: `add the 3 rights of role "x" it lacks (org Company only)`},
		{Action: ActionCreate, Kind: "rights bundle", Name: "b", Detail: `add "x" (org Company only)`},
	} {
		if r, _, ok := it.AddedRight(); ok {
			t.Errorf("AddedRight of %q = %q, want none", it.Detail, r)
		}
	}
}
