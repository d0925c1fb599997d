package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/lab/labtest"
)

// TestEndpointsLogin (QA: the endpoints list of ferry plan and ferry status
// named Cloud Director once, without saying whether it logs in with a
// password or an API token, and the tenant's login had no row, so an
// operator could not tell which credential a plan would use): each Cloud
// Director login has a row saying how it authenticates (password, API
// token, token file and its path), with the lab's config (passwords) and
// its token config (the tenant by API token), a token file, and the
// provider's token from the environment; the endpoints list (all of ferry
// status) fits in 80 columns, and no password or token is ever printed.
func TestEndpointsLogin(t *testing.T) {
	l := smallLab(t)
	cfg := l.Config()
	secrets := []string{cfg.OnPrem.Password, cfg.Provider.Password, cfg.VCD.Password, cfg.Tenant.Password, l.TenantAPIToken}
	ferry := func(conf string, env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command(ferryBin, append([]string{"--config", conf}, args...)...)
		cmd.Env = append(cleanEnv(), env...)
		b, err := cmd.CombinedOutput()
		out := string(b)
		if code := labtest.ExitCode(err); code != 0 {
			t.Fatalf("ferry %s with %s: exit %d\n%s", strings.Join(args, " "), conf, code, out)
		}
		// ferry status fits in 80 columns, and so does ferry plan: its
		// endpoints list and its plan lines.
		for _, line := range strings.Split(out, "\n") {
			if w := ansi.StringWidth(line); w > textWidth {
				t.Errorf("ferry %s: a line of %d columns: %q", args[0], w, line)
			}
		}
		for _, s := range append(secrets, env...) {
			if _, v, ok := strings.Cut(s, "="); ok {
				s = v
			}
			if s != "" && strings.Contains(out, s) {
				t.Errorf("ferry %s with %s printed a secret:\n%s", args[0], conf, out)
			}
		}
		return out
	}
	// row is an endpoint's row: its URL, then how it logs in (the last
	// column, or FROM after it).
	row := func(endpoint, login string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(endpoint) + ` +` + regexp.QuoteMeta(l.VCD.URL()) + ` +` + regexp.QuoteMeta(login) + `( |$)`)
	}
	mustList := func(out, what string, rows ...*regexp.Regexp) {
		t.Helper()
		if !strings.Contains(out, "LOGIN") {
			t.Errorf("%s: no LOGIN column:\n%s", what, out)
		}
		for _, r := range rows {
			if !r.MatchString(out) {
				t.Errorf("%s: no row matching %s:\n%s", what, r, out)
			}
		}
	}

	for _, c := range []struct{ conf, tenant string }{{l.ConfigFile, "password"}, {l.TokenConfigFile, "API token"}} {
		for _, cmd := range []string{"plan", "status"} {
			out := ferry(c.conf, nil, cmd, "--plan", l.PlanPath())
			mustList(out, cmd+" with "+filepath.Base(c.conf), row("Cloud Director", "password"), row("Cloud Director tenant", c.tenant))
		}
	}

	// The tenant's token in a file (a service account's, kept current
	// there): its path, below the table when the row cannot hold it.
	dir := filepath.Join(t.TempDir(), "service-accounts", "company")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(l.TenantAPIToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fc, err := config.Load(l.TokenConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	fc.Tenant.APIToken, fc.Tenant.APITokenFile = "", tokenFile
	fileConf := filepath.Join(t.TempDir(), "token-file.yaml")
	if err := fc.Save(fileConf); err != nil {
		t.Fatal(err)
	}
	out := ferry(fileConf, nil, "plan", "--plan", l.PlanPath())
	mustList(out, "plan with a token file", row("Cloud Director", "password"), row("Cloud Director tenant", "token file (below)"))
	if !strings.Contains(unwrapped(out), "Cloud Director tenant's token file: "+tokenFile) {
		t.Errorf("plan with a token file: its path is not listed:\n%s", out)
	}

	// The provider administrator's token from the environment (the
	// config gives it no password).
	pc, err := config.Load(l.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	pc.VCD.Username, pc.VCD.Password = "", ""
	providerConf := filepath.Join(t.TempDir(), "provider-token.yaml")
	if err := pc.Save(providerConf); err != nil {
		t.Fatal(err)
	}
	out = ferry(providerConf, []string{"VCD_API_TOKEN=" + l.VCD.AddAPIToken("System", "administrator")}, "status", "--plan", l.PlanPath())
	mustList(out, "status with VCD_API_TOKEN", row("Cloud Director", "API token"), row("Cloud Director tenant", "password"))
}

// TestEndpointsLoginLayout: the LOGIN column sits between URL and FROM
// when the rows fit in 80 columns; a token file's path that does not fit
// is given whole below the table; without a Cloud Director login there is
// no LOGIN column.
func TestEndpointsLoginLayout(t *testing.T) {
	const url = "https://vcd.example.com/api"
	for _, c := range []struct {
		name   string
		o      []config.Origin
		want   []string // regexps of whole lines
		absent string
	}{
		{"fits", []config.Origin{{Endpoint: "Cloud Director", URL: url, Login: "password", From: "--config c.yaml"}, {Endpoint: "Cloud Director tenant", URL: url, Login: "API token", From: "--config c.yaml"}},
			[]string{`^ENDPOINT +URL +LOGIN +FROM$`, `^Cloud Director +` + url + ` +password +--config c\.yaml$`, `^Cloud Director tenant +` + url + ` +API token +--config c\.yaml$`}, ""},
		{"token file", []config.Origin{{Endpoint: "Cloud Director", URL: url, Login: "password", From: "--config c.yaml"},
			{Endpoint: "Cloud Director tenant", URL: url, Login: "token file /etc/ferry/company-migration.token", From: "--config c.yaml"}},
			[]string{`^ENDPOINT +URL +LOGIN$`, `^Cloud Director tenant +` + url + ` +token file \(below\)$`,
				`^Cloud Director tenant's token file: /etc/ferry/company-migration\.token$`, `^all from --config c\.yaml$`}, ""},
		{"no Cloud Director", []config.Origin{{Endpoint: "on-prem vCenter", URL: "https://vc.example.com/sdk", From: "--config c.yaml"}},
			[]string{`^ENDPOINT +URL +FROM$`, `^on-prem vCenter +https://vc\.example\.com/sdk +--config c\.yaml$`}, "LOGIN"},
	} {
		var b strings.Builder
		writeOrigins(&b, c.o)
		out := b.String()
		for _, w := range c.want {
			if !regexp.MustCompile(`(?m)` + w).MatchString(out) {
				t.Errorf("%s: no line matching %s:\n%s", c.name, w, out)
			}
		}
		if c.absent != "" && strings.Contains(out, c.absent) {
			t.Errorf("%s: reads %q:\n%s", c.name, c.absent, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if ansi.StringWidth(line) > textWidth {
				t.Errorf("%s: a line over %d columns: %q", c.name, textWidth, line)
			}
		}
	}
}
