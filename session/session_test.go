package session_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/session"
)

func TestSecretAskedOnlyForAMissingPassword(t *testing.T) {
	cfg := &config.Config{Tenant: config.Endpoint{URL: "https://127.0.0.1:1/api", Username: "admin", Org: "Company"}}
	s := session.New(cfg)
	var asked []string
	refused := errors.New("operator pressed Esc")
	s.Secret = func(name, what string) (string, error) {
		asked = append(asked, name+": "+what)
		return "", refused
	}
	for range 2 { // a refused prompt is not remembered: the next use asks again
		if _, err := s.Tenant(context.Background()); !errors.Is(err, refused) {
			t.Fatalf("tenant login without a password: %v, want the prompt's error", err)
		}
	}
	if len(asked) != 2 || !strings.HasPrefix(asked[0], "FERRY_TENANT_PASSWORD: ") {
		t.Fatalf("asked %q, want FERRY_TENANT_PASSWORD twice", asked)
	}

	// Nothing to log in to: no prompt, the client names what is missing.
	asked = nil
	if _, err := s.VCD(context.Background()); err == nil || !strings.Contains(err.Error(), "VCD_URL") {
		t.Fatalf("provider login without a URL: %v", err)
	}
	if _, err := s.Edge(context.Background()); err == nil || !strings.Contains(err.Error(), "FERRY_EDGE_URL") {
		t.Fatalf("edge without a URL: %v", err)
	}
	if _, err := s.ProviderVC(context.Background()); err == nil || !strings.Contains(err.Error(), "FERRY_PROVIDER_URL") {
		t.Fatalf("provider vCenter without a URL: %v", err)
	}
	if len(asked) != 0 {
		t.Fatalf("asked %q for endpoints that are not configured", asked)
	}

	// A configured password is used as is.
	cfg.Edge = config.Endpoint{Username: "admin", Password: "in-config"}
	if p, err := s.Password(cfg.Edge, "FERRY_EDGE_PASSWORD", "the edge's password"); err != nil || p != "in-config" || len(asked) != 0 {
		t.Fatalf("configured password: %q %v, asked %q", p, err, asked)
	}
}

func TestSecretFromEnv(t *testing.T) {
	t.Setenv("FERRY_TEST_SECRET", "")
	if _, err := session.SecretFromEnv("FERRY_TEST_SECRET", "the test's password"); err == nil ||
		!strings.Contains(err.Error(), "the test's password is needed: set FERRY_TEST_SECRET") {
		t.Fatalf("unset: %v", err)
	}
	t.Setenv("FERRY_TEST_SECRET", "s3cret")
	if v, err := session.SecretFromEnv("FERRY_TEST_SECRET", "the test's password"); err != nil || v != "s3cret" {
		t.Fatalf("set: %q %v", v, err)
	}
}

func TestNoConfig(t *testing.T) {
	s := session.New(nil)
	ctx := context.Background()
	for name, dial := range map[string]func() error{
		"OnPrem":     func() error { _, err := s.OnPrem(ctx); return err },
		"ProviderVC": func() error { _, err := s.ProviderVC(ctx); return err },
		"VCD":        func() error { _, err := s.VCD(ctx); return err },
		"Tenant":     func() error { _, err := s.Tenant(ctx); return err },
		"Edge":       func() error { _, err := s.Edge(ctx); return err },
	} {
		if err := dial(); err == nil || !strings.Contains(err.Error(), "configured") {
			t.Errorf("%s without a configuration: %v", name, err)
		}
	}
	s.Close(ctx) // nothing connected: nothing to close
}

func TestGuestPingAsksForAMissingGuestLogin(t *testing.T) {
	cfg := &config.Config{}
	cfg.Guest.Username = "root"
	s := session.New(cfg)
	var asked []string
	refused := errors.New("operator pressed Esc")
	s.Secret = func(name, what string) (string, error) {
		asked = append(asked, name)
		return "", refused
	}
	if _, err := s.GuestPing(context.Background(), "WebApp1", "172.16.10.12", nil); !errors.Is(err, refused) {
		t.Fatalf("guest ping without a guest password: %v, want the prompt's error", err)
	}
	if len(asked) != 1 || asked[0] != session.EnvGuestPassword {
		t.Fatalf("asked %q, want only %s (the user is configured)", asked, session.EnvGuestPassword)
	}
}

// TestSecretMissingNamesTheConfigToo (QA): a guest or edge password that
// neither the environment nor the config gives is asked for by the
// variable and by the config key.
func TestSecretMissingNamesTheConfigToo(t *testing.T) {
	t.Setenv(session.EnvGuestUser, "ferry")
	t.Setenv(session.EnvGuestPassword, "")
	s := session.New(&config.Config{})
	_, err := s.GuestAuth()
	if err == nil || !strings.Contains(err.Error(), "set FERRY_GUEST_PASSWORD in the environment (or guest.password in the config)") {
		t.Errorf("guest password missing: %v", err)
	}
}
