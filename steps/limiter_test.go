package steps

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-migrate/ferry/config"
	"github.com/ferry-migrate/ferry/replication"
)

func TestBandwidthCapIsSharedAndValidated(t *testing.T) {
	env := NewEnv(nil, &PlanFile{}, NewState(""))
	if l, err := env.limiter(); l != nil || err != nil {
		t.Fatalf("no cap: %v %v", l, err)
	}
	env.Plan().BandwidthMbit = 80
	a, err := env.limiter()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := env.limiter()
	if a != b {
		t.Error("two jobs got two limiters: the cap would not be shared")
	}
	if got := float64(a.Limit()); got != 10e6 {
		t.Errorf("80 Mbit/s = %v bytes/s, want 10e6", got)
	}
	env2 := NewEnv(nil, &PlanFile{MigrationPlan: MigrationPlan{BandwidthMbit: -5}}, NewState(""))
	if _, err := env2.limiter(); err == nil || !strings.Contains(err.Error(), "bandwidth_mbit -5") {
		t.Errorf("negative cap: %v", err)
	}
}

func TestReceiverTrustByPinOrCA(t *testing.T) {
	dir := t.TempDir()
	cert, err := replication.SelfSignedCert("sender")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	keyDER, _ := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)

	ep := config.Endpoint{URL: "10.0.0.5:8444", CertFile: certFile, KeyFile: keyFile}
	if _, err := receiverTLS(ep); err == nil || !strings.Contains(err.Error(), "FERRY_RECEIVER_PIN") {
		t.Errorf("neither CA nor pin: %v", err)
	}
	ep.Pin = strings.Repeat("ab", 32)
	c, err := receiverTLS(ep)
	if err != nil || c.VerifyPeerCertificate == nil || len(c.Certificates) != 1 {
		t.Errorf("pinned: %+v %v", c, err)
	}
}
