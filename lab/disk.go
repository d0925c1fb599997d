package lab

import (
	"math/rand"
	"os"
)

// Disk content layout: a 1 MiB "boot and OS" area at the start, then one
// 256 KiB extent every 8 MiB, half random and half text, so the disk is
// sparse like a real thin disk, compresses somewhat, and every VM's content
// differs (seeded).
const (
	bootArea     = 1 << 20
	extentStride = 8 << 20
	extentSize   = 256 << 10
)

// fillDisk makes path a sparse file of size bytes holding reproducible content.
func fillDisk(path string, size, seed int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(seed))
	buf := make([]byte, bootArea)
	fill(rng, buf)
	if int64(len(buf)) > size {
		buf = buf[:size]
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		return err
	}
	ext := make([]byte, extentSize)
	for off := int64(extentStride); off+extentSize <= size; off += extentStride {
		fill(rng, ext)
		if _, err := f.WriteAt(ext, off); err != nil {
			return err
		}
	}
	return f.Sync()
}

// fill writes half random bytes and half repeated text.
func fill(rng *rand.Rand, b []byte) {
	const text = "ferry lab guest data: the quick brown fox jumps over the lazy dog. "
	half := len(b) / 2
	rng.Read(b[:half])
	for i := half; i < len(b); i += copy(b[i:], text) {
	}
}
