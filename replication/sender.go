package replication

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"
	"golang.org/x/time/rate"
)

// Job replicates one VM's disks to a receiver. A Job is not safe for
// concurrent passes; the Scheduler runs one pass per job at a time.
type Job struct {
	VM  string // the source VM; with Org, the replica namespace at the receiver
	Org string // the tenant org the VM migrates to
	// Kind is the receiver kind the replica disks were prepared for
	// (KindAppliance, KindNFS).
	Kind string
	// Replicas names, per source disk key, the replica disk the receiver
	// writes: the UUID of the disk hot-added to the receiver appliance, or
	// the datastore path of its descriptor (nfs). The provider vCenter
	// creates these disks before the first pass.
	Replicas map[string]string
	Source   Source        // VSphereSource, FileSource
	Addr     string        // receiver host:port
	TLS      *tls.Config   // client config with a client certificate (mutual TLS 1.3)
	State    *StateStore   // sender-side state (may be shared by jobs)
	Conns    int           // connections per pass (default 4)
	Window   int64         // unacknowledged bytes in flight per VM (default 64 MiB)
	Limiter  *rate.Limiter // shared bandwidth cap in wire bytes; nil = none
	Events   func(Event)   // optional
	Retries  int           // reconnects within a pass before giving up (default 5, backoff from 250ms)
	// Dial opens the TCP connections (default: net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// AckTimeout fails a connection whose receiver acknowledges nothing for
	// this long while the window is full (default 2 minutes).
	AckTimeout time.Duration

	// FullVerify makes Scheduler.FinalPass verify whole disks (Verify)
	// instead of the final pass's blocks and the digest-map roots
	// (VerifyFinal).
	FullVerify bool

	cache *vmCache // VM record for events; set before a pass starts goroutines
}

// vmCache holds the job's VMState for event fields (age of the last
// complete pass, projected final-pass time).
type vmCache struct {
	mu      sync.Mutex
	vs      VMState
	touched map[string][]int64 // blocks the last final pass wrote or checked, per disk key
}

func (j *Job) loadCache() {
	if j.cache == nil {
		vs, _ := j.State.VM(j.VM)
		j.cache = &vmCache{vs: vs}
	}
}

// projectedFinal estimates a final pass at now: the data changed since the
// last pass (at the change rate seen between the last two passes) over the
// last pass's transfer rate.
func projectedFinal(vs VMState, now time.Time) time.Duration {
	if vs.LastPass.IsZero() || vs.LastInterval <= 0 || vs.LastRate <= 0 {
		return 0
	}
	changeRate := float64(vs.LastPlanned) / vs.LastInterval.Seconds()
	delta := changeRate * now.Sub(vs.LastPass).Seconds()
	return time.Duration(delta / vs.LastRate * float64(time.Second))
}

func (j *Job) ackTimeout() time.Duration {
	if j.AckTimeout <= 0 {
		return 2 * time.Minute
	}
	return j.AckTimeout
}

// PassResult summarizes a committed pass.
type PassResult struct {
	Kind     PassKind
	Counters Counters
	Start    time.Time // snapshot time
	Duration time.Duration
	Attempts int
	// Compare is set when the pass was a full compare (PassOptions.Compare)
	// and compared every block.
	Compare *CompareResult
}

// PassOptions choose what a pass does beyond sending changes.
type PassOptions struct {
	// Final is the cutover pass on the powered-off VM (no snapshot).
	Final bool
	// Compare makes the pass a full compare: besides the changed blocks, it
	// reads every other block of the snapshot and compares it with the
	// replica read back by the receiver (not its digest map), re-sending
	// and checking the blocks that differ. An initial sync compares nothing
	// (everything it writes is checked anyway): compare in the next pass.
	Compare bool
}

// ErrVerifyMismatch means the replica differs from the source after a final pass.
var ErrVerifyMismatch = errors.New("replica differs from source")

func (j *Job) conns() int {
	if j.Conns <= 0 {
		return 4
	}
	return j.Conns
}

func (j *Job) window() int64 {
	if j.Window <= 0 {
		return 64 << 20
	}
	return j.Window
}

func (j *Job) emit(e Event) {
	if j.Events == nil {
		return
	}
	e.Time = time.Now()
	e.VM = j.VM
	if c := j.cache; c != nil {
		c.mu.Lock()
		if !c.vs.LastPass.IsZero() {
			e.LastPassAge = e.Time.Sub(c.vs.LastPass)
		}
		e.ProjectedFinal = projectedFinal(c.vs, e.Time)
		c.mu.Unlock()
	}
	j.Events(e)
}

// retryable says whether a failed attempt may be retried by reconnecting.
func retryable(err error) bool {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Code == "bad_hash"
	}
	return !errors.Is(err, ErrCBTReset) && !errors.Is(err, ErrVerifyMismatch) && !errors.Is(err, ErrNoReplicaDisk)
}

// RunPass runs one pass (final: the cutover pass on the powered-off VM) and
// commits it on both sides. A pass interrupted by ctx can be resumed by the
// next RunPass: its snapshot is kept and acknowledged data is not re-sent.
func (j *Job) RunPass(ctx context.Context, final bool) (PassResult, error) {
	return j.RunPassWith(ctx, PassOptions{Final: final})
}

