package replication

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"sort"

	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"
)

// Sizes of the wire and of the read plan (docs/real-world.md "Wire and speed").
const (
	FrameMax   = 1 << 20   // largest data frame payload
	MergeGap   = 256 << 10 // extents closer than this are read with one range request
	ZeroGrain  = 64 << 10  // zero runs are detected at this granularity
	HashBlock  = 1 << 20   // block size of the receiver's hash map (full-compare, verify)
	AllChanged = "*"       // changeId meaning "all allocated areas" (first pass)
)

// Sentinel errors for control flow.
var (
	// ErrCBTReset means the source cannot answer changes since the given
	// changeId (CBT reset, fault, or changeId older than tracking); the engine
	// falls back to a full-compare pass.
	ErrCBTReset = errors.New("changed block tracking cannot answer from this changeId")
	// ErrSnapshotGone means a resumed pass's snapshot no longer exists.
	ErrSnapshotGone = errors.New("pass snapshot no longer exists")
	// ErrSnapshotRemoved means the snapshot a pass was reading was removed
	// (not by ferry) before the pass committed: what it read after that may
	// mix points in time, so nothing of it is committed. Something outside
	// ferry (waitsOutside): the next pass, soon, reads again from the last
	// committed point.
	ErrSnapshotRemoved = errors.New("pass snapshot removed during the pass")
	// ErrPoweredOnDuringFinal means the source VM was powered on while the
	// final pass read its disks: the replica would not be what it shut down
	// with. Not retried.
	ErrPoweredOnDuringFinal = errors.New("source VM powered on during the final pass")
)

// heldSnapshot is a Snapshot that can tell whether its point in time still
// holds: the snapshot still exists (the VM, powered off, still is for a
// final pass). A pass asks before it commits a disk.
type heldSnapshot interface {
	Held(ctx context.Context) error
}

// Extent is a byte range of a disk.
type Extent struct {
	Offset int64
	Length int64
}

// End returns the first offset after the extent.
func (e Extent) End() int64 { return e.Offset + e.Length }

// Disk describes one disk of a source VM.
type Disk struct {
	Key      string // stable key (vSphere device key), used in state and on the wire
	Capacity int64  // bytes
	// Label is the name vSphere shows for the disk ("Hard disk 1"), for
	// messages; never on the wire nor in state.
	Label string `json:"-"`
}

// Name is how messages name the disk: its vSphere label, or "disk <key>".
func (d Disk) Name() string {
	if d.Label != "" {
		return d.Label
	}
	return "disk " + d.Key
}

// Source is the vSphere-independent view the engine has of one VM.
// VSphereSource reads a VM through the vSphere API; FileSource reads local
// files (tests, benchmarks).
type Source interface {
	Disks(ctx context.Context) ([]Disk, error)
	// Open starts a pass: a new point in time (a snapshot), or the snapshot
	// identified by resume if it still exists (ErrSnapshotGone otherwise).
	// final opens the powered-off VM itself (no snapshot) for the cutover pass.
	Open(ctx context.Context, resume string, final bool) (Snapshot, error)
}

// Snapshot is one point in time of a source VM.
type Snapshot interface {
	ID() string                     // persisted to resume a pass
	ChangeID(diskKey string) string // changeId of this point in time
	// Extents returns the changed areas since base (AllChanged for all allocated
	// areas), sorted. ErrCBTReset (wrapped) if base cannot be answered.
	Extents(ctx context.Context, diskKey, base string) ([]Extent, error)
	// ReadAt reads len(p) bytes at off of the disk at this point in time.
	ReadAt(ctx context.Context, diskKey string, p []byte, off int64) error
	// Release deletes the snapshot (no-op for a final pass).
	Release(ctx context.Context) error
}

