package replication

// One attempt of a pass over a job's disks: the kind of pass per disk, the
// plan of read units, reading, zero runs, frames and the durable watermark.

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/zeebo/xxh3"
)

// pass is one attempt of a pass over all disks of a job.
type pass struct {
	job    *Job
	snap   Snapshot
	disks  []Disk
	states []DiskState
	final  bool
	// urgent: the pass sends inside a cutover's downtime window (the
	// final pass, the cutover's verify): the shared bandwidth cap serves
	// it first (Bandwidth).
	urgent bool
	start  time.Time
	kind   PassKind // the most thorough kind a disk needed (mu: progress reads it on the connections' read loops)

	diskKind PassKind // of the disk being sent
	dmap     []uint64 // the sender's digest map of the disk being sent
	compare  bool     // a full compare was asked for
	compared bool     // ... and every disk was compared
	touched  map[string][]int64

	// Blocks checked and re-sent.
	checked, resent atomic.Int64
	// The scan of the disk being sent (nil: none) and what the scans of
	// the disks before it found (compare.go).
	cmpMu  sync.Mutex
	cmp    *compareRun
	cmpTot compareCounts

	conns []*senderConn
	seq   atomic.Uint32

	planned, read, sent, payload, dataWire, zero, matched, ackedBytes, resumed atomic.Int64

	// sendPlanned is the changed bytes planned to be sent, growPlanned
	// what writing them may add to the thin replicas (toWrite).
	sendPlanned, growPlanned atomic.Int64

	markc     chan struct{}
	loops     sync.WaitGroup // the connections' read loops and marks: run returns after them
	stop      chan struct{}  // closed when run returns: a read loop no longer hands over replies
	persistMu sync.Mutex     // orders watermark writes to the state store
	mu        sync.Mutex     // guards cur, kind, disk and the progress throttle
	cur       *diskSend
	disk      diskCount
	lastProg  time.Time
}

