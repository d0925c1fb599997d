package lab

import (
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// HoldReceiverAfterWrite holds the receiver appliance's receiver in the
// middle of a pass: from the first write to one of its replica disks
// after the call, the receiver reads nothing more from its senders (what
// it wrote is on the disk, and acknowledged once synced) until Release. A
// pass then stays in its transfer, its replica holding part of it, as a
// pass on a slow link does for as long as it runs, so that a test acts
// inside that window without a sleep (a test migration's hold of the job,
// its snapshot of the appliance). Began receives the appliance's name
// once the receiver is held. Nothing is held unless a test asks; the lab's
// Close releases it.
func (l *Lab) HoldReceiverAfterWrite() *Hold {
	rh := &receiverHold{h: newHold(), byID: l.Appliance.ByID, before: deviceTimes(l.Appliance.ByID)}
	l.receiverHold.Store(rh)
	return rh.h
}

// receiverHold is a HoldReceiverAfterWrite in place.
type receiverHold struct {
	h       *Hold
	byID    string
	before  map[string]time.Time // each device's modification time at the call
	tripped atomic.Bool
	once    sync.Once
}

// deviceTimes are the modification times of the appliance's devices.
func deviceTimes(byID string) map[string]time.Time {
	out := map[string]time.Time{}
	entries, _ := os.ReadDir(byID)
	for _, e := range entries {
		if fi, err := os.Stat(filepath.Join(byID, e.Name())); err == nil {
			out[e.Name()] = fi.ModTime()
		}
	}
	return out
}

// written says whether a device was written since the hold was placed.
func (rh *receiverHold) written() bool {
	for name, t := range deviceTimes(rh.byID) {
		if was, ok := rh.before[name]; ok && !t.Equal(was) {
			return true
		}
	}
	return false
}

// wait returns at once until a device was written, then once the hold is
// released (or c closed).
func (rh *receiverHold) wait(c *pausedConn) error {
	if !rh.tripped.Load() {
		if !rh.written() {
			return nil
		}
		rh.tripped.Store(true)
		rh.once.Do(func() { rh.h.announce(ApplianceVM) })
	}
	for {
		select {
		case <-rh.h.release:
			return nil
		case <-time.After(pollPaused):
		}
		if c.closed.Load() {
			return net.ErrClosed
		}
	}
}

// releaseReceiverHold lets a held receiver go on (the lab is closing).
func (l *Lab) releaseReceiverHold() {
	if rh := l.receiverHold.Load(); rh != nil {
		rh.h.Release()
	}
}
