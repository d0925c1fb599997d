package steps

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParsePlanFile: whatever the plan file holds, parsing, validating and
// defaulting it never panics; a plan that parses is saved and read back the
// same; a key that looks like a secret is never accepted. The seed corpus
// (testdata/fuzz/FuzzParsePlanFile and the seeds below) runs in `make test`;
// `go test ./steps -run '^$' -fuzz FuzzParsePlanFile -fuzztime 1m` explores.
func FuzzParsePlanFile(f *testing.F) {
	for _, seed := range []string{
		"",
		"org: Company\nvdc: Company-VDC\nvms:\n  - name: WebApp2\n    rpo: 1m\n",
		"org: Company\nnetwork: {name: company-network, gateway_cidr: 172.16.10.1/24}\nappliance: {ip: 172.16.10.250, prefix: 24}\n",
		"vms: [{name: a, power_on: false}, {name: b, rpo: 24h}]\nprobes: [{name: web, vm: a, tcp: '127.0.0.1:80'}]\ncutover: {shutdown_timeout: 30s}\n",
		"tunnel: {psk: hunter2}\n",
		"skip: [rights, bogus]\nbandwidth_mbit: -1\nnetworks: {company-network: company-network}\n",
		"a: &a [*a, *a]\n",
		"org: [1, 2]\n",
		"\t- :",
	} {
		f.Add([]byte(seed))
	}
	it := NewItinerary()
	f.Fuzz(func(t *testing.T, b []byte) {
		pf, err := ParsePlanFile(b)
		if err != nil {
			return
		}
		var raw map[string]any
		if yaml.Unmarshal(b, &raw) == nil {
			for k := range raw {
				if secretKey.MatchString(k) {
					t.Fatalf("a secret-like key %q was accepted", k)
				}
			}
		}
		_ = pf.Validate(it)
		pf.ApplyDefaults(it)
		out, err := yaml.Marshal(pf)
		if err != nil {
			t.Fatalf("a parsed plan does not marshal: %v", err)
		}
		again, err := ParsePlanFile(out)
		if err != nil {
			t.Fatalf("a saved plan does not parse back: %v\n%s", err, out)
		}
		if out2, _ := yaml.Marshal(again); !strings.EqualFold(string(out2), string(out)) {
			t.Fatalf("plan changed on a round trip:\n%s\n---\n%s", out, out2)
		}
	})
}
