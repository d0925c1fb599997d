package nsx

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Sentinel errors, for errors.Is.
var (
	// ErrAuth: the edge refused the credentials (401) or the user's rights (403).
	ErrAuth = errors.New("authentication failed")
	// ErrUntrusted: the edge's certificate does not verify.
	ErrUntrusted = errors.New("certificate not trusted")
	// ErrUnreachable: no HTTPS connection to the edge.
	ErrUnreachable = errors.New("edge unreachable")
	// ErrNotFound: the session or attachment does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: an existing object differs from what was asked for.
	ErrConflict = errors.New("conflict")
)

// APIError is an error answer of the edge. NSX error bodies are
// {httpStatus, error_code, module_name, error_message}.
type APIError struct {
	Endpoint   string // the edge's base URL
	Method     string
	Path       string
	StatusCode int
	Code       int    // NSX error_code, 0 if none
	Message    string // NSX error_message, or the body's text
}

func newAPIError(endpoint, method, path string, status int, body []byte) *APIError {
	e := &APIError{Endpoint: endpoint, Method: method, Path: path, StatusCode: status}
	var nsxErr struct {
		ErrorCode    int    `json:"error_code"`
		ErrorMessage string `json:"error_message"`
	}
	if json.Unmarshal(body, &nsxErr) == nil && nsxErr.ErrorMessage != "" {
		e.Code, e.Message = nsxErr.ErrorCode, nsxErr.ErrorMessage
	} else {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "..."
		}
	}
	return e
}

func (e *APIError) Error() string {
	switch e.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Sprintf("wrong username or password for edge %s", e.Endpoint)
	case http.StatusForbidden:
		return fmt.Sprintf("edge %s refused %s %s: the user lacks the rights or the account is locked: %s", e.Endpoint, e.Method, e.Path, e.Message)
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("edge %s: %s %s: %d: %s", e.Endpoint, e.Method, e.Path, e.StatusCode, msg)
}

// Is maps HTTP statuses to the package's sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrAuth:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	}
	return false
}

// transportError explains a failed round trip: certificate problems, then
// the caller's cancellation, then anything else as "unreachable".
func (c *Client) transportError(ctx context.Context, err error) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknownCA):
		issuer := ""
		if unknownCA.Cert != nil {
			issuer = fmt.Sprintf(" (issued by %q)", unknownCA.Cert.Issuer.String())
		}
		return tag(ErrUntrusted, "certificate of %s is not trusted%s: pass the CA file that signed it, or --insecure to skip verification",
			c.base, issuer)
	case errors.As(err, &hostErr):
		return tag(ErrUntrusted, "certificate of %s is not valid for this address (%v): use the name the certificate was issued for",
			c.base, hostErr)
	case errors.As(err, &invalid):
		return tag(ErrUntrusted, "certificate of %s is not valid: %v", c.base, invalid)
	case ctx.Err() != nil:
		return fmt.Errorf("edge %s: %w", c.base, ctx.Err())
	}
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	return &unreachableError{endpoint: c.base, cause: cause}
}

// tagged is an error that also matches a sentinel, without repeating the
// sentinel's text in the message.
type tagged struct {
	err error
	tag error
}

func (e *tagged) Error() string   { return e.err.Error() }
func (e *tagged) Unwrap() []error { return []error{e.err, e.tag} }

func tag(sentinel error, format string, a ...any) error {
	return &tagged{err: fmt.Errorf(format, a...), tag: sentinel}
}

type unreachableError struct {
	endpoint string
	cause    error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("edge %s unreachable: %v", e.endpoint, e.cause)
}

func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.cause} }
