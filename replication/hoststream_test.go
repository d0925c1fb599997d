package replication

import "testing"

// TestStreamsForReadersOnDifferentRuns: a pass's readers each work on
// their own part of a disk. A reader that passes a hole in the changed
// blocks gets a new ranged GET for the next run even while another reader
// has asked for a range further on; a GET never asks again for bytes
// another already asked for (its range ends where that one's begins), and
// a read inside a range asked for already gets no GET of its own.
func TestStreamsForReadersOnDifferentRuns(t *testing.T) {
	const mib = 1 << 20
	var h hostStreams
	h.setRuns("d", []Extent{{0, 4 * mib}, {5 * mib, 4 * mib}, {40 * mib, 8 * mib}, {56 * mib, 8 * mib}}, 64*mib)
	open := func(off, wantEnd int64) {
		t.Helper()
		s, fresh := h.acquire("d", off, mib)
		if s == nil || !fresh || s.end != wantEnd {
			t.Fatalf("read at %d MiB: stream %+v fresh %v, want a new GET up to %d MiB", off/mib, s, fresh, wantEnd/mib)
		}
		h.put(s, nil)
	}
	open(0, 4*mib)
	open(40*mib, 48*mib)
	// Reader one, past the hole at 4 MiB, while reader two is at 40 MiB.
	open(5*mib, 9*mib)
	// Reader two claimed 60 MiB on; a GET from 56 MiB stops there.
	open(60*mib, 64*mib)
	open(56*mib, 60*mib)
	// Inside a range asked for already (and too far ahead of its response
	// to skip to): no GET for the rest of the run.
	if s, _ := h.acquire("d", 7*mib, mib); s != nil {
		t.Fatalf("read at 7 MiB: got a stream %+v, want a GET of its own", s)
	}
}

// TestStreamsCoverWhatThePassReads: with the pass's reads planned, an
// ordinary pass's small changed ranges get exact GETs (no response left
// with most of a block unread, whose connection would be lost), and
// ranges close enough to skip between share one.
func TestStreamsCoverWhatThePassReads(t *testing.T) {
	const kib = 1 << 10
	var h hostStreams
	h.setRuns("d", []Extent{{0, 8 << 20}}, 8<<20)
	h.planReads("d", []Extent{{100 * kib, 64 * kib}, {3 << 20, 64 * kib}, {3<<20 + 128*kib, 64 * kib}})
	if s, _ := h.acquire("d", 100*kib, 64*kib); s != nil {
		t.Fatalf("a lone 64 KiB read got a stream to %d: want a GET of its own", s.end)
	}
	s, fresh := h.acquire("d", 3<<20, 64*kib)
	if s == nil || !fresh || s.end != 3<<20+192*kib {
		t.Fatalf("two reads 64 KiB apart: stream %+v, want one GET for both", s)
	}
}
