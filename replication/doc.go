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
//	_ = sched.Add(job, 15*time.Minute)                                       // RPO: 1m to 24h
//	go sched.Run(ctx)                                                         // initial sync, then a pass per RPO
//	...
//	sched.PassNow("WebApp1")                // last precopy while the VM runs
//	// shut the VM down, then:
//	res, err := sched.FinalPass(ctx, "WebApp1") // pass with the VM off, no snapshot, then whole-disk verify
//
// A Job can also be driven directly: job.RunPass(ctx, final) and job.Verify(ctx).
//
// # A pass
//
// Source.Open takes a snapshot (memory=false, quiesce=false); per disk the
// engine asks the receiver for its state, picks the kind of pass (initial:
// changeId "*"; incremental: changes since the last committed changeId;
// full-compare: when CBT cannot answer or the receiver is not at our base),
// plans range reads (extents merged across gaps <= 256 KiB into reads <= 1
// MiB; only the changed parts are sent), sends data / zero-run frames over
// Conns TLS connections with a bounded window, and commits on both sides;
// then the snapshot is deleted and the changeId kept.
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
// full-compare pass, never a blind incremental one. Each pass attempt is a
// sender session: the receiver closes and drains the connections of an older
// session of the same VM before the new one writes, so frames of a killed
// sender cannot land after newer data.
package replication
