package vcdsim

import (
	"strings"
	"testing"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// TestAPITokens: go-vcloud-director trades an API token for a session
// (SetApiToken); a token of another org, a made-up one and a revoked one
// are refused invalid_grant, and revoking a token ends its sessions. A
// session made from a token may view roles and rights bundles but not
// change them, as Cloud Director's documentation says.
func TestAPITokens(t *testing.T) {
	e := start(t, Config{})
	tenantTok := e.srv.AddAPIToken("Company", "companyadmin")
	providerTok := e.srv.AddAPIToken("System", "administrator")

	tc := e.client(t)
	if _, err := tc.SetApiToken("Company", tenantTok); err != nil {
		t.Fatalf("tenant token: %v", err)
	}
	info, err := tc.Client.GetSessionInfo()
	if err != nil {
		t.Fatal(err)
	}
	if info.User.Name != "companyadmin" || info.Org.Name != "Company" {
		t.Errorf("session of the tenant token: user %q org %q", info.User.Name, info.Org.Name)
	}
	if _, err := tc.GetOrgByName("Company"); err != nil {
		t.Errorf("the tenant's token session reads its org: %v", err)
	}

	for _, bad := range []struct{ org, tok string }{{"System", tenantTok}, {"Company", providerTok}, {"Company", "made-up"}} {
		if _, err := e.client(t).SetApiToken(bad.org, bad.tok); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("token for org %s: %v, want invalid_grant", bad.org, err)
		}
	}

	pc := e.client(t)
	if _, err := pc.SetApiToken("System", providerTok); err != nil {
		t.Fatalf("provider token: %v", err)
	}
	if !pc.Client.IsSysAdmin {
		t.Error("the provider's token session is not the System administrator's")
	}
	gr, err := pc.Client.GetGlobalRoleByName("Organization Administrator")
	if err != nil {
		t.Fatalf("a token session views global roles: %v", err)
	}
	right, err := pc.Client.GetRightByName("Organization vDC Gateway: Configure L2 VPN")
	if err != nil {
		t.Fatal(err)
	}
	err = gr.AddRights([]types.OpenApiReference{{Name: right.Name, ID: right.ID}})
	if err == nil || !strings.Contains(err.Error(), "API token") {
		t.Errorf("a token session changed a global role: %v", err)
	}
	// The same change through a password login is let through.
	gr2, err := e.provider(t).Client.GetGlobalRoleByName("Organization Administrator")
	if err != nil {
		t.Fatal(err)
	}
	if err := gr2.AddRights([]types.OpenApiReference{{Name: right.Name, ID: right.ID}}); err != nil {
		t.Errorf("a password session changing a global role: %v", err)
	}

	e.srv.RevokeAPIToken(tenantTok)
	if _, err := tc.GetOrgByName("Company"); err == nil {
		t.Error("a revoked token's session still answers")
	}
	if _, err := e.client(t).SetApiToken("Company", tenantTok); err == nil {
		t.Error("a revoked token made a session")
	}
	if made, refused := e.srv.TokenLogins(); made != 2 || refused != 4 {
		t.Errorf("token logins made %d refused %d, want 2 and 4", made, refused)
	}
}

// TestServiceAccountTokenIsSingleUse: a service account's token is
// replaced at each grant, and the spent one is refused.
func TestServiceAccountTokenIsSingleUse(t *testing.T) {
	e := start(t, Config{})
	first := e.srv.AddServiceAccount("Company", "ferry-sa")
	r, err := e.client(t).GetBearerTokenFromApiToken("Company", first)
	if err != nil {
		t.Fatal(err)
	}
	if r.RefreshToken == "" || r.RefreshToken == first {
		t.Fatalf("the grant answered refresh token %q, want a new one", r.RefreshToken)
	}
	if _, err := e.client(t).GetBearerTokenFromApiToken("Company", first); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("the spent token: %v, want invalid_grant", err)
	}
	if _, err := e.client(t).SetApiToken("Company", r.RefreshToken); err != nil {
		t.Errorf("the replacement: %v", err)
	}
}
