package steps

import (
	"maps"
	"strings"
	"testing"
)

// TestNetworksFieldRoundTrip: the networks answer shows the plan's
// networks: as pairs and writes pairs back; an entry it cannot show (a
// name with a comma) stays in the plan, and a bad answer leaves the plan's
// networks as they were, the message naming the bad pair and the form.
func TestNetworksFieldRoundTrip(t *testing.T) {
	f := networksField()
	pf := &PlanFile{}
	pf.Networks = map[string]string{"backend-network": "company-network", "odd,name": "backend"}
	if got := f.Get(pf); got != "backend-network=company-network" {
		t.Errorf("Get = %q", got)
	}
	if err := f.Check(pf); err != nil {
		t.Errorf("a plan's networks: refused: %v", err)
	}
	f.Set(pf, "backend-network=company-network, dmz = company-network")
	want := map[string]string{"backend-network": "company-network", "dmz": "company-network", "odd,name": "backend"}
	if !maps.Equal(pf.Networks, want) {
		t.Errorf("after Set: %v, want %v", pf.Networks, want)
	}
	for v, msg := range map[string]string{
		"backend-network":                 `"backend-network": want port group=org VDC network`,
		"a=b, a=c":                        `port group "a" is mapped twice (to b and c)`,
		"=company-network":                `"=company-network": want port group=org VDC network`,
		"backend-network=company/network": "org VDC network \"company/network\" contains a slash",
	} {
		err := f.Validate(v, pf)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Validate(%q) = %v, want %q", v, err, msg)
		}
		f.Set(pf, v)
		if !maps.Equal(pf.Networks, want) {
			t.Errorf("Set(%q) changed the plan's networks to %v", v, pf.Networks)
		}
	}
	f.Set(pf, "")
	if !maps.Equal(pf.Networks, map[string]string{"odd,name": "backend"}) {
		t.Errorf("emptied: %v", pf.Networks)
	}
}