func (p *pass) counters() Counters {
	return Counters{Planned: p.planned.Load(), Read: p.read.Load(), Sent: p.sent.Load(), Payload: p.payload.Load(),
		ZeroSkipped: p.zero.Load(), Matched: p.matched.Load(), Acked: p.ackedBytes.Load(), Resumed: p.resumed.Load(),
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
	kind := p.kind
	p.mu.Unlock()
	c := p.counters()
	e := Event{Kind: EventProgress, Phase: PhaseTransfer, Pass: p.eventKind(kind), Counters: c, Compression: p.compression(), Rate: p.rate()}
	if s := time.Since(p.start).Seconds(); s > 0 && c.Acked > 0 {
		e.AckRate = float64(c.Acked) / s
		e.ETA = time.Duration(float64(max(c.Planned-c.Acked, 0)) / e.AckRate * float64(time.Second))
	}
	p.job.emit(e)
}

// end closes the pass's connections, cancels it and waits for its loops:
// nothing of the pass runs on after it (a caller may change the job, or
// run the next pass, at once).
func (p *pass) end(cancel context.CancelCauseFunc) {
	for _, c := range p.conns {
		c.c.Close()
	}
	cancel(nil)
	if p.stop != nil {
		close(p.stop)
	}
	p.loops.Wait()
}

func (p *pass) run(ctx context.Context) (err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer func() {
		if cerr := context.Cause(ctx); err != nil && cerr != nil && !errors.Is(cerr, context.Canceled) {
			err = cerr // the connection's own error explains the failure better
		}
		p.end(cancel)
	}()
	if err := p.dial(ctx, cancel, p.job.conns()); err != nil {
		return err
	}
	p.markc = make(chan struct{}, 1)
	p.loops.Go(func() { p.marks(ctx) })
	p.loops.Go(func() { p.watchRoom(ctx, cancel) })
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

// diskCount is what the pass covers of the disk being sent and where the
// pass's counters stood before it: the disk's bytes as its run counts them
// (DiskProgress).
type diskCount struct {
	set  bool  // the disk is planned
	of   int64 // Resumed+Planned of the disk
	base int64 // Resumed+Acked of the pass before the disk
}

// record is the disk's DiskProgress now (p.mu).
func (p *pass) record() *DiskProgress {
	if !p.disk.set {
		return nil // not planned yet
	}
	return &DiskProgress{Of: p.disk.of, Durable: min(p.resumed.Load()+p.ackedBytes.Load()-p.disk.base, p.disk.of)}
}

// maxAckedRanges bounds DiskState.Acked: the ranges acknowledged out of
// order are those past gaps in flight, a window's worth at most in the
// usual case; a record keeps the first ones (the rest is sent again).
const maxAckedRanges = 256

// diskSend tracks one disk's units while they are in flight.
type diskSend struct {
	disk      int
	key       string
	state     DiskState
	units     []readUnit
	left      []int // frames not yet acknowledged per unit (-1: not yet read)
	next      int   // first unit not known durable
	watermark int64
	// acked: ranges above the watermark acknowledged durable (out of
	// order, or by an earlier attempt of the pass): DiskState.Acked.
	acked     []Extent
	frames    map[uint32]frameRef
	version   uint64 // of the durable state (watermark, acked, counts)
	persisted uint64 // version last written to the state store (persistMu)
	durable   chan<- int
}

type frameRef struct {
	unit int
	wire int64
	raw  int64
}

// acked takes the receiver's acknowledgement of frames seqs: written and
// synced (fdatasync), durable.
func (p *pass) acked(c *senderConn, seqs []uint32) {
	p.ack(c, seqs, -1)
}

// ack is acked, with unit (>= 0) a unit that needed no frames (durable
// already, or matched).
func (p *pass) ack(c *senderConn, seqs []uint32, unit int) {
	p.mu.Lock()
	d := p.cur
	if d == nil {
		p.mu.Unlock()
		return
	}
	var wire int64
	var done []int // units whose frames are all acknowledged now
	if unit >= 0 {
		done = append(done, unit)
	}
	for _, s := range seqs {
		f, ok := d.frames[s]
		if !ok {
			continue
		}
		delete(d.frames, s)
		wire += f.wire
		if d.left[f.unit]--; d.left[f.unit] == 0 {
			done = append(done, f.unit)
			// Counted acknowledged once all of it is durable: what a
			// resumed pass does not send again.
			p.ackedBytes.Add(totalLength(d.units[f.unit].parts))
		}
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
	for _, k := range done {
		if k < d.next {
			continue // below the watermark
		}
		// Durable beyond a unit not yet acknowledged: with the gap
		// before it, where the pass plans nothing.
		e := d.units[k].Extent
		if k > 0 {
			e = Extent{d.units[k-1].End(), e.End() - d.units[k-1].End()}
		}
		d.acked = withRange(d.acked, e)
	}
	var st DiskState
	var version uint64
	if len(done) > 0 {
		d.acked = trimBelow(d.acked, d.watermark)
		d.version++
		version = d.version
		st = d.state
		st.Watermark = d.watermark
		st.Acked = slices.Clone(d.acked[:min(len(d.acked), maxAckedRanges)])
		st.Progress = p.record()
	}
	p.mu.Unlock()
	if len(done) > 0 {
		// Durable at the receiver: remember it here (before the window is
		// released, so a drained pass has persisted all of it).
		p.persistMu.Lock()
		if version > d.persisted {
			d.persisted = version
			_ = p.job.State.PutDisk(d.key, st)
		}
		p.persistMu.Unlock()
	}
	if advanced {
		// Tell the receiver (asynchronously).
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

// raiseKind makes k the pass's kind when it ranks at least as high: the
// pass reports the most thorough kind any of its disks needed. Under p.mu:
// a connection's read loop may still report progress (acked, after it
// released the window a drain waits for) of the disk before while runDisk
// plans the next one.
func (p *pass) raiseKind(k PassKind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if kindRank[k] >= kindRank[p.kind] {
		p.kind = k
	}
}

// passKind is the pass's kind (raiseKind).
// eventKind is the kind events and metrics give a pass of kind: a full
// compare of an incremental pass (scheduled, or on demand) reads every
// block as a full-compare pass does, and is counted as one.
func (p *pass) eventKind(kind PassKind) PassKind {
	if p.compare && kind == PassIncremental {
		return PassFullCompare
	}
	return kind
}

func (p *pass) passKind() PassKind {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kind
}

func (p *pass) runDisk(ctx context.Context, i int) error {
	j := p.job
	disk := p.disks[i]
	key := diskStateKey(j.VM, disk.Key)
	ss := p.states[i]
	c0 := p.conns[0]
	target := p.snap.ChangeID(disk.Key)
	rs, err := c0.control(ctx, fState, i, diskMsg{})
	if err != nil {
		return fmt.Errorf("%s: receiver state: %w", disk.Name(), err)
	}
	nblocks := (disk.Capacity + HashBlock - 1) / HashBlock
	prog, err := j.State.compareProgress(key)
	if err != nil {
		return err
	}
	// This disk's scan completed in an earlier attempt of this pass (its
	// progress is recorded complete before the commit).
	scanned := prog.Pass == p.snap.ID() && prog.Target == target && prog.Next >= nblocks
	if ss.Pass == p.snap.ID() && ss.Target == target && rs.Committed == target && rs.Pass == "" {
		// The receiver committed this pass before we could record it.
		p.raiseKind(ss.Kind)
		if p.compare {
			if scanned {
				p.compareDone(prog, nblocks, true)
				p.resumed.Add(disk.Capacity)
			} else {
				p.compared = false // an earlier attempt that did not compare
			}
		}
		return j.State.PutDisk(key, DiskState{Committed: target, Size: disk.Capacity})
	}
	if p.compare && scanned && ss.Pass == "" && ss.Committed == target && rs.Pass == "" && rs.Committed == target {
		// Compared and committed by an earlier attempt of this pass (killed
		// while a later disk was compared): not read again.
		p.raiseKind(prog.Kind)
		p.compareDone(prog, nblocks, true)
		p.resumed.Add(disk.Capacity)
		return nil
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
			return fmt.Errorf("%s: changed areas: %w", disk.Name(), err)
		}
	}
	if kind == PassFullCompare {
		base = ""
	}
	if p.final && kind == PassIncremental {
		kind = PassFinal
	}
	p.diskKind = kind
	p.raiseKind(kind)
	resumable := ss.Pass == p.snap.ID() && ss.Target == target && ss.Base == base &&
		rs.Pass == p.snap.ID() && rs.Target == target
	bg, err := c0.control(ctx, fBegin, i, diskMsg{Pass: p.snap.ID(), Base: base, Target: target, Kind: kind})
	if err != nil {
		return fmt.Errorf("%s: begin pass: %w", disk.Name(), err)
	}
	wm := bg.Watermark
	st := DiskState{Committed: ss.Committed, Pass: p.snap.ID(), Base: base, Target: target, Kind: kind, Size: disk.Capacity, GrewFrom: ss.GrewFrom}
	if resumable {
		// What an earlier attempt of this pass made durable: below its
		// watermark, and the ranges acknowledged beyond it.
		wm = max(wm, ss.Watermark)
		st.Acked, st.Progress = trimBelow(ss.Acked, wm), ss.Progress
	}
	st.Watermark = wm
	scan := kind == PassFullCompare || (p.compare && kind != PassInitial)
	// What passes from this base in other snapshots made durable and the
	// source did not change since: not sent again (DiskState.Carry).
	var kept []Extent
	if !scan {
		var tiers []CarryTier
		// (On a host-direct source each query also sets the disk's read
		// runs; the transfer's planReads replaces them with what it reads.)
		for _, t := range carryOver(ss, rs, resumable, base, disk.Capacity) {
			chg, err := p.snap.Extents(ctx, disk.Key, t.From)
			switch {
			case errors.Is(err, ErrCBTReset):
				// No record of what changed since: sent again.
				continue
			case err != nil:
				return fmt.Errorf("%s: changed areas since an interrupted pass: %w", disk.Name(), err)
			}
			tiers = append(tiers, t)
			for _, e := range withoutRanges(t.Ranges, normalize(chg, disk.Capacity)) {
				kept = withRange(kept, e)
			}
		}
		st.Carry = tiers
	}
	// What the pass covers of this disk, and what of it is durable, as
	// its counters count them (DiskState.Progress).
	of0, base0 := p.resumed.Load()+p.planned.Load(), p.resumed.Load()+p.ackedBytes.Load()
	if err := j.State.PutDisk(key, st); err != nil {
		return err
	}
	// Large disks are sent in batches of at most batchUnits read units
	// (drained and checked in between) so the plan in memory stays small.
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
		if g := ss.GrewFrom; g%HashBlock != 0 && kind != PassInitial {
			// The disk was extended from a size inside this block: its
			// digest covered less than the block holds now.
			ext = normalize(append(ext, Extent{Offset: g / HashBlock * HashBlock, Length: HashBlock}), disk.Capacity)
		}
		changed = planBlocks(ext, disk.Capacity)
	}
	// A scan resumes after the blocks an interrupted attempt of this very
	// pass compared (compare.go); the changed blocks among them are done.
	first := int64(0)
	if scan {
		if first, err = p.startScan(key, prog, resumable, base, target, kind, nblocks); err != nil {
			return err
		}
		changed = slices.DeleteFunc(changed, func(u readUnit) bool { return u.Offset < first*HashBlock })
	}
	var partsPlanned int64
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
		// Below the watermark (or in a range acknowledged beyond it) an
		// earlier attempt of this pass wrote the block; where kept, an
		// interrupted pass in another snapshot did and the source did not
		// change since: it is read and checked, not sent again.
		all := totalLength(u.parts)
		u.parts = withoutRanges(withoutRanges(trimBelow(u.parts, wm), st.Acked), kept)
		partsPlanned += totalLength(u.parts)
		if !scan { // a compare's scan reads every block again
			p.resumed.Add(all - totalLength(u.parts))
		}
	}
	p.planned.Add(partsPlanned)
	p.sendPlanned.Add(partsPlanned)
	p.growPlanned.Add(growth(changed, p.dmap, disk.Capacity))
	// Room at the provider for what this disk's changes may write.
	if err := j.checkRoom(ctx, p.toWrite(), false); err != nil {
		return fmt.Errorf("%s: %w", disk.Name(), err)
	}
	if p.compare && !scan {
		p.compared = false
	}
	// The source learns what the pass reads (runReader).
	planReads := func(reads []Extent) {
		if rr, ok := p.snap.(runReader); ok {
			rr.PlanReads(disk.Key, reads)
		}
	}
	from := min(first*HashBlock, disk.Capacity)
	if scan {
		// Every byte of the disk from the first block scanned on is
		// covered: matched, sent, or (the rest of a changed block) read and
		// checked; acknowledged bytes reach it. The blocks before were
		// compared by an earlier attempt.
		p.planned.Add(disk.Capacity - from - partsPlanned)
		p.resumed.Add(from)
	}
	p.mu.Lock()
	p.disk = diskCount{set: true, of: p.resumed.Load() + p.planned.Load() - of0, base: base0}
	st.Progress = p.record()
	p.mu.Unlock()
	if err := j.State.PutDisk(key, st); err != nil {
		return err
	}
	if scan {
		j.emit(Event{Kind: EventPhase, Phase: PhaseCompare, Disk: disk.Key, Pass: p.eventKind(kind)})
		if from < disk.Capacity {
			planReads([]Extent{{from, disk.Capacity - from}})
		}
		ci := 0
		step := min(batchUnits, cmp.Or(j.scanBatch, scanBatchUnits))
		for b := first; b < nblocks; b += step {
			last := min(nblocks, b+step)
			hs, err := p.freshHashes(ctx, c0, i, b, last)
			if err != nil {
				return fmt.Errorf("%s: %w", disk.Name(), err)
			}
			var units []readUnit
			for blk := b; blk < last; blk++ {
				for ci < len(changed) && changed[ci].Offset < blk*HashBlock {
					ci++
				}
				if ci < len(changed) && changed[ci].Offset == blk*HashBlock {
					u := changed[ci]
					u.scan = true
					switch {
					case len(u.parts) == 0:
						// An earlier attempt of this pass wrote the block
						// (below the watermark): the replica is ahead of
						// the map there.
					case resumable:
						// An earlier attempt may have written part of it
						// (its parts left lie above the watermark).
						u.unjudged = true
					default:
						u.hash, u.expected = hs[blk-b], p.dmap[blk]
					}
					units = append(units, u)
					continue
				}
				off := blk * HashBlock
				e := Extent{off, min(HashBlock, disk.Capacity-off)}
				units = append(units, readUnit{Extent: e, parts: []Extent{e}, compare: true, hash: hs[blk-b], check: true, expected: p.dmap[blk], scan: true})
			}
			if err := p.sendChecked(ctx, i, key, &st, units); err != nil {
				return fmt.Errorf("%s: %w", disk.Name(), err)
			}
		}
		p.cmpMu.Lock()
		prog := p.cmp.rec
		p.cmp = nil
		p.cmpMu.Unlock()
		p.compareDone(prog, nblocks, false)
	} else {
		j.emit(Event{Kind: EventPhase, Phase: PhaseTransfer, Disk: disk.Key, Pass: p.eventKind(kind)})
		reads := make([]Extent, len(changed))
		for k, u := range changed {
			reads[k] = u.Extent
		}
		planReads(reads)
		for len(changed) > 0 {
			k := min(int64(len(changed)), batchUnits)
			if err := p.sendChecked(ctx, i, key, &st, changed[:k]); err != nil {
				return fmt.Errorf("%s: %w", disk.Name(), err)
			}
			changed = changed[k:]
		}
	}
	p.progress(true)
	// What was read came from the pass's point in time only if its
	// snapshot (a final pass: the VM powered off) still holds now.
	if h, ok := p.snap.(heldSnapshot); ok {
		if err := h.Held(ctx); err != nil {
			return fmt.Errorf("%s: %w", disk.Name(), err)
		}
	}
	j.emit(Event{Kind: EventPhase, Phase: PhaseCommit, Disk: disk.Key})
	if _, err := c0.control(ctx, fEnd, i, diskMsg{Pass: p.snap.ID(), Target: target}); err != nil {
		return fmt.Errorf("%s: commit: %w", disk.Name(), err)
	}
	return j.State.PutDisk(key, DiskState{Committed: target, Size: disk.Capacity})
}

// batchUnits bounds the read units planned and in flight at a time.
var batchUnits int64 = 8192 // a variable for tests

// scanBatchUnits bounds a scan's batches (blocks), so that its progress is
// settled at least that often: a changed block's frames are acknowledged
// when the receiver syncs, which with few changes among the compared
// blocks may be only when the batch is drained, and nothing after that
// block settles before.
const scanBatchUnits = 128

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
		watermark: st.Watermark, acked: slices.Clone(st.Acked), frames: map[uint32]frameRef{}, durable: durable}
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
	st.Watermark, st.Acked, st.Progress = d.watermark, slices.Clone(d.acked[:min(len(d.acked), maxAckedRanges)]), p.record()
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

// runReader is a Snapshot whose reads are cheapest in runs: each reader
// takes ReadRun consecutive units at a time (on a host-direct source, the
// units one ranged GET serves), instead of one, and the pass says with
// PlanReads which ranges of a disk it will read (sorted).
type runReader interface {
	ReadRun() int
	PlanReads(diskKey string, reads []Extent)
}

// sendUnits reads units with one reader per connection and sends their frames.
func (p *pass) sendUnits(ctx context.Context, d *diskSend) error {
	run := 1
	if r, ok := p.snap.(runReader); ok {
		// Not so long that some connections get nothing to send.
		run = max(1, min(r.ReadRun(), len(d.units)/len(p.conns)))
	}
	next := make(chan int) // the first unit of a run
	errc := make(chan error, len(p.conns))
	for _, c := range p.conns {
		go func() {
			buf := make([]byte, FrameMax)
			enc := make([]byte, s2.MaxEncodedLen(FrameMax))
			for first := range next {
				for k := first; k < min(first+run, len(d.units)); k++ {
					if err := p.sendUnit(ctx, c, d, k, buf, enc); err != nil {
						errc <- err
						for range next {
						}
						return
					}
				}
			}
			errc <- nil
		}()
	}
	var err error
	n := len(p.conns) // readers still to report
feed:
	for k := 0; k < len(d.units); k += run {
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
	// bytes.Equal runs as vectorised memequal: about ten times the speed of
	// a byte loop over a zero run (an eighth of a typical disk).
	for len(b) > 0 {
		n := min(len(b), len(zeroGrain))
		if !bytes.Equal(b[:n], zeroGrain[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// zeroGrain is ZeroGrain zero bytes, what isZero compares with.
var zeroGrain = make([]byte, ZeroGrain)

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
			// Each is recorded before the repair is sent (found).
			var err error
			switch {
			case u.expected == 0 && u.compare && p.diskKind != PassFullCompare, u.expected != 0 && u.hash != u.expected:
				differ = true
				err = p.found(u.Offset/HashBlock, true)
			case u.compare && p.diskKind != PassFullCompare:
				err = p.found(u.Offset/HashBlock, false)
			}
			if err != nil {
				return err
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
		p.ack(c, nil, k) // a unit that needed no frames is durable
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

// maxCarryTiers bounds DiskState.Carry: one tier per pass paused (or
// failed) in a row, the oldest merged.
const maxCarryTiers = 4

// carryOver is what a pass from base on a disk of capacity bytes keeps of
// the passes before it that did not commit (DiskState.Carry): those from
// the same base in other snapshots, when the receiver is still in the last
// of them (nothing else wrote the replica since). That one's durable
// ranges (its watermark, the receiver's if later, and the ranges
// acknowledged beyond it) hold the source as of its target: a new tier,
// taken out of the older ones. A pass resumed in its own snapshot keeps
// what it recorded.
func carryOver(ss DiskState, rs replyMsg, resumable bool, base string, capacity int64) []CarryTier {
	switch {
	case resumable:
		return ss.Carry
	case ss.Pass == "" || ss.Target == "" || ss.Base != base || ss.Size != capacity || rs.Pass != ss.Pass || rs.Target != ss.Target || rs.Committed != ss.Committed:
		return nil
	}
	durable := normalize(withRange(slices.Clone(ss.Acked), Extent{0, max(ss.Watermark, rs.Watermark)}), capacity)
	var tiers []CarryTier
	for _, t := range ss.Carry {
		if r := withoutRanges(t.Ranges, durable); len(r) > 0 {
			tiers = append(tiers, CarryTier{From: t.From, Ranges: r})
		}
	}
	if len(durable) > 0 {
		tiers = append(tiers, CarryTier{From: ss.Target, Ranges: durable})
	}
	for len(tiers) > maxCarryTiers {
		// The older From: changes since it cover the newer one's too.
		merged := CarryTier{From: tiers[0].From, Ranges: carried(tiers[:2])}
		tiers = append([]CarryTier{merged}, tiers[2:]...)
	}
	for k := range tiers {
		tiers[k].Ranges = tiers[k].Ranges[:min(len(tiers[k].Ranges), maxAckedRanges/maxCarryTiers)]
	}
	return tiers
}
