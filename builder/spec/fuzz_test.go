package spec

import (
	"github.com/kiln-dev/kiln/internal/badspecs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds the loader arbitrary bytes. It must never panic, and its
// answer must be coherent: a spec is returned only without errors, and
// every diagnostic has a position inside the file and a readable form.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(minimal))
	for _, tc := range badspecs.Cases {
		src, _ := tc.Spec()
		f.Add([]byte(src))
	}
	seeds, _ := filepath.Glob("testdata/*.yaml")
	seeds = append(seeds, filepath.Join("..", "appliances", "clipper.yaml"))
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		app, _, ds := Load("fuzz.yaml", data)
		if app != nil && ds.HasErrors() {
			t.Fatalf("spec returned along with errors: %v", ds)
		}
		if app == nil && !ds.HasErrors() {
			t.Fatalf("no spec and no error")
		}
		lines := yamlLines(data) + 1
		for _, d := range ds {
			if d.Pos.Line < 1 || d.Pos.Col < 1 || d.Pos.Line > lines {
				t.Fatalf("diagnostic outside the file (%d lines): %s", lines, d)
			}
			if !strings.HasPrefix(d.String(), "fuzz.yaml:") {
				t.Fatalf("diagnostic without file: %s", d)
			}
		}
	})
}

// yamlLines counts lines as YAML does: \n, \r and \r\n each end a line.
func yamlLines(data []byte) int {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	return strings.Count(s, "\n") + strings.Count(s, "\r") + 1
}
