package replication

import "testing"

func TestIsZero(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 31, 4096, ZeroGrain - 1, ZeroGrain, ZeroGrain + 5, 3 * ZeroGrain} {
		b := make([]byte, n)
		if !isZero(b) {
			t.Fatalf("%d zero bytes: not zero", n)
		}
		for _, at := range []int{0, n / 2, n - 1} {
			if n == 0 {
				continue
			}
			b[at] = 1
			if isZero(b) {
				t.Fatalf("%d bytes with byte %d set: zero", n, at)
			}
			b[at] = 0
		}
	}
}

// BenchmarkIsZero scans a zero ZeroGrain, what splitZero does for each
// zero run of a disk.
func BenchmarkIsZero(b *testing.B) {
	buf := make([]byte, ZeroGrain)
	b.SetBytes(ZeroGrain)
	for b.Loop() {
		if !isZero(buf) {
			b.Fatal("not zero")
		}
	}
}
