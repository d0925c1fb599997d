package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab"
	"github.com/ferry-migrate/ferry/tlsconf"
)

// get fetches srv's root with cfg and returns the error.
func get(t *testing.T, srv *httptest.Server, cfg *tls.Config) error {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: time.Minute}
	defer c.CloseIdleConnections()
	resp, err := c.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// newCA is a fresh CA and the PEM file of its certificate.
func newCA(t *testing.T) (*lab.CA, string) {
	t.Helper()
	ca, err := lab.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := ca.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	return ca, p
}

// server is an HTTPS server presenting a certificate ca issued.
func server(t *testing.T, ca *lab.CA) *httptest.Server {
	t.Helper()
	cfg, err := ca.ServerTLS("127.0.0.1", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestNoCATrustsTheSystemRoots(t *testing.T) {
	cfg, err := tlsconf.Endpoint{}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RootCAs != nil || cfg.InsecureSkipVerify || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("no CA: want the system roots (nil RootCAs), verification on, TLS 1.2+; got RootCAs=%v insecure=%v min=%x", cfg.RootCAs, cfg.InsecureSkipVerify, cfg.MinVersion)
	}
	ca, _ := newCA(t)
	srv := server(t, ca)
	var unknown x509.UnknownAuthorityError
	if err := get(t, srv, cfg); !errors.As(err, &unknown) {
		t.Fatalf("a server signed by no system root: want an unknown-authority error, got %v", err)
	}
}

func TestCAFileReplacesTheSystemRoots(t *testing.T) {
	ca, caFile := newCA(t)
	other, otherFile := newCA(t)
	srv := server(t, ca)
	cfg, err := tlsconf.Endpoint{CAFile: caFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if err := get(t, srv, cfg); err != nil {
		t.Fatalf("server signed by the CA file's CA: %v", err)
	}
	if !cfg.RootCAs.Equal(ca.Pool) {
		t.Fatal("CA file: the pool holds more than the file's CA (the system roots must not be added)")
	}
	// A server whose CA is not in the file is refused.
	refused, err := tlsconf.Endpoint{CAFile: otherFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	var unknown x509.UnknownAuthorityError
	if err := get(t, srv, refused); !errors.As(err, &unknown) {
		t.Fatalf("a server signed by a CA not in the CA file: want an unknown-authority error, got %v", err)
	}
	// Several files (GOVC_TLS_CA_CERTS style) and a loaded pool add up.
	both, err := tlsconf.Endpoint{CAFile: otherFile + string(os.PathListSeparator) + caFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if err := get(t, srv, both); err != nil {
		t.Fatalf("second CA file of a list: %v", err)
	}
	withPool, err := tlsconf.Endpoint{CAFile: otherFile, RootCAs: ca.Pool}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if err := get(t, srv, withPool); err != nil {
		t.Fatalf("RootCAs with a CA file: %v", err)
	}
	if ca.Pool.Equal(withPool.RootCAs) || other.Pool.Equal(withPool.RootCAs) {
		t.Fatal("RootCAs and CA file: want both CAs, in a pool of its own (the caller's pool untouched)")
	}
	if only, err := tlsconf.Pool(caFile); err != nil || !only.Equal(ca.Pool) {
		t.Fatalf("the caller's RootCAs pool was changed (or %v)", err)
	}
}

func TestBadCAFileNamesTheFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ file, want string }{
		"unreadable": {missing, "read CA file " + missing},
		"garbage":    {garbage, "CA file " + garbage + " holds no PEM certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tlsconf.Endpoint{CAFile: tc.file}.Config()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
			if _, err := tlsconf.Pool(tc.file); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Pool: want an error containing %q, got %v", tc.want, err)
			}
			if errors.Is(err, tlsconf.ErrNoPEM) != (name == "garbage") {
				t.Fatalf("errors.Is(ErrNoPEM) = %v for a %s file", !(name == "garbage"), name)
			}
		})
	}
}

func TestInsecureIsExplicit(t *testing.T) {
	ca, _ := newCA(t)
	srv := server(t, ca)
	cfg, err := tlsconf.Endpoint{Insecure: true, CAFile: filepath.Join(t.TempDir(), "never-read.pem")}.Config()
	if err != nil {
		t.Fatalf("insecure: the CA file is not read, got %v", err)
	}
	if !cfg.InsecureSkipVerify {
		t.Fatal("insecure: InsecureSkipVerify not set")
	}
	if err := get(t, srv, cfg); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	secure, err := tlsconf.Endpoint{}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if secure.InsecureSkipVerify {
		t.Fatal("verification skipped without Insecure")
	}
}
