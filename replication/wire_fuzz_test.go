package replication

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/zeebo/xxh3"
)

// FuzzFrames: whatever bytes arrive on a connection, reading frames and
// decoding data frames never panics and never allocates more than a frame
// can hold. The seeds run in make test; explore with
// `go test ./replication -run '^$' -fuzz FuzzFrames -fuzztime 1m`.
func FuzzFrames(f *testing.F) {
	frame := func(h header, payload []byte) []byte {
		var b bytes.Buffer
		fc := newFrameConnSize(&b, 4096)
		_ = fc.writeFrame(&h, payload, true)
		return b.Bytes()
	}
	raw := bytes.Repeat([]byte("ferry"), 1000)
	hello, _ := json.Marshal(helloMsg{Version: protoVersion, VM: "vm", Org: "org", Disks: []Disk{{Key: "d", Capacity: 1 << 20}}, Replicas: []string{"u"}})
	f.Add(frame(header{Type: fHello}, hello))
	f.Add(frame(header{Type: fData, Length: uint32(len(raw)), Hash: xxh3.Hash(raw)}, raw))
	f.Add(frame(header{Type: fData, Flags: flagCompressed, Length: uint32(len(raw)), Hash: xxh3.Hash(raw)}, s2.Encode(nil, raw)))
	// A compressed frame whose header claims 4 GiB decoded.
	f.Add(frame(header{Type: fData, Flags: flagCompressed, Length: 1<<32 - 1}, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0}))
	f.Add(frame(header{Type: fZero, Offset: -1, Length: 1<<32 - 1}, nil))
	f.Add([]byte{byte(fData), 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fc := newFrameConnSize(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(b), io.Discard}, 4096)
		dec := make([]byte, FrameMax)
		var h header
		var buf []byte
		for range 64 {
			var err error
			if buf, err = fc.readFrame(&h, buf); err != nil {
				return
			}
			if h.Type == fData {
				out, err := decodeData(&h, buf, dec)
				if err == nil && len(out) > FrameMax {
					t.Fatalf("decoded %d bytes, more than a frame holds", len(out))
				}
			}
		}
	})
}
