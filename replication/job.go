package replication

// The Job API: one VM's job, its defaults and events, and RunPass with the
// retry of failed attempts. A pass attempt is in pass.go, its connections in
// conn.go.

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-migrate/ferry/internal/noanswer"
	"github.com/ferry-migrate/ferry/vsphere"
)

// Job replicates one VM's disks to a receiver. A Job is not safe for
// concurrent passes; the Scheduler runs one pass per job at a time.
type Job struct {
	VM  string // the source VM; with Org, the replica namespace at the receiver
	Org string // the tenant org the VM migrates to
	// Kind is the receiver kind the replica disks were prepared for
	// (KindAppliance, KindNFS).
	Kind string
	// Replicas names, per source disk key, the replica disk the receiver
	// writes: the UUID of the disk hot-added to the receiver appliance, or
	// the datastore path of its descriptor (nfs). The provider vCenter
	// creates these disks before the first pass.
	Replicas map[string]string
	Source   Source      // VSphereSource, FileSource
	Addr     string      // receiver host:port
	TLS      *tls.Config // client config with a client certificate (mutual TLS 1.3)
	State    *StateStore // sender-side state (may be shared by jobs)
	Conns    int         // connections per pass (default 4)
	Window   int64       // unacknowledged bytes in flight per VM (default 64 MiB)
	Limiter  *Bandwidth  // shared bandwidth cap in wire bytes, downtime windows first; nil = none
	Events   func(Event) // optional
	Retries  int         // reconnects within a pass before giving up (default 5, backoff from 250ms)
	// Dial opens the TCP connections (default: net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// AckTimeout fails a connection whose receiver acknowledges nothing for
	// this long while the window is full (default 2 minutes).
	AckTimeout time.Duration

	// Grow extends the replica disk of disk (extended at the source from
	// from bytes to disk.Capacity) to disk.Capacity, through the provider
	// vCenter, before the pass that finds the source disk larger writes
	// it. It must be idempotent: a pass interrupted after it ran calls it
	// again. nil: such a pass fails, saying the replica is too small.
	Grow func(ctx context.Context, disk Disk, from int64) error

	// AddDisks prepares the replica disks of disks added to the source VM
	// since the job was made (a pass finds disks Replicas does not name)
	// and returns what the receiver knows them by, by source disk key. It
	// must be idempotent. nil: such a pass fails, naming the disks.
	AddDisks func(ctx context.Context, added []Disk) (map[string]string, error)

	// Reattach hot-adds the job's replica disks to the receiver appliance
	// again (idempotent: the disks it holds stay as they are). A pass that
	// found a replica disk detached from the appliance (ErrDetached,
	// ErrNoReplicaDisk: someone detached it by hand) pauses the job; the
	// next pass, once the job is resumed, calls Reattach before it opens
	// a snapshot (QA: a resumed job failed again and again, saying "ferry
	// hot-adds it before each pass", which nothing did until ferry was
	// restarted). nil: such a job fails again until the disk is back.
	Reattach func(ctx context.Context) error
	// detached: the last pass found a replica disk detached (a job runs
	// one pass at a time).
	detached bool

	// Room reports the free space of the datastore holding the replica
	// disks, less what other passes writing there may still add, and the
	// state of the receiver appliance (replicaspace.go): a pass starts
	// only with room for what it writes and the appliance running, and
	// stops when either is lost (ErrReplicaSpace, ErrReceiverPaused).
	// nil: not checked.
	Room RoomLedger
	// RoomEvery is how often a running pass asks Room (default 30s).
	RoomEvery time.Duration

	// FullVerify makes Scheduler.FinalPass verify whole disks (Verify)
	// instead of the final pass's blocks and the digest-map roots
	// (VerifyFinal).
	FullVerify bool

	cache *vmCache // VM record for events; set before a pass starts goroutines
	// scanBatch is a scan's batch in blocks (0: scanBatchUnits): tests
	// set a smaller one to scan a smaller disk the same way.
	scanBatch int64
}

