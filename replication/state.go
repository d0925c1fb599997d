package replication

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// PassKind says how a pass finds what to send.
type PassKind string

const (
	PassInitial     PassKind = "initial"      // first copy: all allocated areas
	PassIncremental PassKind = "incremental"  // CBT changes since the last committed changeId
	PassFullCompare PassKind = "full-compare" // no usable CBT: hash every block, send mismatches
	PassFinal       PassKind = "final"        // VM powered off, no snapshot
)

// DiskState is what each side persists per disk (sender and receiver keep
// the same record).
type DiskState struct {
	Committed string   `json:",omitempty"` // changeId of the last committed pass
	Pass      string   `json:",omitempty"` // pass in flight (snapshot id)
	Base      string   `json:",omitempty"`
	Target    string   `json:",omitempty"` // changeId the pass in flight reaches
	Kind      PassKind `json:",omitempty"`
	Watermark int64    `json:",omitempty"` // all planned data below this offset is durable at the receiver
	// Acked (sender) are ranges above Watermark in which all planned data
	// is durable at the receiver too: blocks it acknowledged (after its
	// fdatasync) out of disk order, over the pass's other connections,
	// while a block before them was not yet. Sorted and disjoint; at most
	// maxAckedRanges (the first ones: a range left out is sent again). A
	// pass resumed in the same snapshot sends them no more than what lies
	// below the watermark (it reads and checks them). A record without it
	// (an older ferry's) resumes from the watermark.
	Acked []Extent `json:",omitempty"`
	// Carry (sender) is what passes from the same Base that did not
	// commit (paused, failed, or their snapshot removed: passes in other
	// snapshots) made durable at the receiver, oldest first: in each
	// tier's ranges the replica holds the source as of its From changeId
	// (the target of the pass that last made them durable). A pass from
	// that Base in a new snapshot sends there only what changed since
	// From, and reads and checks the rest (its counters count it resumed):
	// a paused initial sync does not start over. The tiers are disjoint;
	// at most maxCarryTiers (the oldest merged, with the oldest From) of
	// at most maxAckedRanges/maxCarryTiers ranges (a range left out is
	// sent again).
	Carry []CarryTier `json:",omitempty"`
	// Progress (sender) is the pass's bytes on the disk: what it covers
	// and what of it is durable at the receiver, as the run counts them
	// (nil: a record of an older ferry, or no pass in flight).
	Progress *DiskProgress `json:",omitempty"`
	Size     int64         `json:",omitempty"`
	// GrewFrom (sender) is the size the disk had before it was extended
	// at the source, until a pass commits at its new size: when it ended
	// inside a HashBlock, that block is read and sent again.
	GrewFrom int64     `json:",omitempty"`
	File     string    `json:",omitempty"` // receiver: replica flat file, relative to its directory
	Updated  time.Time `json:",omitzero"`
}

// CarryTier is ranges of a replica that hold the source as of From (a
// changeId) or later: DiskState.Carry.
type CarryTier struct {
	From   string
	Ranges []Extent
}

// carried is the union of tiers' ranges (sorted, disjoint).
func carried(tiers []CarryTier) []Extent {
	var out []Extent
	for _, t := range tiers {
		for _, e := range t.Ranges {
			out = withRange(out, e)
		}
	}
	return out
}

// DiskProgress is a pass's bytes on one disk, as its run counts them: Of
// is what the pass covers (Counters.Resumed+Counters.Planned of the disk),
// Durable what of it the receiver acknowledged durable, by this attempt or
// an earlier one (Resumed+Acked): what a resumed pass does not send again.
type DiskProgress struct {
	Of      int64 `json:",omitempty"`
	Durable int64 `json:",omitempty"`
}

// Durable is how much of the pass in flight on the disk is durable at the
// receiver, of how much: the bytes the run counted (Progress), or, in an
// older ferry's record, the watermark's offset of the disk's size.
func (d DiskState) Durable() (durable, of int64) {
	if d.Progress != nil {
		return d.Progress.Durable, d.Progress.Of
	}
	// Also the record of a pass in a new snapshot before it planned its
	// disk: what it carries of the passes before it (QA: ferry status
	// would have said nothing of the disk was durable).
	return totalLength(withRange(carried(d.Carry), Extent{0, d.Watermark})), d.Size
}

