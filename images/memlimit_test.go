package images

import (
	"os"
	"runtime/debug"
	"testing"

	"github.com/kiln-dev/kiln/internal/fixture"
)

// TestBuildMemoryLimit checks that an xz output is written under the soft
// memory limit that keeps raw.xz's peak RSS well inside 64 MiB
// (images/bench.sh measures the RSS itself), that other formats are not
// (zstd only got slower under it), that the previous limit is given back
// afterwards, and that a limit the user set through GOMEMLIMIT is left
// alone.
func TestBuildMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	f := &buildFixture{dir: dir, image: fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096})}
	const before = 1 << 40
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(before))
	for _, c := range []struct {
		name, format string
		env          bool
		during       int64
	}{
		{"xz", "raw.xz", false, xzMemoryLimit},
		{"zstd", "raw.zst", false, before},
		{"xz with GOMEMLIMIT set", "raw.xz", true, before},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.env {
				t.Setenv("GOMEMLIMIT", "1TiB")
			} else if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
				// t.Setenv restores it; unset it for this run.
				t.Setenv("GOMEMLIMIT", v)
				os.Unsetenv("GOMEMLIMIT")
			}
			// Progress events come while the output is written.
			seen := map[int64]bool{}
			req := f.request(t.TempDir(), Target{Platform: "hetzner", Format: c.format})
			req.Progress = func(e ProgressEvent) {
				if e.Step == "write" && e.Done < e.Total {
					seen[debug.SetMemoryLimit(-1)] = true
				}
			}
			if _, err := Build(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			if len(seen) != 1 || !seen[c.during] {
				t.Errorf("memory limits while writing %v, want only %d", seen, c.during)
			}
			if got := debug.SetMemoryLimit(-1); got != before {
				t.Errorf("memory limit after the build %d, want it restored to %d", got, before)
			}
		})
	}
}