// vmCache holds the job's VMState for event fields (age of the last
// complete pass, projected final-pass time).
type vmCache struct {
	mu      sync.Mutex
	vs      VMState
	touched map[string][]int64 // blocks the last final pass wrote or checked, per disk key
}

func (j *Job) loadCache() {
	if j.cache == nil {
		vs, _ := j.State.VM(j.VM)
		j.cache = &vmCache{vs: vs}
	}
}

func (j *Job) ackTimeout() time.Duration {
	if j.AckTimeout <= 0 {
		return 2 * time.Minute
	}
	return j.AckTimeout
}

// PassResult summarizes a committed pass.
type PassResult struct {
	Kind     PassKind
	Counters Counters
	Start    time.Time // snapshot time
	Duration time.Duration
	Attempts int
	// Number is the pass's number among the VM's complete passes, as its
	// record counts them (VMState.PassCount), across ferry processes.
	Number int
	// Compare is set when the pass was a full compare (PassOptions.Compare)
	// and compared every block.
	Compare *CompareResult
}

// PassOptions choose what a pass does beyond sending changes.
type PassOptions struct {
	// Final is the cutover pass on the powered-off VM (no snapshot).
	Final bool
	// Urgent: the pass runs inside a downtime window (a cutover's final
	// pass): the shared bandwidth cap (Job.Limiter) serves it first. Not
	// a powered-off VM's pass outside a cutover (a cold VM's in step 6):
	// its service was down before ferry, and running VMs' passes go on.
	Urgent bool
	// Compare makes the pass a full compare: besides the changed blocks, it
	// reads every other block of the snapshot and compares it with the
	// replica read back by the receiver (not its digest map), re-sending
	// and checking the blocks that differ. An initial sync compares nothing
	// (everything it writes is checked anyway): compare in the next pass.
	Compare bool
}

func (j *Job) conns() int {
	if j.Conns <= 0 {
		return 4
	}
	return j.Conns
}

func (j *Job) window() int64 {
	if j.Window <= 0 {
		return 64 << 20
	}
	return j.Window
}

func (j *Job) emit(e Event) {
	if j.Events == nil {
		return
	}
	e.Time = time.Now()
	e.VM = j.VM
	if c := j.cache; c != nil {
		c.mu.Lock()
		if !c.vs.LastPass.IsZero() {
			e.LastPassAge = e.Time.Sub(c.vs.LastPass)
		}
		c.mu.Unlock()
	}
	j.Events(e)
}

// retryable says whether a failed attempt may be retried by reconnecting.
func retryable(err error) bool {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Code == "bad_hash"
	}
	return !errors.Is(err, ErrCBTReset) && !errors.Is(err, ErrVerifyMismatch) && !errors.Is(err, ErrNoReplicaDisk) && !errors.Is(err, ErrPoweredOnDuringFinal) && !waitsOutside(err)
}

// transient says whether a pass failed for the network between ferry and
// an endpoint (the receiver, vCenter, an ESXi host) after its own retries:
// a connection refused, reset, closed or timed out, a name server that did
// not answer. The scheduler tries such a pass again later instead of
// pausing the job. Not transient: what the receiver refused (RemoteError),
// a certificate that does not verify (a person must look: the endpoint may
// not be the one configured), a host name the name server says does not
// exist, and what retryable excludes (a verify mismatch, no replica disk,
// ...).
func transient(err error) bool {
	if err == nil || !retryable(err) {
		return false
	}
	var re *RemoteError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &re) || errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return false
	}
	var oe *net.OpError
	if errors.As(err, &oe) && (oe.Op == "remote error" || oe.Op == "local error") {
		return false // a TLS alert: the peer (or ferry) refused the other's certificate
	}
	var dn *net.DNSError
	if errors.As(err, &dn) && dn.IsNotFound {
		// The name server answered that the name does not exist: a wrong
		// or removed host name, which trying every 5 minutes will not
		// mend. A name server that did not answer (timeout, SERVFAIL) is
		// transient.
		return false
	}
	var ne net.Error
	return errors.As(err, &oe) || (errors.As(err, &ne) && ne.Timeout()) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, noanswer.ErrNoAnswer)
}