// RunPassWith runs one pass with options (see RunPass).
func (j *Job) RunPassWith(ctx context.Context, opts PassOptions) (PassResult, error) {
	final := opts.Final
	j.loadCache()
	disks, err := j.Source.Disks(ctx)
	if err != nil {
		return PassResult{}, fmt.Errorf("%s: list disks: %w", j.VM, err)
	}
	states := make([]DiskState, len(disks))
	resume := ""
	for i, d := range disks {
		if states[i], err = j.State.Disk(diskStateKey(j.VM, d.Key)); err != nil {
			return PassResult{}, err
		}
		if states[i].Pass != "" && !final {
			resume = states[i].Pass
		}
	}
	j.emit(Event{Kind: EventPhase, Phase: PhaseSnapshot})
	start := time.Now()
	snap, err := j.Source.Open(ctx, resume, final)
	if errors.Is(err, ErrSnapshotGone) {
		snap, err = j.Source.Open(ctx, "", final)
	}
	if err != nil {
		return PassResult{}, fmt.Errorf("%s: open pass: %w", j.VM, err)
	}
	res := PassResult{Kind: PassIncremental, Start: start}
	var p *pass
	for attempt := 0; ; attempt++ {
		res.Attempts = attempt + 1
		p = &pass{job: j, snap: snap, disks: disks, states: states, final: final, compare: opts.Compare, compared: opts.Compare, start: time.Now(), touched: map[string][]int64{}}
		err = p.run(ctx)
		res.Counters = addCounters(res.Counters, p.counters())
		if err == nil || ctx.Err() != nil || !retryable(err) || attempt >= j.retries() {
			break
		}
		j.emit(Event{Kind: EventError, Err: err, Msg: fmt.Sprintf("attempt %d failed, reconnecting", attempt+1)})
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Duration(250<<attempt)*time.Millisecond, 10*time.Second)):
		}
		for i, d := range disks {
			states[i], _ = j.State.Disk(diskStateKey(j.VM, d.Key))
		}
	}
	if err != nil {
		if ctx.Err() == nil || errors.Is(context.Cause(ctx), ErrPaused) {
			// Do not leave a snapshot growing on the source VM after a failure
			// or while paused; the next pass starts over from the same base
			// changeId. (A killed sender keeps it and resumes in it.)
			_ = snap.Release(context.WithoutCancel(ctx))
		}
		j.emit(Event{Kind: EventError, Err: err})
		j.emit(Event{Kind: EventPhase, Phase: PhaseIdle})
		return res, fmt.Errorf("%s: pass: %w", j.VM, err)
	}
	res.Kind = p.kind
	if final {
		j.cache.mu.Lock()
		j.cache.touched = p.touched
		j.cache.mu.Unlock()
	}
	j.emit(Event{Kind: EventPhase, Phase: PhaseRelease})
	if err := snap.Release(ctx); err != nil {
		// The pass is committed; the next pass deletes a leftover snapshot.
		j.emit(Event{Kind: EventError, Err: err, Msg: "pass snapshot not deleted; the next pass retries"})
	}
	res.Duration = time.Since(start)
	vs, _ := j.State.VM(j.VM)
	if !vs.LastPass.IsZero() {
		vs.LastInterval = start.Sub(vs.LastPass)
	}
	vs.LastPass, vs.LastDuration = start, res.Duration
	if s := res.Duration.Seconds(); s > 0 {
		vs.LastRate = float64(res.Counters.Sent) / s
	}
	if res.Kind == PassIncremental && !p.compared {
		vs.LastPlanned = res.Counters.Planned
	}
	if p.compared {
		res.Compare = &CompareResult{Time: start, Duration: res.Duration, Blocks: p.cmpBlocks.Load(), Differing: p.differing.Load(), Repaired: p.repaired.Load(), Unreported: p.unreported.Load()}
		vs.LastCompare = res.Compare
	}
	if err := j.State.PutVM(j.VM, vs); err != nil {
		return res, err
	}
	j.cache.mu.Lock()
	j.cache.vs = vs
	j.cache.mu.Unlock()
	j.emit(Event{Kind: EventPassDone, Pass: res.Kind, Counters: res.Counters, Compression: p.compression(), Rate: p.rate()})
	if res.Compare != nil {
		j.emit(Event{Kind: EventCompared, Compare: res.Compare, Msg: "full compare: " + res.Compare.Summary()})
	}
	j.emit(Event{Kind: EventPhase, Phase: PhaseIdle})
	return res, nil
}

func (j *Job) retries() int {
	if j.Retries <= 0 {
		return 5 // with the backoff: about 8 s for a receiver to come back
	}
	return j.Retries
}

func addCounters(a, b Counters) Counters {
	return Counters{Planned: max(a.Planned, b.Planned), Read: a.Read + b.Read, Sent: a.Sent + b.Sent, Payload: a.Payload + b.Payload,
		ZeroSkipped: a.ZeroSkipped + b.ZeroSkipped, Matched: a.Matched + b.Matched, Acked: a.Acked + b.Acked,
		Checked: a.Checked + b.Checked, Resent: a.Resent + b.Resent}
}

