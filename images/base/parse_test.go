package base

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
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

// fedoraKeys are the fingerprints of the shipped keys, as published by
// Fedora (https://fedoraproject.org/security/). A changed key file fails here.
var fedoraKeys = map[string]string{
	"fedora-42-primary.asc": "B0F4950458F69E1150C6C5EDC8AC4916105EF944",
	"fedora-43-primary.asc": "C6E7F081CF80E13146676E88829B606631645531",
	"fedora-44-primary.asc": "36F612DCF27F7D1A48A835E4DBFCF71C6D9F90A6",
	"fedora-45-primary.asc": "4F50A6114CD5C6976A7F1179655A4B02F577861E",
	"fedora-46-primary.asc": "D924B10D3E810DABDD8B56B596E7E91491211FCE",
	"fedora-47-primary.asc": "B2E766FA50CA6FA2D5ED06FC09D879E09488FB64",
}

func TestFedoraKeyring(t *testing.T) {
	names := FedoraKeyNames()
	if len(names) != len(fedoraKeys) {
		t.Fatalf("shipped keys %v, want %d", names, len(fedoraKeys))
	}
	ring, err := FedoraKeyring()
	if err != nil {
		t.Fatal(err)
	}
	if len(ring) != len(fedoraKeys) {
		t.Fatalf("keyring has %d entities, want %d", len(ring), len(fedoraKeys))
	}
	got := map[string]bool{}
	for _, e := range ring {
		fp := strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
		got[fp] = true
		if !e.PrimaryKey.CanSign() {
			t.Errorf("key %s cannot sign", fp)
		}
		if _, ok := e.SigningKey(e.PrimaryKey.CreationTime.AddDate(0, 1, 0)); !ok {
			t.Errorf("key %s has no usable signing key", fp)
		}
	}
	for name, fp := range fedoraKeys {
		if !got[fp] {
			t.Errorf("%s: fingerprint %s not in the keyring", name, fp)
		}
		var major string
		fmt.Sscanf(name, "fedora-%2s-primary.asc", &major)
		if !hasIdentity(ring, fp, "fedora-"+major+"-primary@fedoraproject.org") {
			t.Errorf("%s: key %s is not Fedora %s's primary key", name, fp, major)
		}
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