// reconnector is a snapshot that picks its read path again before a
// pass's next attempt (a host-direct snapshot whose host stopped answering
// reads on through vCenter's proxy).
type reconnector interface{ Reconnect(ctx context.Context) }

// waitsOutside says whether a pass stopped for something outside ferry
// that comes and goes: someone else's snapshot (a nightly backup's), the
// room for a pass snapshot's delta on the source datastore, the room for
// the replicas at the provider, a paused receiver appliance, a pass
// snapshot someone removed, a lock that keeps the VM's disks from
// consolidating (a backup proxy's). Not retried
// within the pass, not a failure to pause the job for: the scheduler tries
// again later.
func waitsOutside(err error) bool {
	return errors.Is(err, ErrForeignSnapshot) || errors.Is(err, ErrSourceSpace) || errors.Is(err, ErrReplicaSpace) || errors.Is(err, ErrReceiverPaused) || errors.Is(err, ErrSnapshotRemoved) ||
		errors.Is(err, ErrConsolidationLocked)
}

// RunPass runs one pass (final: the cutover pass on the powered-off VM,
// urgent too: PassOptions.Urgent) and commits it on both sides. A pass interrupted by ctx can be resumed by the
// next RunPass: its snapshot is kept and acknowledged data is not re-sent.
func (j *Job) RunPass(ctx context.Context, final bool) (PassResult, error) {
	return j.RunPassWith(ctx, PassOptions{Final: final, Urgent: final})
}

// RunPassWith runs one pass with options (see RunPass). A pass whose
// snapshot someone removed while it read (ErrSnapshotRemoved: a backup
// product's or an admin's snapshot cleanup) starts again at once in a new
// snapshot, once; removed again, the error is returned (the scheduler
// waits it out, waitsOutside).
//
// The result of a pass started again counts the bytes of both attempts;
// its start and duration are the second's (the replica is as of its
// snapshot).
func (j *Job) RunPassWith(ctx context.Context, opts PassOptions) (PassResult, error) {
	ctx = vsphere.WithBusyNotice(ctx, func(msg string) { j.emit(Event{Kind: EventWarning, Msg: msg, Transient: true}) })
	res, err := j.runPass(ctx, opts, true)
	if errors.Is(err, ErrSnapshotRemoved) && ctx.Err() == nil {
		j.emit(Event{Kind: EventWarning, Msg: fmt.Sprintf("%v; the pass starts again in a new snapshot", err)})
		first := res.Counters
		res, err = j.runPass(ctx, opts, false)
		res.Counters = addCounters(first, res.Counters)
	}
	if errors.Is(err, ErrDetached) || errors.Is(err, ErrNoReplicaDisk) {
		j.detached = true
	}
	return res, err
}

