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
// benchmarks. Changed block tracking is emulated like lab/cbt does it: each
// Open records a hash of every TrackBlock-sized block (an epoch), and the
// changes since an epoch are the blocks that differed between any two
// consecutive epochs since then (a write that is later reverted is still
// reported, as real CBT does). Opening does not freeze the files.
type FileSource struct {
	TrackBlock int64 // CBT granularity, default 64 KiB

	mu     sync.Mutex
	paths  []string
	gen    int                   // bumped by ResetCBT: older changeIds become invalid
	epochs map[string][][]uint64 // disk key -> epoch -> block hashes
	snaps  map[string]*fileSnap  // snapshots not released
	nextID int
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
