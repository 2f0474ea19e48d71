package services

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/overlays"
)

// writeUnder writes files into root, mirroring their server paths below
// strip (e.g. /etc/kiln/prometheus), and returns root.
func writeUnder(t *testing.T, root, strip string, files []overlays.File) string {
	t.Helper()
	for _, f := range files {
		rel, ok := strings.CutPrefix(f.Path, strip+"/")
		if !ok {
			t.Fatalf("%s is not under %s", f.Path, strip)
		}
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Contents, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// goldenFiles compares each rendered file with the file the builder
// renders for Clipper (its golden) and checks the path, mode and owner
// every configuration file shares.
func goldenFiles(t *testing.T, service string, files []overlays.File) {
	t.Helper()
	for _, f := range files {
		if !strings.HasPrefix(f.Path, ConfigRoot+"/"+service+"/") {
			t.Errorf("%s is not under %s/%s", f.Path, ConfigRoot, service)
		}
		if f.Mode != 0o644 || f.User != "" || f.Group != "" {
			t.Errorf("%s: mode %o owner %q:%q, want 0644 root", f.Path, f.Mode, f.User, f.Group)
		}
		if want := productionGolden(t, f.Path); string(f.Contents) != string(want) {
			t.Errorf("%s differs from what the builder renders for Clipper:\n%s", f.Path, f.Contents)
		}
	}
}

// fileByName returns the rendered file whose path ends in name.
func fileByName(t *testing.T, files []overlays.File, name string) overlays.File {
	t.Helper()
	for _, f := range files {
		if filepath.Base(f.Path) == name {
			return f
		}
	}
	t.Fatalf("no rendered file named %s", name)
	return overlays.File{}
}