// pass is one attempt of a pass over all disks of a job.
type pass struct {
	job    *Job
	snap   Snapshot
	disks  []Disk
	states []DiskState
	final  bool
	start  time.Time
	kind   PassKind

	diskKind PassKind // of the disk being sent
	dmap     []uint64 // the sender's digest map of the disk being sent
	compare  bool     // a full compare was asked for
	compared bool     // ... and every disk was compared
	touched  map[string][]int64

	// Blocks checked and re-sent; of a full compare: compared, differing,
	// repaired, unreported (CompareResult).
	checked, resent                            atomic.Int64
	cmpBlocks, differing, repaired, unreported atomic.Int64

	conns []*senderConn
	seq   atomic.Uint32

	planned, read, sent, payload, dataWire, zero, matched, ackedBytes atomic.Int64

	markc     chan struct{}
	persistMu sync.Mutex // orders watermark writes to the state store
	mu        sync.Mutex // guards cur and the progress throttle
	cur       *diskSend
	lastProg  time.Time
}

func (p *pass) counters() Counters {
	return Counters{Planned: p.planned.Load(), Read: p.read.Load(), Sent: p.sent.Load(), Payload: p.payload.Load(),
		ZeroSkipped: p.zero.Load(), Matched: p.matched.Load(), Acked: p.ackedBytes.Load(),
		Checked: p.checked.Load(), Resent: p.resent.Load()}
}

func (p *pass) compression() float64 {
	if w := p.dataWire.Load(); w > 0 {
		return float64(p.payload.Load()) / float64(w)
	}
	return 1
}

func (p *pass) rate() float64 {
	if s := time.Since(p.start).Seconds(); s > 0 {
		return float64(p.sent.Load()) / s
	}
	return 0
}

func (p *pass) progress(force bool) {
	p.mu.Lock()
	if !force && time.Since(p.lastProg) < 250*time.Millisecond {
		p.mu.Unlock()
		return
	}
	p.lastProg = time.Now()
	p.mu.Unlock()
	c := p.counters()
	e := Event{Kind: EventProgress, Phase: PhaseTransfer, Pass: p.kind, Counters: c, Compression: p.compression(), Rate: p.rate()}
	if s := time.Since(p.start).Seconds(); s > 0 && c.Acked > 0 {
		e.ETA = time.Duration(float64(c.Planned-c.Acked) / (float64(c.Acked) / s) * float64(time.Second))
	}
	p.job.emit(e)
}

func (p *pass) run(ctx context.Context) (err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer func() {
		if cerr := context.Cause(ctx); err != nil && cerr != nil && !errors.Is(cerr, context.Canceled) {
			err = cerr // the connection's own error explains the failure better
		}
		for _, c := range p.conns {
			c.c.Close()
		}
	}()
	if err := p.dial(ctx, cancel, p.job.conns()); err != nil {
		return err
	}
	p.markc = make(chan struct{}, 1)
	go p.marks(ctx)
	for i := range p.disks {
		if err := p.runDisk(ctx, i); err != nil {
			if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
				return c
			}
			return err
		}
	}
	return nil
}

func (p *pass) dial(ctx context.Context, cancel context.CancelCauseFunc, n int) error {
	j := p.job
	dial := j.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}).DialContext
	}
	cfg := j.TLS.Clone()
	cfg.MinVersion = tls.VersionTLS13
	per := max(j.window()/int64(n), 4*FrameMax)
	session := rand.Text()
	replicas := make([]string, len(p.disks))
	for i, d := range p.disks {
		if replicas[i] = j.Replicas[d.Key]; replicas[i] == "" {
			return fmt.Errorf("%w: no replica disk prepared for %s disk %s", ErrNoReplicaDisk, j.VM, d.Key)
		}
	}
	for range n {
		raw, err := dial(ctx, "tcp", j.Addr)
		if err != nil {
			return fmt.Errorf("connect to receiver %s: %w", j.Addr, err)
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return fmt.Errorf("TLS handshake with receiver %s: %w", j.Addr, err)
		}
		sc := &senderConn{p: p, c: tc, fc: newFrameConn(tc), max: per, replies: make(chan replyMsg, 1), readDone: make(chan struct{})}
		sc.cond = sync.NewCond(&sc.mu)
		p.conns = append(p.conns, sc)
		if err := sc.fc.writeJSON(fHello, 0, helloMsg{Version: protoVersion, Kind: j.Kind, Org: j.Org, VM: j.VM, Session: session, Disks: p.disks, Replicas: replicas}); err != nil {
			return err
		}
		go sc.readLoop(cancel)
		if _, err := sc.await(ctx); err != nil {
			return fmt.Errorf("receiver hello: %w", err)
		}
	}
	// Unblock writers waiting for window space when the pass ends.
	context.AfterFunc(ctx, func() {
		for _, c := range p.conns {
			c.fail(context.Cause(ctx))
		}
	})
	return nil
}

// senderConn is one TLS connection: frames out, acks and replies in.
type senderConn struct {
	p   *pass
	c   net.Conn
	fc  *frameConn
	wmu sync.Mutex // serializes writes

	mu        sync.Mutex
	cond      *sync.Cond
	inflight  int64 // unacknowledged wire bytes
	unflagged int64 // wire bytes sent since the last frame that asked for an ack
	max       int64
	err       error

	replies  chan replyMsg
	readDone chan struct{} // closed when readLoop returns
}

