// Package edgetest starts a simulated autonomous edge for tests, with its own
// throwaway certificate authority, the way net/http/httptest starts servers.
// It exists so that tests of edgesim and of the nsx client can get TLS
// without importing package lab (which imports edgesim).
package edgetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-migrate/ferry/lab/edgesim"
	"github.com/ferry-migrate/ferry/lab/stretch"
)

// Credentials the started edge accepts.
const (
	Username = "admin"
	Password = "Edge-Pa55word!"
)

// Edge is a running simulated edge.
type Edge struct {
	*edgesim.Server
	Fabric *stretch.Fabric
	// Pool trusts the edge's certificate; CAFile is the same CA as PEM.
	Pool   *x509.CertPool
	CAFile string
}

// Start runs an edge on 127.0.0.1 with a certificate from a fresh CA and a
// fresh fabric, its L2VPN service in client mode; it stops when the test ends.
func Start(t testing.TB) *Edge {
	t.Helper()
	return StartMode(t, edgesim.ModeClient)
}

// StartMode is Start with the L2VPN service in mode ("" for none).
func StartMode(t testing.TB, mode string) *Edge {
	t.Helper()
	fabric := stretch.New()
	srv, err := edgesim.New(edgesim.Config{Username: Username, Password: Password, Fabric: fabric, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, pool, caPEM := NewTLS(t)
	if err := srv.Start(serverTLS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	caFile := filepath.Join(t.TempDir(), "edge-ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return &Edge{Server: srv, Fabric: fabric, Pool: pool, CAFile: caFile}
}

// NewTLS makes a self-signed CA and a server certificate it signs for hosts
// (127.0.0.1 and localhost when none are given). It returns the server
// config, a pool trusting the CA, and the CA certificate as PEM.
func NewTLS(t testing.TB, hosts ...string) (*tls.Config, *x509.CertPool, []byte) {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1", "localhost"}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "edgetest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "edge"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			leafTmpl.IPAddresses = append(leafTmpl.IPAddresses, ip)
		} else {
			leafTmpl.DNSNames = append(leafTmpl.DNSNames, h)
		}
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
	return cfg, pool, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}
