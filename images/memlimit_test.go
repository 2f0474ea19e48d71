package images

import (
	"os"
	"runtime/debug"
	"testing"

	"github.com/kiln-dev/kiln/internal/fixture"
)

// TestBuildMemoryLimit checks that a build runs under the soft memory
// limit that keeps raw.xz's peak RSS well inside 64 MiB (images/bench.sh
// measures the RSS itself), gives the previous limit back afterwards,
// and leaves a limit the user set through GOMEMLIMIT alone.
func TestBuildMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	f := &buildFixture{dir: dir, image: fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096})}
	const before = 1 << 40
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(before))
	for _, c := range []struct {
		name   string
		env    bool
		during int64
	}{{"default", false, buildMemoryLimit}, {"GOMEMLIMIT set", true, before}} {
		t.Run(c.name, func(t *testing.T) {
			if c.env {
				t.Setenv("GOMEMLIMIT", "1TiB")
			} else if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
				// t.Setenv restores it; unset it for this run.
				t.Setenv("GOMEMLIMIT", v)
				os.Unsetenv("GOMEMLIMIT")
			}
			var seen []int64
			req := f.request(t.TempDir(), Target{Platform: "hetzner", Format: "raw.xz"})
			req.Progress = func(ProgressEvent) {
				if len(seen) == 0 {
					seen = append(seen, debug.SetMemoryLimit(-1))
				}
			}
			if _, err := Build(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			if len(seen) == 0 || seen[0] != c.during {
				t.Errorf("memory limit during the build %v, want %d", seen, c.during)
			}
			if got := debug.SetMemoryLimit(-1); got != before {
				t.Errorf("memory limit after the build %d, want it restored to %d", got, before)
			}
		})
	}
}