func (c *senderConn) fail(err error) {
	if err == nil {
		err = errors.New("connection closed")
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.cond.Broadcast()
	c.c.Close()
}

func (c *senderConn) readLoop(cancel context.CancelCauseFunc) {
	defer close(c.readDone)
	var h header
	var buf []byte
	for {
		var err error
		buf, err = c.fc.readFrame(&h, buf)
		if err != nil {
			err = fmt.Errorf("receiver connection: %w", err)
			c.fail(err)
			cancel(err)
			close(c.replies)
			return
		}
		switch h.Type {
		case fAck:
			var m ackMsg
			if err := json.Unmarshal(buf, &m); err == nil {
				c.p.acked(c, m.Seqs)
			}
		case fReply:
			var m replyMsg
			if err := json.Unmarshal(buf, &m); err == nil {
				c.replies <- m
			}
		case fError:
			var m errorMsg
			_ = json.Unmarshal(buf, &m)
			err := &RemoteError{Code: m.Code, Msg: m.Msg}
			c.fail(err)
			cancel(err)
			close(c.replies)
			return
		}
	}
}

func (c *senderConn) await(ctx context.Context) (replyMsg, error) {
	select {
	case m, ok := <-c.replies:
		if !ok {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			return m, err
		}
		return m, nil
	case <-ctx.Done():
		return replyMsg{}, context.Cause(ctx)
	}
}

func (c *senderConn) control(ctx context.Context, t frameType, disk int, m diskMsg) (replyMsg, error) {
	m.Disk = uint16(disk)
	b, _ := json.Marshal(m)
	if err := c.write(ctx, &header{Type: t, Disk: uint16(disk)}, b, true); err != nil {
		return replyMsg{}, err
	}
	return c.await(ctx)
}

func (c *senderConn) write(ctx context.Context, h *header, payload []byte, flush bool) error {
	n := headerSize + len(payload)
	if l := c.p.job.Limiter; l != nil {
		for rem := n; rem > 0; {
			k := min(rem, max(l.Burst(), 1))
			if err := l.WaitN(ctx, k); err != nil {
				return err
			}
			rem -= k
		}
	}
	c.wmu.Lock()
	err := c.fc.writeFrame(h, payload, flush)
	c.wmu.Unlock()
	if err == nil {
		c.p.sent.Add(int64(n))
		return nil
	}
	// The receiver may have explained why it closed the connection (disk
	// full...): give the reader a moment to deliver that before failing.
	select {
	case <-c.readDone:
	case <-time.After(2 * time.Second):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return err
}

// reserve waits for window space for n wire bytes and reports whether the
// frame should ask for an fsync and acknowledgement: one frame in every
// max/2 bytes does, so whenever the window is full an acknowledgement is on
// its way (max >= 4 frames).
func (c *senderConn) reserve(n int64) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.wait(func() bool { return c.inflight > 0 && c.inflight+n > c.max }); err != nil {
		return false, err
	}
	c.inflight += n
	c.unflagged += n
	if c.unflagged >= c.max/2 {
		c.unflagged = 0
		return true, nil
	}
	return false, nil
}

// wait waits (c.mu held) while blocked() holds, failing the connection if
// no acknowledgement moves it for AckTimeout.
func (c *senderConn) wait(blocked func() bool) error {
	if c.err != nil || !blocked() {
		return c.err
	}
	d := c.p.job.ackTimeout()
	t := time.AfterFunc(d, func() { c.fail(fmt.Errorf("receiver sent no acknowledgement for %s", d)) })
	defer t.Stop()
	for c.err == nil && blocked() {
		c.cond.Wait()
	}
	return c.err
}

func (c *senderConn) release(n int64) {
	c.mu.Lock()
	c.inflight -= n
	c.mu.Unlock()
	c.cond.Broadcast()
}

// drain waits until everything sent on c is acknowledged.
func (c *senderConn) drain(ctx context.Context) error {
	if err := c.write(ctx, &header{Type: fSync}, nil, true); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unflagged = 0
	return c.wait(func() bool { return c.inflight > 0 })
}

// diskSend tracks one disk's units while they are in flight.
type diskSend struct {
	disk      int
	key       string
	state     DiskState
	units     []readUnit
	left      []int // frames not yet acknowledged per unit (-1: not yet read)
	next      int   // first unit not known durable
	watermark int64
	frames    map[uint32]frameRef
	persisted int64 // watermark last written to the state store (persistMu)
	durable   chan<- int
}

type frameRef struct {
	unit int
	wire int64
	raw  int64
}

func (p *pass) acked(c *senderConn, seqs []uint32) {
	p.mu.Lock()
	d := p.cur
	if d == nil {
		p.mu.Unlock()
		return
	}
	var wire int64
	for _, s := range seqs {
		f, ok := d.frames[s]
		if !ok {
			continue
		}
		delete(d.frames, s)
		wire += f.wire
		p.ackedBytes.Add(f.raw)
		d.left[f.unit]--
	}
	advanced := false
	for d.next < len(d.units) && d.left[d.next] == 0 {
		d.watermark = max(d.watermark, d.units[d.next].End())
		if d.durable != nil {
			d.durable <- d.next // buffered for every unit: never blocks
		}
		d.next++
		advanced = true
	}
	st := d.state
	st.Watermark = d.watermark
	p.mu.Unlock()
	if advanced {
		// Durable at the receiver: remember it here (before the window is
		// released, so a drained pass has persisted all of it) and tell the
		// receiver (asynchronously).
		p.persistMu.Lock()
		if st.Watermark > d.persisted {
			d.persisted = st.Watermark
			_ = p.job.State.PutDisk(d.key, st)
		}
		p.persistMu.Unlock()
		select {
		case p.markc <- struct{}{}:
		default:
		}
	}
	c.release(wire)
	p.progress(false)
}

// marks sends the sender's durable watermark to the receiver, which keeps
// it as its own record of the pass in flight.
func (p *pass) marks(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.markc:
		}
		p.mu.Lock()
		d := p.cur
		h := header{Type: fMark, Disk: uint16(d.disk), Offset: d.watermark}
		p.mu.Unlock()
		if err := p.conns[0].write(ctx, &h, nil, true); err != nil {
			return
		}
	}
}

