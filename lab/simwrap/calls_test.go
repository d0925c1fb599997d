package simwrap_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ferry-migrate/ferry/lab/simwrap"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// TestWrapCallsWhileServing: wrappers added while clients call (as the lab
// adds change tracking and the TaskInProgress refusal once its background
// clients run) each see the calls made after them, and, under the race
// detector, race no call.
func TestWrapCallsWhileServing(t *testing.T) {
	m := simulator.VPX()
	defer m.Remove()
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	s := m.Service.NewServer()
	defer s.Close()
	reg := m.Map()
	defer simwrap.Forget(reg)
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, s.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	var seen atomic.Int64 // calls the first wrapper saw
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			seen.Add(1)
			if prev != nil {
				return prev(ctx, method)
			}
			return nil, nil
		}
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var callers atomic.Int32 // still calling
	// moreCalls waits for a few more calls through the first wrapper.
	moreCalls := func() {
		for before := seen.Load(); seen.Load() < before+3 && callers.Load() > 0; {
			runtime.Gosched()
		}
	}
	for range 2 {
		callers.Add(1)
		wg.Go(func() {
			defer callers.Add(-1)
			for {
				select {
				case <-stop:
					return
				default:
				}
				var f mo.Folder
				if err := c.RetrieveOne(ctx, c.ServiceContent.RootFolder, []string{"name"}, &f); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	const wrappers = 20
	var counts [wrappers]atomic.Int64
	for i := range wrappers {
		moreCalls()
		simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
			return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
				counts[i].Add(1)
				return prev(ctx, method)
			}
		})
	}
	moreCalls()
	close(stop)
	wg.Wait()
	for i := range wrappers {
		if counts[i].Load() == 0 {
			t.Errorf("wrapper %d added while clients called saw no call", i)
		}
	}
	// Every wrapper runs the one before it: the first saw every call.
	if got, last := seen.Load(), counts[0].Load(); got < last {
		t.Errorf("first wrapper saw %d calls, the second %d: the chain is broken", got, last)
	}
}
