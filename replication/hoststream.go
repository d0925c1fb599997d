package replication

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// Host-direct reads cost one AcquireGenericServiceTicket round trip to
// vCenter per GET: a ticket "may be used only once and is valid only for
// the spec with which it was acquired" (SessionManagerGenericServiceTicket),
// and the spec is the URL and method, not the byte range. So instead of a
// ticket per 1 MiB read, one GET (one ticket) covers a run of what the pass
// will read: the ranges the pass plans (PlanReads), merged where a response
// may skip the gap, at most streamSpan per GET (before a pass plans, the
// changed extents QueryChangedDiskAreas returned, widened to whole
// HashBlocks). Each of the pass's readers takes the blocks of one GET at a
// time (ReadRun) and reads them in order from its open response (a short
// gap is read and dropped); a read that no open response can serve gets a
// GET of its own. Measured with BenchmarkServiceTicket and
// BenchmarkSourceRead.

const (
	// streamSpan bounds one GET's range.
	streamSpan = 32 << 20
	// streamSkip is the largest gap a read skips in an open response.
	streamSkip = 256 << 10
	// streamsPerDisk bounds the responses held open per disk.
	streamsPerDisk = 4
)

// rangeStream is an open ranged GET of one disk's flat extent.
type rangeStream struct {
	key   string
	body  io.ReadCloser
	pos   int64 // the next byte the body yields
	end   int64 // exclusive
	busy  bool
	until int64 // while busy: pos after the read in progress
}

// hostStreams holds a snapshot's open ranged GETs and the runs that may be
// read ahead.
type hostStreams struct {
	mu   sync.Mutex
	cond *sync.Cond
	open []*rangeStream
	// runs are, per disk, the runs a pass reads (planReads; before that,
	// the block-aligned runs of the changed extents); claimed
	// are the ranges GETs already asked for, sorted and disjoint (never
	// read ahead twice). The pass's readers work on different parts of a
	// disk at once, so a GET's range ends where another's begins.
	runs    map[string][]Extent
	claimed map[string][]Extent
}

func (h *hostStreams) init() {
	if h.cond == nil {
		h.cond = sync.NewCond(&h.mu)
		h.runs = map[string][]Extent{}
		h.claimed = map[string][]Extent{}
	}
}

// setRuns records the extents a pass of disk key will read.
func (h *hostStreams) setRuns(key string, extents []Extent, capacity int64) {
	var runs []Extent
	for _, e := range extents {
		lo := e.Offset / HashBlock * HashBlock
		hi := min((e.End()+HashBlock-1)/HashBlock*HashBlock, capacity)
		if n := len(runs); n > 0 && lo <= runs[n-1].End() {
			runs[n-1].Length = max(runs[n-1].End(), hi) - runs[n-1].Offset
			continue
		}
		runs = append(runs, Extent{lo, hi - lo})
	}
	h.mu.Lock()
	h.init()
	h.runs[key], h.claimed[key] = runs, nil
	h.mu.Unlock()
}

// planReads replaces the runs of disk key with the ranges a pass will
// read (sorted), merged where the gap between them is one a response may
// skip: a GET then never asks for much more than the pass reads (an
// ordinary pass reads only the changed ranges, not whole blocks; a
// response closed before its end costs its connection).
func (h *hostStreams) planReads(key string, reads []Extent) {
	var runs []Extent
	for _, e := range reads {
		if n := len(runs); n > 0 && e.Offset-runs[n-1].End() <= streamSkip {
			runs[n-1].Length = max(runs[n-1].End(), e.End()) - runs[n-1].Offset
			continue
		}
		runs = append(runs, e)
	}
	h.mu.Lock()
	h.init()
	h.runs[key], h.claimed[key] = runs, nil
	h.mu.Unlock()
}