// normalize sorts extents, merges overlapping or touching ones and clips
// them to capacity.
func normalize(ext []Extent, capacity int64) []Extent {
	sort.Slice(ext, func(i, j int) bool { return ext[i].Offset < ext[j].Offset })
	out := ext[:0:0]
	for _, e := range ext {
		if e.Offset < 0 {
			e.Length += e.Offset
			e.Offset = 0
		}
		if e.End() > capacity {
			e.Length = capacity - e.Offset
		}
		if e.Length <= 0 {
			continue
		}
		if n := len(out); n > 0 && e.Offset <= out[n-1].End() {
			if e.End() > out[n-1].End() {
				out[n-1].Length = e.End() - out[n-1].Offset
			}
			continue
		}
		out = append(out, e)
	}
	return out
}

// readUnit is one range read of the source: up to FrameMax bytes holding
// one or more changed extents (merged across gaps <= MergeGap). Only the
// extents are sent; the gaps are read, never sent.
type readUnit struct {
	Extent
	parts   []Extent // changed parts inside the unit
	compare bool     // full-compare: send only if the hash differs
	hash    uint64   // receiver's hash of the unit (compare only)
	// check: the unit is one whole HashBlock block (the last one of a disk
	// may be shorter), read whole so that the pass knows the block's digest
	// and checks it against what the receiver read back after writing.
	check bool
	// expected is the sender's digest of the block from its map before this
	// pass (0: not known); a compare unit whose block CBT reported unchanged
	// is expected to hold it at the receiver.
	expected uint64
	scan     bool // part of a full compare (every block of the disk)
	// unjudged: a changed block of a scan resumed in its pass, of which an
	// earlier attempt may have written some changed ranges and not others
	// (not acknowledged, so not in the sender's map): a replica that holds
	// neither the map's block nor the source's is not counted as found;
	// the block is written and checked (re-sent whole if it reads back
	// wrong) all the same.
	unjudged bool
	// ranges, when set, makes a check unit check only these ranges (what
	// the pass writes in the block, or an earlier attempt of it wrote): the
	// unit reads only their span, not the whole block (see sendChecked).
	ranges []Extent

	// Set when the unit was read (sendUnit).
	digest       uint64   // xxh3 of the whole unit (check units without ranges)
	rangeDigests []uint64 // xxh3 of each of ranges
	sent         bool     // frames were sent for it
	differ       bool     // a compared block that differed where it should not have
}

// totalUnits is the bytes the units cover.
func totalUnits(units []readUnit) int64 {
	var n int64
	for _, u := range units {
		n += u.Length
	}
	return n
}

// zeroDigests is the digest map of an all-zero disk of capacity bytes.
func zeroDigests(capacity int64) []uint64 {
	n := (capacity + HashBlock - 1) / HashBlock
	out := make([]uint64, n)
	full := xxh3.Hash(make([]byte, HashBlock))
	for i := range out {
		out[i] = full
	}
	if r := capacity % HashBlock; r != 0 {
		out[n-1] = xxh3.Hash(make([]byte, r))
	}
	return out
}

// planBlocks turns sorted, normalized extents of a disk of capacity bytes
// into one read unit per HashBlock block they touch: the whole block is
// read (its digest is what both sides keep), only the changed parts are
// sent. Reads grow for scattered small changes (a 64 KiB change reads its 1
// MiB block); bytes on the wire do not.
func planBlocks(ext []Extent, capacity int64) []readUnit {
	var units []readUnit
	for _, e := range ext {
		for e.Length > 0 {
			b := e.Offset / HashBlock
			end := min((b+1)*HashBlock, capacity)
			take := min(e.Length, end-e.Offset)
			if n := len(units); n > 0 && units[n-1].Offset == b*HashBlock {
				u := &units[n-1]
				if last := &u.parts[len(u.parts)-1]; last.End() == e.Offset {
					last.Length += take
				} else {
					u.parts = append(u.parts, Extent{e.Offset, take})
				}
			} else {
				units = append(units, readUnit{Extent: Extent{b * HashBlock, end - b*HashBlock}, parts: []Extent{{e.Offset, take}}, check: true})
			}
			e.Offset += take
			e.Length -= take
		}
	}
	return units
}

