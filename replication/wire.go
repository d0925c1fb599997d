package replication

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/s2"
	"github.com/zeebo/xxh3"
)

// Wire protocol: a TLS 1.3 stream of frames. Each frame is a 32-byte header
// followed by payloadLen bytes. Data frames carry (possibly S2-compressed)
// disk bytes with the xxh3 hash of the uncompressed bytes; zero frames carry
// only a range that must read as zeros; control frames carry JSON.
//
//	0 type u8 | 1 flags u8 | 2 disk u16 | 4 seq u32 | 8 offset u64 |
//	16 length u32 | 20 payloadLen u32 | 24 xxh3 u64
const (
	headerSize     = 32
	protoVersion   = 2 // 2: read-back digests (fDigests) and digest-map roots (fRoot)
	maxControlSize = 64 << 20
)

type frameType uint8

const (
	fHello   frameType = iota + 1 // sender -> receiver: VM and disks (JSON)
	fState                        // query a disk's receiver state (JSON)
	fBegin                        // begin or resume a pass on a disk (JSON)
	fData                         // disk bytes
	fZero                         // zero run
	fSync                         // fsync and acknowledge everything written on this connection
	fMark                         // sender's durable watermark for a disk (offset field), no reply
	fEnd                          // commit a pass (JSON)
	fHashes                       // block hashes of a range (JSON)
	fVerify                       // whole-disk digest (JSON)
	fAck                          // receiver -> sender: seqs durable (JSON)
	fReply                        // receiver -> sender: answer to a control frame (JSON)
	fError                        // receiver -> sender: failure (JSON), connection closes
	fDigests                      // digests of listed blocks, read back from the replica now (JSON)
	fRoot                         // root of the receiver's block digest map of a disk (JSON)
)

const (
	flagCompressed = 1 << 0 // payload is S2 block-compressed
	flagSync       = 1 << 1 // fsync and ack after this frame
)

type header struct {
	Type       frameType
	Flags      uint8
	Disk       uint16
	Seq        uint32
	Offset     int64
	Length     uint32
	PayloadLen uint32
	Hash       uint64
}

func (h *header) put(b []byte) {
	b[0] = byte(h.Type)
	b[1] = h.Flags
	binary.BigEndian.PutUint16(b[2:], h.Disk)
	binary.BigEndian.PutUint32(b[4:], h.Seq)
	binary.BigEndian.PutUint64(b[8:], uint64(h.Offset))
	binary.BigEndian.PutUint32(b[16:], h.Length)
	binary.BigEndian.PutUint32(b[20:], h.PayloadLen)
	binary.BigEndian.PutUint64(b[24:], h.Hash)
}

func (h *header) get(b []byte) {
	h.Type = frameType(b[0])
	h.Flags = b[1]
	h.Disk = binary.BigEndian.Uint16(b[2:])
	h.Seq = binary.BigEndian.Uint32(b[4:])
	h.Offset = int64(binary.BigEndian.Uint64(b[8:]))
	h.Length = binary.BigEndian.Uint32(b[16:])
	h.PayloadLen = binary.BigEndian.Uint32(b[20:])
	h.Hash = binary.BigEndian.Uint64(b[24:])
}

// Control messages (JSON payloads).
type helloMsg struct {
	Version int
	Kind    string // the receiver kind the sender prepared replica disks for
	Org     string // namespace: the replicas of Org/VM
	VM      string
	Session string // one per pass attempt: a newer session fences older ones
	Disks   []Disk // index = disk id on the wire
	// Replicas names, per disk, the replica disk to write: its disk UUID
	// (appliance) or its descriptor's datastore path (nfs).
	Replicas []string `json:",omitempty"`
	// Probe asks only whether the receiver accepts this sender (preflight):
	// it answers with a reply and opens nothing.
	Probe bool `json:",omitempty"`
}

type diskMsg struct {
	Disk   uint16
	Pass   string `json:",omitempty"` // pass id (snapshot id + attempt base)
	Base   string `json:",omitempty"`
	Target string `json:",omitempty"`
	Kind   PassKind
	// HashQuery
	Offset int64 `json:",omitempty"`
	Count  int   `json:",omitempty"`
	// Fresh (fHashes) reads the blocks back from the replica instead of
	// answering from the digest map (a full compare).
	Fresh bool `json:",omitempty"`
	// Blocks (fDigests) lists block indexes (at most maxDigestBlocks);
	// Ranges, if set, holds per block the byte ranges (inside it) whose
	// digests to return as well.
	Blocks []int64    `json:",omitempty"`
	Ranges [][]Extent `json:",omitempty"`
}

// maxDigestBlocks bounds an fDigests query (and so its reply and the reads
// it costs the receiver).
const maxDigestBlocks = 4096

