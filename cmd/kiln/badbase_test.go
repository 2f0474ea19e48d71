package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/fixture"
	"github.com/kiln-dev/kiln/internal/testutil"
)

// sh runs a shell command for test setup.
func sh(t *testing.T, script string) {
	t.Helper()
	if out, err := exec.Command("bash", "-c", "set -euo pipefail; "+script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// TestBuildRefusesBadBases runs the real binary on bases a user may really
// hold: downloads cut short at several points, damaged compressed
// streams, a cut ISO, a base of an older release than the spec's
// base.release, and unsigned or badly signed local files. Each exits 1
// with a message saying what is wrong and what to do, and writes nothing.
func TestBuildRefusesBadBases(t *testing.T) {
	testutil.Tool(t, "xz")
	testutil.Tool(t, "gzip")
	dir := t.TempDir()
	disk := fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096})
	iso := fixture.ISO(t, dir, fixture.ISOOptions{})
	old := fixture.Disk(t, t.TempDir(), fixture.DiskOptions{BlockSize: 4096, Release: "41.20250101.3.0"})
	sh(t, fmt.Sprintf("xz -T2 -1 -k -c '%s' > '%s.xz' && gzip -1 -c '%s' > '%s.gz'", disk, disk, disk, disk))
	size := func(p string) int64 {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	bad := filepath.Join(dir, "bad")
	os.Mkdir(bad, 0o755)
	cut := func(src, name string, n int64) string {
		p := filepath.Join(bad, name)
		sh(t, fmt.Sprintf("cp --sparse=always '%s' '%s' && truncate -s %d '%s'", src, p, n, p))
		return p
	}
	flip := func(src, name string, at int64) string {
		p := filepath.Join(bad, name)
		sh(t, fmt.Sprintf("cp '%s' '%s'", src, p))
		fixture.Corrupt(t, p, at)
		return p
	}
	truncated := "looks truncated or corrupt"
	again := "download it again"
	for name, c := range map[string]struct {
		args []string
		says []string
	}{
		"raw-cut-at-100MiB":   {[]string{"--base-image", cut(disk, "a.raw", 100<<20)}, []string{truncated, again, "the GPT says the disk is"}},
		"raw-cut-at-300MiB":   {[]string{"--base-image", cut(disk, "b.raw", 300<<20)}, []string{truncated, again}},
		"raw-cut-by-a-sector": {[]string{"--base-image", cut(disk, "c.raw", size(disk)-512)}, []string{truncated, again}},
		"raw-xz-cut":          {[]string{"--base-image", cut(disk+".xz", "d.raw.xz", size(disk+".xz")/2)}, []string{truncated, again, "unexpected EOF"}},
		"raw-xz-corrupt":      {[]string{"--base-image", flip(disk+".xz", "e.raw.xz", size(disk+".xz")/2)}, []string{truncated, again}},
		"raw-gz-cut":          {[]string{"--base-image", cut(disk+".gz", "f.raw.gz", size(disk+".gz")/2)}, []string{truncated, again, "unexpected EOF"}},
		"raw-gz-corrupt":      {[]string{"--base-image", flip(disk+".gz", "g.raw.gz", size(disk+".gz")/3)}, []string{truncated, again}},
		"iso-cut":             {[]string{"--base-iso", cut(iso, "h.iso", size(iso)/2), "--format", "iso"}, []string{truncated, again, "the ISO's volume is"}},
		"raw-wrong-release":   {[]string{"--base-image", old}, []string{"is Fedora CoreOS 41.20250101.3.0, the spec's base.release wants \">= 42\""}},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"build", "-o", "out", "--offline", "--insecure-base", "--cache-dir", filepath.Join(dir, "cache"), "--platform", "metal"}, c.args...)
			if !strings.Contains(strings.Join(c.args, " "), "--format") {
				args = append(args, "--format", "qcow2")
			}
			wd := t.TempDir()
			_, stderr, code := kilnEnv(t, wd, nil, args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, stderr)
			}
			for _, s := range c.says {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if ents, _ := os.ReadDir(filepath.Join(wd, "out")); len(ents) > 0 {
				t.Errorf("a refused build left %d entries in out/", len(ents))
			}
		})
	}

	t.Run("unsigned-without-insecure-base", func(t *testing.T) {
		wd := t.TempDir()
		_, stderr, code := kilnEnv(t, wd, nil, "build", "-o", "out", "--offline", "--base-image", disk, "--platform", "qemu")
		if code != 1 || !strings.Contains(stderr, "has no base.raw.sig beside it") || !strings.Contains(stderr, "--insecure-base") {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
	})
	t.Run("bad-signature", func(t *testing.T) {
		wd := t.TempDir()
		signed := filepath.Join(wd, "fedora-coreos-"+fixture.Release+"-metal.x86_64.raw")
		sh(t, fmt.Sprintf("cp --sparse=always '%s' '%s' && echo 'not a signature' > '%s.sig'", disk, signed, signed))
		_, stderr, code := kilnEnv(t, wd, nil, "build", "-o", "out", "--offline", "--base-image", signed, "--platform", "qemu")
		// Without Fedora's keys on the machine the signature cannot be
		// checked at all, which is refused too (TestCheckLocal in
		// images/base checks signatures with a test key).
		if code != 1 || !(strings.Contains(stderr, "bad OpenPGP signature") || strings.Contains(stderr, "Fedora's signing keys")) {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		if ents, _ := os.ReadDir(filepath.Join(wd, "out")); len(ents) > 0 {
			t.Errorf("a refused build left %d entries in out/", len(ents))
		}
	})
}

// TestBuildReportsEveryMissingBase: an offline build with an empty cache
// names each base it lacks, each with the command or flag that fixes it.
func TestBuildReportsEveryMissingBase(t *testing.T) {
	dir := t.TempDir()
	_, stderr, code := kilnEnv(t, dir, nil, "build", "--offline", "--cache-dir", filepath.Join(dir, "cache"), "-o", "out",
		"--platform", "metal", "--format", "raw.xz", "--format", "iso", "--format", "pxe")
	if code != 1 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, want := range []string{"kiln base fetch --format raw.xz", "--base-image FILE", "kiln base fetch --format iso", "--base-iso FILE", "kiln base fetch --format pxe", "--base-pxe FILE", "kiln base import FILE"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestBuildOutputDirectory: a second build of an artifact is refused
// without --force, the next target's build adds to manifest.json and
// SHA256SUMS, and a directory of another version is refused.
func TestBuildOutputDirectory(t *testing.T) {
	dir := t.TempDir()
	disk := fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096})
	iso := fixture.ISO(t, dir, fixture.ISOOptions{})
	common := []string{"build", "-o", "out", "--offline", "--insecure-base", "--cache-dir", filepath.Join(dir, "cache"), "--base-image", disk, "--base-iso", iso, "--platform", "metal"}
	env := []string{"SOURCE_DATE_EPOCH=1700000000"}
	run := func(want int, extra ...string) string {
		t.Helper()
		_, stderr, code := kilnEnv(t, dir, env, append(append([]string{}, common...), extra...)...)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\n%s", extra, code, want, stderr)
		}
		return stderr
	}
	run(0, "--format", "qcow2")
	if s := run(1, "--format", "qcow2"); !strings.Contains(s, "clipper-1.0.0-metal.qcow2") || !strings.Contains(s, "--force") {
		t.Errorf("overwrite refusal does not name the file and --force:\n%s", s)
	}
	run(0, "--format", "qcow2", "--force")
	run(0, "--format", "iso")
	sh(t, "cd '"+filepath.Join(dir, "out")+"' && sha256sum --quiet -c SHA256SUMS && grep -q metal.qcow2 SHA256SUMS && grep -q live.iso SHA256SUMS && grep -q metal.qcow2 manifest.json && grep -q live.iso manifest.json")
}

// TestBuildCompressedBaseStaysOutOfTmp: a compressed local base is
// decompressed into the output directory's staging, never into the
// system's temporary directory (which a killed build would leave full):
// the build works with TMPDIR pointing nowhere, and leaves no staging.
func TestBuildCompressedBaseStaysOutOfTmp(t *testing.T) {
	testutil.Tool(t, "xz")
	dir := t.TempDir()
	disk := fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096})
	sh(t, fmt.Sprintf("xz -T2 -1 '%s'", disk))
	_, stderr, code := kilnEnv(t, dir, []string{"TMPDIR=" + filepath.Join(dir, "no-such-dir")}, "build", "-o", "out", "--offline", "--insecure-base",
		"--cache-dir", filepath.Join(dir, "cache"), "--base-image", disk+".xz", "--platform", "qemu", "--format", "qcow2")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "out"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left %s in the output directory", e.Name())
		}
	}
}
