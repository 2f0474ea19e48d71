package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/builder"
	"github.com/kiln-dev/kiln/internal/badspecs"
)

// TestMain lets the tests run the real command, exit code included: the
// test binary re-executes itself as kiln when KILN_TEST_MAIN is set.
func TestMain(m *testing.M) {
	if os.Getenv("KILN_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// kiln runs the command in dir and returns stdout, stderr and exit code.
func kiln(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	return kilnEnv(t, dir, nil, args...)
}

// kilnEnv is kiln with extra environment variables.
func kilnEnv(t *testing.T, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	return runKiln(t, dir, env, nil, args...)
}

// runKiln runs this test binary as kiln in dir, with extra environment
// variables and standard input (nil: none), and returns its standard
// output, standard error and exit code.
func runKiln(t *testing.T, dir string, env []string, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "KILN_TEST_MAIN=1"), env...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestRenderDefaultAppliance(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := kiln(t, dir, "render")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if first, _, _ := strings.Cut(stderr, "\n"); !strings.Contains(first, "using the embedded example appliance (Clipper)") || !strings.Contains(first, "kiln init") {
		t.Errorf("kiln does not say on one line that it used the example and how to start your own:\n%s", stderr)
	}
	for _, f := range []string{"clipper-1.0.0.bu", "clipper-1.0.0.ign"} {
		if _, err := os.Stat(filepath.Join(dir, "out", f)); err != nil {
			t.Errorf("missing output %s", f)
		}
		if !strings.Contains(stdout, f) {
			t.Errorf("output %s not listed on stdout", f)
		}
	}
}

func TestLocalSpecPreferred(t *testing.T) {
	dir := t.TempDir()
	if _, stderr, code := kiln(t, dir, "init"); code != 0 {
		t.Fatalf("init: exit %d: %s", code, stderr)
	}
	if _, stderr, code := kiln(t, dir, "init"); code != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("init overwrote an existing spec (exit %d): %s", code, stderr)
	}
	spec, _ := os.ReadFile(filepath.Join(dir, "appliance.yaml"))
	spec = bytes.Replace(spec, []byte("version: 1.0.0"), []byte("version: 1.1.0"), 1)
	if err := os.WriteFile(filepath.Join(dir, "appliance.yaml"), spec, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := kiln(t, dir, "render", "-o", "build")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "using appliance.yaml") {
		t.Errorf("did not use ./appliance.yaml: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "build", "clipper-1.1.0.ign")); err != nil {
		t.Error("render did not use the local spec's version")
	}
}

// TestBadSpecExitsOneAndWritesNothing runs validate and render on bad
// specs: exit 1, one FILE:LINE:COL line per problem, and no output.
func TestBadSpecExitsOneAndWritesNothing(t *testing.T) {
	cases := map[string]struct{ spec, want string }{
		"unknown key": {strings.Replace(string(builder.DefaultSpec), "name: clipper\n", "name: clipper\ncolour: blue\n", 1),
			`bad.yaml:12:1: colour: unknown field "colour"`},
		"public database": {strings.Replace(string(builder.DefaultSpec), "ports: [{port: 5436}]", "ports: [{port: 5436, public: true}]", 1),
			`bad.yaml:83:34: services[0].ports[0].public: a database port ("postgres", 5436) must not be public`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(tc.spec), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"validate", "-f", "bad.yaml"}, {"render", "-f", "bad.yaml", "-o", "out"}} {
				_, stderr, code := kiln(t, dir, args...)
				if code != 1 {
					t.Errorf("%v: exit %d, want 1", args, code)
				}
				if !strings.Contains(stderr, tc.want) {
					t.Errorf("%v: stderr lacks %q:\n%s", args, tc.want, stderr)
				}
				for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
					if !strings.HasPrefix(line, "bad.yaml:") {
						t.Errorf("%v: line is not FILE:LINE:COL: %q", args, line)
					}
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
				t.Error("render wrote output for a bad spec")
			}
		})
	}
}

func TestValidateOK(t *testing.T) {
	stdout, _, code := kiln(t, t.TempDir(), "validate")
	if code != 0 || !strings.Contains(stdout, "valid") {
		t.Fatalf("exit %d: %s", code, stdout)
	}
	_, stderr, code := kiln(t, t.TempDir(), "validate", "--strict")
	if code != 1 || !strings.Contains(stderr, "not pinned by digest") {
		t.Errorf("--strict: exit %d: %s", code, stderr)
	}
}

func TestHelpTeaches(t *testing.T) {
	for _, c := range []string{"render", "validate", "init"} {
		stdout, _, code := kiln(t, t.TempDir(), c, "--help")
		if code != 0 || !strings.Contains(stdout, "Examples:") {
			t.Errorf("%s --help has no examples (exit %d):\n%s", c, code, stdout)
		}
	}
	stdout, _, code := kiln(t, t.TempDir(), "completion", "bash")
	if code != 0 || !strings.Contains(stdout, "bash completion") {
		t.Errorf("no bash completion (exit %d)", code)
	}
}

// TestEveryBadSpecExitsOneAndWritesNothing runs each bad spec of the shared
// table through `kiln render`: exit 1, the error at its line:col and field
// path, and no output directory.
func TestEveryBadSpecExitsOneAndWritesNothing(t *testing.T) {
	for _, tc := range badspecs.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			src, ok := tc.Spec()
			if !ok {
				t.Fatalf("case does not apply to the minimal spec")
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := kiln(t, dir, "render", "-f", "bad.yaml", "-o", "out")
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			prefix := "bad.yaml:" + tc.Pos + ": "
			if tc.Path != "" {
				prefix += tc.Path + ": "
			}
			if !strings.Contains(stderr, prefix) {
				t.Errorf("stderr lacks %q:\n%s", prefix, stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
				t.Error("render wrote output for a bad spec")
			}
		})
	}
}

func TestDiffCommand(t *testing.T) {
	dir := t.TempDir()
	newSpec := bytes.Replace(builder.DefaultSpec, []byte("version: 1.0.0"), []byte("version: 1.0.1"), 1)
	os.WriteFile(filepath.Join(dir, "old.yaml"), builder.DefaultSpec, 0o644)
	os.WriteFile(filepath.Join(dir, "new.yaml"), newSpec, 0o644)
	out, stderr, code := kiln(t, dir, "diff", "--stat", "--exit-code", "old.yaml", "new.yaml")
	if code != 1 || !strings.Contains(out, "clipper 1.0.0 → clipper 1.0.1") || !strings.Contains(out, "changed  file  /etc/kiln/release.json") {
		t.Errorf("exit %d\n%s\n%s", code, out, stderr)
	}
	out, _, code = kiln(t, dir, "diff", "--exit-code", "old.yaml", "old.yaml")
	if code != 0 || !strings.Contains(out, ": 0 changes") {
		t.Errorf("identical specs: exit %d\n%s", code, out)
	}
}