// planReads turns sorted, normalized extents into read units.
func planReads(ext []Extent) []readUnit {
	var units []readUnit
	for _, e := range ext {
		for e.Length > 0 {
			if n := len(units); n > 0 {
				u := &units[n-1]
				gap := e.Offset - u.End()
				if gap <= MergeGap && u.Length+gap < FrameMax {
					take := min(e.Length, FrameMax-(u.Length+gap))
					u.parts = append(u.parts, Extent{e.Offset, take})
					u.Length += gap + take
					e.Offset += take
					e.Length -= take
					continue
				}
			}
			take := min(e.Length, FrameMax)
			units = append(units, readUnit{Extent: Extent{e.Offset, take}, parts: []Extent{{e.Offset, take}}})
			e.Offset += take
			e.Length -= take
		}
	}
	return units
}

// trimBelow drops the parts of extents below watermark (already durable at
// the receiver in this pass).
func trimBelow(ext []Extent, watermark int64) []Extent {
	out := ext[:0:0]
	for _, e := range ext {
		if e.End() <= watermark {
			continue
		}
		if e.Offset < watermark {
			e.Length = e.End() - watermark
			e.Offset = watermark
		}
		out = append(out, e)
	}
	return out
}

// withoutRanges is ext (sorted, disjoint) without what lies in ranges
// (sorted, disjoint).
func withoutRanges(ext, ranges []Extent) []Extent {
	if len(ranges) == 0 {
		return ext
	}
	out := ext[:0:0]
	r := 0
	for _, e := range ext {
		for e.Length > 0 {
			for r < len(ranges) && ranges[r].End() <= e.Offset {
				r++
			}
			if r == len(ranges) || ranges[r].Offset >= e.End() {
				out = append(out, e)
				break
			}
			if ranges[r].Offset > e.Offset {
				out = append(out, Extent{e.Offset, ranges[r].Offset - e.Offset})
			}
			end := e.End()
			e.Offset = min(ranges[r].End(), end)
			e.Length = end - e.Offset
		}
	}
	return out
}

// withRange adds e to ranges (sorted, disjoint), merging the ranges it
// overlaps or touches.
func withRange(ranges []Extent, e Extent) []Extent {
	if e.Length <= 0 {
		return ranges
	}
	i, _ := slices.BinarySearchFunc(ranges, e.Offset, func(r Extent, off int64) int { return cmp.Compare(r.End(), off) })
	// ranges[i:] end at or after e's start; those starting at or before its
	// end merge with it.
	j := i
	for j < len(ranges) && ranges[j].Offset <= e.End() {
		start := min(e.Offset, ranges[j].Offset)
		e = Extent{start, max(e.End(), ranges[j].End()) - start}
		j++
	}
	return slices.Replace(ranges, i, j, e)
}

func totalLength(ext []Extent) int64 {
	var n int64
	for _, e := range ext {
		n += e.Length
	}
	return n
}

// digestRoot is the root of a block digest map: BLAKE3 over the digests
// (8 bytes big endian each) in block order. Sender and receiver compute it
// the same way over their own maps; equal roots mean equal maps.
func digestRoot(ds []uint64) string {
	r := newRootHash()
	r.add(ds)
	return r.sum()
}

// rootHash computes digestRoot incrementally.
type rootHash struct{ h *blake3.Hasher }

func newRootHash() rootHash { return rootHash{blake3.New()} }

func (r rootHash) add(ds []uint64) {
	var b [8]byte
	for _, d := range ds {
		binary.BigEndian.PutUint64(b[:], d)
		r.h.Write(b[:])
	}
}

func (r rootHash) sum() string { return hex.EncodeToString(r.h.Sum(nil)) }
