package images

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// oddBase writes a sparse file whose data extents start and end at odd
// offsets: a run from byte 1, one across a 1 MiB chunk boundary, an
// explicitly written run of zeros, data with a zero MiB inside it and the
// file's last bytes, in a file whose size is no multiple of anything.
func oddBase(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	const size = 37<<20 + 4321
	want := make([]byte, size)
	runs := []struct {
		off  int64
		data []byte
	}{
		{1, randomBytes(4096)},
		{3<<20 - 777, randomBytes(777 + 12345)},
		{8 << 20, make([]byte, 2<<20)},
		{12<<20 + 513, append(append(randomBytes(1<<20), make([]byte, 1<<20)...), randomBytes(1<<20+7)...)},
		{size - 1000, randomBytes(1000)},
	}
	p := filepath.Join(dir, "odd.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if _, err := f.WriteAt(r.data, r.off); err != nil {
			t.Fatal(err)
		}
		copy(want[r.off:], r.data)
	}
	return p, want
}

func allocatedBytes(t *testing.T, p string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// TestCopyHashedOddExtents: the copy of a base whose holes and data
// extents fall at odd offsets holds exactly the base's bytes (then the
// padding and trailer), stores zeros as holes, keeps a head written
// before it, and its digest, taken while copying, is sha256sum's digest
// of the finished file.
func TestCopyHashedOddExtents(t *testing.T) {
	dir := t.TempDir()
	src, want := oddBase(t, dir)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	size := int64(len(want))
	for _, c := range []struct {
		name    string
		skip    int64
		pad     int64
		trailer []byte
	}{
		{"plain", 0, 0, nil},
		{"padded-with-trailer", 0, 3<<20 + 11, []byte("conectix-footer")},
		{"head-already-written", 3<<20 + 5, 0, nil},
		{"head-covers-all", size, 512, []byte("x")},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".out")
			out, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			// The head below skip is the caller's, staged in the output
			// itself and read from there (as a raw disk's is): it is
			// kept, not rewritten, and hashed as it is.
			head := append([]byte(nil), want[:c.skip]...)
			for i := range head {
				head[i] ^= 0x5a
			}
			if _, err := out.WriteAt(head, 0); err != nil {
				t.Fatal(err)
			}
			var last, calls int64
			var s source = fileSource{f: in, size: size}
			if c.skip > 0 {
				s = splitSource{head: fileSource{f: out, size: size}, tail: fileSource{f: in, size: size}, split: c.skip}
			}
			sum, err := copyHashed(t.Context(), out, s, size, c.skip, c.pad, c.trailer, func(done, total int64) {
				if done < last || total != size+c.pad+int64(len(c.trailer)) {
					t.Errorf("progress %d of %d after %d", done, total, last)
				}
				last, calls = done, calls+1
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Fields(shell(t, fmt.Sprintf("sha256sum '%s'", p)))[0]; got != sum {
				t.Errorf("digest %s, sha256sum %s", sum, got)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			expect := append(append(append(head, want[c.skip:]...), make([]byte, c.pad)...), c.trailer...)
			if !bytes.Equal(data, expect) {
				t.Errorf("the copy differs from the base (%d bytes, want %d)", len(data), len(expect))
			}
			if calls == 0 || last != int64(len(expect)) {
				t.Errorf("last progress %d after %d calls, want %d", last, calls, len(expect))
			}
			// The explicit zeros and the zero MiB stay holes.
			if c.skip == 0 && allocatedBytes(t, p) >= allocatedBytes(t, src) {
				t.Errorf("the copy allocates %d bytes, the base %d: zero chunks were written", allocatedBytes(t, p), allocatedBytes(t, src))
			}
		})
	}
}
