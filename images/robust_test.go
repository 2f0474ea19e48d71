package images

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/fixture"
)

// checkSums asserts that SHA256SUMS and manifest.json in out list the same
// digests, and that each is sha256sum's digest of the file itself.
func checkSums(t *testing.T, out string, wantNames ...string) *Manifest {
	t.Helper()
	var m Manifest
	data, err := os.ReadFile(filepath.Join(out, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	f, err := os.Open(filepath.Join(out, SumsName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		sums[name] = sum
	}
	if len(sums) != len(m.Artifacts) {
		t.Errorf("SHA256SUMS lists %d files, manifest.json %d", len(sums), len(m.Artifacts))
	}
	for _, a := range m.Artifacts {
		got := strings.Fields(shell(t, fmt.Sprintf("sha256sum '%s'", filepath.Join(out, a.Name))))[0]
		if a.SHA256 != got || sums[a.Name] != got {
			t.Errorf("%s: sha256sum %s, manifest.json %s, SHA256SUMS %s", a.Name, got, a.SHA256, sums[a.Name])
		}
		if a.Size != mustSize(t, filepath.Join(out, a.Name)) {
			t.Errorf("%s: manifest size %d, file %d", a.Name, a.Size, mustSize(t, filepath.Join(out, a.Name)))
		}
	}
	for _, n := range wantNames {
		if _, ok := sums[n]; !ok {
			t.Errorf("%s not listed (have %v)", n, sums)
		}
	}
	return &m
}

// TestBuildHashesAreTheFiles: for every format, the digests Build takes
// while writing are sha256sum's digests of the finished files, and so are
// the base digests, whether computed, taken from the digest store or from
// a compressed base's stream.
func TestBuildHashesAreTheFiles(t *testing.T) {
	f := newBuildFixture(t)
	targets := []Target{
		{Platform: "metal", Format: "raw"}, {Platform: "qemu", Format: "qcow2"}, {Platform: "azure", Format: "vhd"},
		{Platform: "aws", Format: "raw.zst"}, {Platform: "hetzner", Format: "raw.gz"}, {Platform: "vultr", Format: "raw.xz"},
		{Platform: "openstack", Format: "qcow2.xz"}, {Platform: "aws", Format: "vhd.gz"}, {Format: "iso"}, {Format: "pxe"},
	}
	store := filepath.Join(f.dir, "digests")
	baseSum := strings.Fields(shell(t, "sha256sum '"+f.image+"'"))[0]
	isoSum := strings.Fields(shell(t, "sha256sum '"+f.iso+"'"))[0]
	for i, name := range []string{"first", "from-digest-store"} {
		t.Run(name, func(t *testing.T) {
			out := t.TempDir()
			req := f.request(out, targets...)
			req.DigestDir = store
			if _, err := Build(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			m := checkSums(t, out, "clipper-1.2.0-metal.raw", "clipper-1.2.0-live.iso", "clipper-1.2.0-pxe.ign.img")
			for _, b := range m.Bases {
				want := map[string]string{"image": baseSum, "iso": isoSum}[b.Kind]
				if want != "" && b.SHA256 != want {
					t.Errorf("base %s: %s, sha256sum %s", b.Kind, b.SHA256, want)
				}
				if b.Release != fixture.Release {
					t.Errorf("base %s release %q", b.Kind, b.Release)
				}
			}
			ents, _ := os.ReadDir(store)
			if i == 1 && len(ents) != 2 {
				t.Errorf("digest store holds %d entries, want the disk's and the ISO's", len(ents))
			}
		})
	}
	// The store is what the second build used: a digest recorded there
	// is taken as is (the key is the file's identity, not its path).
	ents, _ := os.ReadDir(store)
	for _, e := range ents {
		os.WriteFile(filepath.Join(store, e.Name()), []byte(strings.Repeat("ab", 32)+"  x\n"), 0o644)
	}
	out := t.TempDir()
	req := f.request(out, Target{Platform: "metal", Format: "raw"})
	req.DigestDir = store
	m, err := Build(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if m.Bases[0].SHA256 != strings.Repeat("ab", 32) {
		t.Errorf("the digest store was not used: %+v", m.Bases)
	}
	// Touching the base changes its key: it is hashed again.
	now := mustStat(t, f.image).ModTime().Add(1e9)
	os.Chtimes(f.image, now, now)
	out = t.TempDir()
	req.OutDir = out
	if m, err = Build(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if m.Bases[0].SHA256 != baseSum {
		t.Errorf("a modified base kept its old digest: %+v", m.Bases)
	}

	t.Run("compressed-base", func(t *testing.T) {
		shell(t, fmt.Sprintf("xz -T2 -1 -k -c '%s' > '%s.xz'", f.image, f.image))
		xzSum := strings.Fields(shell(t, "sha256sum '"+f.image+".xz'"))[0]
		out := t.TempDir()
		req := f.request(out, Target{Platform: "qemu", Format: "qcow2"}, Target{Platform: "metal", Format: "raw.gz"})
		req.BaseImage = f.image + ".xz"
		m, err := Build(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		checkSums(t, out)
		if len(m.Bases) != 1 || m.Bases[0].SHA256 != xzSum || m.Bases[0].Name != filepath.Base(f.image)+".xz" {
			t.Errorf("bases %+v, want the .xz with sha256 %s", m.Bases, xzSum)
		}
	})
}

func mustStat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestBadBases: bases cut short or damaged, or of another release than
// the spec asks for, are refused before anything is written, with a
// message that says what is wrong and how to get the file again.
func TestBadBases(t *testing.T) {
	f := newBuildFixture(t)
	size := mustSize(t, f.image)
	cut := func(src string, n int64) string {
		p := filepath.Join(t.TempDir(), filepath.Base(src))
		shell(t, fmt.Sprintf("cp --sparse=always '%s' '%s' && truncate -s %d '%s'", src, p, n, p))
		return p
	}
	shell(t, fmt.Sprintf("xz -T2 -1 -k -c '%s' > '%s.xz' && gzip -1 -c '%s' > '%s.gz'", f.image, f.image, f.image, f.image))
	xzSize, gzSize := mustSize(t, f.image+".xz"), mustSize(t, f.image+".gz")
	flip := func(src string, at int64) string {
		p := filepath.Join(t.TempDir(), filepath.Base(src))
		shell(t, fmt.Sprintf("cp '%s' '%s'", src, p))
		fixture.Corrupt(t, p, at)
		return p
	}
	old := fixture.Disk(t, t.TempDir(), fixture.DiskOptions{BlockSize: 4096, Release: "41.20250101.3.0"})
	oldISO := fixture.ISO(t, t.TempDir(), fixture.ISOOptions{Release: "41.20250101.3.0"})
	for name, c := range map[string]struct {
		image, iso string
		want       error
		says       string
	}{
		"raw-cut-in-esp":        {image: cut(f.image, 100<<20), want: ErrTruncatedBase, says: "the GPT says the disk is"},
		"raw-cut-in-boot":       {image: cut(f.image, 300<<20), want: ErrTruncatedBase, says: "the GPT says the disk is"},
		"raw-cut-in-root":       {image: cut(f.image, size-(8<<20)), want: ErrTruncatedBase, says: "the GPT says the disk is"},
		"raw-last-sector-gone":  {image: cut(f.image, size-512), want: ErrTruncatedBase, says: "the GPT says the disk is"},
		"raw-xz-cut":            {image: cut(f.image+".xz", xzSize*2/3), want: ErrTruncatedBase, says: "unexpected EOF"},
		"raw-xz-cut-at-the-end": {image: cut(f.image+".xz", xzSize-4), want: ErrTruncatedBase},
		"raw-xz-corrupt":        {image: flip(f.image+".xz", xzSize/2), want: ErrTruncatedBase},
		"raw-gz-cut":            {image: cut(f.image+".gz", gzSize/2), want: ErrTruncatedBase, says: "unexpected EOF"},
		"raw-gz-corrupt":        {image: flip(f.image+".gz", gzSize/2), want: ErrTruncatedBase},
		"iso-cut":               {iso: cut(f.iso, mustSize(t, f.iso)/2), want: ErrTruncatedBase, says: "the ISO's volume is"},
		"raw-wrong-release":     {image: old, want: ErrBaseRelease, says: "is Fedora CoreOS 41.20250101.3.0, the spec's base.release wants \">= 42\""},
		"iso-wrong-release":     {iso: oldISO, want: ErrBaseRelease, says: "is Fedora CoreOS 41.20250101.3.0"},
	} {
		t.Run(name, func(t *testing.T) {
			out := t.TempDir()
			req := f.request(out, Target{Platform: "qemu", Format: "qcow2"})
			if c.iso != "" {
				req = f.request(out, Target{Format: "iso"})
				req.BaseISO = c.iso
			} else {
				req.BaseImage = c.image
			}
			req.BaseConstraint = ">= 42"
			_, err := Build(t.Context(), req)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("message lacks %q: %v", c.says, err)
			}
			if c.want == ErrTruncatedBase && !strings.Contains(err.Error(), "download it again") {
				t.Errorf("message does not say how to get the file again: %v", err)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("refused build left %v", ents)
			}
		})
	}
}

// TestOutputDirectory: the lock, the refusal to overwrite, --force, the
// manifest merge across builds and the refusal of a mixed directory, and
// the removal of a killed build's staging.
func TestOutputDirectory(t *testing.T) {
	f := newBuildFixture(t)
	out := t.TempDir()
	raw := Target{Platform: "metal", Format: "raw"}
	iso := Target{Format: "iso"}
	if _, err := Build(t.Context(), f.request(out, raw)); err != nil {
		t.Fatal(err)
	}
	// Building the next target into the same directory adds to the
	// manifest and SHA256SUMS instead of replacing them.
	if _, err := Build(t.Context(), f.request(out, iso)); err != nil {
		t.Fatal(err)
	}
	checkSums(t, out, "clipper-1.2.0-metal.raw", "clipper-1.2.0-live.iso")
	shell(t, "cd '"+out+"' && sha256sum --quiet -c SHA256SUMS")

	t.Run("exists", func(t *testing.T) {
		before := fileSHA(t, filepath.Join(out, ManifestName))
		_, err := Build(t.Context(), f.request(out, raw))
		if !errors.Is(err, ErrOutputExists) || !strings.Contains(err.Error(), "clipper-1.2.0-metal.raw") || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("got %v, want ErrOutputExists naming the file and --force", err)
		}
		if fileSHA(t, filepath.Join(out, ManifestName)) != before {
			t.Error("a refused build changed manifest.json")
		}
		req := f.request(out, raw)
		req.Force = true
		if _, err := Build(t.Context(), req); err != nil {
			t.Fatalf("--force: %v", err)
		}
		checkSums(t, out, "clipper-1.2.0-metal.raw", "clipper-1.2.0-live.iso")
	})
	t.Run("mixed", func(t *testing.T) {
		for name, mod := range map[string]func(*Request){
			"version": func(r *Request) { r.Version = "1.3.0" },
			"name":    func(r *Request) { r.Name = "other" },
			"config":  func(r *Request) { r.Ignition = []byte(strings.Replace(testConfig, "clipper", "clippy", 1)) },
		} {
			req := f.request(out, Target{Platform: "qemu", Format: "qcow2"})
			mod(&req)
			req.Force = true
			if _, err := Build(t.Context(), req); !errors.Is(err, ErrMixedOutput) {
				t.Errorf("%s: got %v, want ErrMixedOutput", name, err)
			}
		}
		checkSums(t, out, "clipper-1.2.0-metal.raw", "clipper-1.2.0-live.iso")
	})
	t.Run("locked", func(t *testing.T) {
		od, err := openOutDir(out)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Build(t.Context(), f.request(out, Target{Platform: "qemu", Format: "qcow2"}))
		od.close()
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("got %v, want ErrLocked", err)
		}
	})
	t.Run("stale-staging", func(t *testing.T) {
		// What a SIGKILLed build leaves: a staging directory with a
		// partial image in it.
		stale := filepath.Join(out, stagePrefix+"123")
		os.Mkdir(stale, 0o755)
		os.WriteFile(filepath.Join(stale, "half.raw"), []byte("partial"), 0o644)
		if _, err := Build(t.Context(), f.request(out, Target{Platform: "qemu", Format: "qcow2"})); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(stale); !os.IsNotExist(err) {
			t.Error("the stale staging directory is still there")
		}
		ents, _ := os.ReadDir(out)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("left %s in the output directory", e.Name())
			}
		}
	})
}

// TestFreeSpace: a build that cannot fit fails before writing anything.
func TestFreeSpace(t *testing.T) {
	if err := checkFreeSpace(t.TempDir(), 1<<62); !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "needs about") {
		t.Fatalf("got %v, want ErrNoSpace", err)
	}
	if err := checkFreeSpace(t.TempDir(), 1<<20); err != nil {
		t.Fatal(err)
	}
}
