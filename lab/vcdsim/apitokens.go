package vcdsim

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

// API tokens, as Cloud Director has them since 10.3.1: a user makes one
// (User preferences, Access tokens), and a client trades it for a session's
// access token with OAuth 2.0's refresh grant (RFC 6749 section 6):
//
//	POST /oauth/tenant/{org}/token   (the System org: /oauth/provider/token)
//	grant_type=refresh_token&refresh_token=TOKEN
//
// answered with {"access_token", "token_type": "Bearer", "expires_in"}. An
// API token does not expire; revoking it refuses it and ends the sessions
// made from it. A session made from an API token may only view users,
// groups, roles, global roles and rights bundles: it cannot change them, nor
// manage tokens (Cloud Director's documentation, "Generate an API Access
// Token"). A service account's token (10.4+) is single-use: each grant
// answers a new refresh token in its place and refuses the old one from
// then on. The lab keeps its tokens in memory.

// apiToken is one API token of a user.
type apiToken struct {
	user   string
	org    string // the org's name, as given to AddAPIToken
	rotate bool   // a service account's: single-use
}

// AddAPIToken makes an API token for user of org ("System" for the provider
// administrator) and returns it; the user must exist in the lab.
func (s *Server) AddAPIToken(org, user string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m.apiTokens == nil {
		s.m.apiTokens = map[string]apiToken{}
	}
	s.m.apiTokens[tok] = apiToken{user: user, org: org}
	return tok
}

// AddServiceAccount makes a service account named name in org, with its
// first token, and returns that token: each grant replaces it.
func (s *Server) AddServiceAccount(org, name string) string {
	tok := s.AddAPIToken(org, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.m.apiTokens[tok]
	t.rotate = true
	s.m.apiTokens[tok] = t
	return tok
}

// RevokeAPIToken revokes tok: it is refused from now on, and the sessions
// made from it end.
func (s *Server) RevokeAPIToken(tok string) {
	s.mu.Lock()
	delete(s.m.apiTokens, tok)
	s.mu.Unlock()
	ss := s.sessions()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, sess := range ss.byToken {
		if sess.apiToken == tok {
			delete(ss.byToken, k)
		}
	}
}

// TokenLogins is how many sessions were made from API tokens, and how many
// token grants were refused.
func (s *Server) TokenLogins() (made, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.tokenLogins, s.m.tokenRefusals
}

// handleTokenGrant answers POST /oauth/provider/token and
// /oauth/tenant/{org}/token.
func handleTokenGrant(providerGrant bool) handlerFunc {
	return func(c *reqCtx) {
		c.r.Body = http.MaxBytesReader(c.w, c.r.Body, 64<<10)
		if err := c.r.ParseForm(); err != nil || c.r.PostForm.Get("grant_type") != "refresh_token" || c.r.PostForm.Get("refresh_token") == "" {
			c.m.tokenRefusals++
			writeError(c.w, true, http.StatusBadRequest, "invalid_request", "Invalid request: want grant_type=refresh_token and a refresh_token")
			return
		}
		orgName := "System"
		if !providerGrant {
			orgName = c.r.PathValue("org")
		}
		tok := c.r.PostForm.Get("refresh_token")
		t, ok := c.m.apiTokens[tok]
		var o *org
		switch {
		case !ok || !strings.EqualFold(t.org, orgName):
		case providerGrant && strings.EqualFold(orgName, "System"):
			o = c.m.system
		case !providerGrant && strings.EqualFold(orgName, c.m.tenant.name):
			o = c.m.tenant
		}
		if o == nil {
			c.m.tokenRefusals++
			writeError(c.w, true, http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
			return
		}
		var next any // JSON null: the token stays
		if t.rotate {
			delete(c.m.apiTokens, tok)
			b := make([]byte, 24)
			_, _ = rand.Read(b)
			tok = base64.RawURLEncoding.EncodeToString(b)
			c.m.apiTokens[tok] = t
			next = tok
		}
		sess := newSession(t.user, o, c.m.system)
		sess.apiToken = tok
		ss := c.s.sessions()
		ss.mu.Lock()
		ss.byToken[sess.token] = sess
		ss.mu.Unlock()
		c.m.tokenLogins++
		c.json(http.StatusOK, map[string]any{
			"access_token":  sess.token,
			"token_type":    "Bearer",
			"expires_in":    int(c.s.cfg.SessionIdle / time.Second),
			"refresh_token": next,
		})
	}
}

// tokenSessionRefuses says whether r changes something a session made from
// an API token may only view: users, groups, roles, global roles, rights
// bundles, tokens.
func tokenSessionRefuses(r *http.Request) bool {
	if !changes(r) {
		return false
	}
	p := r.URL.Path
	for _, k := range []string{"/api/admin/user/", "/api/admin/group/", "/users", "/groups", "/roles", "/globalRoles", "/rightsBundles", "/tokens", "/serviceAccounts"} {
		if strings.Contains(p, k) {
			return true
		}
	}
	return false
}
