package base

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/kiln-dev/kiln/internal/testutil"
)

// describeStream renders what kiln takes from stream metadata, one file per
// line, in a fixed order, so a golden diff shows exactly what changed.
func describeStream(s *Stream) string {
	var b strings.Builder
	fmt.Fprintf(&b, "stream %s last-modified %s\n", s.Stream, s.Metadata.LastModified)
	for _, arch := range sortedKeys(s.Architectures) {
		for _, platform := range s.Platforms(arch) {
			p := s.Architectures[arch].Artifacts[platform]
			for _, format := range s.Formats(arch, platform) {
				for _, f := range p.Formats[format].Files() {
					fmt.Fprintf(&b, "%s %s %s %s release=%s\n  location=%s\n  signature=%s\n  sha256=%s uncompressed=%s\n",
						arch, platform, format, f.Role, p.Release, f.Location, f.Signature, f.SHA256, f.UncompressedSHA256)
				}
			}
		}
	}
	return b.String()
}

func TestParseFixtures(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "stable.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseStream(data)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "stable.golden"), []byte(describeStream(s)))

	data, err = os.ReadFile(filepath.Join("testdata", "releases.json"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := ParseReleaseIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "stream %s last-modified %s\n", idx.Stream, idx.Metadata.LastModified)
	for _, r := range idx.Releases {
		fmt.Fprintf(&b, "%s %s\n", r.Version, r.MetadataURL)
	}
	testutil.Golden(t, filepath.Join("testdata", "releases.golden"), []byte(b.String()))
}

func TestParseErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":   `{"stream":`,
		"no stream":  `{"architectures":{}}`,
		"no release": `{"stream":"stable","architectures":{"x86_64":{"artifacts":{"metal":{"formats":{}}}}}}`,
		"no files":   `{"stream":"stable","architectures":{"x86_64":{"artifacts":{"metal":{"release":"42.1","formats":{"raw.xz":{}}}}}}}`,
		"no sha256":  `{"stream":"stable","architectures":{"x86_64":{"artifacts":{"metal":{"release":"42.1","formats":{"raw.xz":{"disk":{"location":"x"}}}}}}}}`,
		"wrong type": `{"stream":["stable"]}`,
	} {
		if _, err := ParseStream([]byte(doc)); !errors.Is(err, ErrMetadata) {
			t.Errorf("%s: err = %v, want ErrMetadata", name, err)
		}
	}
	if _, err := ParseReleaseIndex([]byte(`{"releases":[{"metadata":"x"}]}`)); !errors.Is(err, ErrMetadata) {
		t.Errorf("index without version: %v", err)
	}
	if _, err := ParseRelease([]byte(`{"stream":"stable"}`)); !errors.Is(err, ErrMetadata) {
		t.Errorf("release without name: %v", err)
	}
}

func FuzzParseStream(f *testing.F) {
	for _, name := range []string{"stable.json", "releases.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseStream(data)
		if err != nil {
			if !errors.Is(err, ErrMetadata) {
				t.Fatalf("error outside ErrMetadata: %v", err)
			}
			return
		}
		// Whatever parses must be usable without further checks.
		for arch := range s.Architectures {
			for _, platform := range s.Platforms(arch) {
				for _, format := range s.Formats(arch, platform) {
					for _, file := range s.Architectures[arch].Artifacts[platform].Formats[format].Files() {
						if file.Location == "" || file.SHA256 == "" {
							t.Fatalf("%s/%s/%s accepted without location or sha256", platform, format, file.Role)
						}
					}
				}
			}
		}
	})
}

// TestFedoraFingerprints: each pinned fingerprint is a full v4
// fingerprint, and no key is pinned for two releases.
func TestFedoraFingerprints(t *testing.T) {
	seen := map[string]string{}
	for rel, fp := range FedoraFingerprints {
		if b, err := hex.DecodeString(fp); err != nil || len(b) != 20 || fp != strings.ToUpper(fp) {
			t.Errorf("Fedora %s: %q is not an upper-case 40-digit fingerprint", rel, fp)
		}
		if other, dup := seen[fp]; dup {
			t.Errorf("fingerprint %s pinned for Fedora %s and %s", fp, rel, other)
		}
		seen[fp] = rel
	}
}

// TestLoadFedoraKeys: keys are read from the system's files but trusted
// only when their fingerprint is pinned.
func TestLoadFedoraKeys(t *testing.T) {
	e, _ := testKeyEmail(t, "Fedora 99", "fedora-99-primary@fedoraproject.org")
	dir := t.TempDir()
	var armored bytes.Buffer
	w, err := armor.Encode(&armored, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.WriteFile(filepath.Join(dir, "RPM-GPG-KEY-fedora-99-primary"), armored.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "RPM-GPG-KEY-fedora-README"), []byte("not a key"), 0o644)
	if _, err := LoadFedoraKeys(dir); !errors.Is(err, ErrKeyring) || !strings.Contains(err.Error(), KeyringEnv) {
		t.Fatalf("an unpinned key was trusted, or the error does not say what to do: %v", err)
	}
	fp := strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
	FedoraFingerprints["99"] = fp
	defer delete(FedoraFingerprints, "99")
	ring, err := LoadFedoraKeys(filepath.Join(dir, "missing"), dir)
	if err != nil || len(ring) != 1 || !hasIdentity(ring, fp, "fedora-99-primary@fedoraproject.org") {
		t.Fatalf("pinned key not loaded: %v %v", ring, err)
	}
	t.Setenv(KeyringEnv, dir)
	if ring, err := FedoraKeyring(); err != nil || len(ring) != 1 {
		t.Errorf("%s not honoured: %v", KeyringEnv, err)
	}
}

func hasIdentity(ring openpgp.EntityList, fp, email string) bool {
	for _, e := range ring {
		if strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint)) != fp {
			continue
		}
		for id := range e.Identities {
			if strings.Contains(id, "<"+email+">") {
				return true
			}
		}
	}
	return false
}
