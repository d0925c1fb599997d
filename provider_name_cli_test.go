package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/steps"
)

// TestCutoverNamesTheTargetAsVCenterShowsIt: Cloud Director renames the VM
// it adopts in the provider vCenter ("WebApp2 (<id>)"); an admin looking
// for the target in the vSphere client finds it by that name, not by a
// moref. `ferry run --confirm-cutover` (headless) and the downtime report
// (Markdown and JSON) name the target as vCenter shows it, read through
// govmomi here, with its moref beside it. Before, they gave only the moref
// ("vm-54 over 1 replica disk(s) ...").
func TestCutoverNamesTheTargetAsVCenterShowsIt(t *testing.T) {
	t.Parallel() // a lab of its own
	l, run := headlessLab(t)
	if out, code := run("run", "--plan", l.PlanPath()); code != 0 || !strings.Contains(out, "stopped at cutover") {
		t.Fatalf("steps 1-7: exit %d\n%s", code, out)
	}
	out, code := run("run", "--plan", l.PlanPath(), "--confirm-cutover", "WebApp2")
	if code != 0 {
		t.Fatalf("cutover: exit %d\n%s", code, out)
	}

	ctx := context.Background()
	vc := connectVC(t, l, l.Provider)
	ref, ok, err := labtest.ProviderVM(ctx, vc, "WebApp2")
	if err != nil || !ok {
		t.Fatalf("no WebApp2 at the provider after the cutover (%v)", err)
	}
	name, ok, err := vc.VMByRef(ctx, ref)
	if err != nil || !ok {
		t.Fatalf("the target's name at the provider: %v", err)
	}
	if name == "WebApp2" {
		t.Fatalf("the provider vCenter shows the target as %q: Cloud Director did not rename the VM it adopted", name)
	}
	want := fmt.Sprintf("%s [%s]", name, ref.Value)

	if !strings.Contains(out, "in the provider vCenter: "+want) {
		t.Errorf("ferry run does not name the target as the provider vCenter shows it (%s):\n%s", want, out)
	}
	m := regexp.MustCompile(`downtime report: (\S+\.md) \(JSON: (\S+\.json)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no downtime report in the output:\n%s", out)
	}
	md, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "Target in the provider vCenter: "+want+".") {
		t.Errorf("the downtime report does not name the target as the provider vCenter shows it (%s):\n%s", want, md)
	}
	js, err := os.ReadFile(m[2])
	if err != nil {
		t.Fatal(err)
	}
	var rep steps.CutoverReport
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.VMs) != 1 || rep.VMs[0].ProviderVM != want {
		t.Errorf("JSON report's provider VM: %+v, want %q", rep.VMs, want)
	}
}
