// Package testutil holds the helpers kiln's tests share: locating the real
// programs that judge kiln's output, and golden files recorded on demand.
package testutil

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/overlays"
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

// GoldenDir compares files (relative path → contents) with the golden
// files under dir, one golden file each, and reports a golden file that
// nothing produces any more. With -update it replaces dir with files.
func GoldenDir(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	for rel, got := range files {
		Golden(t, filepath.Join(dir, rel), got)
	}
	if *update {
		return
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			t.Errorf("golden file %s is no longer produced; re-record with -update", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// FieldCase is one row of an overlay's validation table: a change that
// breaks a valid Config, the sentinel the error must wrap, and the field
// the error must name first. An alias of a plain struct, so that tables
// stay one short line a row.
type FieldCase[C any] = struct {
	Mut   func(*C)
	Err   error
	Field string
}

// FieldErrors runs each case on a fresh valid Config from base through
// render and checks that the error wraps the case's sentinel and starts
// with the field's name.
func FieldErrors[C any](t *testing.T, base func() C, render func(C) error, cases map[string]FieldCase[C]) {
	t.Helper()
	fieldErrors(t, base, render, cases, false)
}

// OverlayFieldErrors is FieldErrors for an overlay whose errors the
// builder maps back to spec positions: each error must also be an
// *overlays.FieldError naming exactly the case's field.
func OverlayFieldErrors[C any](t *testing.T, base func() C, render func(C) error, cases map[string]FieldCase[C]) {
	t.Helper()
	fieldErrors(t, base, render, cases, true)
}

func fieldErrors[C any](t *testing.T, base func() C, render func(C) error, cases map[string]FieldCase[C], typed bool) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := base()
			tc.Mut(&c)
			err := render(c)
			if !errors.Is(err, tc.Err) {
				t.Fatalf("got %v, want %v", err, tc.Err)
			}
			if !strings.HasPrefix(err.Error(), tc.Field+":") {
				t.Errorf("error %q does not name field %q", err, tc.Field)
			}
			var fe *overlays.FieldError
			if typed && (!errors.As(err, &fe) || fe.Field != tc.Field) {
				t.Errorf("error %q is no FieldError of field %q", err, tc.Field)
			}
		})
	}
}

// TestOS returns the paths of the named files under testos/out (what `make
// testos` writes: testos-metal.raw, testos-live-pxe, testos-live.iso). A
// VM test cannot run without them: when one is missing it is skipped
// locally, with the make target that runs it (target), and fails in CI,
// where .ci/run builds the test OS first.
func TestOS(t testing.TB, target string, names ...string) []string {
	t.Helper()
	out := filepath.Join(RepoRoot(t), "testos", "out")
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = filepath.Join(out, n)
		if _, err := os.Stat(paths[i]); err != nil {
			if InCI() {
				t.Fatalf("%s is missing: run `make testos` (as root) before the VM tests", paths[i])
			}
			t.Skipf("%s is absent: run `make testos` (as root) to build the test OS, then `%s`", paths[i], target)
		}
	}
	return paths
}
