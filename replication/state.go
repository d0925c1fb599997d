package replication

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	Committed string    `json:",omitempty"` // changeId of the last committed pass
	Pass      string    `json:",omitempty"` // pass in flight (snapshot id)
	Base      string    `json:",omitempty"`
	Target    string    `json:",omitempty"` // changeId the pass in flight reaches
	Kind      PassKind  `json:",omitempty"`
	Watermark int64     `json:",omitempty"` // all planned data below this offset is durable at the receiver
	Size      int64     `json:",omitempty"`
	File      string    `json:",omitempty"` // receiver: replica flat file, relative to its directory
	Updated   time.Time `json:",omitempty"`
}

// VMState is the sender's per-VM record.
type VMState struct {
	LastPass     time.Time     `json:",omitempty"` // snapshot time of the last complete pass
	LastDuration time.Duration `json:",omitempty"`
	LastPlanned  int64         `json:",omitempty"` // bytes planned by the last incremental pass
	LastRate     float64       `json:",omitempty"` // wire bytes/s of the last pass
	LastInterval time.Duration `json:",omitempty"` // time between the last two complete passes' snapshots
	Paused       bool          `json:",omitempty"`
	PausedReason string        `json:",omitempty"`
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
	keyOwner    = []byte("owner")
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
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDisks, bucketVMs, bucketMeta} {
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
		return nil, fmt.Errorf("open state %s: %w", path, err)
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
		return "", fmt.Errorf("open state %s: %w", path, err)
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

// VM returns the record of a VM.
func (s *StateStore) VM(name string) (VMState, error) {
	var v VMState
	err := s.get(bucketVMs, name, &v)
	return v, err
}

// PutVM stores the record of a VM.
func (s *StateStore) PutVM(name string, v VMState) error { return s.put(bucketVMs, name, v) }

func diskStateKey(vm, disk string) string { return vm + "/" + disk }
