package images

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-dev/kiln/internal/fixture"
)

// TestBuildSharesCompressedMembers: disk targets of one build with the
// same compressed format compress the base's part once; each output is
// still byte for byte what a build of that target alone writes, and its
// digests are sha256sum's.
func TestBuildSharesCompressedMembers(t *testing.T) {
	dir := t.TempDir()
	f := &buildFixture{dir: dir, image: fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096, DataMiB: 6})}
	together := t.TempDir()
	before := sharedMembers.Load()
	if _, err := Build(t.Context(), f.request(together,
		Target{Platform: "hetzner", Format: "raw.xz"}, Target{Platform: "metal", Format: "raw.xz"},
		Target{Platform: "metal", Format: "raw.gz"}, Target{Platform: "vultr", Format: "raw.gz"},
		Target{Platform: "hetzner", Format: "raw.zst"}, Target{Platform: "vultr", Format: "raw.zst"})); err != nil {
		t.Fatal(err)
	}
	shared := sharedMembers.Load() - before
	// The root area past the boot partition is 25 MiB: at least ten
	// whole 2 MiB chunks each for the second .xz, .gz and .zst.
	if shared < 30 {
		t.Errorf("%d members shared, want at least 30", shared)
	}
	checkSums(t, together)

	alone := t.TempDir()
	before = sharedMembers.Load()
	if _, err := Build(t.Context(), f.request(alone,
		Target{Platform: "metal", Format: "raw"}, Target{Platform: "metal", Format: "raw.xz"}, Target{Platform: "vultr", Format: "raw.gz"},
		Target{Platform: "vultr", Format: "raw.zst"})); err != nil {
		t.Fatal(err)
	}
	if n := sharedMembers.Load() - before; n != 0 {
		t.Errorf("%d members shared between different formats", n)
	}
	for _, n := range []string{"clipper-1.2.0-metal.raw.xz", "clipper-1.2.0-vultr.raw.gz", "clipper-1.2.0-vultr.raw.zst"} {
		a, err := os.ReadFile(filepath.Join(together, n))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(alone, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s built beside another target differs from %s built alone", n, n)
		}
	}
	shell(t, fmt.Sprintf("xz -dc '%s' | cmp - '%s'", filepath.Join(together, "clipper-1.2.0-metal.raw.xz"), filepath.Join(alone, "clipper-1.2.0-metal.raw")))
}