var kindRank = map[PassKind]int{PassIncremental: 1, PassFinal: 2, PassInitial: 3, PassFullCompare: 4}

func (p *pass) runDisk(ctx context.Context, i int) error {
	j := p.job
	disk := p.disks[i]
	key := diskStateKey(j.VM, disk.Key)
	ss := p.states[i]
	c0 := p.conns[0]
	target := p.snap.ChangeID(disk.Key)
	rs, err := c0.control(ctx, fState, i, diskMsg{})
	if err != nil {
		return fmt.Errorf("disk %s: receiver state: %w", disk.Key, err)
	}
	if ss.Pass == p.snap.ID() && ss.Target == target && rs.Committed == target && rs.Pass == "" {
		// The receiver committed this pass before we could record it.
		if kindRank[ss.Kind] >= kindRank[p.kind] {
			p.kind = ss.Kind
		}
		return j.State.PutDisk(key, DiskState{Committed: target, Size: disk.Capacity})
	}
	j.emit(Event{Kind: EventPhase, Phase: PhasePlan, Disk: disk.Key})
	base, kind := ss.Committed, PassIncremental
	var ext []Extent
	switch {
	case base == "" && rs.Committed == "":
		kind, base = PassInitial, AllChanged
	case base == "" || base != rs.Committed:
		// The replica is not at our base (state lost on one side): compare.
		kind = PassFullCompare
	}
	if kind != PassFullCompare {
		ext, err = p.snap.Extents(ctx, disk.Key, base)
		if errors.Is(err, ErrCBTReset) {
			j.emit(Event{Kind: EventError, Disk: disk.Key, Err: err, Msg: "changed block tracking unusable: full-compare pass"})
			kind, err = PassFullCompare, nil
		}
		if err != nil {
			return fmt.Errorf("disk %s: changed areas: %w", disk.Key, err)
		}
	}
	if kind == PassFullCompare {
		base = ""
	}
	if p.final && kind == PassIncremental {
		kind = PassFinal
	}
	p.diskKind = kind
	// The pass reports the most thorough kind any of its disks needed.
	if kindRank[kind] >= kindRank[p.kind] {
		p.kind = kind
	}
	resumable := ss.Pass == p.snap.ID() && ss.Target == target && ss.Base == base &&
		rs.Pass == p.snap.ID() && rs.Target == target
	bg, err := c0.control(ctx, fBegin, i, diskMsg{Pass: p.snap.ID(), Base: base, Target: target, Kind: kind})
	if err != nil {
		return fmt.Errorf("disk %s: begin pass: %w", disk.Key, err)
	}
	wm := bg.Watermark
	if resumable {
		wm = max(wm, ss.Watermark)
	}
	st := DiskState{Committed: ss.Committed, Pass: p.snap.ID(), Base: base, Target: target, Kind: kind, Watermark: wm, Size: disk.Capacity}
	if err := j.State.PutDisk(key, st); err != nil {
		return err
	}
	// Large disks are sent in batches of at most batchUnits read units
	// (drained and checked in between) so the plan in memory stays small.
	nblocks := (disk.Capacity + HashBlock - 1) / HashBlock
	if p.dmap, err = j.State.Digests(key, int(nblocks)); err != nil {
		return err
	}
	if kind == PassInitial && wm == 0 {
		// What the initial sync does not send is zero at the source: that
		// is what the replica must hold there (a full compare checks it).
		p.dmap = zeroDigests(disk.Capacity)
		if err := j.State.PutAllDigests(key, p.dmap); err != nil {
			return err
		}
	}
	var changed []readUnit
	if kind != PassFullCompare {
		changed = planBlocks(ext, disk.Capacity)
	}
	scan := kind == PassFullCompare || (p.compare && kind != PassInitial)
	for k := range changed {
		u := &changed[k]
		if !scan && !p.final {
			// An ordinary pass reads and checks only the ranges it writes
			// (reads do not grow with scattered small changes); a full
			// compare, the final pass (whose blocks the cutover verifies
			// against the source) and re-sent blocks read whole blocks.
			u.ranges = u.parts
			u.Extent = Extent{u.parts[0].Offset, u.parts[len(u.parts)-1].End() - u.parts[0].Offset}
		}
		// Below the watermark an earlier attempt of this pass wrote the
		// block: it is read and checked, not sent again.
		u.parts = trimBelow(u.parts, wm)
		p.planned.Add(totalLength(u.parts))
	}
	if p.compare && !scan {
		p.compared = false
	}
	if scan {
		j.emit(Event{Kind: EventPhase, Phase: PhaseCompare, Disk: disk.Key, Pass: kind})
		first := int64(0)
		if kind == PassFullCompare {
			first = wm / HashBlock
			p.planned.Add(disk.Capacity - first*HashBlock)
		} else {
			p.planned.Add(disk.Capacity - totalUnits(changed))
		}
		ci := 0
		for b := first; b < nblocks; b += batchUnits {
			last := min(nblocks, b+batchUnits)
			hs, err := p.freshHashes(ctx, c0, i, b, last)
			if err != nil {
				return fmt.Errorf("disk %s: %w", disk.Key, err)
			}
			var units []readUnit
			for blk := b; blk < last; blk++ {
				for ci < len(changed) && changed[ci].Offset < blk*HashBlock {
					ci++
				}
				if ci < len(changed) && changed[ci].Offset == blk*HashBlock {
					u := changed[ci]
					u.scan = true
					if len(u.parts) > 0 {
						// (Not for a block an earlier attempt of this pass
						// wrote: the replica is ahead of the map there.)
						u.hash, u.expected = hs[blk-b], p.dmap[blk]
					}
					units = append(units, u)
					continue
				}
				off := blk * HashBlock
				e := Extent{off, min(HashBlock, disk.Capacity-off)}
				units = append(units, readUnit{Extent: e, parts: []Extent{e}, compare: true, hash: hs[blk-b], check: true, expected: p.dmap[blk], scan: true})
			}
			p.cmpBlocks.Add(int64(len(units)))
			if err := p.sendChecked(ctx, i, key, &st, units); err != nil {
				return fmt.Errorf("disk %s: %w", disk.Key, err)
			}
		}
	} else {
		j.emit(Event{Kind: EventPhase, Phase: PhaseTransfer, Disk: disk.Key, Pass: kind})
		for len(changed) > 0 {
			k := min(int64(len(changed)), batchUnits)
			if err := p.sendChecked(ctx, i, key, &st, changed[:k]); err != nil {
				return fmt.Errorf("disk %s: %w", disk.Key, err)
			}
			changed = changed[k:]
		}
	}
	p.progress(true)
	j.emit(Event{Kind: EventPhase, Phase: PhaseCommit, Disk: disk.Key})
	if _, err := c0.control(ctx, fEnd, i, diskMsg{Pass: p.snap.ID(), Target: target}); err != nil {
		return fmt.Errorf("disk %s: commit: %w", disk.Key, err)
	}
	return j.State.PutDisk(key, DiskState{Committed: target, Size: disk.Capacity})
}

