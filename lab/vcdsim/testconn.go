package vcdsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// handleTestConnection is POST /cloudapi/1.0.0/testConnection: Cloud
// Director probes host:port from its own network and reports what it
// found (200 with a TestConnectionResult, whatever the outcome): whether
// the name resolves, whether a TCP connection opens and, for a secure
// probe, whether the TLS handshake succeeds and the certificate chain is
// trusted by the system roots. The probe is real: the simulator dials.
// Proxies are not simulated. The model lock is released while probing
// (nothing of the model is used).
func handleTestConnection(c *reqCtx) {
	var in types.TestConnection
	if !c.readJSON(&in) {
		return
	}
	if in.Host == "" || in.Port <= 0 || in.Port > 65535 {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "testConnection: host and a port in 1..65535 are required")
		return
	}
	if in.ProxyConnection != nil || in.PreConfiguredProxy != "" {
		c.fail(http.StatusBadRequest, "BAD_REQUEST", "testConnection through a proxy is not simulated")
		return
	}
	timeout := time.Duration(in.Timeout) * time.Second
	if timeout <= 0 || timeout > 30*time.Second {
		timeout = 10 * time.Second
	}
	secure := in.Secure != nil && *in.Secure
	c.s.mu.Unlock()
	p := probe(in.Host, in.Port, secure, timeout)
	c.s.mu.Lock()
	c.json(http.StatusOK, &types.TestConnectionResult{TargetProbe: p})
}

func probe(host string, port int, secure bool, timeout time.Duration) *types.ProbeResult {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	p := &types.ProbeResult{}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		p.ConnectionResult, p.Result = "ERROR_CANNOT_RESOLVE_IP", "Cannot resolve host "+host
		return p
	}
	p.ResolvedIp = ips[0].IP.String()
	addr := net.JoinHostPort(p.ResolvedIp, strconv.Itoa(port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		p.ConnectionResult, p.Result = "ERROR_CANNOT_CONNECT", "Cannot connect to "+addr+": "+err.Error()
		return p
	}
	defer func() { _ = conn.Close() }()
	p.CanConnect, p.ConnectionResult = true, "SUCCESS"
	if !secure {
		p.Result = "Connected to " + addr
		return p
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true}) // verified below, to report why
	if err := tc.HandshakeContext(ctx); err != nil {
		p.SSLResult, p.Result = "ERROR_SSL_ERROR", "TLS handshake with "+addr+" failed: "+err.Error()
		return p
	}
	p.SSLHandshake = true
	certs := tc.ConnectionState().PeerCertificates
	var chain strings.Builder
	for _, cert := range certs {
		_ = pem.Encode(&chain, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	}
	p.CertificateChain = chain.String()
	inter := x509.NewCertPool()
	for _, cert := range certs[1:] {
		inter.AddCert(cert)
	}
	_, err = certs[0].Verify(x509.VerifyOptions{DNSName: host, Intermediates: inter})
	var hostErr x509.HostnameError
	switch {
	case err == nil:
		p.SSLResult, p.Result = "SUCCESS", "Connected to "+addr+" over TLS"
	case errors.As(err, &hostErr):
		p.SSLResult, p.Result = "ERROR_CANNOT_VERIFY_HOSTNAME", err.Error()
	default:
		p.SSLResult, p.Result = "ERROR_UNTRUSTED_CERTIFICATE", err.Error()
	}
	return p
}
