package replication

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/zeebo/xxh3"
)

// FileSource is a Source over local disk image files, for tests and
// benchmarks. Changed block tracking is emulated: each Open records a hash
// of every TrackBlock-sized block (an epoch), and the changes since an
// epoch are the blocks that differed between any two consecutive epochs
// since then (a write that is later reverted is still reported, as real
// CBT does). Opening does not freeze the files.
type FileSource struct {
	TrackBlock int64 // CBT granularity, default 64 KiB

	mu     sync.Mutex
	paths  []string
	gen    int                   // bumped by ResetCBT: older changeIds become invalid
	epochs map[string][][]uint64 // disk key -> epoch -> block hashes
	snaps  map[string]*fileSnap  // snapshots not released
	nextID int

	// Tracked mode (NewTrackedFileSource): changes come from Written, like a
	// hypervisor's changed-block bitmap, instead of hashing every file at
	// each Open; epochs are then the blocks written between two Opens.
	tracked bool
	pending map[string]map[int64]bool   // disk key -> blocks written since the last Open
	dirty   map[string][]map[int64]bool // disk key -> epoch -> blocks written before it
}

// NewTrackedFileSource is a FileSource whose changed blocks are reported by
// the writer (Written) rather than found by hashing: an Open costs what it
// costs on vSphere, not a read of every disk. A change written behind its
// back is not seen, as with real CBT.
func NewTrackedFileSource(paths ...string) *FileSource {
	s := NewFileSource(paths...)
	s.tracked, s.pending, s.dirty = true, map[string]map[int64]bool{}, map[string][]map[int64]bool{}
	return s
}

// Written records a write of n bytes at off into disk (tracked mode).
func (s *FileSource) Written(disk int, off, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strconv.Itoa(disk)
	if s.pending[key] == nil {
		s.pending[key] = map[int64]bool{}
	}
	for b := off / s.TrackBlock; b*s.TrackBlock < off+n; b++ {
		s.pending[key][b] = true
	}
}

// NewFileSource returns a source whose disks are the given files; disk i has
// key strconv.Itoa(i).
func NewFileSource(paths ...string) *FileSource {
	return &FileSource{TrackBlock: 64 << 10, paths: paths, epochs: map[string][][]uint64{}, snaps: map[string]*fileSnap{}}
}

// ResetCBT forgets all change tracking, as a host crash does.
func (s *FileSource) ResetCBT() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.epochs = map[string][][]uint64{}
	if s.tracked {
		s.pending, s.dirty = map[string]map[int64]bool{}, map[string][]map[int64]bool{}
	}
}

// Disks implements Source.
func (s *FileSource) Disks(ctx context.Context) ([]Disk, error) {
	var disks []Disk
	for i, p := range s.paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("disk %d: %w", i, err)
		}
		disks = append(disks, Disk{Key: strconv.Itoa(i), Capacity: fi.Size()})
	}
	return disks, nil
}