// runPass is one attempt of RunPassWith; the first one's ErrSnapshotRemoved
// is not reported as an error (RunPassWith starts the pass again).
func (j *Job) runPass(ctx context.Context, opts PassOptions, first bool) (PassResult, error) {
	final := opts.Final
	if opts.Urgent && j.Limiter != nil {
		// Inside the downtime window: the shared cap serves this pass first.
		defer j.Limiter.Urgent()()
	}
	j.loadCache()
	disks, err := j.Source.Disks(ctx)
	if err != nil {
		return PassResult{}, fmt.Errorf("%s: list disks: %w", j.VM, err)
	}
	states := make([]DiskState, len(disks))
	resume := ""
	for i, d := range disks {
		if states[i], err = j.State.Disk(diskStateKey(j.VM, d.Key)); err != nil {
			return PassResult{}, err
		}
		if states[i], err = j.grown(ctx, d, states[i]); err != nil {
			return PassResult{}, fmt.Errorf("%s: %w", j.VM, err)
		}
		if states[i].Pass != "" && !final {
			resume = states[i].Pass
		}
	}
	if err := j.added(ctx, disks); err != nil {
		return PassResult{}, fmt.Errorf("%s: %w", j.VM, err)
	}
	if j.detached && j.Reattach != nil {
		j.emit(Event{Kind: EventWarning, Msg: "a replica disk was not attached to the receiver appliance in the last pass: hot-adding the replica disks to it again"})
		if err := j.Reattach(ctx); err != nil {
			return PassResult{}, fmt.Errorf("%s: hot-add the replica disks to the receiver appliance again: %w", j.VM, err)
		}
		j.detached = false
	}
	// No snapshot of the source while the replicas could not be written.
	if j.Room != nil {
		defer j.Room.Release(j.VM)
	}
	if err := j.checkRoom(ctx, 0, true); err != nil {
		return PassResult{}, fmt.Errorf("%s: %w", j.VM, err)
	}
	if final {
		// Where every pass starts (PhaseSnapshot), but a powered-off VM's
		// disks are read as they are: no snapshot (QA h9: the cutover's
		// timeline read "WebApp1: snapshot" inside the downtime window).
		j.emit(Event{Kind: EventPhase, Phase: PhaseSnapshot, Msg: "open the disks (no snapshot: the VM is powered off)"})
	} else {
		j.emit(Event{Kind: EventPhase, Phase: PhaseSnapshot})
	}
	start := time.Now()
	snap, err := j.Source.Open(ctx, resume, final)
	if errors.Is(err, ErrSnapshotGone) {
		snap, err = j.Source.Open(ctx, "", final)
	}
	if err != nil {
		return PassResult{}, fmt.Errorf("%s: open pass: %w", j.VM, err)
	}
	// The replica holds the source as of the snapshot: a pass resumed in
	// the snapshot a killed ferry left dates from that snapshot (its last
	// pass, lag and RPO), not from now; its duration is this process's.
	asOf := start
	if ts, ok := snap.(interface{ Taken() time.Time }); ok && !ts.Taken().IsZero() && ts.Taken().Before(start) {
		asOf = ts.Taken()
	}
	res := PassResult{Kind: PassIncremental, Start: asOf}
	var p *pass
	var resumedCompare compareCounts // what an earlier process compared
	for attempt := 0; ; attempt++ {
		res.Attempts = attempt + 1
		p = &pass{job: j, snap: snap, disks: disks, states: states, final: final, urgent: opts.Urgent, compare: opts.Compare, compared: opts.Compare, start: time.Now(), touched: map[string][]int64{}}
		err = p.run(ctx)
		res.Counters = addCounters(res.Counters, p.counters())
		if attempt == 0 {
			// What an earlier process made durable; a retry's own
			// Resumed is this process's Acked already.
			res.Counters.Resumed = p.resumed.Load()
			resumedCompare = p.cmpTot
		}
		if err == nil || ctx.Err() != nil || !retryable(err) || attempt >= j.retries() {
			break
		}
		j.emit(Event{Kind: EventError, Err: err, Msg: fmt.Sprintf("attempt %d failed, reconnecting", attempt+1)})
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Duration(250<<attempt)*time.Millisecond, 10*time.Second)):
		}
		for i, d := range disks {
			states[i], _ = j.State.Disk(diskStateKey(j.VM, d.Key))
		}
		if r, ok := snap.(reconnector); ok {
			r.Reconnect(ctx)
		}
	}
	if err != nil {
		if ctx.Err() == nil || errors.Is(context.Cause(ctx), ErrPaused) {
			// Do not leave a snapshot growing on the source VM after a failure
			// or while paused; the next pass starts over from the same base
			// changeId. (A killed sender keeps it and resumes in it.)
			_ = snap.Release(context.WithoutCancel(ctx))
		}
		if (ctx.Err() == nil || errors.Is(context.Cause(ctx), ErrPaused)) && !(first && errors.Is(err, ErrSnapshotRemoved)) {
			// A pass stopped with its ferry (a signal, the wizard quit)
			// did not fail: it resumes in its snapshot next time.
			j.emit(Event{Kind: EventError, Err: err})
		}
		j.emit(Event{Kind: EventPhase, Phase: PhaseIdle})
		return res, fmt.Errorf("%s: pass: %w", j.VM, err)
	}
	res.Kind = p.passKind()
	if final {
		j.cache.mu.Lock()
		j.cache.touched = p.touched
		j.cache.mu.Unlock()
	}
	j.emit(Event{Kind: EventPhase, Phase: PhaseRelease})
	if err := snap.Release(ctx); err != nil {
		// The pass is committed; the next pass deletes a leftover snapshot,
		// or consolidates the delta a removal could not merge.
		msg := "pass snapshot not deleted; the next pass retries"
		if errors.Is(err, ErrNotConsolidated) {
			msg = "pass snapshot removed, its delta disk not consolidated; the next pass consolidates first"
		}
		j.emit(Event{Kind: EventError, Err: err, Msg: msg})
	}
	res.Duration = time.Since(start)
	// One transaction: a pause or hold of the job stored while this pass
	// ran stays (read here and written back, it was lost).
	var rec VMState
	if err := j.State.UpdateVM(j.VM, func(vs *VMState) error {
		vs.Waiting = "" // a pass completed
		vs.NotePass(asOf, start, res.Duration, res.Kind, res.Counters, p.compared)
		if s := res.Duration.Seconds(); s > 0 && res.Counters.Planned > 0 && !p.compared {
			// A pass with nothing to copy measured no throughput; a full
			// compare reads every block and sends little: its bytes sent
			// over its time are no throughput either.
			vs.LastRate = float64(res.Counters.Sent) / s
		}
		if p.compared {
			t := p.cmpTot
			res.Compare = &CompareResult{Time: asOf, Duration: res.Duration, Blocks: t.Blocks, Differing: t.Differing, Repaired: t.Repaired, Unreported: t.Unreported,
				Resumed: resumedCompare.Resumed, ResumedBlocks: resumedCompare.ResumedBlocks,
				StartedOver: t.StartedOver, EarlierDiffering: t.EarlierDiffering, EarlierRepaired: t.EarlierRepaired, EarlierUnreported: t.EarlierUnreported}
			vs.LastCompare = res.Compare
			if vs.CompareNeeded {
				// Every block was compared and what differed was sent and
				// read back: the replica equals this snapshot of its source,
				// so the mismatch that paused the job is mended.
				vs.CompareNeeded, vs.Mismatch = false, ""
				if vs.Paused && vs.Failed {
					vs.Paused, vs.Failed, vs.PausedReason = false, false, ""
				}
			}
		}
		rec = *vs
		return nil
	}); err != nil {
		return res, err
	}
	j.cache.mu.Lock()
	j.cache.vs = rec
	j.cache.mu.Unlock()
	res.Number = rec.PassCount
	j.emit(Event{Kind: EventPassDone, Pass: p.eventKind(res.Kind), Number: rec.PassCount, Took: res.Duration, Counters: res.Counters, Compression: p.compression(), Rate: p.rate()})
	if res.Compare != nil {
		j.emit(Event{Kind: EventCompared, Compare: res.Compare, Msg: "full compare: " + res.Compare.Summary()})
	}
	j.emit(Event{Kind: EventPhase, Phase: PhaseIdle})
	return res, nil
}

