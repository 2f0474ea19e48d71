package base

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ulikunitz/xz"
)

// TestUncompress: .xz and .gz bases come out identical to the original,
// sparse, and a second call reuses the result.
func TestUncompress(t *testing.T) {
	dir := t.TempDir()
	orig := make([]byte, 8<<20) // 8 MiB, mostly zero
	copy(orig[3<<20:], bytes.Repeat([]byte("kiln"), 1000))
	orig[len(orig)-1] = 7

	for _, ext := range []string{".xz", ".gz"} {
		src := filepath.Join(dir, "disk.raw"+ext)
		var b bytes.Buffer
		if ext == ".xz" {
			w, _ := xz.NewWriter(&b)
			w.Write(orig)
			w.Close()
		} else {
			w := gzip.NewWriter(&b)
			w.Write(orig)
			w.Close()
		}
		if err := os.WriteFile(src, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, "out"+ext+".raw")
		var last int64
		if err := Uncompress(context.Background(), src, dst, func(d, _ int64) { last = d }); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(dst)
		if !bytes.Equal(got, orig) {
			t.Fatalf("%s: decompressed bytes differ", ext)
		}
		if last != int64(b.Len()) {
			t.Errorf("%s: progress ended at %d of %d", ext, last, b.Len())
		}
		st, _ := os.Stat(dst)
		if blocks := st.Sys().(*syscall.Stat_t).Blocks * 512; blocks >= int64(len(orig)) {
			t.Errorf("%s: output is not sparse (%d bytes allocated)", ext, blocks)
		}
		// Reused when newer than the source.
		mt := st.ModTime()
		if err := Uncompress(context.Background(), src, dst, nil); err != nil {
			t.Fatal(err)
		}
		if st2, _ := os.Stat(dst); !st2.ModTime().Equal(mt) {
			t.Errorf("%s: an up-to-date result was rewritten", ext)
		}
	}
	// Corrupt input leaves nothing behind.
	bad := filepath.Join(dir, "bad.raw.xz")
	os.WriteFile(bad, []byte("not xz at all"), 0o644)
	if err := Uncompress(context.Background(), bad, filepath.Join(dir, "bad.raw"), nil); err == nil {
		t.Fatal("corrupt xz accepted")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*bad.raw*tmp*")); len(m) > 0 {
		t.Errorf("temporary file left: %v", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.raw")); !os.IsNotExist(err) {
		t.Error("output written for corrupt input")
	}
}
