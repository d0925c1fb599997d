package tlsconf_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

func writePEM(t *testing.T, certs ...*x509.Certificate) string {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// otherCA is a self-signed CA that signed nothing the test server presents.
func otherCA(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNoCATrustsTheSystemRoots(t *testing.T) {
	cfg, err := tlsconf.Endpoint{}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RootCAs != nil || cfg.InsecureSkipVerify || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("no CA: want the system roots (nil RootCAs), verification on, TLS 1.2+; got RootCAs=%v insecure=%v min=%x", cfg.RootCAs, cfg.InsecureSkipVerify, cfg.MinVersion)
	}
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	var unknown x509.UnknownAuthorityError
	if err := get(t, srv, cfg); !errors.As(err, &unknown) {
		t.Fatalf("a server signed by no system root: want an unknown-authority error, got %v", err)
	}
}

func TestCAFileReplacesTheSystemRoots(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	caFile := writePEM(t, srv.Certificate())
	cfg, err := tlsconf.Endpoint{CAFile: caFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if err := get(t, srv, cfg); err != nil {
		t.Fatalf("server signed by the CA file's CA: %v", err)
	}
	want := x509.NewCertPool()
	want.AddCert(srv.Certificate())
	if !cfg.RootCAs.Equal(want) {
		t.Fatal("CA file: the pool holds more than the file's CA (the system roots must not be added)")
	}
	// A server whose CA is not in the file is refused.
	other, err := tlsconf.Endpoint{CAFile: writePEM(t, otherCA(t))}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if err := get(t, srv, other); err == nil {
		t.Fatal("a server signed by a CA not in the CA file was trusted")
	}
	// Several files (GOVC_TLS_CA_CERTS style) and a loaded pool add up.
	both, err := tlsconf.Endpoint{CAFile: writePEM(t, otherCA(t)) + string(os.PathListSeparator) + caFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if err := get(t, srv, both); err != nil {
		t.Fatalf("second CA file of a list: %v", err)
	}
	withPool, err := tlsconf.Endpoint{CAFile: writePEM(t, otherCA(t)), RootCAs: want}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if err := get(t, srv, withPool); err != nil {
		t.Fatalf("RootCAs with a CA file: %v", err)
	}
	if want.Equal(withPool.RootCAs) {
		t.Fatal("the CA file's certificates were added to the caller's RootCAs pool itself")
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
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
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