type replyMsg struct {
	Committed string   `json:",omitempty"` // last committed changeId
	Pass      string   `json:",omitempty"` // pass in flight
	Target    string   `json:",omitempty"`
	Watermark int64    `json:",omitempty"`
	Hashes    []uint64 `json:",omitempty"`
	Size      int64    `json:",omitempty"`
	Digest    string   `json:",omitempty"`
	// fRoot: blocks in the map, and how many of them the receiver had to
	// read because its map did not know them.
	Count  int64 `json:",omitempty"`
	Hashed int64 `json:",omitempty"`
	// fDigests: per block, the digests of the ranges asked for.
	RangeHashes [][]uint64 `json:",omitempty"`
}

type ackMsg struct {
	Seqs []uint32
}

type errorMsg struct {
	Code string // "no_space", "bad_hash", "protocol", "io", "forbidden", "kind", "detached", "no_replica_disk"
	Msg  string
}

// RemoteError is a failure reported by the receiver.
type RemoteError struct {
	Code string
	Msg  string
}

func (e *RemoteError) Error() string { return "receiver: " + e.Msg }

// ErrNoSpace is matched (errors.Is) by a receiver "disk full" failure.
var ErrNoSpace = errors.New("receiver out of disk space")

func (e *RemoteError) Is(target error) bool {
	switch target {
	case ErrNoSpace:
		return e.Code == "no_space"
	case ErrForbidden:
		return e.Code == "forbidden"
	case ErrDetached:
		return e.Code == "detached"
	case ErrNoReplicaDisk:
		return e.Code == "no_replica_disk"
	}
	return false
}

// frameConn reads and writes frames; writes are serialized by the caller.
type frameConn struct {
	r    *bufio.Reader
	w    *bufio.Writer
	rhdr [headerSize]byte // reads and writes happen on different goroutines
	whdr [headerSize]byte
	// flush, when set, sends what the connection beneath buffered
	// (netbatch.Conn) after w is flushed.
	flush func() error
}

func newFrameConn(rw io.ReadWriter) *frameConn { return newFrameConnSize(rw, 256<<10) }

// newFrameConnSize is newFrameConn with buffers of size bytes each way.
func newFrameConnSize(rw io.ReadWriter, size int) *frameConn {
	return &frameConn{r: bufio.NewReaderSize(rw, size), w: bufio.NewWriterSize(rw, size)}
}

// writeFrame writes a header and payload; flush controls buffering.
func (c *frameConn) writeFrame(h *header, payload []byte, flush bool) error {
	h.PayloadLen = uint32(len(payload))
	h.put(c.whdr[:])
	if _, err := c.w.Write(c.whdr[:]); err != nil {
		return err
	}
	if _, err := c.w.Write(payload); err != nil {
		return err
	}
	if flush {
		if err := c.w.Flush(); err != nil {
			return err
		}
		if c.flush != nil {
			return c.flush()
		}
	}
	return nil
}

func (c *frameConn) writeJSON(t frameType, disk uint16, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.writeFrame(&header{Type: t, Disk: disk}, b, true)
}

// readFrame reads one frame into buf (grown as needed) and returns the payload.
func (c *frameConn) readFrame(h *header, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(c.r, c.rhdr[:]); err != nil {
		return nil, err
	}
	h.get(c.rhdr[:])
	limit := uint32(maxControlSize)
	if h.Type == fData {
		limit = uint32(s2.MaxEncodedLen(FrameMax))
	}
	if h.PayloadLen > limit {
		return nil, fmt.Errorf("frame type %d: payload %d bytes exceeds %d", h.Type, h.PayloadLen, limit)
	}
	if cap(buf) < int(h.PayloadLen) {
		buf = make([]byte, h.PayloadLen)
	}
	buf = buf[:h.PayloadLen]
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// encodeData returns the payload for raw (S2 if it saves space) and its flags.
func encodeData(dst, raw []byte) ([]byte, uint8) {
	enc := s2.Encode(dst[:cap(dst)], raw)
	if len(enc) < len(raw) {
		return enc, flagCompressed
	}
	return raw, 0
}

// decodeData reverses encodeData and checks the hash.
func decodeData(h *header, payload, dst []byte) ([]byte, error) {
	raw := payload
	if h.Flags&flagCompressed != 0 {
		n, err := s2.DecodedLen(payload)
		if err != nil || n != int(h.Length) || n > FrameMax { // never allocate what a frame cannot hold
			return nil, fmt.Errorf("data frame at %d: bad compressed length", h.Offset)
		}
		raw, err = s2.Decode(dst[:cap(dst)], payload)
		if err != nil {
			return nil, fmt.Errorf("data frame at %d: %w", h.Offset, err)
		}
	}
	if len(raw) != int(h.Length) {
		return nil, fmt.Errorf("data frame at %d: length %d, header says %d", h.Offset, len(raw), h.Length)
	}
	if xxh3.Hash(raw) != h.Hash {
		return nil, fmt.Errorf("data frame at %d: block hash mismatch", h.Offset)
	}
	return raw, nil
}
