package session

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/config"
)

// TestMissingLoginNamesItsVariable: a login that lacks a part names the
// variable of that endpoint to set, not another endpoint's.
func TestMissingLoginNamesItsVariable(t *testing.T) {
	ctx := context.Background()
	noSecret := func(name, what string) (string, error) { return SecretFromEnv("FERRY_TEST_UNSET_"+name, what) }
	for _, c := range []struct {
		name string
		cfg  config.Config
		dial func(*Session) error
		want string
	}{
		{"provider password", config.Config{Provider: config.Endpoint{URL: "https://vc.example.com/sdk", Username: "admin"}},
			func(s *Session) error { _, err := s.ProviderVC(ctx); return err }, "(set FERRY_PROVIDER_PASSWORD)"},
		{"provider username", config.Config{Provider: config.Endpoint{URL: "https://vc.example.com/sdk"}},
			func(s *Session) error { _, err := s.ProviderVC(ctx); return err }, "(set FERRY_PROVIDER_USERNAME)"},
		{"on-prem password", config.Config{OnPrem: config.Endpoint{URL: "https://vc.example.com/sdk", Username: "admin"}},
			func(s *Session) error { _, err := s.OnPrem(ctx); return err }, "(set GOVC_PASSWORD)"},
		{"tenant user", config.Config{Tenant: config.Endpoint{URL: "https://vcd.example.com/api"}},
			func(s *Session) error { _, err := s.Tenant(ctx); return err }, "(set FERRY_TENANT_USER, or an API token: the config's tenant.api_token or tenant.api_token_file, or FERRY_TENANT_API_TOKEN or FERRY_TENANT_API_TOKEN_FILE)"},
		{"tenant password", config.Config{Tenant: config.Endpoint{URL: "https://vcd.example.com/api", Username: "companyadmin", Org: "Company"}},
			func(s *Session) error { _, err := s.Tenant(ctx); return err }, "set FERRY_TEST_UNSET_FERRY_TENANT_PASSWORD in the environment; or log in with an API token instead: the config's tenant.api_token or tenant.api_token_file, or FERRY_TENANT_API_TOKEN or FERRY_TENANT_API_TOKEN_FILE"},
		{"provider administrator password", config.Config{VCD: config.Endpoint{URL: "https://vcd.example.com/api", Username: "administrator", Org: "System"}},
			func(s *Session) error { _, err := s.VCD(ctx); return err }, "set FERRY_TEST_UNSET_VCD_PASSWORD in the environment; or log in with an API token instead: the config's vcd.api_token or vcd.api_token_file, or VCD_API_TOKEN or VCD_API_TOKEN_FILE"},
		{"tenant org", config.Config{Tenant: config.Endpoint{URL: "https://vcd.example.com/api", Username: "companyadmin", Password: "x"}},
			func(s *Session) error { _, err := s.Tenant(ctx); return err }, "(set FERRY_TENANT_ORG)"},
		{"provider administrator org", config.Config{VCD: config.Endpoint{URL: "https://vcd.example.com/api", Username: "administrator", Password: "x"}},
			func(s *Session) error { _, err := s.VCD(ctx); return err }, "(set VCD_ORG; System for the provider)"},
	} {
		s := New(&c.cfg)
		s.Secret = noSecret
		if err := c.dial(s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
