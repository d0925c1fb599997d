package replication

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"
)

// maxResends is how many times a pass re-sends a block whose read-back
// digest differs before it fails.
const maxResends = 3

// digestBlocks reads the given blocks of a disk from snap, par at a time,
// and returns them as units with their digests (in the order of blocks).
// On a host-direct source (runReader) they are read in disk order, and
// consecutive blocks as one run from one ranged GET (one service ticket
// from vCenter), not a GET each.
func digestBlocks(ctx context.Context, snap Snapshot, d Disk, blocks []int64, par int) ([]readUnit, error) {
	units := make([]readUnit, len(blocks))
	order := make([]int, len(blocks)) // indexes of blocks in disk order
	for k := range order {
		order[k] = k
	}
	maxRun := 1
	if r, ok := snap.(runReader); ok && r.ReadRun() > 1 {
		maxRun = r.ReadRun()
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(blocks[a], blocks[b]) })
		reads := make([]Extent, len(order)) // the source merges neighbours
		for i, k := range order {
			off := blocks[k] * HashBlock
			reads[i] = Extent{off, min(HashBlock, d.Capacity-off)}
		}
		r.PlanReads(d.Key, reads)
	}
	// runs[i] is where in order a run starts: up to maxRun consecutive
	// blocks.
	var runs []int
	for i, k := range order {
		if n := len(runs); n == 0 || blocks[k] != blocks[order[i-1]]+1 || i-runs[n-1] >= maxRun {
			runs = append(runs, i)
		}
	}
	runs = append(runs, len(order))
	next := make(chan int) // a run's index in runs
	errc := make(chan error, par)
	for range par {
		go func() {
			buf := make([]byte, HashBlock)
			for r := range next {
				for _, k := range order[runs[r]:runs[r+1]] {
					off := blocks[k] * HashBlock
					u := readUnit{Extent: Extent{off, min(HashBlock, d.Capacity-off)}}
					if err := snap.ReadAt(ctx, d.Key, buf[:u.Length], off); err != nil {
						errc <- fmt.Errorf("read at %d: %w", off, err)
						for range next {
						}
						return
					}
					u.digest = xxh3.Hash(buf[:u.Length])
					units[k] = u
				}
			}
			errc <- nil
		}()
	}
	for r := range len(runs) - 1 {
		next <- r
	}
	close(next)
	var err error
	for range par {
		if e := <-errc; e != nil && err == nil {
			err = e
		}
	}
	return units, err
}

// ErrNoDigestMap means the sender has no complete block digest map of a
// disk (state from before digest maps, or lost): the digest-map root cannot
// be compared, and the caller falls back to a whole-disk verify.
var ErrNoDigestMap = errors.New("no complete block digest map")

// checkChunk is how many durable blocks the sender has the receiver read
// back at a time while the batch is still being sent: the read-back then
// finds them in the receiver's page cache and the pipeline does not stop
// for it at the end of a batch.
const checkChunk = 64

// sendChecked sends a batch of units and checks it: as units become
// durable at the receiver (acknowledged after fdatasync), the receiver reads
// their blocks back from the replica disk and returns their digests, which
// are compared with the source's as read by this pass; a block that differs
// is sent again whole and checked again (at most maxResends times). Checked
// digests go into the sender's map (persisted per batch; in a scan, with
// its progress as blocks are settled).
func (p *pass) sendChecked(ctx context.Context, disk int, key string, st *DiskState, units []readUnit) error {
	ck := &checker{p: p, disk: disk, upd: map[int]uint64{}}
	p.cmpMu.Lock()
	scanning := p.cmp != nil
	p.cmpMu.Unlock()
	if scanning && len(units) > 0 {
		// A scan's units are its blocks, one each, in order.
		ck.scanFirst = units[0].Offset / HashBlock
	} else {
		ck.scanFirst = -1
	}
	durable := make(chan int, len(units))
	done := make(chan error, 1)
	go func() { done <- ck.follow(ctx, units, durable) }()
	err := p.sendBatchNotify(ctx, disk, key, st, units, durable)
	close(durable)
	if cerr := <-done; err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for round := 1; len(ck.bad) > 0; round++ {
		bad := ck.bad
		if round > maxResends {
			return fmt.Errorf("%w: %d block(s) read back differently after %d re-sends (first at offset %d)", ErrVerifyMismatch, len(bad), maxResends, bad[0].Offset)
		}
		p.resent.Add(int64(len(bad)))
		p.job.emit(Event{Kind: EventRepaired, Disk: p.disks[disk].Key, Msg: fmt.Sprintf("%d block(s) read back differently from what was sent (first at offset %d): sending them again", len(bad), bad[0].Offset)})
		if err := p.sendBatch(ctx, disk, key, st, bad); err != nil {
			return err
		}
		ck.bad = nil
		if err := ck.check(ctx, round, bad); err != nil {
			return err
		}
	}
	for b, h := range ck.upd {
		if b < len(p.dmap) {
			p.dmap[b] = h
		}
	}
	if ck.scanFirst >= 0 {
		return ck.settle(ck.scanFirst + int64(len(units)))
	}
	return p.job.State.PutDigests(key, len(p.dmap), ck.upd)
}