// batchUnits bounds the read units planned and in flight at a time.
var batchUnits int64 = 8192 // a variable for tests

// sendBatch sends units (sorted, above st.Watermark) and waits until the
// receiver acknowledged all of them; st.Watermark follows.
func (p *pass) sendBatch(ctx context.Context, disk int, key string, st *DiskState, units []readUnit) error {
	return p.sendBatchNotify(ctx, disk, key, st, units, nil)
}

// sendBatchNotify is sendBatch that also sends the index of each unit, in
// order, to durable once the receiver acknowledged it (and everything
// before it) as durable; durable must have room for every unit.
func (p *pass) sendBatchNotify(ctx context.Context, disk int, key string, st *DiskState, units []readUnit, durable chan<- int) error {
	d := &diskSend{disk: disk, key: key, state: *st, units: units, left: make([]int, len(units)),
		watermark: st.Watermark, persisted: st.Watermark, frames: map[uint32]frameRef{}, durable: durable}
	for k := range d.left {
		d.left[k] = -1
	}
	p.mu.Lock()
	p.cur = d
	p.mu.Unlock()
	// Once this returns (drained, or failed with acknowledgements still in
	// flight on the connections' read loops) nothing sends on durable any
	// more: the caller closes it.
	defer func() {
		p.mu.Lock()
		d.durable = nil
		p.mu.Unlock()
	}()
	if err := p.sendUnits(ctx, d); err != nil {
		return err
	}
	for _, c := range p.conns {
		if err := c.drain(ctx); err != nil {
			return err
		}
	}
	p.mu.Lock()
	st.Watermark = d.watermark
	p.mu.Unlock()
	return nil
}

// freshHashes asks the receiver for the digests of blocks [first, last)
// read back from the replica now (not from its digest map).
func (p *pass) freshHashes(ctx context.Context, c *senderConn, disk int, first, last int64) ([]uint64, error) {
	var out []uint64
	for b := first; b < last; {
		n := min(last-b, maxDigestBlocks)
		r, err := c.control(ctx, fHashes, disk, diskMsg{Offset: b * HashBlock, Count: int(n), Fresh: true})
		if err != nil {
			return nil, fmt.Errorf("block hashes: %w", err)
		}
		if len(r.Hashes) != int(n) {
			return nil, fmt.Errorf("block hashes: got %d, want %d", len(r.Hashes), n)
		}
		out = append(out, r.Hashes...)
		b += n
	}
	return out, nil
}