func (s *FileSource) hashFile(path string) ([]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hs []uint64
	buf := make([]byte, max(s.TrackBlock, 1<<20)/s.TrackBlock*s.TrackBlock)
	for {
		n, err := io.ReadFull(f, buf)
		for off := 0; off < n; off += int(s.TrackBlock) {
			hs = append(hs, xxh3.Hash(buf[off:min(off+int(s.TrackBlock), n)]))
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return hs, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Open implements Source. resume reattaches to a snapshot that was not
// released; final opens without a new epoch being kept alive.
func (s *FileSource) Open(ctx context.Context, resume string, final bool) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if resume != "" {
		snap := s.snaps[resume]
		if snap == nil {
			return nil, ErrSnapshotGone
		}
		return snap, nil
	}
	s.nextID++
	id := fmt.Sprintf("fs-%d-%d", s.gen, s.nextID)
	snap := &fileSnap{s: s, id: id, change: map[string]string{}}
	for i, p := range s.paths {
		key := strconv.Itoa(i)
		if s.tracked {
			s.dirty[key] = append(s.dirty[key], s.pending[key])
			s.pending[key] = map[int64]bool{}
			snap.change[key] = fmt.Sprintf("%d/%d", s.gen, len(s.dirty[key])-1)
			continue
		}
		hs, err := s.hashFile(p)
		if err != nil {
			return nil, fmt.Errorf("snapshot disk %s: %w", key, err)
		}
		s.epochs[key] = append(s.epochs[key], hs)
		snap.change[key] = fmt.Sprintf("%d/%d", s.gen, len(s.epochs[key])-1)
	}
	if !final {
		s.snaps[id] = snap
	}
	return snap, nil
}

type fileSnap struct {
	s      *FileSource
	id     string
	change map[string]string
}

func (f *fileSnap) ID() string { return f.id }

func (f *fileSnap) ChangeID(key string) string { return f.change[key] }

func (f *fileSnap) Extents(ctx context.Context, key, base string) ([]Extent, error) {
	if f.s.tracked {
		return f.trackedExtents(key, base)
	}
	target := f.change[key]
	s := f.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var tgen, tn int
	if _, err := fmt.Sscanf(target, "%d/%d", &tgen, &tn); err != nil || tgen != s.gen || tn >= len(s.epochs[key]) {
		return nil, fmt.Errorf("disk %s: target %q: %w", key, target, ErrCBTReset)
	}
	eps := s.epochs[key]
	changed := make([]bool, len(eps[tn]))
	if base == AllChanged {
		zero := xxh3.Hash(make([]byte, s.TrackBlock))
		for i, h := range eps[tn] {
			changed[i] = h != zero
		}
	} else {
		var bgen, bn int
		if _, err := fmt.Sscanf(base, "%d/%d", &bgen, &bn); err != nil || bgen != s.gen || bn > tn {
			return nil, fmt.Errorf("disk %s: changeId %q: %w", key, base, ErrCBTReset)
		}
		for e := bn; e < tn; e++ {
			a, b := eps[e], eps[e+1]
			for i := range b {
				if i >= len(a) || a[i] != b[i] {
					changed[i] = true
				}
			}
		}
	}
	var out []Extent
	for i, c := range changed {
		if c {
			out = append(out, Extent{int64(i) * s.TrackBlock, s.TrackBlock})
		}
	}
	fi, err := os.Stat(s.paths[mustAtoi(key)])
	if err != nil {
		return nil, err
	}
	return normalize(out, fi.Size()), nil
}

// trackedExtents answers from the written-block sets; "*" (the first pass)
// hashes the file once to skip its zero blocks.
func (f *fileSnap) trackedExtents(key, base string) ([]Extent, error) {
	s := f.s
	path := s.paths[mustAtoi(key)]
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var out []Extent
	if base == AllChanged {
		hs, err := s.hashFile(path)
		if err != nil {
			return nil, err
		}
		zero := xxh3.Hash(make([]byte, s.TrackBlock))
		for i, h := range hs {
			if h != zero {
				out = append(out, Extent{int64(i) * s.TrackBlock, s.TrackBlock})
			}
		}
		return normalize(out, fi.Size()), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var tgen, tn, bgen, bn int
	if _, err := fmt.Sscanf(f.change[key], "%d/%d", &tgen, &tn); err != nil || tgen != s.gen || tn >= len(s.dirty[key]) {
		return nil, fmt.Errorf("disk %s: target %q: %w", key, f.change[key], ErrCBTReset)
	}
	if _, err := fmt.Sscanf(base, "%d/%d", &bgen, &bn); err != nil || bgen != s.gen || bn > tn {
		return nil, fmt.Errorf("disk %s: changeId %q: %w", key, base, ErrCBTReset)
	}
	for e := bn + 1; e <= tn; e++ {
		for b := range s.dirty[key][e] {
			out = append(out, Extent{b * s.TrackBlock, s.TrackBlock})
		}
	}
	return normalize(out, fi.Size()), nil
}

func mustAtoi(s string) int { n, _ := strconv.Atoi(s); return n }

func (f *fileSnap) ReadAt(ctx context.Context, key string, p []byte, off int64) error {
	i, err := strconv.Atoi(key)
	if err != nil || i < 0 || i >= len(f.s.paths) {
		return fmt.Errorf("no disk %q", key)
	}
	fh, err := os.Open(f.s.paths[i])
	if err != nil {
		return err
	}
	defer fh.Close()
	n, err := fh.ReadAt(p, off)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	return err
}

func (f *fileSnap) Release(ctx context.Context) error {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	delete(f.s.snaps, f.id)
	return nil
}
