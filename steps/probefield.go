package steps

import (
	"fmt"
	"strings"
)

// probesField asks the simple probes, one service address per VM, as
// "VM=host:port" (TCP) or "VM=icmp:host", comma-separated: the wizard's way
// to have the cutover's downtime measured (a plan without probes measures
// none). Probes it cannot show that way (a guest ping, one that waits for
// several VMs, one named otherwise) stay in the plan as they are.
func probesField() Field {
	return Field{Key: "probes", Title: "Service probes",
		Description: "what answers for each VM, measured from before its cutover until it answers again (its downtime): VM=host:port (TCP) or VM=icmp:host, comma-separated; empty: none (the plan file's probes: list takes more kinds)",
		Get: func(pf *PlanFile) string {
			var parts []string
			for _, p := range pf.Probes {
				if s, ok := simpleProbe(p); ok {
					parts = append(parts, s)
				}
			}
			return strings.Join(parts, ", ")
		},
		Set: func(pf *PlanFile, v string) {
			ps, err := parseSimpleProbes(v)
			if err != nil {
				return // the field shows why; the plan keeps its probes
			}
			var out []ProbePlan
			for _, p := range pf.Probes {
				if _, ok := simpleProbe(p); !ok {
					out = append(out, p)
				}
			}
			pf.Probes = append(out, ps...)
		},
		Validate: func(v string, _ *PlanFile) error {
			_, err := parseSimpleProbes(v)
			return err
		}}
}

// simpleProbe is p as the probes field shows it, when it can.
func simpleProbe(p ProbePlan) (string, bool) {
	if p.VM == "" || len(p.VMs) > 0 {
		return "", false
	}
	switch {
	case p.TCP != "" && (p.Name == "" || p.Name == p.VM+" (tcp)"):
		return p.VM + "=" + p.TCP, true
	case p.ICMP != "" && (p.Name == "" || p.Name == p.VM+" (icmp)"):
		return p.VM + "=icmp:" + p.ICMP, true
	}
	return "", false
}

// parseSimpleProbes reads the probes field.
func parseSimpleProbes(v string) ([]ProbePlan, error) {
	var out []ProbePlan
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		vm, target, ok := strings.Cut(part, "=")
		vm, target = strings.TrimSpace(vm), strings.TrimSpace(target)
		if !ok || vm == "" || target == "" {
			return nil, fmt.Errorf("%q: want VM=host:port or VM=icmp:host", part)
		}
		if err := ValidName(vm, nil); err != nil {
			return nil, fmt.Errorf("%q: VM %w", part, err)
		}
		p := ProbePlan{VM: vm, Name: vm + " (tcp)", TCP: target}
		if host, ok := strings.CutPrefix(target, "icmp:"); ok {
			p = ProbePlan{VM: vm, Name: vm + " (icmp)", ICMP: host}
		}
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
		out = append(out, p)
	}
	return out, nil
}
