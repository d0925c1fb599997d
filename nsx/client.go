// Package nsx is ferry's client for the on-prem end of the L2 stretch: the
// REST API of an NSX-T autonomous (standalone) edge running the L2VPN
// client. It creates the client session from the Cloud Director tunnel's
// peer code, stretches an on-prem network over it (a logical port with an
// L2 extension whose tunnel id matches the server's), and reports whether
// the session is UP.
//
// Lookups are by name and tunnel id, so EnsureSession and AttachNetwork can
// run again after an interruption without creating duplicates.
package nsx

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferry-migrate/ferry/tlsconf"
)

// Config says how to reach an edge.
type Config struct {
	// URL of the edge, https://host[:port]; a trailing /api/v1 is accepted.
	URL      string
	Username string
	Password string
	// CAFile is a PEM file of CA certificates to trust; with RootCAs, they
	// replace the system roots (tlsconf).
	CAFile  string
	RootCAs *x509.CertPool
	// Insecure skips certificate verification.
	Insecure bool
	// Timeout of one request; default 30s.
	Timeout time.Duration
}

// Client talks to one edge. It is safe for concurrent use.
//
// The edge's API takes the credentials with every request (HTTP Basic),
// and NSX locks its API user after 5 refused ones within 15 minutes (its
// default auth policy). Once the edge refused them (its password changed
// while ferry worked, as step 4 polls the tunnel for minutes), the client
// does not send them again: later requests fail at once with that refusal.
type Client struct {
	base    string // https://host:port, no trailing slash
	user    string
	pass    string
	hc      *http.Client
	refused atomic.Pointer[error] // the edge refused the credentials
}

const apiPrefix = "/api/v1"

// Dial checks cfg, connects to the edge and verifies the credentials by
// reading its L2VPN service (which needs no particular service mode). Errors name the endpoint and what to fix.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	base, err := baseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Username == "" {
		return nil, fmt.Errorf("edge %s: username is empty", base)
	}
	tlsCfg, err := tlsconf.Endpoint{CAFile: cfg.CAFile, RootCAs: cfg.RootCAs, Insecure: cfg.Insecure}.Config()
	if err != nil {
		return nil, fmt.Errorf("edge %s: %w", base, err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	c := &Client{
		base: base,
		user: cfg.Username,
		pass: cfg.Password,
		hc:   &http.Client{Transport: tr, Timeout: timeout},
	}
	if _, err := c.L2VPNService(ctx); err != nil && !errors.Is(err, ErrNotFound) {
		tr.CloseIdleConnections()
		// NSX answers bad credentials with 403 as well as 401.
		var ae *APIError
		if !errors.As(err, &ae) && errors.Is(err, ErrAuth) { // 401: do's refusal
			return nil, tag(ErrAuth, "wrong username or password for edge %s", base)
		}
		if errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden {
			return nil, tag(ErrAuth, "wrong username or password for edge %s, or the account is locked or lacks rights: %s", base, ae.Message)
		}
		return nil, err
	}
	return c, nil
}

// URL is the edge's base URL.
func (c *Client) URL() string { return c.base }

// Close releases idle connections.
func (c *Client) Close() {
	c.hc.CloseIdleConnections()
}

func baseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("edge URL is empty (want https://host[:port])")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("edge URL %q: %w", raw, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("edge URL %q must look like https://host[:port]", raw)
	}
	p := strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), apiPrefix)
	return "https://" + u.Host + strings.TrimSuffix(p, "/"), nil
}

// do sends one request to path (below /api/v1) and decodes the JSON answer
// into out when out is non-nil.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	if r := c.refused.Load(); r != nil {
		return *r
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+apiPrefix+path, body)
	if err != nil {
		return fmt.Errorf("edge %s: %w", c.base, err)
	}
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("edge %s: %s %s: read response: %w", c.base, method, apiPrefix+path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		err := tag(ErrAuth, "edge %s refused ferry's username and password (%s %s: %s): they are not sent to it again in this session, so as not to lock the account (NSX locks its API user after 5 refusals in 15 minutes): if its password changed, correct it and restart ferry",
			c.base, method, apiPrefix+path, newAPIError(c.base, method, apiPrefix+path, resp.StatusCode, data).Message)
		c.refused.CompareAndSwap(nil, &err)
		return err
	}
	if resp.StatusCode >= 300 {
		return newAPIError(c.base, method, apiPrefix+path, resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("edge %s: %s %s: empty response", c.base, method, apiPrefix+path)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("edge %s: %s %s: decode response: %w", c.base, method, apiPrefix+path, err)
	}
	return nil
}

// listResult is the NSX list envelope.
type listResult[T any] struct {
	Results     []T    `json:"results"`
	ResultCount int    `json:"result_count"`
	Cursor      string `json:"cursor"`
	PageCursor  string `json:"page_cursor"` // the autonomous edge's name for it
}

// list fetches every page of a list (NSX pages with an opaque cursor).
func list[T any](ctx context.Context, c *Client, path string, query url.Values) ([]T, error) {
	var all []T
	if query == nil {
		query = url.Values{}
	}
	for range 1000 {
		p := path
		if len(query) > 0 {
			p += "?" + query.Encode()
		}
		var page listResult[T]
		if err := c.do(ctx, http.MethodGet, p, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Results...)
		cursor := page.Cursor
		if cursor == "" {
			cursor = page.PageCursor
		}
		if cursor == "" || len(page.Results) == 0 {
			return all, nil
		}
		query.Set("cursor", cursor)
	}
	return nil, fmt.Errorf("edge %s: GET %s: too many pages", c.base, apiPrefix+path)
}
