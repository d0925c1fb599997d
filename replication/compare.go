package replication

// The progress of a scan (a full compare, or a full-compare pass), kept so
// that a compare interrupted by a kill resumes where it had durably got to.
//
// A scan reads every block of its disk in order. A block is settled once it
// was compared, repaired if it differed, read back equal to the source, and
// its digest stored: the scan's progress (compareProgress.Next) is the end
// of its settled blocks, stored with their digests in one transaction as
// the checker settles them (every checkChunk blocks, and at the end of
// each batch). A block found differing or unreported is recorded before its
// repair is sent: a resumed scan that reads it back right (its repair
// reached the replica before the kill) still counts it, and counts it once.
// The progress belongs to one pass (snapshot, base, target, kind); a resumed
// scan of another one starts at block 0. When it resumes a compare that was
// interrupted in another pass (its snapshot was gone), what the interrupted
// attempt found is carried into the new record (compareProgress.Earlier):
// those were real repairs of the replica, and the result counts them, each
// block once.

// compareCounts adds up the scans of a pass's disks.
type compareCounts struct {
	Blocks, Differing, Repaired, Unreported int64
	// Blocks compared by an earlier attempt, not read by this one; Resumed
	// is set when a disk's scan went on from such an attempt.
	ResumedBlocks int64
	Resumed       bool
	// StartedOver is set when a disk's scan started over after an
	// interrupted attempt in another pass; the Earlier counts are what
	// such attempts found (counted in the totals above too).
	StartedOver                                          bool
	EarlierDiffering, EarlierRepaired, EarlierUnreported int64
}

// earlierFindings is what attempts of a compare interrupted in other passes
// (whose scans could not be resumed: the snapshot was gone) found on a disk
// before the scan started over at block 0.
type earlierFindings struct {
	Differing, Repaired, Unreported int64
	// Pending holds those blocks (true: differing) whose repair no scan
	// has checked yet: the interrupted attempt found them and sent the
	// repair, and the kill came before it read them back. A later scan
	// does not count them again, whatever it finds there; once it has
	// checked a differing one, it counts as repaired.
	Pending map[int64]bool `json:",omitempty"`
}

func (e *earlierFindings) pend(blk int64, differing bool) {
	if e.Pending == nil {
		e.Pending = map[int64]bool{}
	}
	e.Pending[blk] = differing
}

// carry returns what the scan of c found, with what earlier attempts it
// went on with found, each block once: what a scan that starts over after
// c was interrupted carries (Pending: the blocks at or above c.Next whose
// repair was not checked). For a complete scan (c.Next at the disk's end)
// it is the scan's result; for a record with only Earlier and Next, what
// the earlier attempts found as of c's progress.
func (c compareProgress) carry() *earlierFindings {
	e := &earlierFindings{}
	if c.Earlier != nil {
		e.Differing, e.Repaired, e.Unreported = c.Earlier.Differing, c.Earlier.Repaired, c.Earlier.Unreported
		for b, differing := range c.Earlier.Pending {
			switch {
			case b >= c.Next:
				e.pend(b, differing)
			case differing:
				e.Repaired++ // checked by c's scan
			}
		}
	}
	e.Differing += c.Differing
	e.Unreported += c.Unreported
	e.Repaired += c.Repaired
	for b, differing := range c.Found {
		e.pend(b, differing)
	}
	return e
}

// compareRun is the scan of the disk being sent.
type compareRun struct {
	key string // the disk's state key
	n   int    // blocks of the disk (its digest map)
	rec compareProgress
}