// VMState is the sender's per-VM record.
type VMState struct {
	LastPass     time.Time     `json:",omitzero"` // snapshot time of the last complete pass
	LastDuration time.Duration `json:",omitempty"`
	LastPlanned  int64         `json:",omitempty"` // bytes planned by the last incremental pass
	// LastIncremental is the snapshot time of that pass (zero: none
	// recorded, or a record from before it was kept): with it, a
	// LastPlanned of 0 says the pass found nothing changed.
	LastIncremental time.Time     `json:",omitzero"`
	LastRate        float64       `json:",omitempty"` // wire bytes/s of the last pass that had something to copy
	LastInterval    time.Duration `json:",omitempty"` // time between the last two complete passes' snapshots
	// IncrementalInterval is the time between the snapshot of the last
	// incremental pass (LastIncremental) and the pass before it: the time
	// in which the guest wrote LastPlanned. LastInterval is not: a final
	// pass or a full compare after that pass moves it, and a change rate
	// of LastPlanned over a final pass's interval (the guest's shutdown,
	// under a second) read as megabytes a second (QA: a projected final
	// pass of 3 minutes for a lab VM). Zero: not recorded (an older
	// ferry's record).
	IncrementalInterval time.Duration `json:",omitempty"`
	// IncrementalDuration is how long that incremental pass took.
	IncrementalDuration time.Duration `json:",omitempty"`
	// LastFinal says the last complete pass was a cutover's final pass on
	// the powered-off source: the interval before the next pass spans the
	// cutover's window (the source down, rolled back, booted), not the
	// guest's ordinary writing, and is no change rate's.
	LastFinal bool `json:",omitempty"`
	// LargestPass is the complete pass that sent the most data, usually
	// the initial sync: the one recorded pass large enough to measure how
	// fast passes copy when the others are small, mostly their fixed cost
	// (snapshot, changed-block query, connections, commit; CI: passes of
	// 448 KiB in 1.2 to 2.2 s measured 400 KiB/s on a link that moves tens
	// of MiB/s). A full compare, which reads every block and sends little,
	// is not counted, nor a cutover's final pass (its report records it).
	// Nil: none recorded (an older ferry's record, or no
	// pass that sent data).
	LargestPass *LargestPass `json:",omitempty"`
	// PassCount counts the VM's complete passes (NotePass), so that pass
	// numbers go on across ferry processes (0: none, or a record from
	// before it was kept).
	PassCount    int    `json:",omitempty"`
	Paused       bool   `json:",omitempty"`
	PausedReason string `json:",omitempty"`
	// Failed says a failed pass paused the job (not a request).
	Failed bool `json:",omitempty"`
	// Held says ferry holds the job for its own work (its cutover, a test
	// migration), not the operator nor a failure: PausedReason says why.
	// Paused is set too, so that a ferry that predates Held keeps the job
	// paused.
	Held Hold `json:",omitempty"`
	// CompareNeeded says a verify found the replica differs from its
	// source (PauseForMismatch): the job is paused and its next pass is a
	// full compare, which repairs what differs; once that compare
	// completes, the job is no longer paused.
	CompareNeeded bool `json:",omitempty"`
	// Mismatch is what that verify found, kept until the full compare
	// completes (PausedReason goes when the job is resumed for it).
	Mismatch string `json:",omitempty"`
	// LastCompare is the last full compare of the replica with its source
	// (nil: none yet).
	LastCompare *CompareResult `json:",omitempty"`
	// Waiting says why the last pass did not run, or stopped, without
	// pausing the job (someone else's snapshot on the source, too little
	// room for a pass snapshot), until a pass completes ("": none).
	Waiting string `json:",omitempty"`
}