// grown handles a source disk found larger than it was at the last pass
// (vSphere extends disks, and never shrinks them): the replica disk is
// extended to match (Grow), the sender's digest map gets the digests of
// zeros for the new blocks (a thin extension reads as zeros on both sides;
// the guest's writes there since are changes that changed block tracking
// reports), and the disk's record its new size. No full sync follows.
// It returns the disk's record as the pass is to find it.
func (j *Job) grown(ctx context.Context, d Disk, st DiskState) (DiskState, error) {
	switch {
	case st.Size == 0 || st.Size == d.Capacity:
		return st, nil
	case d.Capacity < st.Size:
		return st, fmt.Errorf("%s is %s at the source, less than the %s it was replicated at: a virtual disk does not shrink; select the VM again to replicate it anew",
			d.Name(), sizeText(d.Capacity), sizeText(st.Size))
	case j.Grow == nil:
		return st, fmt.Errorf("%s was extended at the source from %s to %s, and this job cannot extend its replica disk", d.Name(), sizeText(st.Size), sizeText(d.Capacity))
	}
	from := st.Size
	j.emit(Event{Kind: EventWarning, Disk: d.Key, Msg: fmt.Sprintf("%s was extended at the source from %s to %s: extending its replica disk to match (no full sync)", d.Name(), sizeText(from), sizeText(d.Capacity))})
	if err := j.Grow(ctx, d, from); err != nil {
		return st, fmt.Errorf("%s was extended at the source from %s to %s: extend its replica disk: %w", d.Name(), sizeText(from), sizeText(d.Capacity), err)
	}
	key := diskStateKey(j.VM, d.Key)
	n := int((d.Capacity + HashBlock - 1) / HashBlock)
	zero := zeroDigests(d.Capacity)
	blocks := map[int]uint64{}
	first := int(from / HashBlock)
	if from%HashBlock != 0 {
		blocks[first] = 0 // holds more now: known again once a pass sends it
		first++
	}
	for b := first; b < n; b++ {
		blocks[b] = zero[b]
	}
	if err := j.State.PutDigests(key, n, blocks); err != nil {
		return st, err
	}
	st.Size, st.GrewFrom = d.Capacity, min(from, cmp.Or(st.GrewFrom, from))
	return st, j.State.PutDisk(key, st)
}