// acquire finds how to serve n bytes at off of disk key: an idle open
// response that reaches off (marked busy; fresh false), after waiting
// while a busy one is reading up to off (the run's reads are served in
// order); else, when off starts an unread part of a run of changed blocks,
// a new response held busy for the GET the caller sends (fresh true),
// ranging to the end of the run (at most streamSpan); else nil: the
// caller makes a GET of its own.
func (h *hostStreams) acquire(key string, off, n int64) (s *rangeStream, fresh bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	for {
		wait := false
		for _, s := range h.open {
			if s.key != key || off+n > s.end {
				continue
			}
			switch {
			case !s.busy && s.pos <= off && off-s.pos <= streamSkip:
				s.busy, s.until = true, off+n
				return s, false
			case s.busy && s.until <= off:
				wait = true
			}
		}
		if !wait {
			break
		}
		h.cond.Wait()
	}
	claimed := h.claimed[key]
	// The first claimed range that ends after off.
	i, _ := slices.BinarySearchFunc(claimed, off, func(e Extent, off int64) int { return cmp.Compare(e.End(), off+1) })
	if i < len(claimed) && claimed[i].Offset < off+n {
		return nil, false
	}
	end := off + n
	for _, r := range h.runs[key] {
		if r.Offset <= off && off < r.End() {
			end = max(end, min(r.End(), off+streamSpan))
			break
		}
	}
	if i < len(claimed) {
		end = min(end, claimed[i].Offset)
	}
	if end <= off+n {
		return nil, false
	}
	h.claimed[key] = slices.Insert(claimed, i, Extent{off, end - off})
	s = &rangeStream{key: key, pos: off, end: end, busy: true, until: off + n}
	h.open = append(h.open, s)
	// Beyond streamsPerDisk, the oldest idle responses of the disk close.
	count := 0
	for _, o := range h.open {
		if o.key == key {
			count++
		}
	}
	for i := 0; count > streamsPerDisk && i < len(h.open); {
		if o := h.open[i]; o.key == key && !o.busy {
			o.close()
			h.open = append(h.open[:i], h.open[i+1:]...)
			count--
			continue
		}
		i++
	}
	return s, true
}

// setBody gives the held s its response body.
func (h *hostStreams) setBody(s *rangeStream, body io.ReadCloser) {
	h.mu.Lock()
	s.body = body
	h.mu.Unlock()
}

// put gives s back after a read; a failed or finished response is closed.
func (h *hostStreams) put(s *rangeStream, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.busy = false
	if err != nil || s.pos >= s.end {
		s.close()
		for i, o := range h.open {
			if o == s {
				h.open = append(h.open[:i], h.open[i+1:]...)
				break
			}
		}
	}
	h.cond.Broadcast()
}

// closeAll closes every open response.
func (h *hostStreams) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.open {
		s.close()
	}
	h.open = nil
	if h.cond != nil {
		h.cond.Broadcast()
	}
}

// close closes s's response, if it has one (held by h.mu).
func (s *rangeStream) close() {
	if s.body != nil {
		s.body.Close()
	}
}

// read reads len(p) bytes at off from s (owned by the caller), dropping a
// gap before off.
func (s *rangeStream) read(p []byte, off int64) error {
	if gap := off - s.pos; gap > 0 {
		if _, err := io.CopyN(io.Discard, s.body, gap); err != nil {
			return err
		}
	}
	if _, err := io.ReadFull(s.body, p); err != nil {
		return err
	}
	s.pos = off + int64(len(p))
	return nil
}

// refusedRead explains an answer refusing a datastore read (the start of
// its body, and the privilege a 403 asks for), "" for another answer.
func refusedRead(res *http.Response) string {
	if res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusUnauthorized {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 300))
	text := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.TrimSpace(string(b)))
	why := ""
	if text != "" {
		why = ": " + text
	}
	if res.StatusCode == http.StatusForbidden {
		why += "; reading a datastore file over HTTP needs the privilege Datastore.Browse on its datastore (grant it to the role of ferry's account)"
	}
	return why
}

// checkRange checks a 206 answer to "bytes=off-last".
func checkRange(res *http.Response, flat string, off, last int64) error {
	if res.StatusCode != http.StatusPartialContent {
		return fmt.Errorf("GET %s range %d-%d: %s (want 206 Partial Content)%s", flat, off, last, res.Status, refusedRead(res))
	}
	var a, b, total int64
	cr := res.Header.Get("Content-Range")
	if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &a, &b, &total); err != nil || a != off || b != last {
		return fmt.Errorf("GET %s range %d-%d: Content-Range %q does not match", flat, off, last, cr)
	}
	return nil
}

// streamRead serves a host-direct read from an open response of the run
// it falls in, or opens one GET for the rest of the run; it reports false
// when the read is not one to stream (then ReadAt makes a GET of its own).
func (v *vsSnapshot) streamRead(ctx context.Context, d vsDisk, p []byte, off int64) (bool, error) {
	n := int64(len(p))
	s, fresh := v.streams.acquire(d.Key, off, n)
	if s == nil {
		return false, nil
	}
	if !fresh {
		err := s.read(p, off)
		v.streams.put(s, err)
		// A broken response (connection lost): a GET of its own.
		return err == nil, nil
	}
	res, err := v.do(ctx, d.ds, d.flat, fmt.Sprintf("bytes=%d-%d", off, s.end-1))
	if err == nil {
		if err = checkRange(res, d.flat, off, s.end-1); err != nil {
			res.Body.Close()
		}
	}
	if err != nil {
		v.streams.put(s, err)
		return true, err
	}
	v.streams.setBody(s, res.Body)
	err = s.read(p, off)
	v.streams.put(s, err)
	if err != nil {
		return true, fmt.Errorf("GET %s range %d-%d: %w", d.flat, off, off+n-1, err)
	}
	return true, nil
}
