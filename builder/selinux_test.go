package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kiln-dev/kiln/internal/judge"
)

// TestSELinuxVolumes judges every Quadlet .container kiln renders (each
// render case, Clipper included) and every recorded one (the render
// goldens, the overlays' goldens) against Fedora CoreOS's enforcing
// SELinux: no relabel of a path Podman refuses or of a host system file,
// no Z, and host paths read only by unconfined containers.
func TestSELinuxVolumes(t *testing.T) {
	judgeUnit := func(where, contents string, owned ...string) {
		for _, p := range judge.SELinuxVolumes(contents, owned...) {
			t.Errorf("%s: %s", where, p)
		}
	}
	seen := 0
	for _, name := range renderCases {
		res := renderCase(t, name)
		for _, u := range res.Units {
			if strings.HasSuffix(u.Name, ".container") {
				judgeUnit(name+": "+u.Name, u.Contents, EtcDir, res.App.Data.Path)
				seen++
			}
		}
	}
	goldens, _ := filepath.Glob("testdata/render/*.bu.golden")
	for _, g := range goldens {
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		var bu struct {
			Storage struct {
				Files []struct {
					Path     string
					Contents struct{ Inline string }
				}
			}
		}
		if err := yaml.Unmarshal(data, &bu); err != nil {
			t.Fatalf("%s: %v", g, err)
		}
		for _, f := range bu.Storage.Files {
			if strings.HasSuffix(f.Path, ".container") {
				judgeUnit(g+": "+f.Path, f.Contents.Inline, EtcDir, "/var/lib/kiln")
				seen++
			}
		}
	}
	more, _ := filepath.Glob("../overlays/*/testdata/*.container")
	for _, g := range more {
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		judgeUnit(g, string(data), EtcDir, "/var/lib/kiln")
		seen++
	}
	if seen < 20 {
		t.Errorf("judged only %d container units; the globs or render cases lost some", seen)
	}
}