// added has the replica disks of disks added to the source since the job
// was made prepared (AddDisks): the pass gives each an initial sync.
func (j *Job) added(ctx context.Context, disks []Disk) error {
	var added []Disk
	var names []string
	for _, d := range disks {
		if j.Replicas[d.Key] == "" {
			added = append(added, d)
			names = append(names, fmt.Sprintf("%s (%s)", d.Name(), sizeText(d.Capacity)))
		}
	}
	if len(added) == 0 {
		return nil
	}
	what := strings.Join(names, ", ")
	if j.AddDisks == nil {
		return fmt.Errorf("%s added to the source, and this job cannot make replica disks", what)
	}
	j.emit(Event{Kind: EventWarning, Msg: what + " added to the source: making its replica disk; it gets an initial sync"})
	reps, err := j.AddDisks(ctx, added)
	if err != nil {
		return fmt.Errorf("%s added to the source: make its replica disk: %w", what, err)
	}
	all := maps.Clone(j.Replicas)
	if all == nil {
		all = map[string]string{}
	}
	for _, d := range added {
		if reps[d.Key] == "" {
			return fmt.Errorf("%s added to the source: no replica disk was prepared for it", d.Name())
		}
		all[d.Key] = reps[d.Key]
	}
	j.Replicas = all
	return nil
}

// sizeText is a disk size in IEC units with up to two decimals, so that
// two sizes a message compares read apart ("16 MiB", "16.5 MiB").
func sizeText(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v, u = v/1024, u+1
	}
	s := strings.TrimRight(strings.TrimRight(strconv.FormatFloat(v, 'f', 2, 64), "0"), ".")
	return s + " " + units[u]
}

func (j *Job) retries() int {
	if j.Retries <= 0 {
		return 5 // with the backoff: about 8 s for a receiver to come back
	}
	return j.Retries
}

func addCounters(a, b Counters) Counters {
	return Counters{Planned: max(a.Planned, b.Planned), Read: a.Read + b.Read, Sent: a.Sent + b.Sent, Payload: a.Payload + b.Payload,
		ZeroSkipped: a.ZeroSkipped + b.ZeroSkipped, Matched: a.Matched + b.Matched, Acked: a.Acked + b.Acked,
		Checked: a.Checked + b.Checked, Resent: a.Resent + b.Resent, Resumed: a.Resumed}
}
