package lab

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// A full provider datastore pauses the receiver appliance, as ESXi pauses
// any VM whose thin disk must grow on a full datastore (stun.go): the
// replica disks hot-added to the appliance are thin, and the receiver's
// writes grow them. The appliance then stays powered on with ESXi's
// out-of-space question pending, and nothing in it runs: the receiver
// reads nothing more from its senders, acknowledges nothing, accepts no
// new sender, until someone frees space and answers Retry (a write that
// still finds no room pauses it again); Cancel powers it off, which ends
// its connections. Every sender of every tenant whose replicas it writes
// waits meanwhile.
//
// The lab's receiver runs in this process, so the lab pauses it where it
// can see it: its network. Bytes a sender sent reach the receiver only
// when the provider datastore holding the appliance's replica disks has
// room for them (the receiver writes what it reads); a read that would
// not fit pauses the appliance, and its bytes are held until the answer.
// (ESXi pauses at the write that finds no room; here the check is by the
// bytes read, within one read of that.)

// applianceGate pauses the receiver's connections while the appliance is
// paused or off.
type applianceGate struct {
	l     *Lab
	dsDir string // the provider datastore holding the replica disks
}

// pollPaused is how often a held connection looks at the appliance again.
const pollPaused = 20 * time.Millisecond

func (l *Lab) applianceGate() *applianceGate {
	return &applianceGate{l: l, dsDir: l.Provider.storage.dirNamed(l.Provider.Spec.Datastore)}
}

func (g *applianceGate) listener(ln net.Listener) net.Listener {
	return &pausedListener{Listener: ln, g: g}
}

type pausedListener struct {
	net.Listener
	g *applianceGate
}

func (ln *pausedListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &pausedConn{Conn: c, g: ln.g}, nil
}

type pausedConn struct {
	net.Conn
	g      *applianceGate
	closed atomic.Bool
}

func (c *pausedConn) Read(p []byte) (int, error) {
	if err := c.g.wait(c, 0); err != nil {
		return 0, err
	}
	if rh := c.g.l.receiverHold.Load(); rh != nil {
		if err := rh.wait(c); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		if werr := c.g.wait(c, int64(n)); werr != nil {
			return 0, werr
		}
	}
	return n, err
}

func (c *pausedConn) Write(p []byte) (int, error) {
	if err := c.g.wait(c, 0); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *pausedConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// errApplianceOff ends a connection of an appliance powered off.
var errApplianceOff = errors.New("receiver appliance powered off")

// wait returns once the appliance runs and its datastore has room for
// need bytes the receiver is about to write, pausing it (its question
// pending) when it has not; an error when the appliance is off or the
// connection closed meanwhile.
func (g *applianceGate) wait(c *pausedConn, need int64) error {
	for {
		if c.closed.Load() {
			return net.ErrClosed
		}
		on, asked := g.state()
		if !on {
			c.Conn.Close()
			return errApplianceOff
		}
		if !asked {
			if need <= 0 {
				return nil
			}
			free, ok := g.l.Provider.storage.roomIn(g.dsDir, need)
			if ok {
				return nil
			}
			g.stun(need, free)
		}
		time.Sleep(pollPaused)
	}
}

// state says whether the appliance VM is powered on and whether a question
// is pending on it.
func (g *applianceGate) state() (on, asked bool) {
	a := g.l.Appliance
	reg := g.l.Provider.Model.Map()
	vm, ok := reg.Get(a.ref).(*simulator.VirtualMachine)
	if !ok {
		return false, false
	}
	reg.WithLock(&simulator.Context{Map: reg}, vm, func() {
		on = vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
		asked = vm.Runtime.Question != nil
	})
	return on, asked
}

// stun pauses the appliance with ESXi's out-of-space question, naming the
// replica disk it wrote last.
func (g *applianceGate) stun(need, free int64) {
	a := g.l.Appliance
	reg := g.l.Provider.Model.Map()
	vm, ok := reg.Get(a.ref).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	file := a.lastWritten()
	reg.WithLock(&simulator.Context{Map: reg}, vm, func() {
		stun(reg, vm, &noSpaceError{file: file, need: need, free: free})
	})
}

// lastWritten is the flat file of the appliance's disk written last (its
// boot disk's name when it has no replica disk).
func (a *Appliance) lastWritten() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	file, latest := a.Name+".vmdk", time.Time{}
	for name, flat := range a.devices {
		if fi, err := os.Stat(filepath.Join(a.ByID, name)); err == nil && fi.ModTime().After(latest) {
			file, latest = flat, fi.ModTime()
		}
	}
	return file
}
