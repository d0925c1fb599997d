package replication

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/ferry-migrate/ferry/accept"
	"github.com/ferry-migrate/ferry/internal/netbatch"
	"github.com/zeebo/blake3"
	"github.com/zeebo/xxh3"
	"golang.org/x/sys/unix"
)

// Receiver is the provider-side end of replication: it writes extents in
// place into replica disks that the provider vCenter created (through a
// ReplicaWriter: a disk hot-added to the receiver appliance, or the flat
// extent of a disk on an NFS datastore), syncs, acknowledges, keeps a
// block-hash map and answers hash and verify queries. It creates no disk,
// descriptor or datastore file.
//
// Replicas are namespaced by org and VM: a sender names its namespace and,
// per disk, the replica disk (disk UUID or descriptor path) ferry prepared;
// the Authorizer decides whether the sender's identity may write there, and
// a replica disk, once written for one namespace, is never opened for
// another. The receiver state (bbolt) lives in StateDir: per disk
// ("org/vm/device key") the committed changeId, pass in flight, watermark
// and the replica disk it is bound to.
type Receiver struct {
	writer    ReplicaWriter
	authorize Authorizer
	tls       *tls.Config
	log       *slog.Logger
	state     *StateStore

	mu    sync.Mutex
	disks map[string]*replica // by state key "org/vm/diskKey"
	conns map[net.Conn]struct{}
	vms   map[string]*senderSession // latest sender session per namespace
	wg    sync.WaitGroup

	// writeErr, when set (tests), is consulted before each write to simulate
	// a failing or full disk.
	writeErr atomic.Pointer[func(path string, off int64, n int) error]

	blocksRead atomic.Int64 // blocks read from replica disks to compute digests
}

// ReceiverStats are counters of a receiver since it started.
type ReceiverStats struct {
	// BlocksRead is how many HashBlock blocks the receiver read from replica
	// disks to compute their digests (read-backs after writes, full
	// compares, blocks its persisted digest map did not know).
	BlocksRead int64
}

// Stats returns the receiver's counters.
func (r *Receiver) Stats() ReceiverStats { return ReceiverStats{BlocksRead: r.blocksRead.Load()} }

type replica struct {
	key  string
	ref  string // what the sender named: disk UUID or descriptor path
	path string
	dev  *ReplicaDevice
	f    *os.File
	size int64

	mu     sync.Mutex
	hashes []uint64 // per HashBlock; valid[i] says whether hashes[i] is current
	valid  []bool
	writes uint64 // bumped by every write, so a hash read during a write is not cached
	// dirty lists blocks whose digest changed since the map was last
	// persisted (flushDigests).
	dirty map[int]uint64
	read  *atomic.Int64 // the receiver's blocksRead

	directOnce sync.Once
	direct     *os.File // f reopened with O_DIRECT for reads from the disk; nil if not possible
}

// ReceiverConfig configures a Receiver.
type ReceiverConfig struct {
	// StateDir holds the receiver state (created if missing).
	StateDir string
	// Writer opens the replica disks; its preconditions are checked.
	Writer ReplicaWriter
	// TLS must require client certificates (mutual TLS); TLS 1.3 is enforced.
	TLS *tls.Config
	// Authorize says which namespaces a sender may write (CertNamespaces,
	// PinnedNamespaces).
	Authorize Authorizer
	Log       *slog.Logger
}

