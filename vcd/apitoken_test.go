package vcd_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	want := "API token refused: the API token of org Company is revoked, mistyped, made in another org or Cloud Director, or a service account's already used (single-use: give it as a file, which ferry keeps current) (the config's tenant.api_token or tenant.api_token_file, or FERRY_TENANT_API_TOKEN or FERRY_TENANT_API_TOKEN_FILE)"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), tok) {
		t.Errorf("login with a revoked token: %v\nwant %q, and never the token", err, want)
	}
}

// TestServiceAccountTokenFile: a service account's token is single-use:
// Cloud Director answers each login with a new one and refuses the spent
// one. Given as a file (terraform-provider-vcd's JSON, or a bare token),
// ferry writes each replacement back, in the file's format, keeping its
// other fields and its mode, so the next login, this process's after Cloud
// Director ended the session or another process's, works. Two logins at
// once from two processes' worth of clients never spend one token twice. A
// file others may read is refused. Given as a value, the replacement is
// kept in memory for this process's logins.
func TestServiceAccountTokenFile(t *testing.T) {
	t.Parallel()
	l := labtest.Start(t, lab.Options{DiskSize: 16 << 20})
	e := l.Config().Tenant
	ctx := context.Background()
	dir := t.TempDir()
	jsonFile := filepath.Join(dir, "sa.json")
	first := l.VCD.AddServiceAccount(e.Org, "ferry-sa")
	if err := os.WriteFile(jsonFile, []byte(`{"refresh_token": "`+first+`", "token_type": "Service Account", "updated_by": "terraform"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := vcd.Config{URL: e.URL, APITokenFile: jsonFile, Org: e.Org, CAFile: e.CAFile}
	c, err := vcd.Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("login with a service account's token file: %v", err)
	}
	defer c.Close()
	if c.User != "ferry-sa" {
		t.Errorf("session user %q, want ferry-sa", c.User)
	}
	read := func() map[string]any {
		t.Helper()
		b, err := os.ReadFile(jsonFile)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("the token file is no longer JSON: %v\n%s", err, b)
		}
		return doc
	}
	doc := read()
	if doc["refresh_token"] == first || doc["refresh_token"] == "" || doc["token_type"] != "Service Account" {
		t.Errorf("the file after the login: %v, want the replacement and its other fields", doc)
	}
	if fi, _ := os.Stat(jsonFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("the token file's mode: %v, want 0600", fi.Mode().Perm())
	}
	// Cloud Director ends the session: the next request logs in with the
	// file's token, and the file has the next one.
	l.VCD.EndSessions()
	if _, err := c.VDCByName(e.Org, "Company-VDC"); err != nil {
		t.Fatalf("after the session ended: %v", err)
	}
	if again := read(); again["refresh_token"] == doc["refresh_token"] {
		t.Error("the relogin left the spent token in the file")
	}
	// Two other processes' logins at once, sharing the file.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			c, err := vcd.Connect(ctx, cfg)
			if err == nil {
				c.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("login %d of 2 at once: %v", i+1, err)
		}
	}
	if _, refused := l.VCD.TokenLogins(); refused != 0 {
		t.Errorf("%d grants refused: a token was spent twice", refused)
	}

	// A bare token stays bare; a file others may read is refused.
	bare := filepath.Join(dir, "sa.token")
	if err := os.WriteFile(bare, []byte(l.VCD.AddServiceAccount(e.Org, "ferry-sa2")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bcfg := cfg
	bcfg.APITokenFile = bare
	if _, err := vcd.Connect(ctx, bcfg); err == nil || !strings.Contains(err.Error(), "may be read by others than its owner (mode 0644): chmod 600 "+bare) {
		t.Errorf("a token file others may read: %v", err)
	}
	if err := os.Chmod(bare, 0o600); err != nil {
		t.Fatal(err)
	}
	bc, err := vcd.Connect(ctx, bcfg)
	if err != nil {
		t.Fatalf("a bare token file: %v", err)
	}
	bc.Close()
	if b, _ := os.ReadFile(bare); strings.Contains(string(b), "{") || len(strings.TrimSpace(string(b))) < 16 {
		t.Errorf("the bare token file after the login: %q", b)
	}

	// As a value: the replacement lives in memory.
	vcfg := vcd.Config{URL: e.URL, APIToken: l.VCD.AddServiceAccount(e.Org, "ferry-sa3"), Org: e.Org, CAFile: e.CAFile}
	vc, err := vcd.Connect(ctx, vcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	l.VCD.EndSessions()
	if _, err := vc.VDCByName(e.Org, "Company-VDC"); err != nil {
		t.Errorf("a service account's token given as a value, after the session ended: %v", err)
	}
	if _, refused := l.VCD.TokenLogins(); refused != 0 {
		t.Errorf("%d grants refused", refused)
	}
}
