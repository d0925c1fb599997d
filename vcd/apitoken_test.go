package vcd_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/lab/labtest"
	"github.com/ferry-migrate/ferry/vcd"
)

// TestAPITokenLogin: ferry logs in to Cloud Director with an API token
// instead of a password (orgs whose users log in through SAML/OIDC or with
// MFA have no password to give). The session names its user; when Cloud
// Director ends it (idle, a restart), the token logs in again; a revoked token is
// refused with a message that says so and where the token is set, never
// the token itself, and is not tried again at once.
func TestAPITokenLogin(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	e := l.Config().Tenant
	tok := l.VCD.AddAPIToken(e.Org, e.Username)
	ctx := context.Background()
	cfg := vcd.Config{URL: e.URL, APIToken: tok, Org: e.Org, CAFile: e.CAFile,
		Vars: vcd.Vars{Token: "FERRY_TENANT_API_TOKEN", Section: "tenant"}}
	c, err := vcd.Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("login with an API token: %v", err)
	}
	defer c.Close()
	if c.User != e.Username || !c.ViaToken {
		t.Errorf("token session: user %q via token %v, want %q and true", c.User, c.ViaToken, e.Username)
	}
	if _, err := c.VDCByName(e.Org, "Company-VDC"); err != nil {
		t.Fatal(err)
	}
	l.VCD.EndSessions()
	if _, err := c.VDCByName(e.Org, "Company-VDC"); err != nil {
		t.Errorf("after Cloud Director ended the token's session: %v", err)
	}
	if made, _ := l.VCD.TokenLogins(); made != 2 {
		t.Errorf("sessions made from the token: %d, want 2 (the login, and one after the session ended)", made)
	}

	// Another user's token for the configured user.
	other := cfg
	other.User = "someone-else"
	if _, err := vcd.Connect(ctx, other); err == nil || !strings.Contains(err.Error(), "is user "+e.Username+"'s, not someone-else") {
		t.Errorf("a token of another user than the configured one: %v", err)
	}

	l.VCD.RevokeAPIToken(tok)
	for range 3 {
		_, err = c.VDCByName(e.Org, "Company-VDC")
		if err == nil || !strings.Contains(err.Error(), "API token refused") || !strings.Contains(err.Error(), "set a new one and restart ferry") {
			t.Fatalf("after the token was revoked: %v", err)
		}
	}
	if _, refused := l.VCD.TokenLogins(); refused != 1 {
		t.Errorf("a revoked token was tried %d times, want once", refused)
	}
	_, err = vcd.Connect(ctx, cfg)
	want := "API token refused: the API token of org Company is revoked, mistyped, or made in another org or Cloud Director (the config's tenant.api_token, or FERRY_TENANT_API_TOKEN)"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), tok) {
		t.Errorf("login with a revoked token: %v\nwant %q, and never the token", err, want)
	}
}
