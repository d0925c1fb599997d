package replication

// The pass model: how long a pass takes, fitted to recorded passes. The
// cutover's projected downtime (steps/projection.go, whose final pass the
// replication dashboard shows too) takes it from here.

// PassRecord is a recorded pass: the bytes it planned, how long it took,
// and what it was (for saying where a projection comes from).
type PassRecord struct {
	Bytes   int64
	Seconds float64
	What    string
	// Data says Bytes are what the pass sent as data, its zero runs not
	// counted (VMState.LargestPass), not all it planned: a throughput of
	// them is one of data, which the planned bytes of a projection, zeros
	// among them or not, copy at or faster.
	Data bool
}

// PassModel is how long a pass takes: a fixed cost per pass (the snapshot
// created and deleted, the changed-block query, the commit), whatever it
// copies, plus its bytes at a throughput. A pass's bytes over its time is
// no throughput: a small pass is mostly fixed cost (QA: a rolled-back
// cutover's final pass, 193 KiB in 137 ms, read as 1.4 MB/s, projected
// the next final pass at 7 s where 0.5 s is real).
type PassModel struct {
	Fixed float64 // seconds per pass
	Rate  float64 // bytes per second, beyond the fixed cost

	// What it was fitted to. Recorded is how many recorded passes; 0:
	// none with its time recorded, and Rate is the last pass's
	// throughput (VMState.LastRate), fixed cost included.
	Recorded int
	// Shortest is the shortest recorded pass: the fixed cost's measure.
	Shortest PassRecord
	// Fastest is the pass with the most bytes over its whole time.
	Fastest PassRecord
	// Measured are the passes that took at least twice the shortest, on
	// which the throughput beyond the fixed cost was measured, with their
	// bytes and whole time. None: the passes tell no fixed cost apart;
	// Fixed is 0 and Rate is Fastest's, fixed cost included.
	Measured        []PassRecord
	MeasuredBytes   int64
	MeasuredSeconds float64
	// AtFastest says Rate is Fastest's, fixed cost included, which was
	// faster than what Measured measured less the fixed cost.
	AtFastest bool
	// Uncapped is the throughput fitted to the passes when a bandwidth cap
	// (CapAt) lowered Rate to the cap; 0: no cap lowered it.
	Uncapped float64
}

// CapAt is m with its throughput at most limit bytes per second (a
// bandwidth cap on the wire bytes; 0: none): passes recorded before the
// cap was set or lowered copied faster than the next one can.
func (m PassModel) CapAt(limit float64) PassModel {
	if limit > 0 && m.Rate > limit {
		m.Uncapped, m.Rate = m.Rate, limit
	}
	return m
}

// Seconds is the model's time of a pass of bytes.
func (m PassModel) Seconds(bytes float64) float64 { return m.Fixed + bytes/m.Rate }

// FitPasses fits a PassModel to recorded passes. The fixed cost is at most
// the time of the shortest pass: that is its figure. The throughput is
// measured on the passes large enough to measure it, those that took at
// least twice the shortest (their copy at least as long as the fixed
// cost): their bytes over their time less the fixed cost; and it is at
// least the fastest pass's bytes over its whole time (a final pass, whose
// fixed cost can be another than an incremental pass's, may be the
// shortest and another one the slowest). When no pass took twice the
// shortest, the passes do not tell a fixed cost from a throughput: the
// fastest pass's throughput, whole (about as large a pass as the final
// pass, which carries about what a pass carries). No pass that copied
// something: no model.
func FitPasses(passes []PassRecord) (PassModel, bool) {
	var shortest, fastest *PassRecord
	for i := range passes {
		p := &passes[i]
		if shortest == nil || p.Seconds < shortest.Seconds {
			shortest = p
		}
		if p.Bytes > 0 && (fastest == nil || float64(p.Bytes)/p.Seconds > float64(fastest.Bytes)/fastest.Seconds) {
			fastest = p
		}
	}
	if fastest == nil {
		return PassModel{}, false
	}
	m := PassModel{Recorded: len(passes), Shortest: *shortest, Fastest: *fastest}
	whole := float64(fastest.Bytes) / fastest.Seconds
	fixed := shortest.Seconds
	for _, p := range passes {
		if p.Bytes > 0 && p.Seconds >= 2*fixed {
			m.MeasuredBytes += p.Bytes
			m.MeasuredSeconds += p.Seconds
			m.Measured = append(m.Measured, p)
		}
	}
	if len(m.Measured) == 0 {
		m.Rate = whole
		return m, true
	}
	m.Fixed = fixed
	m.Rate = float64(m.MeasuredBytes) / (m.MeasuredSeconds - float64(len(m.Measured))*fixed)
	if m.Rate < whole {
		m.Rate, m.AtFastest = whole, true
	}
	return m, true
}

// Passes are the passes vs records with their time: its last incremental
// pass (its bytes are LastPlanned).
func (vs VMState) Passes() []PassRecord {
	if d := vs.IncrementalDuration; d > 0 && !vs.LastIncremental.IsZero() {
		return []PassRecord{{Bytes: vs.LastPlanned, Seconds: d.Seconds(), What: "the last incremental pass"}}
	}
	return nil
}

// Largest is vs's pass that sent the most data (LargestPass, usually the
// initial sync; its bytes are its data) when it is not the last
// incremental pass, which Passes gives already.
func (vs VMState) Largest() (PassRecord, bool) {
	l := vs.LargestPass
	if l == nil || l.Data <= 0 || l.Duration <= 0 || (l.Kind == PassIncremental && l.Start.Equal(vs.LastIncremental) && len(vs.Passes()) > 0) {
		return PassRecord{}, false
	}
	what := "the incremental pass that sent the most data"
	if l.Kind == PassInitial {
		what = "the initial sync"
	}
	return PassRecord{Bytes: l.Data, Seconds: l.Duration.Seconds(), What: what + " (" + l.Start.Local().Format("2006-01-02 15:04") + ")", Data: true}, true
}

// PassModel is the model of vs's passes, fitted (FitPasses) to the passes
// recorded elsewhere, earlier (a cutover's final passes, whose reports
// are not in the store), and vs's own (Passes). When those tell no
// throughput apart from their fixed cost (none took twice the shortest:
// small passes, mostly fixed cost), vs's pass that sent the most data
// (Largest, usually the initial sync) is counted too: it measures the
// throughput, the small passes the fixed cost. It is not counted when the
// recent passes measure one: they say how fast passes copy now (a guest
// outwriting them, a busier link), which an initial sync of weeks ago,
// of far more bytes, would outweigh. With none that copied something, the
// last pass's throughput, whole (LastRate: a final pass sets it, a small
// one is mostly fixed cost); none measured: false.
func (vs VMState) PassModel(earlier []PassRecord) (PassModel, bool) {
	passes := append(earlier[:len(earlier):len(earlier)], vs.Passes()...)
	m, ok := FitPasses(passes)
	if l, has := vs.Largest(); has && (!ok || len(m.Measured) == 0) {
		m, ok = FitPasses(append(passes, l))
	}
	if ok {
		return m, true
	}
	if vs.LastRate > 0 {
		return PassModel{Rate: vs.LastRate}, true
	}
	return PassModel{}, false
}