// LargestPass is a pass recorded for its throughput (VMState.LargestPass).
type LargestPass struct {
	Kind PassKind
	// Start is when the pass started (as LastIncremental is).
	Start time.Time
	// Data is what the pass sent as data: the bytes it planned less the
	// zero runs it did not send (Counters.Planned less ZeroSkipped). Zeros
	// cost a pass next to nothing on the wire: counted, an initial sync of
	// a mostly empty disk would measure a rate no guest's writes copy at.
	Data     int64
	Duration time.Duration
}

// Hold is what ferry holds a job's passes for: work of its own that needs
// the replica still, as opposed to an operator's pause or a failed pass.
type Hold string

const (
	// HoldCutover: the VM's cutover owns the replica. Past its final pass
	// it gives the replica disks to the target VM: no pass may write them
	// until the cutover has finished or given them back (a rollback).
	HoldCutover Hold = "cutover"
	// HoldTestMigration: a test migration freezes the replica (a snapshot
	// of the receiver appliance) between two passes; replication goes on
	// once the snapshot is taken.
	HoldTestMigration Hold = "test migration"
)

// legacyHolds are the reasons ferry recorded for its holds before
// VMState.Held existed, when a hold was stored as a pause with its reason:
// such a record reads as the hold it was.
var legacyHolds = map[string]Hold{
	"held by its cutover": HoldCutover,
	"held while its test migration freezes the replica (a snapshot of the receiver appliance)": HoldTestMigration,
}

// upgrade reads a record stored before VMState.Held existed as it would
// be stored now.
func (v *VMState) upgrade() {
	if v.Paused && !v.Failed && v.Held == "" {
		v.Held = legacyHolds[v.PausedReason]
	}
}

// CompareResult is what a full compare found: every block of every disk of
// the pass's source snapshot against the replica as of that pass (read
// back, not taken from the receiver's digest map).
type CompareResult struct {
	Time     time.Time     `json:"time"`        // snapshot time of the compared pass
	Duration time.Duration `json:"duration_ns"` // of the whole pass
	Blocks   int64         `json:"blocks"`      // blocks compared (HashBlock each, the last one of a disk shorter)
	// Differing blocks held something else than the source although changed
	// block tracking reported no change there (corruption, writes behind
	// ferry's back, or changes CBT missed); Repaired of them were re-sent and
	// checked. Blocks CBT reported changed are sent by the pass, not counted.
	Differing int64 `json:"differing"`
	Repaired  int64 `json:"repaired"`
	// Unreported blocks held what the sender's map recorded but not the
	// source's data: the source changed there without changed block
	// tracking reporting it for the pass (on vSphere, whose snapshots are
	// frozen, a change CBT missed), or an ordinary pass wrote part of a
	// block whose rest was already wrong. They were sent too.
	Unreported int64 `json:"unreported,omitempty"`
	// Resumed says the compare went on with an interrupted one (its
	// process killed or stopped) of the same pass, from the last block
	// that one had durably compared: ResumedBlocks of Blocks were compared
	// before the interruption and not read again (what they held is in
	// the counts above).
	Resumed       bool  `json:"resumed,omitempty"`
	ResumedBlocks int64 `json:"resumed_blocks,omitempty"`
	// StartedOver says the compare went on with an interrupted one that
	// could not be resumed where it stopped (its snapshot was gone, say),
	// so it compared from block 0 again (a new snapshot). What the
	// interrupted attempt had found were real repairs of the replica: the
	// counts above include them, each block once (a block it found whose
	// repair it had not checked is not counted again when this compare
	// finds it too), and Earlier* give them apart.
	StartedOver       bool  `json:"started_over,omitempty"`
	EarlierDiffering  int64 `json:"earlier_differing,omitempty"`
	EarlierRepaired   int64 `json:"earlier_repaired,omitempty"`
	EarlierUnreported int64 `json:"earlier_unreported,omitempty"`
}

// EarlierText says, for a compare that started over after an interrupted
// attempt (StartedOver), what that attempt had found, which the counts
// include; "" otherwise.
func (c *CompareResult) EarlierText() string {
	if c == nil || !c.StartedOver {
		return ""
	}
	if c.EarlierDiffering == 0 && c.EarlierUnreported == 0 {
		return "started over after an interruption (the interrupted attempt had found nothing)"
	}
	s := fmt.Sprintf("started over after an interruption; %d differing and %d repaired of these found by the interrupted attempt", c.EarlierDiffering, c.EarlierRepaired)
	if c.EarlierUnreported > 0 {
		s += fmt.Sprintf(", %d unreported", c.EarlierUnreported)
	}
	return s
}

