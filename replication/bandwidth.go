package replication

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bandwidth is a bandwidth cap on wire bytes shared by jobs (the plan's
// bandwidth_mbit) that serves the passes inside a cutover's downtime
// window first: while a final pass or a cutover's verify sends, the other
// jobs' passes (scheduled passes of VMs still replicating, the next VMs'
// pre-cutover passes in a wave) wait, and a wait they had reserved is given
// back. Sharing the cap evenly made a final pass copy at a fraction of it
// while other VMs replicated (QA: 960 KiB in 5.5 s, ~174 KiB/s of an 8
// Mbit/s cap, beside another VM's 16 MiB pass): downtime paid for passes
// whose VMs still run.
type Bandwidth struct {
	l *rate.Limiter

	mu     sync.Mutex
	urgent int           // passes in a downtime window sending now
	calm   chan struct{} // closed while urgent is 0
	busy   chan struct{} // closed while urgent is above 0
}

// yieldMax bounds how long a pass outside a downtime window waits for one
// inside it before it sends a burst anyway: far below the receiver's
// idleTimeout, so that its connections stay open; one burst (a tenth of a
// second of the cap) per yieldMax and connection leaves the window's pass
// nearly all of the cap.
var yieldMax = 30 * time.Second // a test shortens it

// NewBandwidth is a cap of bytesPerSecond wire bytes, burst bytes at once.
func NewBandwidth(bytesPerSecond float64, burst int) *Bandwidth {
	b := &Bandwidth{l: rate.NewLimiter(rate.Limit(bytesPerSecond), max(burst, 1)), calm: make(chan struct{}), busy: make(chan struct{})}
	close(b.calm)
	return b
}

// Limit is the cap in bytes per second.
func (b *Bandwidth) Limit() float64 { return float64(b.l.Limit()) }

// Burst is the most bytes one wait pays for.
func (b *Bandwidth) Burst() int { return b.l.Burst() }

// SetLimit changes the cap (rate.Inf: none).
func (b *Bandwidth) SetLimit(l rate.Limit) { b.l.SetLimit(l) }

// SetBurst changes the most bytes one wait pays for.
func (b *Bandwidth) SetBurst(n int) { b.l.SetBurst(n) }

// Urgent marks a pass in a downtime window as sending until the returned
// func is called: other passes wait meanwhile.
func (b *Bandwidth) Urgent() (done func()) {
	b.mu.Lock()
	if b.urgent == 0 {
		b.calm = make(chan struct{})
		close(b.busy)
	}
	b.urgent++
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			if b.urgent--; b.urgent == 0 {
				b.busy = make(chan struct{})
				close(b.calm)
			}
			b.mu.Unlock()
		})
	}
}

// WaitN waits until n bytes (at most Burst) may be sent; urgent says the
// sender is in a downtime window. Another sender waits while an urgent one
// sends, and gives back what it reserved when one begins.
func (b *Bandwidth) WaitN(ctx context.Context, n int, urgent bool) error {
	if n > b.l.Burst() {
		return fmt.Errorf("bandwidth: %d bytes at once exceed the burst of %d", n, b.l.Burst())
	}
	for {
		var begins <-chan struct{}
		if !urgent {
			b.mu.Lock()
			calm, busy := b.calm, b.busy
			b.mu.Unlock()
			select {
			case <-calm: // no window's pass: no timer on every frame
				begins = busy
			default:
				var err error
				if begins, err = yieldTo(ctx, calm, busy); err != nil {
					return err
				}
			}
		}
		r := b.l.ReserveN(time.Now(), n)
		d := r.Delay()
		if d == 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			t.Stop()
			r.Cancel()
			return ctx.Err()
		case <-begins:
			// A pass in a downtime window began: its bytes go first.
			t.Stop()
			r.Cancel()
		}
	}
}

// yieldTo waits while a pass in a downtime window sends (until calm), at
// most yieldMax: then the caller goes anyway (a trickle), so that its
// connection is not idle past the receiver's timeout and its pass moves,
// however long the window's pass runs. It returns busy when calm came (a
// later window's pass cancels the caller's reservation), nil otherwise.
func yieldTo(ctx context.Context, calm, busy chan struct{}) (<-chan struct{}, error) {
	t := time.NewTimer(yieldMax)
	defer t.Stop()
	select {
	case <-calm:
		return busy, nil
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
