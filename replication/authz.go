package replication

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Replicas are namespaced by org and VM: a sender may open only the
// replicas of the namespaces its identity grants.

// ErrForbidden is matched (errors.Is) by a receiver's refusal of a sender
// outside its namespaces.
var ErrForbidden = errors.New("sender not authorised for this replica namespace")

// Authorizer decides whether the sender of a connection may write the
// replicas of org/vm.
type Authorizer func(cs tls.ConnectionState, org, vm string) error

// NamespaceURI is the certificate URI (subject alternative name) that grants
// a sender the namespace org/vm; vm "*" grants every VM of org.
func NamespaceURI(org, vm string) *url.URL {
	return &url.URL{Scheme: "ferry", Host: "replicas", Path: "/" + org + "/" + vm}
}

// ParseNamespace parses "org/vm" or "org/*".
func ParseNamespace(s string) (org, vm string, err error) {
	org, vm, ok := strings.Cut(s, "/")
	if !ok || !validName(org) || (vm != "*" && !validName(vm)) {
		return "", "", fmt.Errorf("namespace %q: want ORG/VM or ORG/*", s)
	}
	return org, vm, nil
}

func grants(ns []string, org, vm string) bool {
	for _, n := range ns {
		if n == org+"/"+vm || n == org+"/*" {
			return true
		}
	}
	return false
}

// CertNamespaces authorises by the sender certificate's identity: its URIs
// ferry://replicas/ORG/VM (or ORG/*), as issued by the CA the receiver
// trusts.
func CertNamespaces() Authorizer {
	return func(cs tls.ConnectionState, org, vm string) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: no client certificate", ErrForbidden)
		}
		leaf := cs.PeerCertificates[0]
		var ns []string
		for _, u := range leaf.URIs {
			if u.Scheme == "ferry" && u.Host == "replicas" {
				ns = append(ns, strings.TrimPrefix(u.Path, "/"))
			}
		}
		if !grants(ns, org, vm) {
			return fmt.Errorf("%w: certificate %q grants %v, not %s/%s", ErrForbidden, leaf.Subject.CommonName, ns, org, vm)
		}
		return nil
	}
}

// PinnedNamespaces authorises by the fingerprint of the sender's
// certificate: grants maps a fingerprint to its namespaces (ORG/VM, ORG/*).
func PinnedNamespaces(pins map[string][]string) Authorizer {
	norm := map[string][]string{}
	for fp, ns := range pins {
		norm[normFingerprint(fp)] = ns
	}
	return func(cs tls.ConnectionState, org, vm string) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: no client certificate", ErrForbidden)
		}
		fp := Fingerprint(cs.PeerCertificates[0].Raw)
		if ns := norm[fp]; !grants(ns, org, vm) {
			return fmt.Errorf("%w: sender %s is paired for %v, not %s/%s", ErrForbidden, fp, ns, org, vm)
		}
		return nil
	}
}
