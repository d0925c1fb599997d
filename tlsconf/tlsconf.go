// Package tlsconf is ferry's one rule for trusting an endpoint's
// certificate, used by every client (vCenter, Cloud Director, NSX edge, the
// replication sender) and by the replication receiver.
//
// The rule: a configured CA (a CA file, or an already loaded pool) REPLACES
// the system roots for that endpoint, so only the CAs it holds are trusted;
// with none configured, the system roots are trusted. Skipping verification
// happens only when Insecure is set, and then nothing is loaded.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrNoPEM is a CA file that was read but holds no PEM certificate (a
// mistake in the input rather than in the environment).
var ErrNoPEM = errors.New("no PEM certificate")

// Endpoint is how to trust one endpoint's certificate.
type Endpoint struct {
	// CAFile names a PEM file of CA certificates, or several separated by
	// the OS path list separator (as GOVC_TLS_CA_CERTS does).
	CAFile string
	// RootCAs are CAs already loaded (tests, callers holding a pool); they
	// are trusted together with CAFile's.
	RootCAs *x509.CertPool
	// Insecure skips certificate verification.
	Insecure bool
}

// Pool returns the CAs to trust: nil (the system roots) when none is
// configured or Insecure is set. An unreadable CA file, or one holding no
// PEM certificate, is an error naming the file.
func (e Endpoint) Pool() (*x509.CertPool, error) {
	if e.Insecure || e.CAFile == "" {
		return e.RootCAs, nil
	}
	pool := x509.NewCertPool()
	if e.RootCAs != nil {
		pool = e.RootCAs.Clone()
	}
	for _, name := range filepath.SplitList(e.CAFile) {
		pemData, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read CA file %s: %w", name, err)
		}
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("CA file %s holds %w", name, ErrNoPEM)
		}
	}
	return pool, nil
}

// Config returns the TLS configuration of a client of the endpoint
// (TLS 1.2 or later).
func (e Endpoint) Config() (*tls.Config, error) {
	pool, err := e.Pool()
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, InsecureSkipVerify: e.Insecure}, nil
}

// Pool returns the CAs of caFile, nil when caFile is empty (the system
// roots): Endpoint{CAFile: caFile}.Pool().
func Pool(caFile string) (*x509.CertPool, error) { return Endpoint{CAFile: caFile}.Pool() }