// sendUnits reads units with one reader per connection and sends their frames.
func (p *pass) sendUnits(ctx context.Context, d *diskSend) error {
	next := make(chan int)
	errc := make(chan error, len(p.conns))
	for _, c := range p.conns {
		go func() {
			buf := make([]byte, FrameMax)
			enc := make([]byte, s2.MaxEncodedLen(FrameMax))
			for k := range next {
				if err := p.sendUnit(ctx, c, d, k, buf, enc); err != nil {
					errc <- err
					for range next {
					}
					return
				}
			}
			errc <- nil
		}()
	}
	var err error
	n := len(p.conns) // readers still to report
feed:
	for k := range d.units {
		select {
		case next <- k:
		case err = <-errc:
			n--
			break feed
		case <-ctx.Done():
			err = context.Cause(ctx)
			break feed
		}
	}
	close(next)
	for ; n > 0; n-- {
		if e := <-errc; e != nil && err == nil {
			err = e
		}
	}
	return err
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	return len(bytes.TrimLeft(b, "\x00")) == 0
}

type frameSpec struct {
	off, n int64
	zero   bool
}

// splitZero splits a part into zero and non-zero runs at ZeroGrain
// boundaries (absolute disk offsets).
func splitZero(part Extent, data []byte) []frameSpec {
	var out []frameSpec
	off := part.Offset
	for off < part.End() {
		end := min((off/ZeroGrain+1)*ZeroGrain, part.End())
		z := isZero(data[off-part.Offset : end-part.Offset])
		if n := len(out); n > 0 && out[n-1].zero == z {
			out[n-1].n += end - off
		} else {
			out = append(out, frameSpec{off, end - off, z})
		}
		off = end
	}
	return out
}

func (p *pass) sendUnit(ctx context.Context, c *senderConn, d *diskSend, k int, buf, enc []byte) error {
	u := d.units[k]
	data := buf[:u.Length]
	if err := p.snap.ReadAt(ctx, p.disks[d.disk].Key, data, u.Offset); err != nil {
		return fmt.Errorf("read source at %d+%d: %w", u.Offset, u.Length, err)
	}
	p.read.Add(u.Length)
	var digest uint64
	var rangeDigests []uint64
	switch {
	case u.check && u.ranges != nil:
		for _, e := range u.ranges {
			rangeDigests = append(rangeDigests, xxh3.Hash(data[e.Offset-u.Offset:e.End()-u.Offset]))
		}
	case u.check:
		digest = xxh3.Hash(data)
	}
	if u.scan && !u.compare {
		// A changed block in a full compare: its unchanged rest is covered.
		p.ackedBytes.Add(u.Length - totalLength(u.parts))
	}
	differ := false
	var frames []frameSpec
	if u.compare && digest == u.hash {
		p.matched.Add(u.Length)
		p.ackedBytes.Add(u.Length)
	} else {
		if u.scan {
			// A full compare: u.hash is the replica's block read back
			// before this pass wrote anything, u.expected what the sender's
			// map says the replica got from earlier passes. A replica that
			// does not hold that is wrong (corruption, or writes behind
			// ferry's back): counted, and repaired by this pass (a changed
			// block whose wrong part this pass does not overwrite reads
			// back wrong and is sent again whole). A compared block whose
			// replica holds what it should but the source changed although
			// changed block tracking did not report it (on vSphere, whose
			// snapshots are frozen, a change CBT missed) is counted apart;
			// after a CBT reset (full-compare pass) that is expected.
			switch {
			case u.expected == 0 && u.compare && p.diskKind != PassFullCompare, u.expected != 0 && u.hash != u.expected:
				differ = true
				p.differing.Add(1)
			case u.compare && p.diskKind != PassFullCompare:
				p.unreported.Add(1)
			}
		}
		for _, part := range u.parts {
			frames = append(frames, splitZero(part, data[part.Offset-u.Offset:part.End()-u.Offset])...)
		}
	}
	d.units[k].digest, d.units[k].rangeDigests, d.units[k].sent = digest, rangeDigests, len(frames) > 0
	d.units[k].differ = d.units[k].differ || differ
	// Register the frames before sending so acks always find them.
	seqs := make([]uint32, len(frames))
	p.mu.Lock()
	d.left[k] = len(frames)
	for i := range frames {
		seqs[i] = p.seq.Add(1)
	}
	p.mu.Unlock()
	if len(frames) == 0 {
		p.acked(c, nil) // advances the watermark over a unit that needed no frames
		return nil
	}
	for i, f := range frames {
		h := header{Type: fZero, Seq: seqs[i], Disk: uint16(d.disk), Offset: f.off, Length: uint32(f.n)}
		var payload []byte
		if !f.zero {
			raw := data[f.off-u.Offset : f.off-u.Offset+f.n]
			h.Type, h.Hash = fData, xxh3.Hash(raw)
			payload, h.Flags = encodeData(enc, raw)
		}
		wire := int64(headerSize + len(payload))
		p.mu.Lock()
		d.frames[seqs[i]] = frameRef{unit: k, wire: wire, raw: f.n}
		p.mu.Unlock()
		syncNow, err := c.reserve(wire)
		if err != nil {
			return err
		}
		if syncNow {
			h.Flags |= flagSync
		}
		if err := c.write(ctx, &h, payload, syncNow); err != nil {
			return err
		}
		if f.zero {
			p.zero.Add(f.n)
		} else {
			p.payload.Add(f.n)
			p.dataWire.Add(wire)
		}
	}
	return nil
}