// checker checks the blocks of one batch (one goroutine at a time).
type checker struct {
	p    *pass
	disk int
	upd  map[int]uint64 // block -> checked digest, for the sender's map
	bad  []readUnit     // blocks to send again whole
	// scanFirst is the first block of a scan's batch (-1: not a scan).
	scanFirst int64
}

// follow checks units as their indexes arrive on durable, checkChunk at a
// time, until durable is closed.
func (ck *checker) follow(ctx context.Context, units []readUnit, durable <-chan int) error {
	var pending []readUnit
	var err error
	for k := range durable {
		if err != nil {
			continue // drain: the batch fails anyway
		}
		pending = append(pending, units[k])
		if len(pending) >= checkChunk {
			err = ck.checkSettle(ctx, pending)
			pending = pending[:0]
		}
	}
	if err == nil && len(pending) > 0 {
		err = ck.checkSettle(ctx, pending)
	}
	return err
}

// checkSettle checks units as first sent, in order; in a scan, the blocks
// up to the first one to send again are then settled (compare.go).
func (ck *checker) checkSettle(ctx context.Context, units []readUnit) error {
	if err := ck.check(ctx, 0, units); err != nil {
		return err
	}
	if ck.scanFirst < 0 {
		return nil
	}
	next := units[len(units)-1].Offset/HashBlock + 1
	if len(ck.bad) > 0 {
		next = ck.bad[0].Offset / HashBlock
	}
	return ck.settle(next)
}

// check has the receiver read back the blocks of units that must be
// checked and judges them (round 0: as first sent; later: re-sent whole).
func (ck *checker) check(ctx context.Context, round int, units []readUnit) error {
	p := ck.p
	dk := p.disks[ck.disk].Key
	var want []readUnit
	for _, u := range units {
		if !u.check {
			continue
		}
		if u.compare && !u.sent {
			ck.upd[int(u.Offset/HashBlock)] = u.digest // equal to the fresh read-back
			continue
		}
		want = append(want, u)
	}
	if len(want) == 0 {
		return nil
	}
	got, ranges, err := p.readBack(ctx, ck.disk, want)
	if err != nil {
		return err
	}
	capacity := p.disks[ck.disk].Capacity
	for k, u := range want {
		blk := u.Offset / HashBlock
		p.checked.Add(1)
		ok := got[k] == u.digest
		if u.ranges != nil {
			ok = slices.Equal(ranges[k], u.rangeDigests)
		}
		if ok {
			// The receiver's read-back digest of the whole block: for a
			// range-checked block the sender did not read the rest.
			ck.upd[int(blk)] = got[k]
			if p.final {
				p.touched[dk] = append(p.touched[dk], blk)
			}
			continue
		}
		if round == 0 && u.scan && !u.differ && !u.unjudged && p.diskKind != PassFullCompare {
			// A block of a full compare that held what it should before
			// the pass but reads back wrong after its changes were
			// written: the source changed in the rest of the block
			// without changed block tracking reporting it.
			if err := p.found(blk, false); err != nil {
				return err
			}
		}
		whole := Extent{blk * HashBlock, min(HashBlock, capacity-blk*HashBlock)}
		ck.bad = append(ck.bad, readUnit{Extent: whole, parts: []Extent{whole}, check: true, differ: u.differ})
	}
	return nil
}

