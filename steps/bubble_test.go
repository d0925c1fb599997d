package steps

import (
	"strings"
	"testing"
)

// TestBubbleRunner: which booted copy a test migration's probe runs from
// inside the isolated network, or why it does not run.
func TestBubbleRunner(t *testing.T) {
	copyOf := func(vm, guest string) *testCopy {
		return &testCopy{c: &vmCutover{plan: VMPlan{Name: vm}}, guestID: guest}
	}
	booted := map[string]*testCopy{
		"WebApp1": copyOf("WebApp1", "ubuntu64Guest"),
		"WebApp2": copyOf("WebApp2", "ubuntu64Guest"),
		"WinSrv1": copyOf("WinSrv1", "windows2019srv_64Guest"),
	}
	only := func(names ...string) map[string]*testCopy {
		m := map[string]*testCopy{}
		for _, n := range names {
			m[n] = booted[n]
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		probe   ProbePlan
		booted  map[string]*testCopy
		from    string // "" when it does not run
		because string
	}{
		{"guest ping in its from VM's copy", ProbePlan{From: "WebApp1", To: "172.16.10.12"}, booted, "WebApp1", ""},
		{"guest ping whose from VM has no copy", ProbePlan{From: "WebApp3", To: "172.16.10.12"}, booted, "", "WebApp3 has no running copy"},
		{"tcp from a Linux peer, not the Windows one", ProbePlan{VM: "WebApp2", TCP: "172.16.10.12:80"}, booted, "WebApp1", ""},
		{"tcp of a VM with no copy", ProbePlan{VM: "WebApp3", TCP: "172.16.10.13:80"}, booted, "", "WebApp3 has no running copy"},
		{"tcp of several VMs, one without a copy", ProbePlan{VM: "WebApp2", VMs: []string{"LinuxDB1"}, TCP: "172.16.10.12:80"}, booted, "", "LinuxDB1 has no running copy"},
		{"tcp without a peer: the copy itself", ProbePlan{VM: "WebApp2", TCP: "172.16.10.12:80"}, only("WebApp2"), "WebApp2", ""},
		{"tcp of a Windows copy alone", ProbePlan{VM: "WinSrv1", TCP: "172.16.10.21:3389"}, only("WinSrv1"), "", "Windows guest"},
		{"tcp of a Windows copy from a Linux peer", ProbePlan{VM: "WinSrv1", TCP: "172.16.10.21:3389"}, only("WinSrv1", "WebApp2"), "WebApp2", ""},
		{"icmp without a peer", ProbePlan{VM: "WebApp2", ICMP: "172.16.10.12"}, only("WebApp2"), "", "no other Linux VM"},
		{"icmp from a peer", ProbePlan{VM: "WebApp2", ICMP: "172.16.10.12"}, only("WebApp1", "WebApp2"), "WebApp1", ""},
		{"a probe that names no VM", ProbePlan{TCP: "10.0.0.1:80"}, booted, "", "names no VM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := bubbleRunner(tc.probe, tc.booted)
			switch {
			case tc.from != "" && (got == nil || got.c.plan.Name != tc.from):
				t.Errorf("runs from %v (%s), want the copy of %s", got, why, tc.from)
			case tc.from == "" && got != nil:
				t.Errorf("runs from the copy of %s, want not run (%s)", got.c.plan.Name, tc.because)
			case tc.from == "" && !strings.Contains(why, tc.because):
				t.Errorf("not run because %q, want it to say %q", why, tc.because)
			}
		})
	}
}
