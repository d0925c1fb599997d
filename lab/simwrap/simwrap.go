// Package simwrap lets the lab wrap a shared vcsim object for one session's
// call without racing the other sessions.
//
// vcsim prefers a session's registry over Registry.Handler, so a lab wrapper
// is registered in the caller's session with Session.Put. Put writes the
// registered object's Self field and, for a managed entity, its status and
// role fields. A wrapper that only embeds the shared object's pointer has no
// such fields of its own: the writes land in the shared object while other
// sessions read it (a data race the race detector reports). Embedding Own or
// OwnEntity gives the wrapper its own fields, which shadow the shared object's:
// Put writes those, vcsim's locker reads them and still finds the shared
// object's lock (same reference). Embed it last: vcsim's property collector
// finds the mo type through a wrapper's first field.
package simwrap

import (
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Own is embedded by a wrapper of a shared object that is not an entity.
type Own struct {
	Self types.ManagedObjectReference
}

// OwnEntity is embedded by a wrapper of a shared managed entity.
type OwnEntity struct {
	Self   types.ManagedObjectReference
	entity mo.ManagedEntity
}

// Entity returns the wrapper's own copy of the shared object's entity fields
// (name, disabled methods, ...) as they were when the wrapper was made; Put
// writes its status fields into this copy.
func (o *OwnEntity) Entity() *mo.ManagedEntity { return &o.entity }

// Entity makes the own fields of a wrapper of obj: a copy of obj's entity
// fields taken under obj's lock (vcsim reads the name and the disabled
// methods through the wrapper).
func Entity(ctx *simulator.Context, obj mo.Entity) OwnEntity {
	var o OwnEntity
	ctx.WithLock(obj, func() {
		o.entity = *obj.Entity()
		o.entity.DisabledMethod = slices.Clone(o.entity.DisabledMethod)
	})
	return o
}

// Put registers the wrapper w in the calling session, if there is one, so the
// session's call goes to w. w must embed Own or OwnEntity.
func Put(ctx *simulator.Context, w mo.Reference) {
	if ctx.Session != nil {
		ctx.Session.Put(w)
	}
}

// Wrap installs a handler on reg that sends each call of one of methods on
// an object of type typ to the wrapper wrap makes for it (through the
// caller's session, see Put; wrap returns nil to leave the call alone), and
// takes that wrapper out of the session for the object's other calls.
// Every other call goes to the handler installed before, if any. The
// wrapper must embed Own or OwnEntity.
func Wrap(reg *simulator.Registry, typ string, methods []string, wrap func(ctx *simulator.Context, obj mo.Reference) mo.Reference) {
	var mine reflect.Type // the wrappers' type, once one was made
	var mu sync.Mutex
	WrapCalls(reg, func(prev Handler) Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			if method.This.Type == typ && slices.Contains(methods, method.Name) {
				if obj := ctx.Map.Get(method.This); obj != nil {
					if w := wrap(ctx, obj); w != nil {
						mu.Lock()
						mine = reflect.TypeOf(w)
						mu.Unlock()
						Put(ctx, w)
						return w, nil
					}
				}
			}
			if method.This.Type == typ && ctx.Session != nil {
				mu.Lock()
				t := mine
				mu.Unlock()
				if o := ctx.Session.Registry.Get(method.This); o != nil && t != nil && reflect.TypeOf(o) == t {
					ctx.Session.Registry.Remove(ctx, method.This)
				}
			}
			if prev != nil {
				return prev(ctx, method)
			}
			return nil, nil
		}
	})
}

// Recovered, deferred by a wrapper's method with its named result res, its
// response body and the body's fault field, answers a panic in the method
// with a SystemError fault: vcsim would otherwise leave the object locked
// (Registry.WithLock has no defer) or end the process.
//
//	defer simwrap.Recovered(&res, body, &body.Fault_)
func Recovered(res *soap.HasFault, body soap.HasFault, fault **soap.Fault) {
	if r := recover(); r != nil {
		*fault = simulator.Fault(fmt.Sprint(r), &types.SystemError{Reason: fmt.Sprint(r)})
		*res = body
	}
}