// NewReceiver checks the writer's preconditions and opens (or creates) the
// receiver state.
func NewReceiver(cfg ReceiverConfig) (*Receiver, error) {
	config := cfg.TLS
	if config == nil || (config.ClientAuth != tls.RequireAndVerifyClientCert && config.ClientAuth != tls.RequireAnyClientCert) {
		return nil, errors.New("receiver TLS config must require client certificates (mutual TLS)")
	}
	if config.ClientAuth == tls.RequireAnyClientCert && config.VerifyPeerCertificate == nil {
		return nil, errors.New("receiver TLS config accepts any client certificate without pinning")
	}
	if cfg.Authorize == nil {
		return nil, errors.New("receiver needs an authorizer: senders are authorised per replica namespace")
	}
	if cfg.Writer == nil {
		return nil, errors.New("receiver needs a replica writer (appliance or nfs)")
	}
	if err := cfg.Writer.Check(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.StateDir == "" {
		return nil, errors.New("receiver needs a state directory")
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	st, err := OpenState(filepath.Join(cfg.StateDir, ".ferry-receiver.db"))
	if err != nil {
		return nil, err
	}
	c := config.Clone()
	c.MinVersion = tls.VersionTLS13
	return &Receiver{writer: cfg.Writer, authorize: cfg.Authorize, tls: c, log: log, state: st,
		disks: map[string]*replica{}, conns: map[net.Conn]struct{}{}, vms: map[string]*senderSession{}}, nil
}

// Serve accepts TLS connections on ln until ctx ends or ln is closed.
func (r *Receiver) Serve(ctx context.Context, ln net.Listener) error {
	tln := tls.NewListener(netbatch.Listener{Listener: ln}, r.tls)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	retry := func(err error, wait time.Duration) {
		r.log.Warn("replication receiver: accept failed; retrying", "err", err, "in", wait)
	}
	for {
		// Out of file descriptors or another passing failure: accept.Next
		// waits and accepts again instead of stopping replication for
		// every VM.
		c, ok := accept.Next(ctx, tln, retry)
		if !ok {
			return nil
		}
		r.mu.Lock()
		if len(r.conns) >= MaxConns {
			r.mu.Unlock()
			r.log.Warn("replication receiver: connection limit reached; closing a new connection", "remote", c.RemoteAddr().String(), "limit", MaxConns)
			c.Close()
			continue
		}
		r.conns[c] = struct{}{}
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.handle(c)
			r.mu.Lock()
			delete(r.conns, c)
			r.mu.Unlock()
		}()
	}
}

// Close drops all connections and closes replica disks and the state.
func (r *Receiver) Close() error {
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.disks {
		d.close()
	}
	r.disks = map[string]*replica{}
	return r.state.Close()
}

// localPath matches an absolute path in an error's text.
var localPath = regexp.MustCompile(`(^|[\s"'(=])(/[^\s:"'()]+)`)

// peerText is an error as the sender may see it: the receiver's local paths
// (its state directory, device paths) become their last element; the log
// keeps the whole error.
func peerText(err error) string {
	return localPath.ReplaceAllStringFunc(err.Error(), func(m string) string {
		sub := localPath.FindStringSubmatch(m)
		return sub[1] + filepath.Base(sub[2])
	})
}

// idleTimeout closes a receiver connection on which nothing arrived for this long.
const idleTimeout = 10 * time.Minute

const (
	// handshakeTimeout bounds the TLS handshake and the hello of a
	// connection not yet authenticated.
	handshakeTimeout = 10 * time.Second
	// preAuthBuffer is each direction's buffer before authentication.
	preAuthBuffer = 4 << 10
	// MaxConns is how many connections the receiver holds at once; more
	// are closed at once (a sender retries), so no flood can exhaust its
	// file descriptors and stop Serve.
	MaxConns = 4096
	// MaxCapacity is the largest virtual disk (VMFS 6: 62 TB).
	MaxCapacity = 62 << 40
)

// validName is the receiver's safe set for org, VM and disk names: 1 to 80
// characters, none of them a control character (newlines included), a
// quote, a backquote, a slash or a backslash, and not ".", ".." or "*".
// vSphere and Cloud Director names outside it are refused with the reason.
func validName(s string) bool {
	if s == "" || len(s) > 80 || s == "." || s == ".." || s == "*" {
		return false
	}
	for _, c := range s {
		if unicode.IsControl(c) || strings.ContainsRune("/\\\"'`", c) || c == utf8.RuneError {
			return false
		}
	}
	return true
}

// openReplica opens the replica disk ref for disk d of org/vm: the one it
// is already open on, or through the writer. A disk stays bound to the
// replica disk it was first written on; a replica disk bound to another
// disk (of any namespace) is refused.
func (r *Receiver) openReplica(org, vm, ref string, d Disk) (*replica, error) {
	key := diskStateKey(org+"/"+vm, d.Key)
	r.mu.Lock()
	defer r.mu.Unlock()
	if rep := r.disks[key]; rep != nil {
		if rep.ref == ref && rep.size == d.Capacity && (rep.dev.Present == nil || rep.dev.Present() == nil) {
			return rep, nil
		}
		// Detached since (and maybe attached again), extended at the
		// source (and its replica disk with it), or ferry named another
		// replica disk for it: open it anew.
		delete(r.disks, key)
		_ = r.flushDigests(rep)
		rep.close()
	}
	dev, err := r.writer.Open(org, vm, ref, d.Capacity)
	if err != nil {
		return nil, err
	}
	if err := r.bind(key, dev.ID); err != nil {
		dev.File.Close()
		return nil, err
	}
	if err := r.grown(key, d.Capacity); err != nil {
		dev.File.Close()
		return nil, err
	}
	n := int((d.Capacity + HashBlock - 1) / HashBlock)
	// The digest map persisted by an earlier run: a restart does not read
	// the whole replica again. Every block a pass writes is read back and
	// its digest stored before that pass commits, so a digest written before
	// a crash is either current or re-read by the pass that resumes.
	hashes, err := r.state.Digests(key, n)
	if err != nil {
		dev.File.Close()
		return nil, err
	}
	valid := make([]bool, n)
	for i, h := range hashes {
		valid[i] = h != 0
	}
	rep := &replica{key: key, ref: ref, path: dev.Path, dev: dev, f: dev.File, size: d.Capacity, hashes: hashes, valid: valid,
		dirty: map[int]uint64{}, read: &r.blocksRead}
	r.disks[key] = rep
	return rep, nil
}

// grown forgets the digest of the last block of disk key when the disk was
// last written at a size that ended inside that block and is now larger:
// the block holds more than the digest covered (the rest reads as zeros
// since the extension; it is read again when a pass needs its digest).
// Every block after it is new, and has no digest yet.
func (r *Receiver) grown(key string, capacity int64) error {
	st, err := r.state.Disk(key)
	if err != nil {
		return err
	}
	switch {
	case st.Size > capacity:
		return fmt.Errorf("disk %s: %d bytes at the source, less than the %d its replica was written at: a virtual disk does not shrink", key, capacity, st.Size)
	case st.Size == 0 || st.Size == capacity || st.Size%HashBlock == 0:
		return nil
	}
	n := int((capacity + HashBlock - 1) / HashBlock)
	return r.state.PutDigests(key, n, map[int]uint64{int(st.Size / HashBlock): 0})
}

// bind records that disk key is written on the replica disk id, refusing a
// replica disk that another disk is bound to.
func (r *Receiver) bind(key, id string) error {
	st, err := r.state.Disk(key)
	if err != nil {
		return err
	}
	if st.File == id {
		return nil
	}
	all, err := r.state.DisksWithPrefix("")
	if err != nil {
		return err
	}
	for k, other := range all {
		if other.File == id && k != key {
			return fmt.Errorf("%w: replica disk %s already holds the replica of %s", ErrForbidden, id, k)
		}
	}
	if st.File != "" {
		// The sender named another replica disk for this disk (ferry made a
		// new one): what the old one held does not count.
		st = DiskState{}
		if err := r.state.ResetDigests(key); err != nil {
			return err
		}
	}
	st.File = id
	return r.state.PutDisk(key, st)
}

func (d *replica) invalidate(off, n int64) {
	d.mu.Lock()
	for b := off / HashBlock; b*HashBlock < off+n && int(b) < len(d.valid); b++ {
		d.valid[b] = false
	}
	d.writes++
	d.mu.Unlock()
}

func (r *Receiver) write(d *replica, p []byte, off int64) error {
	if off < 0 || off > d.size || int64(len(p)) > d.size-off { // no overflow
		return fmt.Errorf("write %d bytes at %d beyond disk size %d", len(p), off, d.size)
	}
	if f := r.writeErr.Load(); f != nil {
		if err := (*f)(d.path, off, len(p)); err != nil {
			return err
		}
	}
	d.invalidate(off, int64(len(p)))
	return writePieces(d.f, p, off)
}

// writePiece is the most a single write(2) of the receiver hands the page
// cache. Linux sizes the page-cache folios of a buffered write after the
// write: a 1 MiB write asks for 1 MiB folios, which come from the large
// free blocks that a virtual machine with free page reporting has handed
// back to its host, so every one of them faults in host memory again. In
// a 4 GiB test on this project's 2-core VM (virtio-balloon free page
// reporting): 1 MiB writes 6.6-7.3 CPU s, 64-256 KiB writes 0.86-1.6 CPU s.
// On a machine without that, smaller writes cost a few more system calls.
const writePiece = 128 << 10

// writePieces writes p at off in writePiece pieces.
func writePieces(f *os.File, p []byte, off int64) error {
	for len(p) > 0 {
		n := min(len(p), writePiece)
		if _, err := f.WriteAt(p[:n], off); err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

var zeroBuf = make([]byte, FrameMax)

func (r *Receiver) zero(d *replica, off, n int64) error {
	if off < 0 || n < 0 || off > d.size || n > d.size-off { // no overflow
		return fmt.Errorf("zero %d bytes at %d beyond disk size %d", n, off, d.size)
	}
	if f := r.writeErr.Load(); f != nil {
		if err := (*f)(d.path, off, int(n)); err != nil {
			return err
		}
	}
	d.invalidate(off, n)
	// Punching a hole keeps the replica sparse; fall back to writing zeros.
	if err := unix.Fallocate(int(d.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n); err == nil {
		return nil
	}
	for n > 0 {
		k := min(n, int64(len(zeroBuf)))
		if err := writePieces(d.f, zeroBuf[:k], off); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}

// blockHashes returns the xxh3 hashes of count HashBlock blocks from block first.
func (d *replica) blockHashes(first, count int, fresh bool) ([]uint64, error) {
	if first < 0 || count < 0 || first+count > len(d.hashes) {
		return nil, fmt.Errorf("hash query blocks %d+%d out of range (%d blocks)", first, count, len(d.hashes))
	}
	blocks := make([]int64, count)
	for i := range blocks {
		blocks[i] = int64(first + i)
	}
	return d.digests(blocks, fresh, fresh)
}

// digests returns the xxh3 digests of the given blocks: from the digest map,
// or (fresh, or not in the map) read back from the replica disk. With
// uncached the bytes come from the disk (readUncached: full compares);
// without, a read-back may be served by the page cache (the per-pass check,
// which would otherwise double the receiver's disk traffic).
func (d *replica) digests(blocks []int64, fresh, uncached bool) ([]uint64, error) {
	out := make([]uint64, len(blocks))
	var buf []byte
	for i, b := range blocks {
		if b < 0 || b >= int64(len(d.hashes)) {
			return nil, fmt.Errorf("digest query: block %d out of range (%d blocks)", b, len(d.hashes))
		}
		d.mu.Lock()
		ok, h, gen := d.valid[b], d.hashes[b], d.writes
		d.mu.Unlock()
		if !ok || fresh {
			if buf == nil {
				buf = alignedBuffer(HashBlock)
			}
			off := b * HashBlock
			n := min(HashBlock, d.size-off)
			read := d.f.ReadAt
			if uncached {
				read = d.readUncached
			}
			if _, err := read(buf[:n], off); err != nil && err != io.EOF {
				return nil, err
			}
			d.read.Add(1)
			if fresh && !uncached { // readUncached dropped its pages already
				d.dropCached(off, n)
			}
			h = xxh3.Hash(buf[:n])
			// Cache only if no write happened while we read.
			d.mu.Lock()
			if d.writes == gen && (!d.valid[b] || d.hashes[b] != h) {
				d.hashes[b], d.valid[b] = h, true
				d.dirty[int(b)] = h
			}
			d.mu.Unlock()
		}
		out[i] = h
	}
	return out, nil
}

// dropCached asks the kernel to drop its cached pages of a range that was
// read back after fdatasync (clean): the receiver checks each block it
// wrote once, then needs none of it again, and a replica disk is far larger
// than the appliance's memory. Without this the page cache grows by every
// byte written until the kernel evicts under pressure, and every page of it
// is a new allocation; dropping what is checked recycles a window's worth of
// pages instead. Dirty pages (a write since) are not dropped: the kernel
// starts their writeback and keeps them.
func (d *replica) dropCached(off, n int64) {
	_ = unix.Fadvise(int(d.f.Fd()), off, n, unix.FADV_DONTNEED)
}

// readBack reads blocks back from the replica and returns their digests
// (which also go into the digest map) and, where ranges names byte ranges
// inside a block, the digests of those ranges.
func (d *replica) readBack(blocks []int64, ranges [][]Extent) ([]uint64, [][]uint64, error) {
	if ranges == nil {
		hs, err := d.digests(blocks, true, false)
		return hs, nil, err
	}
	hs := make([]uint64, len(blocks))
	rhs := make([][]uint64, len(blocks))
	buf := make([]byte, HashBlock)
	for i, b := range blocks {
		if b < 0 || b >= int64(len(d.hashes)) {
			return nil, nil, fmt.Errorf("digest query: block %d out of range (%d blocks)", b, len(d.hashes))
		}
		off := b * HashBlock
		n := min(HashBlock, d.size-off)
		for _, e := range ranges[i] {
			if e.Length <= 0 || e.Offset < off || e.End() > off+n {
				return nil, nil, fmt.Errorf("digest query: range %d+%d outside block %d", e.Offset, e.Length, b)
			}
		}
		d.mu.Lock()
		gen := d.writes
		d.mu.Unlock()
		if _, err := d.f.ReadAt(buf[:n], off); err != nil && err != io.EOF {
			return nil, nil, err
		}
		d.read.Add(1)
		d.dropCached(off, n)
		hs[i] = xxh3.Hash(buf[:n])
		for _, e := range ranges[i] {
			rhs[i] = append(rhs[i], xxh3.Hash(buf[e.Offset-off:e.End()-off]))
		}
		d.mu.Lock()
		if d.writes == gen && (!d.valid[b] || d.hashes[b] != hs[i]) {
			d.hashes[b], d.valid[b] = hs[i], true
			d.dirty[int(b)] = hs[i]
		}
		d.mu.Unlock()
	}
	return hs, rhs, nil
}

// root is digestRoot over the whole digest map (blocks it does not know
// are read), and how many blocks had to be read.
func (d *replica) root() (string, int64, error) {
	before := d.read.Load()
	r := newRootHash()
	for b := 0; b < len(d.hashes); b += maxDigestBlocks {
		hs, err := d.blockHashes(b, min(maxDigestBlocks, len(d.hashes)-b), false)
		if err != nil {
			return "", 0, err
		}
		r.add(hs)
	}
	return r.sum(), d.read.Load() - before, nil
}

// flushDigests persists the digests that changed since the last flush.
func (r *Receiver) flushDigests(d *replica) error {
	d.mu.Lock()
	dirty := d.dirty
	d.dirty = map[int]uint64{}
	d.mu.Unlock()
	if err := r.state.PutDigests(d.key, len(d.hashes), dirty); err != nil {
		d.mu.Lock()
		for b, h := range dirty { // try again at the next flush
			if _, ok := d.dirty[b]; !ok {
				d.dirty[b] = h
			}
		}
		d.mu.Unlock()
		return err
	}
	return nil
}

// digest is the BLAKE3 of the whole replica (the full verify), read from
// the disk in HashBlock pieces (readUncached).
func (d *replica) digest() (string, error) {
	h := blake3.New()
	buf := alignedBuffer(HashBlock)
	for off := int64(0); off < d.size; off += HashBlock {
		n := min(HashBlock, d.size-off)
		if _, err := d.readUncached(buf[:n], off); err != nil && err != io.EOF {
			return "", err
		}
		_, _ = h.Write(buf[:n])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// directAlign is the alignment O_DIRECT reads keep to (offset, length and
// buffer): the largest logical block size a disk has (4Kn).
const directAlign = 4096

// alignedBuffer returns n bytes whose first byte is directAlign-aligned.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+directAlign)
	a := (directAlign - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directAlign)) % directAlign
	return b[a : a+n : a+n]
}

// readUncached reads p at off from the disk itself, not the page cache
// (full compares, the full verify): with O_DIRECT when the file system
// takes it and p and off are aligned (no page is allocated, so a whole-disk
// read neither costs a page per byte nor pushes everything else out of the
// appliance's cache), otherwise through the page cache with the range's
// pages dropped before the read (clean after the caller's fdatasync) and
// after it.
func (d *replica) readUncached(p []byte, off int64) (int, error) {
	d.directOnce.Do(func() {
		// The descriptor's own file, not its path again: after a detach
		// and re-attach the path may name another disk.
		d.direct, _ = os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", d.f.Fd()), os.O_RDONLY|unix.O_DIRECT, 0)
	})
	if d.direct != nil && off%directAlign == 0 && len(p)%directAlign == 0 &&
		uintptr(unsafe.Pointer(unsafe.SliceData(p)))%directAlign == 0 {
		n, err := d.direct.ReadAt(p, off)
		if !errors.Is(err, syscall.EINVAL) { // EINVAL: an alignment this disk does not take
			return n, err
		}
	}
	d.dropCached(off, int64(len(p)))
	n, err := d.f.ReadAt(p, off)
	d.dropCached(off, int64(len(p)))
	return n, err
}

// close closes the replica's descriptors.
func (d *replica) close() {
	d.directOnce.Do(func() {}) // no O_DIRECT descriptor is opened after this
	if d.direct != nil {
		d.direct.Close()
	}
	d.f.Close()
}

func errorCode(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		return "no_space"
	case errors.Is(err, ErrDetached):
		return "detached"
	case errors.Is(err, ErrNoReplicaDisk):
		return "no_replica_disk"
	case errors.Is(err, ErrForbidden):
		return "forbidden"
	}
	return "io"
}

// forget drops a replica disk that went away, so the next sender opens it
// anew (once it is attached again).
func (r *Receiver) forget(d *replica) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.disks[d.key] == d {
		delete(r.disks, d.key)
	}
}

// senderSession is the set of connections of one sender pass attempt.
type senderSession struct {
	id    string
	conns map[net.Conn]chan struct{} // closed when the connection's handler returns
}

// fence makes session the VM's current one: connections of an older
// session (a killed sender, a failed attempt) are closed and their handlers
// waited for, so none of their frames can land after the new session
// starts writing. It returns the function that unregisters c.
func (r *Receiver) fence(vm, session string, c net.Conn) func() {
	done := make(chan struct{})
	r.mu.Lock()
	cur := r.vms[vm]
	// A copy: the old session's handlers delete themselves from its map
	// (under r.mu) while we close them.
	var stale map[net.Conn]chan struct{}
	if cur == nil || cur.id != session {
		if cur != nil {
			stale = maps.Clone(cur.conns)
		}
		cur = &senderSession{id: session, conns: map[net.Conn]chan struct{}{}}
		r.vms[vm] = cur
	}
	cur.conns[c] = done
	r.mu.Unlock()
	for sc, sdone := range stale {
		sc.Close()
		<-sdone
	}
	return func() {
		r.mu.Lock()
		delete(cur.conns, c)
		r.mu.Unlock()
		close(done)
	}
}

// handle serves one connection: the handshake (hello, authorization,
// replica disks), then frames until EOF.
func (r *Receiver) handle(c net.Conn) {
	defer c.Close()
	s := r.handshake(c)
	if s == nil {
		return
	}
	defer r.fence(s.hello.Org+"/"+s.hello.VM, s.hello.Session, c)()
	if err := s.fc.writeJSON(fReply, 0, replyMsg{}); err != nil {
		return
	}
	r.frames(s)
}

// recvConn is a connection whose sender passed the handshake.
type recvConn struct {
	c     net.Conn
	fc    *frameConn
	hello helloMsg
	disks []*replica // opened replicas, in the order of hello.Disks
}

// fail logs why a connection fails and tells the sender.
func (r *Receiver) fail(c net.Conn, fc *frameConn, code string, err error) {
	r.log.Warn("replication connection failed", "remote", c.RemoteAddr().String(), "code", code, "err", err)
	_ = fc.writeJSON(fError, 0, errorMsg{Code: code, Msg: peerText(err)})
}

// handshake reads the sender's hello, authorizes it and opens the replica
// disks it names. It returns nil when the connection is done: a probe was
// answered, or the sender failed (and was told why).
func (r *Receiver) handshake(c net.Conn) *recvConn {
	// Before the sender is authenticated it gets a deadline for the TLS
	// handshake and its hello, and small buffers: a stranger who opens a
	// connection and says nothing costs a few KiB for a few seconds.
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	fc := newFrameConnSize(c, preAuthBuffer)
	fail := func(code string, err error) { r.fail(c, fc, code, err) }
	var h header
	buf, err := fc.readFrame(&h, nil)
	if err != nil {
		return nil
	}
	var hello helloMsg
	if h.Type != fHello || json.Unmarshal(buf, &hello) != nil || hello.Version != protoVersion {
		fail("protocol", fmt.Errorf("expected hello (protocol version %d): sender and receiver must run the same ferry version", protoVersion))
		return nil
	}
	if hello.Probe {
		_ = fc.writeJSON(fReply, 0, replyMsg{})
		return nil
	}
	if !validName(hello.Org) || !validName(hello.VM) || len(hello.Disks) == 0 || len(hello.Disks) > 256 || len(hello.Replicas) != len(hello.Disks) {
		fail("protocol", fmt.Errorf("bad namespace %q/%q, disk count %d or replica count %d", hello.Org, hello.VM, len(hello.Disks), len(hello.Replicas)))
		return nil
	}
	if hello.Kind != r.writer.Kind() {
		fail("kind", fmt.Errorf("this is an %s receiver; the plan's receiver kind is %q", r.writer.Kind(), hello.Kind))
		return nil
	}
	if tc, ok := c.(*tls.Conn); !ok {
		fail("forbidden", fmt.Errorf("%w: not a TLS connection", ErrForbidden))
		return nil
	} else if err := r.authorize(tc.ConnectionState(), hello.Org, hello.VM); err != nil {
		fail("forbidden", err)
		return nil
	}
	// Authenticated: the full buffers, and no deadline but the idle one.
	_ = c.SetDeadline(time.Time{})
	fc = &frameConn{r: bufio.NewReaderSize(fc.r, 256<<10), w: bufio.NewWriterSize(c, 256<<10)}
	if bc := netbatch.Beneath(c); bc != nil {
		bc.Batch()
		fc.flush = bc.Flush
	}
	ns := hello.Org + "/" + hello.VM
	disks := make([]*replica, len(hello.Disks))
	seen := map[string]bool{}
	for i, d := range hello.Disks {
		if !validName(d.Key) || d.Capacity <= 0 || seen[d.Key] || hello.Replicas[i] == "" {
			fail("protocol", fmt.Errorf("bad or duplicate disk %q size %d, or no replica disk named for it", d.Key, d.Capacity))
			return nil
		}
		if d.Capacity > MaxCapacity || d.Capacity%512 != 0 {
			fail("protocol", fmt.Errorf("disk %q: capacity %d bytes is not a virtual disk's (a multiple of 512 bytes, at most 62 TB)", d.Key, d.Capacity))
			return nil
		}
		seen[d.Key] = true
		if disks[i], err = r.openReplica(hello.Org, hello.VM, hello.Replicas[i], d); err != nil {
			fail(errorCode(err), fmt.Errorf("%s disk %s: %w", ns, d.Key, err))
			return nil
		}
	}
	return &recvConn{c: c, fc: fc, hello: hello, disks: disks}
}

// frames serves an authenticated connection's frames until EOF or the
// first failure: writes (acknowledged once synced), watermarks and the
// control requests of the sender's pass.
func (r *Receiver) frames(s *recvConn) {
	c, fc, disks := s.c, s.fc, s.disks
	var (
		h        header
		buf      []byte
		err      error
		unsynced []uint32
		touched  = map[*replica]bool{}
		dec      = make([]byte, FrameMax)
	)
	// The fdatasyncs run beside this loop, which goes on writing frames
	// meanwhile: an acknowledgement names only frames written before its
	// sync began. One sync may wait while one runs; beyond that the loop
	// waits (so does the sender, whose window is full by then).
	type syncReq struct {
		disks []*replica
		seqs  []uint32
	}
	var wmu sync.Mutex // fc's writes: this loop's replies, the syncer's acks
	reqs := make(chan syncReq, 1)
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		for q := range reqs {
			var err error
			for _, d := range q.disks {
				if err = d.dev.Sync(); err != nil {
					r.forget(d)
					break
				}
			}
			wmu.Lock()
			if err != nil {
				r.fail(c, fc, errorCode(err), err)
			} else {
				err = fc.writeJSON(fAck, 0, ackMsg{Seqs: q.seqs})
			}
			wmu.Unlock()
			if err != nil {
				c.Close() // ends the loop's reads
				for range reqs {
				}
				return
			}
		}
	}()
	defer func() {
		close(reqs)
		// An acknowledgement can no longer be read: a syncer blocked
		// writing one to a sender that stopped reading must not hold
		// this handler.
		c.Close()
		<-synced
	}()
	requestSync := func() {
		q := syncReq{seqs: slices.Clone(unsynced)}
		for d := range touched {
			q.disks = append(q.disks, d)
		}
		clear(touched)
		unsynced = unsynced[:0]
		reqs <- q
	}
	fail := func(code string, err error) {
		wmu.Lock()
		r.fail(c, fc, code, err)
		wmu.Unlock()
	}
	for {
		// A sender that went away without closing is dropped eventually.
		_ = c.SetReadDeadline(time.Now().Add(idleTimeout))
		buf, err = fc.readFrame(&h, buf)
		if err != nil {
			if err != io.EOF && !errors.Is(err, net.ErrClosed) {
				r.log.Debug("replication connection closed", "err", err)
			}
			return
		}
		if int(h.Disk) >= len(disks) {
			fail("protocol", fmt.Errorf("frame for disk %d of %d", h.Disk, len(disks)))
			return
		}
		d := disks[h.Disk]
		switch h.Type {
		case fData, fZero:
			if h.Type == fData {
				raw, derr := decodeData(&h, buf, dec)
				if derr != nil {
					fail("bad_hash", derr)
					return
				}
				err = r.write(d, raw, h.Offset)
			} else {
				err = r.zero(d, h.Offset, int64(h.Length))
			}
			if err != nil {
				fail(errorCode(err), fmt.Errorf("write at %d: %w", h.Offset, err))
				return
			}
			touched[d] = true
			unsynced = append(unsynced, h.Seq)
			if h.Flags&flagSync != 0 {
				requestSync()
			}
		case fSync:
			requestSync()
		case fMark:
			if h.Offset < 0 || h.Offset > d.size {
				fail("protocol", fmt.Errorf("watermark %d outside the disk (%d bytes)", h.Offset, d.size))
				return
			}
			if err := r.mark(d, h.Offset); err != nil {
				fail("io", err)
				return
			}
		default:
			var m diskMsg
			if err := json.Unmarshal(buf, &m); err != nil {
				fail("protocol", err)
				return
			}
			reply, err := r.control(h.Type, d, m)
			if err != nil {
				fail(errorCode(err), err)
				return
			}
			wmu.Lock()
			err = fc.writeJSON(fReply, h.Disk, reply)
			wmu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// mark records the sender's durable watermark of the pass in flight.
func (r *Receiver) mark(d *replica, off int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.state.Disk(d.key)
	if err == nil && st.Pass != "" && off > st.Watermark {
		st.Watermark = off
		err = r.state.PutDisk(d.key, st)
	}
	return err
}

func (r *Receiver) control(t frameType, d *replica, m diskMsg) (replyMsg, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.state.Disk(d.key)
	if err != nil {
		return replyMsg{}, err
	}
	switch t {
	case fState:
		return replyMsg{Committed: st.Committed, Pass: st.Pass, Target: st.Target, Watermark: st.Watermark}, nil
	case fBegin:
		if st.Pass != m.Pass || st.Target != m.Target || st.Base != m.Base {
			st.Pass, st.Base, st.Target, st.Kind, st.Watermark = m.Pass, m.Base, m.Target, m.Kind, 0
		}
		st.Size = d.size
		if err := r.state.PutDisk(d.key, st); err != nil {
			return replyMsg{}, err
		}
		return replyMsg{Committed: st.Committed, Pass: st.Pass, Target: st.Target, Watermark: st.Watermark}, nil
	case fEnd:
		if st.Pass == "" && st.Committed == m.Target {
			return replyMsg{Committed: st.Committed}, nil // already committed
		}
		if st.Pass != m.Pass || st.Target != m.Target {
			return replyMsg{}, fmt.Errorf("commit of pass %q on %s, but pass in flight is %q", m.Pass, d.key, st.Pass)
		}
		if err := d.dev.Sync(); err != nil {
			return replyMsg{}, err
		}
		st = DiskState{Committed: m.Target, Size: d.size, File: st.File}
		if err := r.state.PutDisk(d.key, st); err != nil {
			return replyMsg{}, err
		}
		r.log.Info("pass committed", "disk", d.key, "changeId", m.Target)
		return replyMsg{Committed: st.Committed}, nil
	case fHashes:
		r.mu.Unlock()
		var hs []uint64
		var err error
		if m.Fresh {
			err = d.dev.Sync() // read back what is durable
		}
		if err == nil {
			hs, err = d.blockHashes(int(m.Offset/HashBlock), m.Count, m.Fresh)
		}
		if err == nil {
			err = r.flushDigests(d)
		}
		r.mu.Lock()
		return replyMsg{Hashes: hs}, err
	case fDigests:
		if len(m.Blocks) > maxDigestBlocks {
			return replyMsg{}, fmt.Errorf("digest query of %d blocks: at most %d", len(m.Blocks), maxDigestBlocks)
		}
		if m.Ranges != nil && len(m.Ranges) != len(m.Blocks) {
			return replyMsg{}, fmt.Errorf("digest query: %d range lists for %d blocks", len(m.Ranges), len(m.Blocks))
		}
		r.mu.Unlock()
		// Read back after fdatasync: the digest of what is durable, not of
		// what the frames carried.
		err := d.dev.Sync()
		var hs []uint64
		var rhs [][]uint64
		if err == nil {
			hs, rhs, err = d.readBack(m.Blocks, m.Ranges)
		}
		if err == nil {
			err = r.flushDigests(d)
		}
		r.mu.Lock()
		return replyMsg{Hashes: hs, RangeHashes: rhs}, err
	case fRoot:
		r.mu.Unlock()
		sum, hashed, err := d.root()
		if err == nil {
			err = r.flushDigests(d)
		}
		r.mu.Lock()
		return replyMsg{Digest: sum, Count: int64(len(d.hashes)), Hashed: hashed, Size: d.size}, err
	case fVerify:
		r.mu.Unlock()
		err := d.dev.Sync()
		var sum string
		if err == nil {
			sum, err = d.digest()
		}
		r.mu.Lock()
		return replyMsg{Size: d.size, Digest: sum}, err
	}
	return replyMsg{}, fmt.Errorf("unexpected frame type %d", t)
}
