package vcd

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/vmware/go-vcloud-director/v2/govcd"

	"github.com/ferry-migrate/ferry/internal/lockout"
)

// relogin logs in to Cloud Director again when Cloud Director ended
// ferry's session, and retries the request that found out (401 to a
// request that carried the session's token). Cloud Director ends a session
// nobody used for its idle session timeout (30 minutes by default), and
// ferry holds its sessions for as long as it runs (ferry serve: days,
// with hours between a VM's last pass and its cutover). A 401 means Cloud
// Director did not run the request. The new session's token replaces the
// old one in every later request: go-vcloud-director's client keeps the
// token it logged in with, and is not changed under its feet. The
// credentials stay in this process's memory, as the login needs them.
type relogin struct {
	base  http.RoundTripper
	login func() (token string, err error)
	why   string // why a refused login is not tried again at once: lockedBy, or tokenRefused

	mu      sync.Mutex
	token   string // the token of the session logged in again ("": none yet)
	logins  uint64
	refused lockout.Backoff // no login again at once after a refused one
}

// lockedBy says why a refused login is not tried again at once
// (lockout.Backoff).
var lockedBy = lockout.Account("an org's policy may lock a user after a few refused logins")

// tokenRefused is the why for a refused API token: Cloud Director refuses
// a revoked token for good.
const tokenRefused = "as a refused API token stays refused (revoked): set a new one and restart ferry"

// Token headers go-vcloud-director sends with a session's token.
const (
	tokenHeader = govcd.BearerTokenHeader // X-Vmware-Vcloud-Access-Token
	authHeader  = "Authorization"         // "bearer <token>"
)

func (r *relogin) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	token, seen := r.token, r.logins
	r.mu.Unlock()
	if !carriesToken(req) {
		return r.base.RoundTrip(req) // a login, or a public call
	}
	if token != "" {
		req = withToken(req, token)
	}
	resp, err := r.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || sessionCall(req) || (req.Body != nil && req.GetBody == nil) {
		return resp, err
	}
	if token, err = r.again(seen); err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("Cloud Director ended ferry's session (401), and logging in again failed: %w", err)
	}
	retry := withToken(req, token)
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return r.base.RoundTrip(retry)
}

// again logs in, unless another request did since seen, and returns the
// new session's token.
func (r *relogin) again(seen uint64) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.logins != seen {
		return r.token, nil
	}
	if err := r.refused.Wait(r.why); err != nil {
		return "", err
	}
	token, err := r.login()
	if err != nil {
		if !errors.Is(err, ErrLogin) {
			return "", err
		}
		return "", r.refused.Refused(err, r.why)
	}
	r.refused.LoggedIn()
	r.token = token
	r.logins++
	return token, nil
}

// carriesToken says whether req carries a session's token.
func carriesToken(req *http.Request) bool {
	return req.Header.Get(tokenHeader) != "" || strings.HasPrefix(strings.ToLower(req.Header.Get(authHeader)), "bearer ")
}

// sessionCall says whether req logs in or out (DELETE of the login URL):
// a 401 there is not retried with a new session.
func sessionCall(req *http.Request) bool {
	p := strings.TrimSuffix(req.URL.Path, "/")
	return strings.HasSuffix(p, "/cloudapi/1.0.0/sessions") || strings.HasSuffix(p, "/cloudapi/1.0.0/sessions/provider") ||
		strings.HasSuffix(p, "/api/sessions") || strings.HasSuffix(p, "/api/session")
}

// withToken is a copy of req carrying token instead of the one it had.
func withToken(req *http.Request, token string) *http.Request {
	out := req.Clone(req.Context())
	if out.Header.Get(tokenHeader) != "" {
		out.Header.Set(tokenHeader, token)
	}
	if strings.HasPrefix(strings.ToLower(out.Header.Get(authHeader)), "bearer ") {
		out.Header.Set(authHeader, "bearer "+token)
	}
	return out
}