// readBack asks the receiver for the digests of the units' blocks, read
// back from the replica after fdatasync, and of the units' ranges.
func (p *pass) readBack(ctx context.Context, disk int, units []readUnit) ([]uint64, [][]uint64, error) {
	var out []uint64
	var outRanges [][]uint64
	for len(units) > 0 {
		n := min(len(units), maxDigestBlocks)
		m := diskMsg{Blocks: make([]int64, n)}
		for k, u := range units[:n] {
			m.Blocks[k] = u.Offset / HashBlock
			if u.ranges != nil {
				if m.Ranges == nil {
					m.Ranges = make([][]Extent, n)
				}
				m.Ranges[k] = u.ranges
			}
		}
		r, err := p.conns[0].control(ctx, fDigests, disk, m)
		if err != nil {
			return nil, nil, fmt.Errorf("read-back digests: %w", err)
		}
		if len(r.Hashes) != n || (m.Ranges != nil && len(r.RangeHashes) != n) {
			return nil, nil, fmt.Errorf("read-back digests: got %d, want %d", len(r.Hashes), n)
		}
		out = append(out, r.Hashes...)
		if m.Ranges != nil {
			outRanges = append(outRanges, r.RangeHashes...)
		} else {
			outRanges = append(outRanges, make([][]uint64, n)...)
		}
		units = units[n:]
	}
	return out, outRanges, nil
}

// VerifyResult says what a cutover verify checked.
type VerifyResult struct {
	// Full: whole disks were hashed on both sides (Verify); otherwise the
	// blocks the final pass touched and the digest-map roots (VerifyFinal).
	Full bool
	// Blocks the final pass touched, read again from the powered-off source
	// and compared with the receiver's read-back and the sender's map.
	Blocks    int64
	BytesRead int64 // source bytes read by the verify
	// RootBlocks are the blocks covered by the digest-map roots compared
	// (every block of every disk), ReceiverHashed those the receiver had to
	// read because its map did not know them.
	RootBlocks     int64
	ReceiverHashed int64
	Duration       time.Duration
}

// Summary is the result in one line.
func (v VerifyResult) Summary() string {
	if v.Full {
		return fmt.Sprintf("whole disks: %s read from the source and hashed (BLAKE3) on both sides", humanize.IBytes(uint64(v.BytesRead)))
	}
	return fmt.Sprintf("%d block(s) the final pass touched read back from the powered-off source (%s) and equal at the receiver; digest-map roots equal over %d blocks",
		v.Blocks, humanize.IBytes(uint64(v.BytesRead)), v.RootBlocks)
}

