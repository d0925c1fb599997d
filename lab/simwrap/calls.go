package simwrap

import (
	"sync"
	"sync/atomic"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Handler is one of vcsim's call handlers (simulator.Registry.Handler).
type Handler = func(*simulator.Context, *simulator.Method) (mo.Reference, types.BaseMethodFault)

// vcsim runs every call through its registry's Handler, read without a
// lock: a wrapper installed by assigning it (prev := reg.Handler;
// reg.Handler = ...) while a client calls races that call. The lab adds
// some wrappers once its background clients run (change tracking, the
// refusal of a VM task while another runs), so the registry's Handler is
// set once, to a function that runs the chain as it stands when the call
// comes in, and wrappers replace the chain atomically.
type chain struct {
	wrapping sync.Mutex // one wrapper at a time
	outer    atomic.Pointer[Handler]
}

var (
	mu     sync.Mutex
	chains = map[*simulator.Registry]*chain{}
)

// WrapCalls makes wrap(prev) reg's outermost call handler, prev being the
// chain so far (nil: none, and then vcsim runs the method itself). The
// first WrapCalls of a registry sets its Handler, before its vCenter serves
// calls; later ones may come while it does: a call runs the chain as it
// was when it came in.
func WrapCalls(reg *simulator.Registry, wrap func(prev Handler) Handler) {
	mu.Lock()
	c := chains[reg]
	if c == nil {
		c = &chain{}
		if h := reg.Handler; h != nil {
			c.outer.Store(&h)
		}
		reg.Handler = func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			if h := c.outer.Load(); h != nil {
				return (*h)(ctx, method)
			}
			return nil, nil
		}
		chains[reg] = c
	}
	mu.Unlock()
	c.wrapping.Lock()
	defer c.wrapping.Unlock()
	var prev Handler
	if p := c.outer.Load(); p != nil {
		prev = *p
	}
	h := wrap(prev)
	c.outer.Store(&h)
}

// Forget drops reg's chain (its vCenter closed): the registry is kept no
// longer.
func Forget(reg *simulator.Registry) {
	mu.Lock()
	defer mu.Unlock()
	delete(chains, reg)
}