// Summary is the result in one line.
func (c *CompareResult) Summary() string {
	if c == nil {
		return "never"
	}
	return c.Time.Local().Format("2006-01-02 15:04:05") + ": " + c.Findings()
}

// Findings is Summary without the time: what the compare found.
func (c *CompareResult) Findings() string {
	s := fmt.Sprintf("%d blocks compared, %d differing, %d repaired", c.Blocks, c.Differing, c.Repaired)
	if c.Unreported > 0 {
		s += fmt.Sprintf(", %d unreported (changed at the source without CBT reporting it, or already wrong in the replica), sent again", c.Unreported)
	}
	if c.Resumed {
		s += fmt.Sprintf("; resumed after an interruption (%d blocks compared before it, not read again)", c.ResumedBlocks)
	}
	if t := c.EarlierText(); t != "" {
		s += "; " + t
	}
	return s
}

// compareProgress is how far the scan of one disk in a full compare (or a
// full-compare pass) got, kept by the sender so that a compare interrupted
// by a kill resumes its scan instead of starting at block 0. It belongs to
// one pass (snapshot, base and target changeIds, kind); a pass that does not
// match starts over.
type compareProgress struct {
	Pass   string   `json:",omitempty"`
	Base   string   `json:",omitempty"`
	Target string   `json:",omitempty"`
	Kind   PassKind `json:",omitempty"`
	// Compare: the pass is a full compare (PassOptions.Compare), not only
	// a full-compare pass.
	Compare bool `json:",omitempty"`
	// Next: every block below it was compared, repaired where it differed,
	// read back equal to the source, and its digest is in the sender's map
	// (written in the same transaction).
	Next int64 `json:",omitempty"`
	// Differing and Unreported count the blocks of the scan found so, each
	// recorded before its repair was sent (so a block repaired by an
	// interrupted run is counted although it reads back right after);
	// Repaired counts the differing blocks below Next.
	Differing  int64 `json:",omitempty"`
	Unreported int64 `json:",omitempty"`
	Repaired   int64 `json:",omitempty"`
	// Found holds the blocks at or above Next found differing (true) or
	// unreported (false): a resumed scan does not count them again, and
	// counts a differing one repaired once it is checked.
	Found map[int64]bool `json:",omitempty"`
	// Earlier is what attempts of this compare interrupted in other passes
	// found on the disk before this scan started over (nil: none); the
	// counts above do not include it.
	Earlier *earlierFindings `json:",omitempty"`
}

// StateStore is a small bbolt database of DiskState (and VMState) records,
// file mode 0600.
type StateStore struct {
	db *bolt.DB
}

var (
	bucketDisks = []byte("disks")
	bucketVMs   = []byte("vms")
	bucketMeta  = []byte("meta")
	// bucketDigests holds per-disk block digest maps in chunks of
	// digestChunk blocks: key "<disk key>#<chunk, 8 hex digits>", value
	// 8 bytes (big endian xxh3) per block, 0 = not known.
	bucketDigests = []byte("digests")
	// bucketCompares holds the sender's compareProgress per disk key.
	bucketCompares = []byte("compares")
	keyOwner       = []byte("owner")
)

// OpenState opens or creates the state database at path.
func OpenState(path string) (*StateStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, NoFreelistSync: true})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrStoreBusy, path)
	}
	if err != nil {
		return nil, openStateError(path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDisks, bucketVMs, bucketMeta, bucketDigests, bucketCompares} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &StateStore{db: db}, nil
}

// ErrStoreDamaged says a store's file is there but cannot be read as a
// store: damaged, truncated, or another kind of file.
var ErrStoreDamaged = errors.New("cannot be read as a replication store: it is damaged, or not one")

