package replication

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zeebo/xxh3"
)

// FuzzReceiverConnection: an authenticated sender that, after a valid
// hello, sends arbitrary bytes as its frames never crashes the receiver or
// writes outside the replica disk; the receiver goes on serving. The seeds
// run in make test; explore with
// `go test ./replication -run '^$' -fuzz FuzzReceiverConnection -fuzztime 1m`.
func FuzzReceiverConnection(f *testing.F) {
	frame := func(h header, payload []byte) []byte {
		var b bytes.Buffer
		_ = newFrameConnSize(&b, 4096).writeFrame(&h, payload, true)
		return b.Bytes()
	}
	data := bytes.Repeat([]byte{7}, 4096)
	begin, _ := json.Marshal(diskMsg{Disk: 0, Pass: "p1", Kind: PassInitial})
	f.Add(frame(header{Type: fBegin}, begin))
	f.Add(frame(header{Type: fData, Offset: 4096, Length: 4096, Hash: xxh3.Hash(data)}, data))
	f.Add(frame(header{Type: fData, Offset: 1<<63 - 100, Length: 4096, Hash: xxh3.Hash(data)}, data))
	f.Add(frame(header{Type: fZero, Offset: 1 << 20, Length: 1<<32 - 1}, nil))
	f.Add(frame(header{Type: fZero, Offset: -4096, Length: 4096}, nil))
	f.Add(frame(header{Type: fData, Disk: 9, Length: 1}, []byte{1}))
	f.Add(frame(header{Type: fEnd}, []byte("{not json")))
	f.Add(frame(header{Type: fHashes}, []byte(`{"Disk":0,"First":-1,"Last":1e18}`)))

	const capacity = 1 << 20
	rcv := startReceiver(f, f.TempDir(), "")
	names, _ := DeviceNames(testUUID("fuzz", 0))
	dev := filepath.Join(rcv.byID, names[0])
	if err := blockDeviceFile(dev, capacity); err != nil {
		f.Fatal(err)
	}
	client := testTLS(f).client
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := tls.Dial("tcp", rcv.addr, client)
		if err != nil {
			t.Fatalf("the receiver stopped serving: %v", err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fc := newFrameConn(c)
		if err := fc.writeJSON(fHello, 0, helloMsg{Version: protoVersion, Kind: KindAppliance, Org: testOrg, VM: "fuzz",
			Session: time.Now().String(), Disks: []Disk{{Key: "0", Capacity: capacity}}, Replicas: []string{testUUID("fuzz", 0)}}); err != nil {
			t.Fatal(err)
		}
		var h header
		if _, err := fc.readFrame(&h, nil); err != nil || h.Type != fReply {
			t.Fatalf("hello: %v (frame %d)", err, h.Type)
		}
		_, _ = c.Write(b)
		c.Close()
		if st, err := os.Stat(dev); err != nil || st.Size() != capacity {
			t.Fatalf("the replica device changed size: %v %v", st.Size(), err)
		}
		if err := Probe(context.Background(), rcv.addr, client); err != nil {
			t.Fatalf("the receiver stopped serving: %v", err)
		}
	})
}
