package images

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-dev/kiln/internal/fixture"
)

// TestBuildReadsBaseOnce counts the bytes a build of the default spec's
// disk targets (digitalocean qcow2.gz, hetzner and metal raw.xz) reads
// from the base disk. Each output is made from the base's data, so one
// read of it is the least a build can do; the count says how close it
// gets, first with the base's digest known (as from the digest store on
// every build after the first) and then with it unknown. Today: the
// second raw.xz copies the first's members without reading (memberShare)
// and the qcow2 writer takes the clusters holding data from the raw.xz
// pass (rootMap), so the root area is read once per distinct format, two
// here, plus once to hash the base when its digest is not known. The
// qcow2 image made this way is byte for byte the one made alone. With
// the digest unknown, the first raw.xz pass hashes the base as it reads
// it (baseTap): the head, which that pass reads from its staged copy,
// is read from the base once more, and the root area no more.
func TestBuildReadsBaseOnce(t *testing.T) {
	dir := t.TempDir()
	f := &buildFixture{dir: dir, image: fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096, DataMiB: 24})}
	head, root := baseData(t, f.image)
	targets := []Target{{Platform: "digitalocean", Format: "qcow2.gz"}, {Platform: "hetzner", Format: "raw.xz"}, {Platform: "metal", Format: "raw.xz"}}
	for _, c := range []struct {
		name  string
		known bool
		reads float64 // of the root area
	}{{"digest known", true, 2.5}, {"digest unknown", false, 2.8}} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			req := f.request(out, targets...)
			if c.known {
				req.BaseSHA256 = map[string]string{f.image: fileSHA(t, f.image)}
			}
			before := diskBaseRead.Load()
			m, err := Build(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if want := fileSHA(t, f.image); len(m.Bases) != 1 || m.Bases[0].SHA256 != want {
				t.Errorf("manifest bases %+v, want the disk's sha256 %s", m.Bases, want)
			}
			// Each target stages its own head (its config and platform
			// are embedded there); the root area is what can be shared.
			// A read's slack: the last MiB, read with the backup GPT.
			read := diskBaseRead.Load() - before - int64(len(targets))*head
			got := float64(read) / float64(root)
			t.Logf("read the base's root area %.2f times (%d bytes of %d), and its head (%d bytes) once per target", got, read, root, head)
			if got > c.reads+float64(len(targets)<<20)/float64(root) {
				t.Errorf("the build read the base's root area %.2f times, want at most %.1f", got, c.reads)
			}
			checkSums(t, out)
			if !c.known {
				return
			}
			alone := t.TempDir()
			if _, err := Build(t.Context(), f.request(alone, targets[0])); err != nil {
				t.Fatal(err)
			}
			name := "clipper-1.2.0-digitalocean.qcow2.gz"
			a, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(alone, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("%s built beside raw.xz targets differs from %s built alone", name, name)
			}
		})
	}
}

// baseData returns the bytes of data a base disk holds up to the end of
// its boot partition (what stageDisk copies) and after it.
func baseData(t *testing.T, path string) (head, root int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	boot, err := findBoot(f)
	if err != nil {
		t.Fatal(err)
	}
	split := boot.Start + boot.Size
	src := fileSource{f: f, size: st.Size()}
	for off := src.dataAt(0); off < st.Size(); off = src.dataAt(off) {
		end := src.holeAt(off)
		head += max(0, min(end, split)-off)
		root += max(0, end-max(off, split))
		off = end
	}
	return head, root
}