// openStateError is the error of opening the store at path: the system's
// (a permission, a missing directory) as it is, anything the store's
// format refuses as ErrStoreDamaged.
func openStateError(path string, err error) error {
	var pe *fs.PathError
	var errno syscall.Errno
	if errors.As(err, &pe) || errors.As(err, &errno) {
		return fmt.Errorf("open replication store %s: %w", path, err)
	}
	return fmt.Errorf("replication store %s %w (%v)", path, ErrStoreDamaged, err)
}

// ErrStoreBusy is returned by ReadOwner when another process holds the store.
var ErrStoreBusy = errors.New("replication store is in use by another ferry process")

// Owner is what the store is bound to (the sender: the itinerary's state
// file); "" until SetOwner.
func (s *StateStore) Owner() (string, error) {
	var owner string
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil { // a read-only view of an older store has none
			owner = string(b.Get(keyOwner))
		}
		return nil
	})
	return owner, err
}

// SetOwner binds the store to owner.
func (s *StateStore) SetOwner(owner string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyOwner, []byte(owner)) })
}

// OpenStateReadOnly opens the store at path for reading only (a shared
// lock: it changes nothing and does not stop a writer that comes later); it
// waits at most wait for a process that holds the store, then returns
// ErrStoreBusy.
func OpenStateReadOnly(path string, wait time.Duration) (*StateStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: wait})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrStoreBusy, path)
	}
	if err != nil {
		return nil, openStateError(path, err)
	}
	return &StateStore{db: db}, nil
}

// ReadOwner reads the owner of the store at path without changing or
// holding it (read-only, shared lock); it waits at most wait for a process
// that holds the store, then returns ErrStoreBusy.
func ReadOwner(path string, wait time.Duration) (string, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: wait})
	if errors.Is(err, bolt.ErrTimeout) {
		return "", fmt.Errorf("%w: %s", ErrStoreBusy, path)
	}
	if err != nil {
		return "", openStateError(path, err)
	}
	defer db.Close()
	var owner string
	err = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil { // stores older than the owner record have none
			owner = string(b.Get(keyOwner))
		}
		return nil
	})
	return owner, err
}

// Close closes the database.
func (s *StateStore) Close() error { return s.db.Close() }

func (s *StateStore) get(bucket []byte, key string, v any) error {
	return s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucket)
		if bk == nil { // a read-only view of a store that never had it
			return nil
		}
		b := bk.Get([]byte(key))
		if b == nil {
			return nil
		}
		return json.Unmarshal(b, v)
	})
}

func (s *StateStore) put(bucket []byte, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), b) })
}

// Disk returns the record of a disk ("vm/diskKey"); zero value if none.
func (s *StateStore) Disk(key string) (DiskState, error) {
	var d DiskState
	err := s.get(bucketDisks, key, &d)
	return d, err
}

// PutDisk stores the record of a disk.
func (s *StateStore) PutDisk(key string, d DiskState) error {
	d.Updated = time.Now().UTC()
	return s.put(bucketDisks, key, d)
}

// DisksWithPrefix returns the disk records whose key starts with prefix.
func (s *StateStore) DisksWithPrefix(prefix string) (map[string]DiskState, error) {
	out := map[string]DiskState{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDisks).Cursor()
		for k, v := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
			var d DiskState
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out[string(k)] = d
		}
		return nil
	})
	return out, err
}

// VMNames lists the VMs the store has a record of, sorted.
func (s *StateStore) VMNames() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketVMs).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// VM returns the record of a VM.
func (s *StateStore) VM(name string) (VMState, error) {
	var v VMState
	err := s.get(bucketVMs, name, &v)
	v.upgrade()
	return v, err
}

// PutVM stores the record of a VM.
func (s *StateStore) PutVM(name string, v VMState) error { return s.put(bucketVMs, name, v) }

// UpdateVM changes the record of a VM with f in one transaction: what
// another writer stored between a read and a write is never lost (a pass
// committing while its job is paused or held wrote back the record it had
// read, without the pause). f's changes are stored unless it returns an
// error, which UpdateVM returns.
func (s *StateStore) UpdateVM(name string, f func(*VMState) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketVMs)
		var v VMState
		if b := bk.Get([]byte(name)); b != nil {
			if err := json.Unmarshal(b, &v); err != nil {
				return err
			}
		}
		v.upgrade()
		if err := f(&v); err != nil {
			return err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return bk.Put([]byte(name), b)
	})
}