// VerifyFinal is the cutover's verify after a final pass of this Job: it
// reads the blocks that pass touched again from the powered-off source and
// compares their digests with the receiver's (read back) and the sender's
// map, then compares the root of the sender's digest map of every disk with
// the receiver's. Its cost follows what the final pass changed, not the
// disk size; the rest of the replica is covered by the per-pass checks and
// the full compares that ran while the VM was up. ErrNoDigestMap (wrapped)
// if the sender has no complete map: use Verify then.
func (j *Job) VerifyFinal(ctx context.Context) (VerifyResult, error) {
	start := time.Now()
	var res VerifyResult
	j.loadCache()
	j.cache.mu.Lock()
	touched := j.cache.touched
	j.cache.mu.Unlock()
	if touched == nil {
		return res, fmt.Errorf("%s: verify: no final pass of this job to verify", j.VM)
	}
	disks, err := j.Source.Disks(ctx)
	if err != nil {
		return res, err
	}
	// The sender's maps first: without them nothing is read.
	maps := make([][]uint64, len(disks))
	for i, d := range disks {
		n := int((d.Capacity + HashBlock - 1) / HashBlock)
		if maps[i], err = j.State.Digests(diskStateKey(j.VM, d.Key), n); err != nil {
			return res, err
		}
		for b, h := range maps[i] {
			if h == 0 {
				return res, fmt.Errorf("%s disk %s: block %d has no digest: %w", j.VM, d.Key, b, ErrNoDigestMap)
			}
		}
	}
	j.emit(Event{Kind: EventPhase, Phase: PhaseVerify})
	snap, err := j.Source.Open(ctx, "", true)
	if err != nil {
		return res, fmt.Errorf("%s: verify: %w", j.VM, err)
	}
	defer snap.Release(ctx)
	p := &pass{job: j, snap: snap, disks: disks, start: time.Now(), urgent: true}
	if j.Limiter != nil {
		defer j.Limiter.Urgent()()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer p.end(cancel)
	if err := p.dial(ctx, cancel, 1); err != nil {
		return res, err
	}
	for i, d := range disks {
		blocks := touched[d.Key]
		units, err := digestBlocks(ctx, snap, d, blocks, j.conns())
		if err != nil {
			return res, fmt.Errorf("%s: verify disk %s: %w", j.VM, d.Key, err)
		}
		for _, u := range units {
			res.BytesRead += u.Length
		}
		got, _, err := p.readBack(ctx, i, units)
		if err != nil {
			return res, fmt.Errorf("%s: verify disk %s: %w", j.VM, d.Key, err)
		}
		for k, u := range units {
			b := blocks[k]
			if got[k] != u.digest || maps[i][b] != u.digest {
				return res, fmt.Errorf("%s: disk %s block %d (offset %d): source %016x, replica %016x, sender's map %016x: %w",
					j.VM, d.Key, b, u.Offset, u.digest, got[k], maps[i][b], ErrVerifyMismatch)
			}
		}
		res.Blocks += int64(len(blocks))
		r, err := p.conns[0].control(ctx, fRoot, i, diskMsg{})
		if err != nil {
			return res, fmt.Errorf("%s: verify disk %s: digest-map root: %w", j.VM, d.Key, err)
		}
		if r.Size != d.Capacity || r.Count != int64(len(maps[i])) || r.Digest != digestRoot(maps[i]) {
			return res, fmt.Errorf("%s: disk %s: digest-map roots differ (sender %s over %d blocks, receiver %s over %d blocks of %d bytes): %w",
				j.VM, d.Key, digestRoot(maps[i]), len(maps[i]), r.Digest, r.Count, r.Size, ErrVerifyMismatch)
		}
		res.RootBlocks += r.Count
		res.ReceiverHashed += r.Hashed
	}
	res.Duration = time.Since(start)
	j.emit(Event{Kind: EventVerified, Msg: "replica verified: " + res.Summary()})
	return res, nil
}

// ErrVerifyMismatch means the replica differs from the source after a final pass.
var ErrVerifyMismatch = errors.New("replica differs from source")

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
	p := &pass{job: j, snap: snap, disks: disks, start: time.Now(), urgent: true}
	if j.Limiter != nil {
		defer j.Limiter.Urgent()()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer p.end(cancel)
	if err := p.dial(ctx, cancel, 1); err != nil {
		return err
	}
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

// digestSource is the BLAKE3 of a whole source disk, read with par
// parallel readers and hashed in order. Each reader takes a run of
// consecutive 1 MiB blocks at a time: one block on most sources, and on a
// host-direct source the blocks one ranged GET (one service ticket from
// vCenter) serves, read in order from that response, so a whole-disk read
// costs a ticket per run, not per MiB. At most as many runs as the source
// keeps responses open are in flight (read or waiting for the hasher), and
// each reader reads ahead only a few blocks of its pool, so memory stays
// at par x digestAhead blocks whatever the run.
func digestSource(ctx context.Context, snap Snapshot, d Disk, par int) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type block struct {
		buf  []byte
		pool chan []byte // where buf goes back after hashing
		err  error
	}
	n := int((d.Capacity + FrameMax - 1) / FrameMax)
	run, inFlight, ahead := 1, par+1, 2
	if r, ok := snap.(runReader); ok && r.ReadRun() > 1 {
		run, ahead = r.ReadRun(), digestAhead
		// Beyond streamsPerDisk open responses the source closes idle
		// ones: a run waiting for the hasher would lose its GET.
		par = min(par, streamsPerDisk)
		inFlight = par
		r.PlanReads(d.Key, []Extent{{0, d.Capacity}})
	}
	slots := make([]chan block, n)
	for i := range slots {
		slots[i] = make(chan block, 1)
	}
	runs := (n + run - 1) / run
	tokens := make(chan struct{}, inFlight) // runs in flight
	next := make(chan int)                  // the next run to read
	go func() {
		defer close(next)
		for r := range runs {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case next <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range par {
		go func() {
			pool := make(chan []byte, ahead)
			for range ahead {
				pool <- make([]byte, FrameMax)
			}
			for r := range next {
				for i := r * run; i < min(n, (r+1)*run); i++ {
					// The hasher frees this reader's blocks in order, and
					// the runs before this one hold none of its pool
					// once read: the block the hasher waits for never
					// waits for a buffer.
					var buf []byte
					select {
					case buf = <-pool:
					case <-ctx.Done():
						return
					}
					off := int64(i) * FrameMax
					buf = buf[:min(FrameMax, d.Capacity-off)]
					err := snap.ReadAt(ctx, d.Key, buf, off)
					if err != nil {
						err = fmt.Errorf("read at %d: %w", off, err)
					}
					slots[i] <- block{buf, pool, err}
					if err != nil {
						return
					}
				}
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
		b.pool <- b.buf[:cap(b.buf)]
		if (i+1)%run == 0 || i == n-1 {
			<-tokens // the run is hashed
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// digestAhead is how many blocks of its run a reader of digestSource may
// hold before the hasher takes them.
const digestAhead = 4