// startScan begins the scan of a disk: from the recorded progress prog
// when it is this pass's (and the disk's pass resumes: resumable), else
// from block 0 with a new record, which carries what prog found when prog
// is a compare interrupted in a pass still in flight (its snapshot was
// gone, or its scan could not be resumed) and this pass is a compare. It
// returns the first block to scan.
func (p *pass) startScan(key string, prog compareProgress, resumable bool, base, target string, kind PassKind, nblocks int64) (int64, error) {
	cr := &compareRun{key: key, n: int(nblocks)}
	if resumable && prog.Pass == p.snap.ID() && prog.Base == base && prog.Target == target && prog.Kind == kind &&
		prog.Next >= 0 && prog.Next <= nblocks {
		cr.rec = prog
		cr.rec.Compare = prog.Compare || p.compare
		if prog.Next > 0 || len(prog.Found) > 0 {
			p.cmpTot.Resumed = true
			p.cmpTot.ResumedBlocks += prog.Next
		}
	} else {
		cr.rec = compareProgress{Pass: p.snap.ID(), Base: base, Target: target, Kind: kind, Compare: p.compare}
		if p.compare && prog.Compare && p.inFlight(prog.Pass) {
			cr.rec.Earlier = prog.carry()
		}
		if err := p.job.State.putCompareProgress(key, cr.rec, 0, nil); err != nil {
			return 0, err
		}
	}
	p.cmpMu.Lock()
	p.cmp = cr
	p.cmpMu.Unlock()
	return cr.rec.Next, nil
}

// found records, before its repair is sent, that block blk of the scan
// differs from what the sender's map says the replica got (differing), or
// holds that but not the source's data (unreported); a block is counted
// once per scan, whatever its attempts.
func (p *pass) found(blk int64, differing bool) error {
	p.cmpMu.Lock()
	defer p.cmpMu.Unlock()
	cr := p.cmp
	if cr == nil || blk < cr.rec.Next {
		return nil
	}
	if _, ok := cr.rec.Found[blk]; ok {
		return nil
	}
	if e := cr.rec.Earlier; e != nil {
		if _, ok := e.Pending[blk]; ok {
			return nil // found by the interrupted attempt, and counted
		}
	}
	if cr.rec.Found == nil {
		cr.rec.Found = map[int64]bool{}
	}
	cr.rec.Found[blk] = differing
	if differing {
		cr.rec.Differing++
	} else {
		cr.rec.Unreported++
	}
	return p.job.State.putCompareProgress(cr.key, cr.rec, cr.n, nil)
}

// settle records that the scan's blocks below next are settled (see the
// top of this file), with the digests the checker took for them.
func (ck *checker) settle(next int64) error {
	p := ck.p
	p.cmpMu.Lock()
	defer p.cmpMu.Unlock()
	cr := p.cmp
	if cr == nil || next <= cr.rec.Next {
		return nil
	}
	upd := map[int]uint64{}
	for b := cr.rec.Next; b < next; b++ {
		if h, ok := ck.upd[int(b)]; ok {
			upd[int(b)] = h
		}
		if differing, ok := cr.rec.Found[b]; ok {
			if differing {
				cr.rec.Repaired++ // sent, and read back right
			}
			delete(cr.rec.Found, b)
		}
	}
	cr.rec.Next = next
	return p.job.State.putCompareProgress(cr.key, cr.rec, cr.n, upd)
}

// inFlight says whether pass is one of the job's disks' passes in flight
// when this attempt started (one interrupted before it).
func (p *pass) inFlight(pass string) bool {
	if pass == "" {
		return false
	}
	for _, s := range p.states {
		if s.Pass == pass {
			return true
		}
	}
	return false
}

// compareDone adds a disk's completed scan to the pass's compare; resumed:
// an earlier attempt completed it, and this one read none of it. What
// attempts interrupted in other passes found is counted too, and apart.
func (p *pass) compareDone(prog compareProgress, nblocks int64, resumed bool) {
	t := &p.cmpTot
	t.Blocks += nblocks
	f := prog.carry()
	t.Differing += f.Differing
	t.Repaired += f.Repaired
	t.Unreported += f.Unreported
	if prog.Earlier != nil {
		e := compareProgress{Earlier: prog.Earlier, Next: prog.Next}.carry()
		t.StartedOver = true
		t.EarlierDiffering += e.Differing
		t.EarlierRepaired += e.Repaired
		t.EarlierUnreported += e.Unreported
	}
	if resumed {
		t.Resumed = true
		t.ResumedBlocks += nblocks
	}
}
