package lab

import (
	"cmp"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-migrate/ferry/lab/simwrap"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// API sessions as vCenter keeps them: one unused for longer than its idle
// timeout ends, and every later call with its cookie fails NotAuthenticated,
// property reads included. Stock vcsim ends no session (unless the setting
// config.vmacore.soap.sessionTimeout exists, and then through a goroutine
// per login that outlives the lab), and answers property reads without
// one. vCenter answers those of the SessionManager's anonymous properties
// only, and then currentSession is null.

// DefaultSessionIdle is how long vCenter and Cloud Director keep an unused
// API session by default: 30 minutes (vCenter: KB 1031039,
// config.vmacore.soap.sessionTimeout; Cloud Director: its idle session
// timeout, sessionIdleTimeoutMinutes of the current session).
const DefaultSessionIdle = 30 * time.Minute

// sessionClock ends the sessions of one vCenter that went unused for idle:
// it is consulted on every call, before vcsim runs it.
type sessionClock struct {
	reg  *simulator.Registry
	idle time.Duration

	calls atomic.Int64 // API calls made, answered or refused

	mu     sync.Mutex
	used   map[string]time.Time // session key -> its last call
	pruned time.Time
}

// enforceSessions makes reg's vCenter end sessions unused for idle, and
// refuse property reads made without a session (never logged in, logged
// out, or ended), as vCenter does, but those of the SessionManager's
// anonymous properties (anonymousRead). The clock it returns also judges the
// session cookie of vCenter's /folder requests (sessionClock.live).
func enforceSessions(reg *simulator.Registry, idle time.Duration) *sessionClock {
	sc := &sessionClock{reg: reg, idle: idle, used: map[string]time.Time{}, pruned: time.Now()}
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			sc.calls.Add(1)
			if ctx.Session != nil && !sc.use(ctx.Session.Key, ctx.Session.LoginTime) {
				// vcsim took the session before this handler: refused here.
				ctx.Session = nil
			}
			if ctx.Session == nil && !publicMethod(method.Name) && !anonymousRead(method) {
				return nil, &types.NotAuthenticated{NoPermission: types.NoPermission{Object: &method.This, PrivilegeId: "System.View"}}
			}
			if prev != nil {
				return prev(ctx, method)
			}
			return nil, nil
		}
	})
	return sc
}

// live says whether r carries the cookie of a session of user that vCenter
// still keeps (an HTTP request, such as a /folder read, uses the session
// as a call does).
func (sc *sessionClock) live(r *http.Request, user string) bool {
	c, err := r.Cookie(soap.SessionCookieName)
	if err != nil || c.Value == "" {
		return false
	}
	res := sc.reg.SessionManager().SessionIsActive(&simulator.Context{Map: sc.reg}, &types.SessionIsActive{SessionID: c.Value, UserName: user})
	b, ok := res.(*methods.SessionIsActiveBody)
	return ok && b.Res != nil && b.Res.Returnval && sc.use(c.Value, time.Time{})
}

// SetSessionIdle changes how long vCenter keeps an unused API session,
// from now on.
func (vc *VCenter) SetSessionIdle(d time.Duration) { vc.sessions.setIdle(d) }

// setIdle changes the idle timeout from now on.
func (sc *sessionClock) setIdle(d time.Duration) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.idle = d
}

// use records a use of the session key, logged in at login (zero: unknown,
// and then a session never used before is taken as new), and says whether
// the session is still alive. It ends the sessions found idle: key, and
// once per idle timeout every other one (so that the clock forgets them).
func (sc *sessionClock) use(key string, login time.Time) bool {
	ended := sc.call(key, login)
	for _, k := range ended {
		// As vCenter: the session is gone, its objects with it.
		sc.reg.SessionManager().TerminateSession(&simulator.Context{Session: &simulator.Session{}}, &types.TerminateSession{SessionId: []string{k}})
	}
	return !slices.Contains(ended, key)
}

// publicMethod says whether vCenter runs method without a session: the
// logins and the service content. Not property reads (RetrieveProperties,
// RetrievePropertiesEx, Fetch), which vcsim answers without one.
func publicMethod(method string) bool {
	switch method {
	case "Login", "LoginByToken", "LoginExtensionByCertificate", "CloneSession", "RetrieveServiceContent", "RetrieveInternalContent", "PbmRetrieveServiceContent", "List", "GetTrustedCertificates":
		return true
	}
	return false
}

// anonymousProps are the SessionManager properties vCenter lets anyone
// read (privilege System.Anonymous): without a session, currentSession
// reads as null ("If the client is not logged on, the value is null",
// vSphere API reference, SessionManager), with no fault. A client that
// asks it whether its session still lives gets no NotAuthenticated to
// log in again on.
var anonymousProps = []string{"currentSession", "defaultLocale", "messageLocaleList", "supportedLocaleList"}

// anonymousRead says whether method is a property read of the
// SessionManager's anonymous properties only.
func anonymousRead(method *simulator.Method) bool {
	var specs []types.PropertyFilterSpec
	switch b := method.Body.(type) {
	case *types.RetrieveProperties:
		specs = b.SpecSet
	case *types.RetrievePropertiesEx:
		specs = b.SpecSet
	default:
		return false
	}
	for _, s := range specs {
		for _, o := range s.ObjectSet {
			if o.Obj.Type != "SessionManager" || len(o.SelectSet) > 0 {
				return false
			}
		}
		for _, p := range s.PropSet {
			if p.Type != "SessionManager" || p.All != nil && *p.All || len(p.PathSet) == 0 {
				return false
			}
			for _, path := range p.PathSet {
				if !slices.Contains(anonymousProps, path) {
					return false
				}
			}
		}
	}
	return len(specs) > 0
}

// call records a call of the session key (logged in at login) and returns
// the sessions that ended before it: key, if it had gone unused for longer
// than the idle timeout, and, once per idle timeout, every other such
// session (so that the clock forgets them).
func (sc *sessionClock) call(key string, login time.Time) (ended []string) {
	now := time.Now()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	last, seen := sc.used[key]
	if !seen {
		last = cmp.Or(login, now)
	}
	if now.Sub(last) > sc.idle {
		delete(sc.used, key)
		ended = append(ended, key)
	} else {
		sc.used[key] = now
	}
	if now.Sub(sc.pruned) > sc.idle {
		for k, t := range sc.used {
			if now.Sub(t) > sc.idle {
				delete(sc.used, k)
				ended = append(ended, k)
			}
		}
		sc.pruned = now
	}
	return ended
}
