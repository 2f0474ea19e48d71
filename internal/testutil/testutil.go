// Package testutil holds the helpers kiln's tests share: locating the real
// programs that judge kiln's output, and golden files recorded on demand.
package testutil

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// update re-records golden files instead of comparing against them. It is
// opt-in so that a golden diff is always reviewed like code.
var update = flag.Bool("update", false, "re-record golden files instead of comparing")

// RepoRoot returns the module root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate testutil source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// InCI reports whether the tests run under CI, where a missing judge is a
// failure rather than a skip: a judge that silently does not run cannot fail.
func InCI() bool { return os.Getenv("CI") != "" }

// Tool returns the path of a judging program. It looks in $KILN_TOOLS_BIN,
// then in the repository's bin/ (where `make tools` builds the judges that
// come from Go modules), then in $PATH and the sbin directories. When the
// program is missing the test is skipped locally and fails in CI.
func Tool(t testing.TB, name string) string {
	t.Helper()
	var dirs []string
	if d := os.Getenv("KILN_TOOLS_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, filepath.Join(RepoRoot(t), "bin"))
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	// README.md's "Judges" section names the package of each judge.
	if InCI() {
		t.Fatalf("judge %q not found: install the Debian packages in .ci/apt-packages and run `make tools` (README.md, \"Judges\", names its package)", name)
	}
	t.Skipf("judge %q not found: install the Debian packages in .ci/apt-packages or run `make tools` (README.md, \"Judges\", names its package)", name)
	return ""
}

// Golden compares got with the golden file at path (relative to the calling
// test's package directory). With -update it writes got instead.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file %s: %v (record it with: go test -run %s -update)", path, err, t.Name())
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file; review the diff and re-record with -update if intended\n%s", path, firstDiff(want, got))
	}
}

// firstDiff describes the first differing line, enough to find the change.
func firstDiff(want, got []byte) string {
	wl := bytes.Split(want, []byte("\n"))
	gl := bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + string(w) + "\n  got:  " + string(g)
		}
	}
	return ""
}