// errUnchanged ends an UpdateVM that changes nothing.
var errUnchanged = errors.New("unchanged")

// updateVMIf is UpdateVM whose f reports whether it changed the record
// (false: nothing is written), and reports it.
func (s *StateStore) updateVMIf(name string, f func(*VMState) bool) (bool, error) {
	err := s.UpdateVM(name, func(v *VMState) error {
		if !f(v) {
			return errUnchanged
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return false, nil
	}
	return err == nil, err
}

// PauseForMismatch records that a verify found vm's replica differs from
// its source (err says where): the job is paused as failed with err as its
// reason, and its next pass is a full compare (VMState.CompareNeeded). For a
// job a Scheduler runs, use Scheduler.PauseForMismatch.
func (s *StateStore) PauseForMismatch(vm string, err error) error {
	return s.UpdateVM(vm, func(vs *VMState) error {
		vs.Paused, vs.Failed, vs.PausedReason, vs.CompareNeeded, vs.Held, vs.Mismatch = true, true, err.Error(), true, "", err.Error()
		return nil
	})
}

// Hold records in vm's record that ferry holds its job for h (why says
// why), as Scheduler.Hold does, for a job that no Scheduler of this process
// runs: the next Scheduler to take the job finds it held. It reports
// whether it held the job: one paused already (by the operator, after a
// failure, or held) is left as it is. For a job a Scheduler runs, use
// Scheduler.Hold.
func (s *StateStore) Hold(vm string, h Hold, why string) (bool, error) {
	if h == "" {
		return false, fmt.Errorf("%s: hold for what? (no Hold given)", vm)
	}
	return s.updateVMIf(vm, func(vs *VMState) bool {
		if vs.Paused {
			return false
		}
		vs.Paused, vs.Failed, vs.Held, vs.PausedReason = true, false, h, why
		return true
	})
}

// Release ends a hold of vm's job for h in its record (the job resumes
// when a scheduler next takes it) and reports whether there was one; a job
// paused otherwise (by the operator, a failure) or held for something else
// stays so. For a job a Scheduler runs, use Scheduler.Release.
func (s *StateStore) Release(vm string, h Hold) (bool, error) {
	return s.updateVMIf(vm, func(vs *VMState) bool {
		if !vs.Paused || vs.Held != h {
			return false
		}
		vs.Paused, vs.Failed, vs.Held, vs.PausedReason = false, false, "", ""
		return true
	})
}

// Pause records in vm's record that the operator by paused its job, as
// Scheduler.PauseBy does, for a job that no Scheduler of this process runs
// (`ferry pause` with no ferry running for the plan): the next Scheduler
// to take the job finds it paused. It reports whether it paused the job:
// one paused already (by the operator, after a failure, or held) is left
// as it is. For a job a Scheduler runs, use Scheduler.PauseBy.
func (s *StateStore) Pause(vm, by string) (bool, error) {
	return s.updateVMIf(vm, func(vs *VMState) bool {
		if vs.Paused {
			return false
		}
		vs.Paused, vs.Failed, vs.Held, vs.PausedReason = true, false, "", PausedBy(by)
		return true
	})
}

// Resume ends a pause of vm's job in its record, by the operator or after
// a failure, as Scheduler.Resume does, for a job that no Scheduler of this
// process runs: the next Scheduler to take the job passes it at once (a
// full compare first when a verify found the replica differs:
// CompareNeeded is kept). It reports whether it resumed the job; a hold
// (Held) is left as it is: Release ends it, for the work that took it.
func (s *StateStore) Resume(vm string) (bool, error) {
	return s.updateVMIf(vm, func(vs *VMState) bool {
		if !vs.Paused || vs.Held != "" && !vs.Failed {
			return false
		}
		vs.Paused, vs.Failed, vs.Held, vs.PausedReason = false, false, "", ""
		return true
	})
}

func diskStateKey(vm, disk string) string { return vm + "/" + disk }

// digestChunk is how many block digests one store record holds (64 KiB).
const digestChunk = 8192

func digestKey(disk string, chunk int) []byte { return fmt.Appendf(nil, "%s#%08x", disk, chunk) }

// Digests returns the stored block digest map of a disk (n blocks; 0 =
// not known).
func (s *StateStore) Digests(disk string, n int) ([]uint64, error) {
	out := make([]uint64, n)
	err := s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketDigests)
		if bk == nil {
			return nil
		}
		for c := 0; c*digestChunk < n; c++ {
			v := bk.Get(digestKey(disk, c))
			for i := 0; i+8 <= len(v) && c*digestChunk+i/8 < n; i += 8 {
				out[c*digestChunk+i/8] = binary.BigEndian.Uint64(v[i:])
			}
		}
		return nil
	})
	return out, err
}

