package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zeebo/xxh3"
)

// maxResends is how many times a pass re-sends a block whose read-back
// digest differs before it fails.
const maxResends = 3

// ErrNoDigestMap means the sender has no complete block digest map of a
// disk (state from before digest maps, or lost): the digest-map root cannot
// be compared, and the caller falls back to a whole-disk verify.
var ErrNoDigestMap = errors.New("no complete block digest map")

// sendChecked sends a batch of units, then checks it: the receiver reads
// back (after fdatasync) every block the batch wrote or must hold, and the
// digests are compared with the source's as read by this pass; a block that
// differs is sent again whole and checked again (at most maxResends times).
// Checked digests go into the sender's map (persisted per batch).
func (p *pass) sendChecked(ctx context.Context, disk int, key string, st *DiskState, units []readUnit) error {
	if err := p.sendBatch(ctx, disk, key, st, units); err != nil {
		return err
	}
	// sendUnit recorded each unit's digest and whether it sent frames in
	// units (the batch's plan).
	dk := p.disks[disk].Key
	upd := map[int]uint64{}
	for round := 0; ; round++ {
		var want []readUnit
		for _, u := range units {
			if !u.check {
				continue
			}
			if u.compare && !u.sent {
				upd[int(u.Offset/HashBlock)] = u.digest // equal to the fresh read-back
				continue
			}
			want = append(want, u)
		}
		if len(want) == 0 {
			break
		}
		got, err := p.readBack(ctx, disk, want)
		if err != nil {
			return err
		}
		var bad []readUnit
		for k, u := range want {
			blk := u.Offset / HashBlock
			p.checked.Add(1)
			if got[k] == u.digest {
				upd[int(blk)] = u.digest
				if p.final {
					p.touched[dk] = append(p.touched[dk], blk)
				}
				if u.differ {
					p.repaired.Add(1)
				}
				continue
			}
			if round == 0 && u.scan && !u.differ && p.diskKind != PassFullCompare {
				// A block of a full compare that held what it should before
				// the pass but reads back wrong after its changes were
				// written: the source changed in the rest of the block
				// without changed block tracking reporting it.
				p.unreported.Add(1)
			}
			bad = append(bad, readUnit{Extent: u.Extent, parts: []Extent{u.Extent}, check: true, differ: u.differ})
		}
		if len(bad) == 0 {
			break
		}
		if round >= maxResends {
			return fmt.Errorf("%w: %d block(s) read back differently after %d re-sends (first at offset %d)", ErrVerifyMismatch, len(bad), maxResends, bad[0].Offset)
		}
		p.resent.Add(int64(len(bad)))
		p.job.emit(Event{Kind: EventRepaired, Disk: dk, Msg: fmt.Sprintf("%d block(s) read back differently from what was sent (first at offset %d): sending them again", len(bad), bad[0].Offset)})
		if err := p.sendBatch(ctx, disk, key, st, bad); err != nil {
			return err
		}
		units = bad
	}
	for b, h := range upd {
		if b < len(p.dmap) {
			p.dmap[b] = h
		}
	}
	return p.job.State.PutDigests(key, len(p.dmap), upd)
}

// readBack asks the receiver for the digests of the units' blocks, read
// back from the replica after fdatasync.
func (p *pass) readBack(ctx context.Context, disk int, units []readUnit) ([]uint64, error) {
	var out []uint64
	for len(units) > 0 {
		n := min(len(units), maxDigestBlocks)
		blocks := make([]int64, n)
		for k := range blocks {
			blocks[k] = units[k].Offset / HashBlock
		}
		r, err := p.conns[0].control(ctx, fDigests, disk, diskMsg{Blocks: blocks})
		if err != nil {
			return nil, fmt.Errorf("read-back digests: %w", err)
		}
		if len(r.Hashes) != n {
			return nil, fmt.Errorf("read-back digests: got %d, want %d", len(r.Hashes), n)
		}
		out = append(out, r.Hashes...)
		units = units[n:]
	}
	return out, nil
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
		return fmt.Sprintf("whole disks: %s read from the source and hashed (BLAKE3) on both sides", mibText(v.BytesRead))
	}
	return fmt.Sprintf("%d block(s) the final pass touched read back from the powered-off source (%s) and equal at the receiver; digest-map roots equal over %d blocks",
		v.Blocks, mibText(v.BytesRead), v.RootBlocks)
}

func mibText(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

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
	p := &pass{job: j, snap: snap, disks: disks, start: time.Now()}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if err := p.dial(ctx, cancel, 1); err != nil {
		return res, err
	}
	defer p.conns[0].c.Close()
	buf := make([]byte, HashBlock)
	for i, d := range disks {
		blocks := touched[d.Key]
		units := make([]readUnit, len(blocks))
		for k, b := range blocks {
			off := b * HashBlock
			units[k] = readUnit{Extent: Extent{off, min(HashBlock, d.Capacity-off)}}
			data := buf[:units[k].Length]
			if err := snap.ReadAt(ctx, d.Key, data, off); err != nil {
				return res, fmt.Errorf("%s: verify disk %s: read at %d: %w", j.VM, d.Key, off, err)
			}
			res.BytesRead += units[k].Length
			units[k].digest = xxh3.Hash(data)
		}
		got, err := p.readBack(ctx, i, units)
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
