package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestCloudDirectorAPITokens: ferry logs in to Cloud Director with API
// tokens, as orgs whose users log in through SAML, OIDC or MFA must.
//   - The provider administrator's token (VCD_API_TOKEN) cannot make step
//     1's rights changes (Cloud Director lets a token's session only view
//     roles and rights bundles): `ferry plan` says so and what to do, exits
//     non-zero, and nothing changes.
//   - The tenant's token (the lab's ferry-lab-tokens.yaml, no tenant
//     password anywhere) takes the journey to the cutover: step 1 learns
//     the tenant's user from the token's session.
//   - Once the rights are in place, the provider's token plans them as done.
func TestCloudDirectorAPITokens(t *testing.T) {
	t.Parallel() // a lab of its own
	l := labtest.Start(t, lab.Options{Dir: t.TempDir(), DiskSize: 16 << 20, WorkloadRate: -1})
	raw, err := os.ReadFile(l.TokenConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), l.Config().Tenant.Password) || !strings.Contains(string(raw), "api_token: "+l.TenantAPIToken) {
		t.Fatalf("the lab's token config holds the tenant's password, or not its token:\n%s", raw)
	}
	// The provider administrator logs in with a token from the environment.
	cfg, err := config.Load(l.TokenConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.VCD.Username, cfg.VCD.Password = "", ""
	providerCfg := filepath.Join(t.TempDir(), "provider-token.yaml")
	if err := cfg.Save(providerCfg); err != nil {
		t.Fatal(err)
	}
	providerTok := l.VCD.AddAPIToken("System", "administrator")
	ferry := func(conf string, env []string, args ...string) (string, int) {
		cmd := exec.Command(ferryBin, append([]string{"--config", conf}, args...)...)
		cmd.Env = append(cleanEnv(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), labtest.ExitCode(err)
	}
	withToken := []string{"VCD_API_TOKEN=" + providerTok}

	rightsBefore := l.VCD.OrgHasRight(lab.TenantOrg, "Organization vDC Gateway: Configure L2 VPN")
	out, code := ferry(providerCfg, withToken, "plan", "--plan", l.PlanPath())
	if code == 0 || !strings.Contains(out, "Cloud Director does not let a session made from an API token change them") ||
		!strings.Contains(out, "run step 1 with the provider administrator's password") {
		t.Errorf("plan with the provider's API token before step 1: exit %d\n%s", code, out)
	}
	if strings.Contains(out, providerTok) || strings.Contains(out, l.TenantAPIToken) {
		t.Errorf("an API token in ferry's output:\n%s", out)
	}
	if l.VCD.OrgHasRight(lab.TenantOrg, "Organization vDC Gateway: Configure L2 VPN") != rightsBefore {
		t.Error("the refused plan changed the org's rights")
	}

	out, code = ferry(l.TokenConfigFile, nil, "run", "--plan", l.PlanPath())
	if code != 0 || !strings.Contains(out, "stopped at cutover") || !strings.Contains(out, `changed: ~ update user "companyadmin" (as planned above)`) {
		t.Fatalf("run with the tenant's API token: exit %d\n%s", code, out)
	}
	if made, _ := l.VCD.TokenLogins(); made == 0 {
		t.Error("the run made no session from the tenant's token")
	}

	out, code = ferry(providerCfg, withToken, "plan", "--plan", l.PlanPath())
	if code != 0 || strings.Contains(out, "API token change them") {
		t.Errorf("plan with the provider's API token once the rights are in place: exit %d\n%s", code, out)
	}
}
