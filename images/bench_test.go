package images

import (
	"os"
	"path/filepath"
	"testing"
)

// benchDisk writes a 256 MiB sparse file with 64 MiB of data in 4 MiB runs.
func benchDisk(b *testing.B) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(256 << 20); err != nil {
		b.Fatal(err)
	}
	chunk := randomBytes(4 << 20)
	for off := int64(0); off < 256<<20; off += 16 << 20 {
		if _, err := f.WriteAt(chunk, off); err != nil {
			b.Fatal(err)
		}
	}
	return p
}

func BenchmarkWriteQcow2(b *testing.B) {
	src := benchDisk(b)
	dir := b.TempDir()
	b.SetBytes(256 << 20)
	for i := 0; b.Loop(); i++ {
		out := filepath.Join(dir, "out.qcow2")
		if err := WriteQcow2(b.Context(), out, src, nil); err != nil {
			b.Fatal(err)
		}
		os.Remove(out)
	}
}

func BenchmarkSparseCopy(b *testing.B) {
	src := benchDisk(b)
	dir := b.TempDir()
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	b.SetBytes(256 << 20)
	for b.Loop() {
		out, err := os.Create(filepath.Join(dir, "out.raw"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := copyHashed(b.Context(), out, fileSource{f: in, size: 256 << 20}, 256<<20, 0, 0, nil, nil); err != nil {
			b.Fatal(err)
		}
		out.Close()
	}
}

func BenchmarkConfigInitrd(b *testing.B) {
	cfg := randomBytes(64 << 10)
	b.SetBytes(int64(len(cfg)))
	for b.Loop() {
		if _, err := ConfigInitrd(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
