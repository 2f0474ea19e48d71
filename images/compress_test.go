package images

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompressors(t *testing.T) {
	// Incompressible data, then zeros over several whole chunks, then an
	// odd tail: like a disk image.
	src := append(randomBytes(5<<20), make([]byte, 3*parallelChunk+12345)...)
	src = append(src, randomBytes(1000)...)
	for _, c := range []struct {
		comp  Compression
		judge string
	}{
		{CompressXZ, "xz -dc"}, {CompressGzip, "gzip -dc"}, {CompressZstd, "zstd -q -dc"},
	} {
		t.Run(string(c.comp), func(t *testing.T) {
			// enc writes src, its zeros as bytes or, with holes, as a
			// disk's holes are written (writeZeros), from the middle of a
			// chunk over several whole ones.
			enc := func(holes bool) []byte {
				var b bytes.Buffer
				w, err := compressor(&b, c.comp)
				if err != nil {
					t.Fatal(err)
				}
				zeros := len(src) - 1000 - (5 << 20)
				for p := 0; p < len(src); {
					if holes && p == 5<<20 {
						if err := writeZeros(w, int64(zeros)); err != nil {
							t.Fatal(err)
						}
						p += zeros
						continue
					}
					n := min(100000, len(src)-p)
					if p < 5<<20 {
						n = min(n, 5<<20-p)
					}
					if _, err := w.Write(src[p : p+n]); err != nil {
						t.Fatal(err)
					}
					p += n
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				return b.Bytes()
			}
			a, b := enc(false), enc(true)
			if !bytes.Equal(a, b) {
				t.Error("compressed output not reproducible, or holes compress otherwise than zeros")
			}
			p := filepath.Join(t.TempDir(), "x."+string(c.comp))
			if err := os.WriteFile(p, a, 0o644); err != nil {
				t.Fatal(err)
			}
			dec := filepath.Join(t.TempDir(), "dec")
			shell(t, c.judge+" '"+p+"' > '"+dec+"'")
			got, _ := os.ReadFile(dec)
			if !bytes.Equal(got, src) {
				t.Errorf("%s does not give back the input", c.judge)
			}
			if c.comp == CompressXZ {
				if lv := judge(t, false, "xz", "-lvv", p); !strings.Contains(lv, "CRC32") {
					t.Errorf("xz check is not CRC32:\n%s", lv)
				}
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string][2]string{
		"raw": {"raw", ""}, "raw.xz": {"raw", "xz"}, "qcow2.gz": {"qcow2", "gz"}, "vhd.zst": {"vhd", "zst"}, "iso": {"iso", ""}, "pxe": {"pxe", ""},
	} {
		f, c, err := ParseFormat(in)
		if err != nil || string(f) != want[0] || string(c) != want[1] {
			t.Errorf("%s: %s %s %v", in, f, c, err)
		}
	}
	for _, bad := range []string{"vmdk", "raw.bz2", "iso.xz", ""} {
		if _, _, err := ParseFormat(bad); !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestSetPlatform(t *testing.T) {
	entry := []byte("title x\noptions a ignition.platform.id=metal b\nlinux /v\n")
	for _, id := range PlatformNames() {
		got, err := setPlatform(entry, id)
		if err != nil {
			t.Fatal(err)
		}
		if want := "options a ignition.platform.id=" + id + " b\n"; !bytes.Contains(got, []byte(want)) {
			t.Errorf("%s: %q", id, got)
		}
	}
	if _, err := setPlatform([]byte("options quiet\n"), "aws"); !errors.Is(err, ErrNoBLSEntry) {
		t.Errorf("entry without platform: %v", err)
	}
}
