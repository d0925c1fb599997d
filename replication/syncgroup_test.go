package replication

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSyncGroup: connections syncing one replica at once share
// fdatasyncs, yet each caller returns only after a sync that began after
// its own write; once a sync failed, every later one fails without
// pretending (Linux reports a lost writeback once).
func TestSyncGroup(t *testing.T) {
	var g syncGroup
	var written, covered, calls atomic.Int64
	do := func() error {
		calls.Add(1)
		covered.Store(written.Load()) // what this sync makes durable
		time.Sleep(10 * time.Millisecond)
		return nil
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				w := written.Add(1)
				if err := g.sync(do); err != nil {
					t.Error(err)
					return
				}
				if covered.Load() < w {
					t.Errorf("sync returned before one covering write %d (covered %d)", w, covered.Load())
				}
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n >= 80 {
		t.Errorf("%d fdatasyncs for 80 syncs: want them shared", n)
	}

	lost := errors.New("EIO")
	fail := func() error { calls.Add(1); return lost }
	if err := g.sync(fail); !errors.Is(err, lost) {
		t.Fatalf("failed sync: %v", err)
	}
	n := calls.Load()
	if err := g.sync(do); !errors.Is(err, lost) || calls.Load() != n {
		t.Fatalf("sync after a failure: %v (%d more fdatasyncs), want the failure again and none", err, calls.Load()-n)
	}
}
