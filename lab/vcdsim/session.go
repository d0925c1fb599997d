package vcdsim

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// apiVersions are advertised by /api/versions; requests may ask for any
// version up to the highest one (10.5.1 speaks 38.1).
var apiVersions = []string{"36.0", "36.1", "36.2", "36.3", "37.0", "37.1", "37.2", "37.3", "38.0", "38.1"}

const maxAPIVersion = 38.1

type session struct {
	id       string
	token    string
	user     string
	org      *org
	provider bool
	// apiToken is the API token the session was made from ("": a
	// password login). Such a session may only view users, groups, roles
	// and rights bundles (apitokens.go), and ends when its token is revoked.
	apiToken string
	created  time.Time
	used     time.Time // last request made with the token (sessions.mu)
}

type sessions struct {
	mu      sync.Mutex
	byToken map[string]*session
}

func (s *Server) sessions() *sessions { return &s.ss }

func (s *Server) sessionFor(r *http.Request) *session {
	tok := r.Header.Get("X-Vmware-Vcloud-Access-Token")
	if tok == "" {
		if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			tok = a[7:]
		}
	}
	if tok == "" {
		tok = r.Header.Get("x-vcloud-authorization")
	}
	if tok == "" {
		return nil
	}
	ss := s.sessions()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	sess := ss.byToken[tok]
	if sess == nil {
		return nil
	}
	// A session unused for longer than the idle timeout is over, as in
	// Cloud Director: its token is refused from then on.
	now := time.Now()
	if now.Sub(sess.used) > s.cfg.SessionIdle {
		delete(ss.byToken, tok)
		return nil
	}
	sess.used = now
	return sess
}

// versionRE finds the version parameter of an Accept header.
var versionRE = regexp.MustCompile(`version=([0-9]+\.[0-9]+)`)

// checkVersion refuses API versions above the highest advertised one.
func (s *Server) checkVersion(w http.ResponseWriter, r *http.Request) bool {
	m := versionRE.FindStringSubmatch(r.Header.Get("Accept"))
	if m == nil {
		return true
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil || v <= s.maxAPIVersion()+1e-9 {
		return true
	}
	writeError(w, strings.HasPrefix(r.URL.Path, "/cloudapi/"), http.StatusNotAcceptable, "NOT_ACCEPTABLE",
		"The request has invalid accept header: Invalid API version requested "+m[1])
	return false
}

type versionInfo struct {
	Deprecated       bool   `xml:"deprecated,attr"`
	Version          string `xml:"Version"`
	LoginURL         string `xml:"LoginUrl"`
	ProviderLoginURL string `xml:"ProviderLoginUrl,omitempty"`
}

type supportedVersions struct {
	VersionInfo []versionInfo `xml:"VersionInfo"`
}

// maxAPIVersion is the highest API version this Cloud Director speaks.
func (s *Server) maxAPIVersion() float64 {
	if v, err := strconv.ParseFloat(s.cfg.MaxAPIVersion, 64); err == nil {
		return v
	}
	return maxAPIVersion
}

func handleVersions(c *reqCtx) {
	var sv supportedVersions
	for _, v := range apiVersions {
		if f, _ := strconv.ParseFloat(v, 64); f > c.s.maxAPIVersion()+1e-9 {
			continue
		}
		sv.VersionInfo = append(sv.VersionInfo, versionInfo{
			Version:          v,
			LoginURL:         c.abs("/cloudapi/1.0.0/sessions"),
			ProviderLoginURL: c.abs("/cloudapi/1.0.0/sessions/provider"),
		})
	}
	c.xml(http.StatusOK, "application/*+xml", "SupportedVersions", &sv)
}

func handleLogin(providerLogin bool) handlerFunc {
	return func(c *reqCtx) {
		user, pass, ok := c.r.BasicAuth()
		name, orgName, _ := strings.Cut(user, "@")
		var sess *session
		if ok {
			sess = c.m.login(name, orgName, pass, providerLogin)
		}
		if sess == nil {
			c.w.Header().Set("WWW-Authenticate", `Basic realm="vcdsim"`)
			c.fail(http.StatusUnauthorized, "UNAUTHORIZED", "Invalid credentials for %q", user)
			return
		}
		ss := c.s.sessions()
		ss.mu.Lock()
		ss.byToken[sess.token] = sess
		ss.mu.Unlock()
		c.w.Header().Set("X-VMWARE-VCLOUD-ACCESS-TOKEN", sess.token)
		c.w.Header().Set("X-VMWARE-VCLOUD-TOKEN-TYPE", "Bearer")
		c.json(http.StatusOK, sessionInfo(sess, c.s.cfg.SessionIdle))
	}
}

func (m *model) login(user, orgName, pass string, providerLogin bool) *session {
	var o *org
	switch {
	case providerLogin && strings.EqualFold(orgName, "System") && user == m.cfg.SystemUser && pass == m.cfg.SystemPassword:
		o = m.system
	case !providerLogin && strings.EqualFold(orgName, m.tenant.name) && m.tenantLogin(user, pass):
		o = m.tenant
	default:
		return nil
	}
	return newSession(user, o, m.system)
}

// newSession is a new session of user in org o.
func newSession(user string, o, system *org) *session {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return &session{
		id:       newUUID(),
		token:    "eyJ" + base64.RawURLEncoding.EncodeToString(b), // long, like a JWT: the client also sends it as bearer
		user:     user,
		org:      o,
		provider: o == system,
		created:  time.Now(),
		used:     time.Now(),
	}
}

func sessionInfo(s *session, idle time.Duration) types.CurrentSessionInfo {
	role := "Organization Administrator"
	if s.provider {
		role = "System Administrator"
	}
	return types.CurrentSessionInfo{
		ID:                        urn("session", s.id),
		User:                      types.OpenApiReference{Name: s.user, ID: urn("user", nameUUID("user", s.org.name, s.user))},
		Org:                       types.OpenApiReference{Name: s.org.name, ID: urn("org", s.org.id)},
		Location:                  "vcdsim",
		Roles:                     []string{role},
		RoleRefs:                  []types.OpenApiReference{{Name: role, ID: urn("role", nameUUID("role", role))}},
		SessionIdleTimeoutMinutes: int(idle.Minutes()),
	}
}

func handleCurrentSession(c *reqCtx) { c.json(http.StatusOK, sessionInfo(c.sess, c.s.cfg.SessionIdle)) }

func handleLogout(c *reqCtx) {
	ss := c.s.sessions()
	ss.mu.Lock()
	delete(ss.byToken, c.sess.token)
	ss.mu.Unlock()
	c.w.WriteHeader(http.StatusNoContent)
}

// EndSessions ends every session, as a restart of Cloud Director's cells
// does: their tokens answer 401 from now on.
func (s *Server) EndSessions() {
	ss := s.sessions()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	clear(ss.byToken)
}
