package steps

import (
	"strings"
	"testing"
)

// TestProbesField: the wizard's probes answer shows and replaces the simple
// probes (one TCP or ICMP address per VM) and keeps the others (a guest
// ping, a probe of several VMs) as they are; a bad entry is refused with
// what would be valid and changes nothing.
func TestProbesField(t *testing.T) {
	f := probesField()
	pf := &PlanFile{MigrationPlan: MigrationPlan{Probes: []ProbePlan{
		{Name: "WebApp2 (tcp)", VM: "WebApp2", TCP: "127.16.10.12:8080"},
		{Name: "WebApp1 -> WebApp2 (guest ping)", From: "WebApp1", To: "172.16.10.12"},
		{Name: "shop", VM: "WebApp2", VMs: []string{"DB1"}, TCP: "10.0.0.9:443"},
	}}}
	if got := f.Get(pf); got != "WebApp2=127.16.10.12:8080" {
		t.Errorf("Get = %q, want the one simple probe", got)
	}
	f.Set(pf, "WebApp2=10.0.0.5:443, WebApp1=icmp:10.0.0.4")
	if got := f.Get(pf); got != "WebApp2=10.0.0.5:443, WebApp1=icmp:10.0.0.4" {
		t.Errorf("after Set: %q", got)
	}
	if len(pf.Probes) != 4 || pf.Probes[0].From != "WebApp1" || pf.Probes[1].Name != "shop" {
		t.Errorf("the other probes were not kept as they are: %+v", pf.Probes)
	}
	for _, bad := range []struct{ v, want string }{
		{"WebApp2", "want VM=host:port or VM=icmp:host"},
		{"WebApp2=10.0.0.5", `tcp "10.0.0.5": want host:port`},
		{"=10.0.0.5:80", "want VM=host:port"},
		{"WebApp2=127.16.10.12:444274201", `tcp "127.16.10.12:444274201": port 444274201 is not a TCP port (1 to 65535)`},
		{"WebApp2=127.16.10.12:0", "port 0 is not a TCP port"},
		{"WebApp2=127.16.10.12:-80", "port -80 is not a TCP port"},
		{"WebApp2=127.16.10.12:99999999999999999999", "is not a TCP port"},
	} {
		if err := f.Validate(bad.v, pf); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.v, err, bad.want)
		}
		f.Set(pf, bad.v)
		if len(pf.Probes) != 4 {
			t.Errorf("a refused answer changed the probes: %+v", pf.Probes)
		}
	}
	f.Set(pf, "")
	if len(pf.Probes) != 2 || f.Get(pf) != "" {
		t.Errorf("an empty answer: %+v, want only the other probes left", pf.Probes)
	}
}
