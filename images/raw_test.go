package images

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/fixture"
)

var testEpoch = time.Unix(1700000000, 0).UTC()

const testConfig = `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/kiln/release.json","contents":{"source":"data:,%7B%22appliance%22%3A%22clipper%22%7D"}}]}}`

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := copyHashed(t.Context(), out, fileSource{f: in, size: mustSize(t, src)}, mustSize(t, src), 0, 0, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func mustSize(t *testing.T, p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestEmbedDisk(t *testing.T) {
	for _, c := range []struct {
		name     string
		bs       int
		features string
	}{{"1k", 1024, ""}, {"4k", 4096, ""}, {"4k-orphan-file", 4096, "orphan_file"}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			base := fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: c.bs, Features: c.features})
			for i, platform := range []string{"proxmoxve", "aws"} {
				out := filepath.Join(dir, platform+".raw")
				copyFile(t, base, out)
				if err := embedDisk(out, []byte(testConfig), platform, testEpoch); err != nil {
					t.Fatal(err)
				}
				checkBootFS(t, out, []byte(testConfig), platform)
				if i == 0 {
					// A second embed at another wall-clock second must give the
					// same bytes.
					time.Sleep(1100 * time.Millisecond)
					again := filepath.Join(dir, "again.raw")
					copyFile(t, base, again)
					if err := embedDisk(again, []byte(testConfig), platform, testEpoch); err != nil {
						t.Fatal(err)
					}
					if a, b := fileSHA(t, out), fileSHA(t, again); a != b {
						t.Errorf("two embeds differ: %s vs %s", a, b)
					}
				}
			}
		})
	}
}

// TestEmbedDiskLargeConfig embeds a config of a few MiB (an appliance with
// embedded certificates and dashboards) on both block sizes.
func TestEmbedDiskLargeConfig(t *testing.T) {
	cfg := []byte(`{"ignition":{"version":"3.4.0"},"x":"` + strings.Repeat("abcdefgh", 3<<17) + `"}`)
	for _, bs := range []int{1024, 4096} {
		t.Run(fmt.Sprint(bs), func(t *testing.T) {
			dir := t.TempDir()
			base := fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: bs})
			out := filepath.Join(dir, "out.raw")
			copyFile(t, base, out)
			if err := embedDisk(out, cfg, "aws", testEpoch); err != nil {
				t.Fatal(err)
			}
			checkBootFS(t, out, cfg, "aws")
		})
	}
}

func TestEmbedDiskRefusals(t *testing.T) {
	cases := []struct {
		name string
		opts fixture.DiskOptions
		want error
	}{
		{"needs-recovery", fixture.DiskOptions{NeedsRecovery: true}, ErrNeedsRecovery},
		{"no-boot", fixture.DiskOptions{BootLabel: "notboot"}, ErrNoBootPartition},
		{"config-exists", fixture.DiskOptions{WithConfig: true}, ErrConfigExists},
		{"no-firstboot", fixture.DiskOptions{NoFirstboot: true}, ErrNoFirstboot},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			base := fixture.Disk(t, dir, c.opts)
			out := filepath.Join(dir, "out.raw")
			copyFile(t, base, out)
			before := fileSHA(t, out)
			err := embedDisk(out, []byte(testConfig), "metal", testEpoch)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if fileSHA(t, out) != before {
				t.Error("a refused embed modified the disk")
			}
		})
	}
	t.Run("too-large", func(t *testing.T) {
		dir := t.TempDir()
		base := fixture.Disk(t, dir, fixture.DiskOptions{})
		out := filepath.Join(dir, "out.raw")
		copyFile(t, base, out)
		err := embedDisk(out, make([]byte, 128<<20), "metal", testEpoch)
		if !errors.Is(err, ErrConfigTooLarge) {
			t.Fatalf("got %v, want ErrConfigTooLarge", err)
		}
	})
}
