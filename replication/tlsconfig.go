package replication

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Fingerprint returns the SHA-256 fingerprint of a DER certificate as
// lower-case hex (colons and case are ignored when comparing).
func Fingerprint(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

// ValidFingerprint says whether s is a SHA-256 fingerprint as Fingerprint
// prints it (64 hex digits; colons, spaces and case do not matter).
func ValidFingerprint(s string) bool {
	n := normFingerprint(s)
	if len(n) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(n)
	return err == nil
}

func normFingerprint(s string) string {
	return strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(s))
}

// pinned verifies that the peer's leaf certificate has one of the fingerprints.
func pinned(fingerprints []string) func([][]byte, [][]*x509.Certificate) error {
	want := map[string]bool{}
	for _, f := range fingerprints {
		want[normFingerprint(f)] = true
	}
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("peer presented no certificate")
		}
		if got := Fingerprint(raw[0]); !want[got] {
			return fmt.Errorf("peer certificate fingerprint %s is not pinned", got)
		}
		return nil
	}
}

// PinnedServerTLS is a receiver config that presents cert and accepts only
// clients whose certificate has one of the given SHA-256 fingerprints.
func PinnedServerTLS(cert tls.Certificate, clientFingerprints ...string) *tls.Config {
	return &tls.Config{
		MinVersion:            tls.VersionTLS13,
		Certificates:          []tls.Certificate{cert},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: pinned(clientFingerprints),
	}
}

// PinnedClientTLS is a sender config that presents cert and accepts only a
// receiver whose certificate has the given SHA-256 fingerprint.
func PinnedClientTLS(cert tls.Certificate, serverFingerprint string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// Chain verification is replaced by the pin below (pairing, not a CA).
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: pinned([]string{serverFingerprint}),
	}
}

// CATLS returns a receiver (server) and a sender (client) config that verify
// each other against pool (the CA that issued both certificates).
func CATLS(cert tls.Certificate, pool *x509.CertPool, server bool, serverName string) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
	if server {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = pool
	} else {
		c.RootCAs = pool
		c.ServerName = serverName
	}
	return c
}

// SelfSignedCert creates a self-signed ECDSA certificate for pairing by
// fingerprint (valid for a year, usable as client and server).
func SelfSignedCert(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"ferry"}},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