// Verify compares a whole-disk BLAKE3 digest of every source disk (read
// through a final, snapshot-less view) with the receiver's replica.
func (j *Job) Verify(ctx context.Context) error {
	j.loadCache()
	j.emit(Event{Kind: EventPhase, Phase: PhaseVerify})
	snap, err := j.Source.Open(ctx, "", true)
	if err != nil {
		return fmt.Errorf("%s: verify: %w", j.VM, err)
	}
	defer snap.Release(ctx)
	disks, err := j.Source.Disks(ctx)
	if err != nil {
		return err
	}
	p := &pass{job: j, snap: snap, disks: disks, start: time.Now()}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if err := p.dial(ctx, cancel, 1); err != nil {
		return err
	}
	defer p.conns[0].c.Close()
	for i, d := range disks {
		type answer struct {
			r   replyMsg
			err error
		}
		rc := make(chan answer, 1)
		go func() {
			r, err := p.conns[0].control(ctx, fVerify, i, diskMsg{})
			rc <- answer{r, err}
		}()
		sum, err := digestSource(ctx, snap, d, j.conns())
		a := <-rc
		if err == nil {
			err = a.err
		}
		if err != nil {
			return fmt.Errorf("%s: verify disk %s: %w", j.VM, d.Key, err)
		}
		if a.r.Size != d.Capacity || a.r.Digest != sum {
			return fmt.Errorf("%s: disk %s: source %s, replica %s (%d bytes): %w", j.VM, d.Key, sum, a.r.Digest, a.r.Size, ErrVerifyMismatch)
		}
	}
	j.emit(Event{Kind: EventVerified, Msg: "every disk's replica equals the source (BLAKE3 of whole disks)"})
	return nil
}

// digestSource is the BLAKE3 of a whole source disk, read with par parallel
// 1 MiB range reads and hashed in order.
func digestSource(ctx context.Context, snap Snapshot, d Disk, par int) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type block struct {
		buf []byte
		err error
	}
	n := int((d.Capacity + FrameMax - 1) / FrameMax)
	slots := make([]chan block, n)
	for i := range slots {
		slots[i] = make(chan block, 1)
	}
	free := make(chan []byte, par+1)
	for range par + 1 {
		free <- make([]byte, FrameMax)
	}
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range par {
		go func() {
			for {
				// Take a buffer before an index, so the block the hasher
				// waits for never waits for a buffer.
				var buf []byte
				select {
				case buf = <-free:
				case <-ctx.Done():
					return
				}
				i, ok := <-next
				if !ok {
					return
				}
				off := int64(i) * FrameMax
				buf = buf[:min(FrameMax, d.Capacity-off)]
				err := snap.ReadAt(ctx, d.Key, buf, off)
				if err != nil {
					err = fmt.Errorf("read at %d: %w", off, err)
				}
				slots[i] <- block{buf, err}
			}
		}()
	}
	h := blake3.New()
	for i := range n {
		var b block
		select {
		case b = <-slots[i]:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		if b.err != nil {
			return "", b.err
		}
		h.Write(b.buf)
		free <- b.buf[:cap(b.buf)]
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Probe proves that the receiver at addr answers and accepts this sender:
// a TLS handshake with cfg (its trust and client certificate) and a protocol
// hello that opens nothing. Preflight calls it before any step changes
// anything, so a wrong address, pin or certificate is found first.
func Probe(ctx context.Context, addr string, cfg *tls.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	raw, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to receiver %s: %w", addr, err)
	}
	defer raw.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	cfg = cfg.Clone()
	cfg.MinVersion = tls.VersionTLS13
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake with receiver %s: %w", addr, err)
	}
	fc := newFrameConn(tc)
	if err := fc.writeJSON(fHello, 0, helloMsg{Version: protoVersion, Probe: true}); err != nil {
		return fmt.Errorf("receiver %s: %w", addr, err)
	}
	// TLS 1.3 reports a refused client certificate on the first read.
	var h header
	buf, err := fc.readFrame(&h, nil)
	if err != nil {
		return fmt.Errorf("receiver %s did not accept this sender (check its client certificate or pin): %w", addr, err)
	}
	switch h.Type {
	case fReply:
		return nil
	case fError:
		var em errorMsg
		_ = json.Unmarshal(buf, &em)
		return fmt.Errorf("receiver %s: %w", addr, &RemoteError{Code: em.Code, Msg: em.Msg})
	}
	return fmt.Errorf("receiver %s answered frame type %d to a hello: not a ferry receiver", addr, h.Type)
}