// PutDigests stores the digests of blocks (block index -> digest, 0 = not
// known) of a disk of n blocks, in one transaction.
func (s *StateStore) PutDigests(disk string, n int, blocks map[int]uint64) error {
	if len(blocks) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error { return putDigests(tx, disk, n, blocks) })
}

func putDigests(tx *bolt.Tx, disk string, n int, blocks map[int]uint64) error {
	if len(blocks) == 0 {
		return nil
	}
	chunks := map[int][]int{}
	for b := range blocks {
		if b >= 0 && b < n {
			chunks[b/digestChunk] = append(chunks[b/digestChunk], b)
		}
	}
	bk, err := tx.CreateBucketIfNotExists(bucketDigests)
	if err != nil {
		return err
	}
	for c, bs := range chunks {
		size := min(digestChunk, n-c*digestChunk) * 8
		v := make([]byte, size)
		copy(v, bk.Get(digestKey(disk, c)))
		for _, b := range bs {
			binary.BigEndian.PutUint64(v[(b-c*digestChunk)*8:], blocks[b])
		}
		if err := bk.Put(digestKey(disk, c), v); err != nil {
			return err
		}
	}
	return nil
}

// compareProgress returns the progress of the last scan of a disk (zero
// value if none).
func (s *StateStore) compareProgress(disk string) (compareProgress, error) {
	var c compareProgress
	err := s.get(bucketCompares, disk, &c)
	return c, err
}

// CompareInFlight says whether vm has a full compare (PassOptions.Compare)
// in flight: a pass interrupted while it compared, which the next pass
// should go on with as a compare (it resumes the scan).
func (s *StateStore) CompareInFlight(vm string) (bool, error) {
	ic, err := s.InterruptedCompare(vm)
	return ic != nil, err
}

// InterruptedCompare is how far a full compare in flight got, as the
// sender's store records it: for a reader that runs no pass (`ferry
// status`), a compare a stopped or killed ferry left midway, which the next
// pass goes on with (CompareInFlight).
type InterruptedCompare struct {
	// Blocks of the VM's disks were compared (and repaired where they
	// differed) before the interruption, of Total; a compare resumed in
	// the same snapshot does not read them again.
	Blocks int64 `json:"blocks"`
	Total  int64 `json:"total_blocks"`
	// Differing and Unreported blocks were found so far (each recorded
	// before its repair was sent); Repaired of the differing ones were
	// read back right before the interruption.
	Differing  int64 `json:"differing"`
	Repaired   int64 `json:"repaired"`
	Unreported int64 `json:"unreported,omitempty"`
}

// InterruptedCompare returns vm's full compare in flight (nil: none): a
// pass that was comparing when it was interrupted, and what its scans
// (with those of attempts it started over from) had found.
func (s *StateStore) InterruptedCompare(vm string) (*InterruptedCompare, error) {
	disks, err := s.DisksWithPrefix(vm + "/")
	if err != nil {
		return nil, err
	}
	inflight := map[string]bool{}
	for _, d := range disks {
		if d.Pass != "" {
			inflight[d.Pass] = true
		}
	}
	var ic *InterruptedCompare
	var total int64
	for key, d := range disks {
		total += (d.Size + HashBlock - 1) / HashBlock
		c, err := s.compareProgress(key)
		if err != nil {
			return nil, err
		}
		if !c.Compare || !inflight[c.Pass] {
			continue
		}
		if ic == nil {
			ic = &InterruptedCompare{}
		}
		f := c.carry()
		ic.Blocks += c.Next
		ic.Differing += f.Differing
		ic.Repaired += f.Repaired
		ic.Unreported += f.Unreported
	}
	if ic != nil {
		ic.Total = total
	}
	return ic, nil
}

