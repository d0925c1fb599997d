package vcdsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/vmware/go-vcloud-director/v2/govcd"
)

// selfSigned returns a server TLS config for 127.0.0.1 and the pool that
// trusts it. (Package lab has a CA, but lab imports vcdsim.)
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "vcdsim test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}, pool
}

type testEnv struct {
	srv  *Server
	pool *x509.CertPool
}

// start runs a simulator for one test. Tasks end when polled unless
// cfg.TaskTime is set: these tests drive go-vcloud-director, whose own
// waits poll every 3 s, and check the API's shape; busy_test.go checks
// tasks that take time.
func start(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	if cfg.TaskTime == 0 {
		cfg.TaskTime = -1
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, pool := selfSigned(t)
	if err := srv.Start(tlsCfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &testEnv{srv: srv, pool: pool}
}

// client is an unmodified go-vcloud-director client that trusts the test CA.
func (e *testEnv) client(t *testing.T) *govcd.VCDClient {
	t.Helper()
	u, err := url.Parse(e.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := govcd.NewVCDClient(*u, false)
	c.Client.Http.Transport.(*http.Transport).TLSClientConfig.RootCAs = e.pool
	return c
}

func (e *testEnv) provider(t *testing.T) *govcd.VCDClient {
	t.Helper()
	c := e.client(t)
	if err := c.Authenticate("administrator", "VMware1!", "System"); err != nil {
		t.Fatalf("provider login: %v", err)
	}
	return c
}

func (e *testEnv) tenant(t *testing.T) *govcd.VCDClient {
	t.Helper()
	c := e.client(t)
	if err := c.Authenticate("companyadmin", "VMware1!", "Company"); err != nil {
		t.Fatalf("tenant login: %v", err)
	}
	return c
}

// must(f())(t) fails the test on error and returns the value.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
