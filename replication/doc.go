// Package replication is ferry's block-level warm replication engine: it
// copies a running VM's disks to a provider-side Receiver, then keeps the
// replica within an RPO with incremental passes driven by changed block
// tracking, and runs the final pass of a cutover.
//
// # Wiring a VM job
//
//	st, _ := replication.OpenState(filepath.Join(stateDir, "replication.db")) // sender state, 0600
//	rep, _ := replication.Preflight(ctx, vc, vmRef)                           // powered on, CBT, snapshots
//	if !rep.CBTEnabled || len(rep.DisksWithoutCBT) > 0 { replication.EnableCBT(ctx, vc, vmRef) }
//	job := &replication.Job{
//		VM:     "WebApp1",                                  // replica directory at the receiver
//		Source: replication.NewVSphereSource(vc, vmRef),    // vc: *vim25.Client of the on-prem vCenter
//		Addr:   "receiver.example:8444",
//		TLS:    replication.PinnedClientTLS(myCert, receiverFingerprint), // or CATLS(cert, pool, false, host)
//		State:  st,
//		Conns:  4, Window: 64 << 20, Limiter: sharedLimiter, // optional
//	}
//	sched := replication.NewScheduler(2, func(e replication.Event) { ... }) // TUI / headless printer
//	_ = sched.Add(job, 15*time.Minute)                                       // RPO: 1m to 24h (ParseRPO reads a plan's "15m")
//	go sched.Run(ctx)                                                         // initial sync, then a pass per RPO
//	...
//	sched.PassNow("WebApp1")                // last precopy while the VM runs
//	_ = sched.WaitPass(ctx, "WebApp1")      // until that pass completes (WaitIdle, Changed: no polling)
//	// shut the VM down, then:
//	res, err := sched.FinalPass(ctx, "WebApp1") // pass with the VM off, no snapshot, then VerifyFinal
//
// Scheduler.Status gives each job's JobStatus, the one model of a job's
// state: its Phase (replicating, paused, failed, cutting over, cut over)
// and its RPO Health (ok, lagging, missed), derived in one place;
// StoredStatus derives the same from a job's persisted record.
//
// A Job can also be driven directly: job.RunPass(ctx, final),
// job.RunPassWith(ctx, PassOptions{Compare: true}) (a full compare),
// job.VerifyFinal(ctx) after a final pass, and job.Verify(ctx) (whole disks).
//
// # A pass
//
// Source.Open takes a snapshot (memory=false, quiesce=false); per disk the
// engine asks the receiver for its state, picks the kind of pass (initial:
// changeId "*"; incremental: changes since the last committed changeId;
// full-compare: when CBT cannot answer or the receiver is not at our base),
// plans one read per HashBlock (1 MiB) block the changed extents touch
// (only the changed parts are sent), sends data /
// zero-run frames over Conns TLS connections with a bounded window, checks
// what it wrote (below), and commits on both sides; then the snapshot is
// deleted and the changeId kept.
//
// # Verification
//
// Both ends keep a block digest map per disk (xxh3 of each 1 MiB block),
// persisted in their state stores in chunks of 8192 blocks, so that a
// restart of either side does not re-hash a replica.
//
// Every pass checks what it wrote. As blocks become durable at the receiver
// (acknowledged after fdatasync), the sender has it read them back from the
// replica disk, 64 blocks at a time while the rest of the batch is still
// being sent, and compares digests: in an ordinary pass the xxh3 of each
// range the pass wrote (the sender reads only the span of those ranges, so
// reads do not grow with scattered small changes); in a full compare, the
// final pass and for re-sent blocks the whole block's (the sender reads it
// whole). A block that differs is sent again whole and checked again (at
// most 3 times, then the pass fails with ErrVerifyMismatch). Both maps take
// the receiver's read-back digest of the whole block (blocks an initial sync
// does not write are recorded as zero blocks at the sender: what the source
// holds there). A resumed pass reads and checks again the blocks an earlier
// attempt wrote below the watermark, so a digest persisted before a crash is
// either current or checked again before the pass commits.
//
// We chose reading back over a digest computed from the payload before the
// write: the payload's integrity is already checked per frame (xxh3 in the
// header), a payload digest cannot cover the unchanged rest of a partly
// written block without a read anyway, and only a read-back proves the bytes
// landed at the right place on the replica. The cost is a read of the
// touched blocks on both sides (the receiver reads whole blocks); bytes on
// the wire stay the changed bytes. The read-back may be served by the
// receiver's page cache (dropping it would double the receiver's disk
// traffic during an initial sync): it proves that the bytes are at the right
// offsets of the right replica disk as the kernel holds them after
// fdatasync, not that the medium kept them; the full compares below drop the
// cached pages first and read from the disk. Once a block is read back the
// receiver drops its cached pages (clean after the fdatasync): it will not
// read them again, a replica is far larger than the appliance's memory, and
// a sync then recycles a window's worth of page cache instead of allocating
// a new page for every byte it writes. The counters say how many blocks were
// checked and re-sent.
//
// Beneath TLS each connection batches its system calls once the sender is
// authenticated (internal/netbatch): crypto/tls writes every 16 KiB record with its
// own write(2) and reads about one record per read(2); batched, a frame
// crosses the kernel in a few 256 KiB writes and reads.
//
// A receiver connection's fdatasyncs run beside its frame loop, which goes
// on writing the frames that follow: an acknowledgement names only frames
// written before its sync began (one sync may wait while one runs). The
// connections of one replica share fdatasyncs (ReplicaDevice.Sync groups
// them), and once one failed every later one fails: Linux reports a lost
// writeback to one fdatasync only.
//
// A full compare (PassOptions.Compare; the Scheduler runs one right after
// the initial sync, every verify interval, default 24 h, and on demand with
// VerifyNow) is a pass that, besides the changed blocks, reads every other
// block of its snapshot and has the receiver read the same block back from
// the replica (not from its map). A replica block that does not hold what
// the sender's map says it got is counted as differing (corruption, or
// writes behind ferry's back), re-sent and checked (repaired); a block whose
// replica holds what the map says but not the source's data is counted as
// unreported (the source changed without changed block tracking reporting
// it, or an ordinary pass wrote part of a block whose rest was already
// wrong) and re-sent too. The result is kept in the VM's state
// (VMState.LastCompare).
//
// At cutover, VerifyFinal reads the blocks the final pass touched again from
// the powered-off source and compares them with the receiver's read-back and
// the sender's map, then compares the root of both digest maps (BLAKE3 over
// the block digests): its cost follows the final pass, not the disk size.
// The roots prove that the two maps agree; corruption of the replica behind
// the receiver's back after the last full compare is not in either map, and
// only a whole-disk Verify (plan option cutover.full_verify) finds it inside
// the downtime window.
//
// # Resume
//
// The receiver fsyncs before acknowledging; the sender records the durable
// watermark (all planned data below it is on the receiver's disk) in its
// state and sends it to the receiver, which records it too. A pass killed at
// any point resumes in the same snapshot from the watermark; if the snapshot
// is gone the pass is redone from the same base changeId with a new snapshot
// (a superset; writes are idempotent). A failure that is not a cancellation
// deletes the snapshot. A receiver without the expected base forces a
// full-compare pass, never a blind incremental one. A full compare killed
// midway resumes its scan, in the same snapshot, after the last block it had
// settled (compared, repaired, read back and its digest stored: compare.go),
// not at block 0; what it found before the kill stays counted, its result
// says it was resumed (CompareResult.Resumed), and a scheduler started again
// goes on with it as a compare (StateStore.CompareInFlight). A compare of
// another snapshot starts over, and still counts what the interrupted one
// found and repaired, each block once (CompareResult.StartedOver). Each pass attempt is a sender session: the receiver closes and drains the connections of an older
// session of the same VM before the new one writes, so frames of a killed
// sender cannot land after newer data.
//
// # Sources: the vSphere CBT reader is an adapter
//
// The engine reads source disks only through Source and Snapshot
// (source.go): disks, snapshot open and release, changed extents since a
// changeId (ErrCBTReset, ErrSnapshotGone) and range reads. Two adapters
// implement them: VSphereSource (vsphere.go: snapshot, QueryChangedDiskAreas,
// reads of the snapshot's base disk; hostread.go: those reads host-direct
// with service tickets, else through vCenter's /folder proxy) and FileSource
// (filesource.go: image files, for tests and benchmarks). VSphereSource
// stays here rather than in package vsphere on purpose: it implements this
// package's contract, so in vsphere it would make the vSphere client import
// the replication engine (or the contract would have to move to a third
// package). The import stays one way, replication -> vsphere: the adapter
// takes the disk-readability rule from vsphere (DatastoreTypes,
// UnreadableDisks, the rule Preflight and the VM inventory of the VM
// selection apply too), and vsphere imports no ferry package. Nothing but
// this adapter and Preflight talks to vCenter from this package.
//
// # Where each job lives
//
// job.go: the Job API (RunPass, RunPassWith), its defaults, events and the
// retry of failed attempts. pass.go: one attempt of a pass (the kind of pass
// per disk, planning, reading, zero detection, frames, the durable
// watermark). conn.go: the sender's TLS connections (dial and hello, the
// reply/ack reader, the per-connection window of unacknowledged bytes and
// its ack timeout) and Probe. verify.go: checks of what a pass wrote, the
// cutover's VerifyFinal and the whole-disk Verify. receiver.go: the
// Receiver (handshake, then the frame loop) and its replica disks; wire.go:
// the frame format; state.go: both sides' state stores; scheduler.go: RPO
// passes for many jobs.
package replication
