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
	"slices"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
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

// Entity returns the wrapper's own entity fields: the methods vcsim disabled
// on the shared object when the wrapper was made, and the fields Put writes.
func (o *OwnEntity) Entity() *mo.ManagedEntity { return &o.entity }

// Entity makes the own fields of a wrapper of obj, copying the methods vcsim
// has disabled on obj under obj's lock.
func Entity(ctx *simulator.Context, obj mo.Entity) OwnEntity {
	var o OwnEntity
	ctx.WithLock(obj, func() {
		o.entity.DisabledMethod = slices.Clone(obj.Entity().DisabledMethod)
		// vcsim's fault injection names the object by its entity fields
		// (and panics on an entity without a name).
		o.entity.Name = obj.Entity().Name
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