// putCompareProgress stores the progress of a disk's scan together with
// the digests of blocks (of a disk of n blocks) it checked, in one
// transaction: a block below c.Next always has its digest stored.
func (s *StateStore) putCompareProgress(disk string, c compareProgress, n int, blocks map[int]uint64) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := putDigests(tx, disk, n, blocks); err != nil {
			return err
		}
		bk, err := tx.CreateBucketIfNotExists(bucketCompares)
		if err != nil {
			return err
		}
		return bk.Put([]byte(disk), b)
	})
}

// ResetDigests forgets a disk's digest map.
func (s *StateStore) ResetDigests(disk string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketDigests)
		if bk == nil {
			return nil
		}
		prefix := []byte(disk + "#")
		c := bk.Cursor()
		var keys [][]byte
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutAllDigests replaces the digest map of a disk.
func (s *StateStore) PutAllDigests(disk string, ds []uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketDigests)
		if err != nil {
			return err
		}
		for c := 0; c*digestChunk < len(ds); c++ {
			part := ds[c*digestChunk : min(len(ds), (c+1)*digestChunk)]
			v := make([]byte, 8*len(part))
			for i, d := range part {
				binary.BigEndian.PutUint64(v[8*i:], d)
			}
			if err := bk.Put(digestKey(disk, c), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// NotePass records a complete pass in vs: its snapshot's time asOf, its
// start and duration, its kind, its counters, and whether it was a full
// compare. The change rate's measurement (LastPlanned over
// IncrementalInterval) is an incremental pass's, not a full compare's, and
// not the first after a final pass (its interval spans a cutover window:
// the source down, rolled back, booted): those leave the earlier one. A
// pass that sent more data than LargestPass (not a full compare) is the
// new LargestPass (an initial sync or an incremental pass: a cutover's
// final passes are in its report, FitPasses counts them from there).
func (vs *VMState) NotePass(asOf, start time.Time, d time.Duration, kind PassKind, c Counters, compared bool) {
	planned := c.Planned
	if data := c.Planned - c.ZeroSkipped; (kind == PassInitial || kind == PassIncremental) && !compared && data > 0 && d > 0 &&
		(vs.LargestPass == nil || data > vs.LargestPass.Data) {
		vs.LargestPass = &LargestPass{Kind: kind, Start: start, Data: data, Duration: d}
	}
	afterFinal := vs.LastFinal
	vs.LastInterval = 0
	if !vs.LastPass.IsZero() {
		vs.LastInterval = asOf.Sub(vs.LastPass)
	}
	vs.LastPass, vs.LastDuration, vs.LastFinal = asOf, d, kind == PassFinal
	vs.PassCount++
	if kind == PassIncremental && !compared && !afterFinal {
		vs.LastPlanned, vs.LastIncremental = planned, start
		vs.IncrementalInterval, vs.IncrementalDuration = vs.LastInterval, d
	}
}

// ChangeInterval is the time in which the guest wrote LastPlanned (the
// interval before the last incremental pass), and whether it is known: an
// older ferry's record kept only LastInterval, which is that interval
// unless a pass of another kind (a final pass, a full compare) came after
// the incremental one.
func (vs VMState) ChangeInterval() (time.Duration, bool) {
	if vs.IncrementalInterval > 0 {
		return vs.IncrementalInterval, true
	}
	if vs.LastInterval > 0 && (vs.LastIncremental.IsZero() || vs.LastIncremental.Equal(vs.LastPass)) {
		return vs.LastInterval, true
	}
	return 0, false
}
