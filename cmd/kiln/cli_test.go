package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/builder"
	"github.com/kiln-dev/kiln/internal/fixture"
	"github.com/kiln-dev/kiln/overlays"
)

// badSpec is the default spec with an unknown key at line 12, column 1.
var badSpec = strings.Replace(string(builder.DefaultSpec), "name: clipper\n", "name: clipper\ncolour: blue\n", 1)

// kilnIn is kiln with standard input.
func kilnIn(t *testing.T, dir, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return runKiln(t, dir, nil, strings.NewReader(stdin), args...)
}

// TestExitCodes: 0 for success, 1 for a bad spec or a failed command, 2
// for a mistake on the command line itself, with the help hint.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(badSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"validate"}, 0, ""},
		{[]string{"--version"}, 0, ""},
		{[]string{"validate", "bad.yaml"}, 1, "bad.yaml:12:1: colour"},
		{[]string{"validate", "missing.yaml"}, 1, "missing.yaml"},
		{[]string{"inspect", "missing.raw"}, 1, "missing.raw"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate" for "kiln"`},
		{[]string{"valdate"}, 2, `did you mean "validate"`},
		{[]string{"validate", "--frobnicate"}, 2, "unknown flag: --frobnicate"},
		{[]string{"validate", "a.yaml", "b.yaml"}, 2, "accepts at most 1 arg"},
		{[]string{"validate", "-f", "a.yaml", "b.yaml"}, 2, "not both"},
		{[]string{"render", "--output"}, 2, "flag needs an argument"},
		{[]string{"inspect"}, 2, "accepts 1 arg"},
		{[]string{"diff", "a.yaml"}, 2, "accepts 2 arg"},
		{[]string{"base", "frobnicate"}, 2, `unknown command "frobnicate" for "kiln base"`},
		{[]string{"build", "extra"}, 2, `unknown command "extra" for "kiln build"`},
	}
	for _, tc := range cases {
		_, stderr, code := kiln(t, dir, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("kiln %s: exit %d, want %d with %q:\n%s", strings.Join(tc.args, " "), code, tc.code, tc.want, stderr)
		}
		if tc.code == 2 && !strings.Contains(stderr, "--help' for usage") {
			t.Errorf("kiln %s: a usage error does not point at --help:\n%s", strings.Join(tc.args, " "), stderr)
		}
	}
}

// TestSignalExitCodes interrupts a running build: exit 130 for SIGINT and
// 143 for SIGTERM, and the output directory holds nothing afterwards (no
// artifact, no staging directory).
func TestSignalExitCodes(t *testing.T) {
	dir := t.TempDir()
	// Enough non-zero data that compressing it to raw.xz takes seconds.
	disk := fixture.Disk(t, dir, fixture.DiskOptions{BlockSize: 4096, DataMiB: 96})
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			out := filepath.Join(dir, "out-"+tc.sig.String())
			cmd := exec.Command(os.Args[0], "build", "-o", out, "--offline", "--cache-dir", filepath.Join(dir, "cache"),
				"--insecure-base", "--base-image", disk, "--platform", "hetzner", "--format", "raw.xz")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "KILN_TEST_MAIN=1")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Signal once the image is being written, when there are
			// partial outputs to remove.
			var log strings.Builder
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				log.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "hetzner.raw.xz") {
					break
				}
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				for sc.Scan() {
					log.WriteString(sc.Text() + "\n")
				}
				close(done)
			}()
			timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
			defer timer.Stop()
			<-done
			err = cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, log.String())
			}
			if !strings.Contains(log.String(), "interrupted ("+map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[tc.sig]+"); no output was written") {
				t.Errorf("no message about the interruption:\n%s", log.String())
			}
			entries, _ := os.ReadDir(out)
			for _, e := range entries {
				t.Errorf("left behind in the output directory: %s", e.Name())
			}
		})
	}
}

// TestSignalWhileReadingStdin: a command that has nothing to clean up
// (here blocked reading the spec from standard input) ends at once with
// 130 on SIGINT.
func TestSignalWhileReadingStdin(t *testing.T) {
	cmd := exec.Command(os.Args[0], "validate", "-")
	cmd.Env = append(os.Environ(), "KILN_TEST_MAIN=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The signal handler is installed before flags are parsed; give the
	// process time to get there.
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err = cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130\n%s", err, errb.String())
	}
}

// TestSpecArgumentAndStdin: validate and render take the spec as an
// argument; - (as argument or -f) reads standard input, named <stdin>.
func TestSpecArgumentAndStdin(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), builder.DefaultSpec, 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := kiln(t, dir, "validate", "web.yaml"); code != 0 || !strings.Contains(stdout, "valid") || !strings.Contains(stderr, "web.yaml:43:9: warning:") {
		t.Errorf("validate web.yaml: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if stdout, stderr, code := kiln(t, dir, "render", "web.yaml", "-o", "o1"); code != 0 || !strings.Contains(stdout, "clipper-1.0.0.ign") {
		t.Errorf("render web.yaml: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, args := range [][]string{{"validate", "-"}, {"validate", "-f", "-"}, {"render", "-", "-o", "o2"}} {
		_, stderr, code := kilnIn(t, dir, badSpec, args...)
		if code != 1 || !strings.Contains(stderr, `<stdin>:12:1: colour: unknown field "colour"`) {
			t.Errorf("%v with a bad spec on stdin: exit %d\n%s", args, code, stderr)
		}
	}
	if _, stderr, code := kilnIn(t, dir, string(builder.DefaultSpec), "render", "-f", "-", "-o", "o3"); code != 0 {
		t.Errorf("render -f -: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "o3", "clipper-1.0.0.ign")); err != nil {
		t.Errorf("render -f - wrote nothing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "o2")); !os.IsNotExist(err) {
		t.Error("render wrote output for a bad spec on stdin")
	}
}

func TestVersionFlag(t *testing.T) {
	flag, _, code := kiln(t, t.TempDir(), "--version")
	long, _, _ := kiln(t, t.TempDir(), "version")
	first, _, _ := strings.Cut(long, "\n")
	if code != 0 || flag != first+"\n" || !strings.HasPrefix(flag, "kiln ") {
		t.Errorf("kiln --version = %q (exit %d), want the first line of kiln version, %q", flag, code, first)
	}
}

// validateOutput mirrors `kiln validate --json`; decoding rejects fields
// that are not in the documented schema.
type validateOutput struct {
	File        string `json:"file"`
	Valid       bool   `json:"valid"`
	Appliance   string `json:"appliance"`
	Version     string `json:"version"`
	Error       string `json:"error"`
	Diagnostics []struct {
		File     string `json:"file"`
		Line     int    `json:"line"`
		Column   int    `json:"column"`
		Path     string `json:"path"`
		Message  string `json:"message"`
		Fix      string `json:"fix"`
		Severity string `json:"severity"`
	} `json:"diagnostics"`
}

func decodeStrict(t *testing.T, data string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("output does not match the schema: %v\n%s", err, data)
	}
}

func TestValidateJSON(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(badSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := kiln(t, dir, "validate", "--json", "bad.yaml")
	if code != 1 {
		t.Errorf("bad spec: exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, "colour") {
		t.Errorf("--json also printed the diagnostics on stderr:\n%s", stderr)
	}
	var bad validateOutput
	decodeStrict(t, stdout, &bad)
	if bad.File != "bad.yaml" || bad.Valid || bad.Error != "" {
		t.Errorf("bad spec: %+v", bad)
	}
	found := false
	for _, d := range bad.Diagnostics {
		if d.File == "bad.yaml" && d.Line == 12 && d.Column == 1 && d.Path == "colour" && d.Severity == "error" &&
			strings.Contains(d.Message, `unknown field "colour"`) && d.Fix != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("no error diagnostic at bad.yaml:12:1 colour with a fix: %+v", bad.Diagnostics)
	}

	stdout, _, code = kiln(t, dir, "validate", "--json", "missing.yaml")
	var missing validateOutput
	decodeStrict(t, stdout, &missing)
	if code != 1 || missing.Valid || missing.File != "missing.yaml" || !strings.Contains(missing.Error, "missing.yaml") {
		t.Errorf("missing spec: exit %d, %+v", code, missing)
	}

	stdout, stderr, code = kiln(t, dir, "validate", "--json")
	if code != 0 {
		t.Fatalf("default spec: exit %d\n%s", code, stderr)
	}
	var good validateOutput
	decodeStrict(t, stdout, &good)
	if !good.Valid || good.Appliance != "clipper" || good.Version != "1.0.0" || good.File != builder.DefaultSpecName {
		t.Errorf("default spec: %+v", good)
	}
	var digest int
	for _, d := range good.Diagnostics {
		if d.Severity != "warning" || d.Line == 0 || d.Column == 0 || d.Path == "" || d.Message == "" {
			t.Errorf("incomplete warning: %+v", d)
		}
		if strings.Contains(d.Message, "not pinned by digest") && strings.HasPrefix(d.Path, "services[") {
			digest++
		}
	}
	if want := unpinnedImages(t); digest != want {
		t.Errorf("--json lists %d unpinned images, want each of the %d", digest, want)
	}
}

// unpinnedImages counts the images of the default spec that are not pinned
// by digest.
func unpinnedImages(t *testing.T) int {
	t.Helper()
	n := len(regexp.MustCompile(`(?m)^\s+image: [^@\n]+$`).FindAll(builder.DefaultSpec, -1))
	if n < 2 {
		t.Fatalf("the default spec has %d unpinned images: the checks below would prove nothing", n)
	}
	return n
}

// TestWarningsFolded: outside validate, the same warning for the default
// spec's unpinned images is one line with the count and the command that
// lists each; validate lists each; -q drops warnings; -q --strict still
// refuses them.
func TestWarningsFolded(t *testing.T) {
	dir := t.TempDir()
	n := unpinnedImages(t)
	_, stderr, code := kiln(t, dir, "render", "-o", "out")
	if code != 0 {
		t.Fatalf("render: exit %d\n%s", code, stderr)
	}
	folded := regexp.MustCompile(fmt.Sprintf("(?m)^clipper\\.yaml \\(embedded default\\):82:12: warning: services\\[\\*\\]\\.image: %[1]d alike, e\\.g\\. image .* is not pinned by digest — .*; `kiln validate` lists all %[1]d$", n))
	// kiln's own images whose digest awaits confirmation are warned about
	// at their own spec path (overlays/images.go), not folded with these.
	own := 0
	for _, img := range overlays.Images() {
		if img.Digest == "" {
			own++
		}
	}
	if !folded.MatchString(stderr) || strings.Count(stderr, "not pinned by digest") != 1+own {
		t.Errorf("render does not fold the unpinned images into one line:\n%s", stderr)
	}
	if n := strings.Count(stderr, "warning:"); n != 3+own {
		t.Errorf("render printed %d warning lines, want %d (the example key, the folded images, no alert receiver, kiln's own unpinned images):\n%s", n, 3+own, stderr)
	}

	if err := os.WriteFile(filepath.Join(dir, "my app.yaml"), builder.DefaultSpec, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, _ = kiln(t, dir, "render", "-f", "my app.yaml", "-o", "out")
	if !strings.Contains(stderr, fmt.Sprintf("`kiln validate 'my app.yaml'` lists all %d", n)) {
		t.Errorf("the listing command does not name the spec:\n%s", stderr)
	}

	_, stderr, code = kiln(t, dir, "validate")
	if code != 0 || strings.Count(stderr, "not pinned by digest") != n+own {
		t.Errorf("validate does not list each warning (exit %d):\n%s", code, stderr)
	}

	for _, c := range []string{"validate", "render"} {
		_, stderr, code = kiln(t, dir, c, "-q", "-o", "out")
		if c == "validate" {
			_, stderr, code = kiln(t, dir, c, "-q")
		}
		if code != 0 || strings.Contains(stderr, "warning") {
			t.Errorf("%s -q: exit %d, warnings shown:\n%s", c, code, stderr)
		}
	}
	_, stderr, code = kiln(t, dir, "render", "-q", "--strict", "-o", "strict")
	if code != 1 || strings.Count(stderr, "not pinned by digest") != n {
		t.Errorf("-q --strict: exit %d, want 1 with every refused warning:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "strict")); !os.IsNotExist(err) {
		t.Error("-q --strict wrote output")
	}
}

// TestStrictRefusesExampleKey: a pipeline that never ran `kiln init` (or
// kept its placeholder key) cannot ship the example with --strict.
func TestStrictRefusesExampleKey(t *testing.T) {
	dir := t.TempDir()
	_, stderr, code := kiln(t, dir, "validate", "--strict")
	want := "clipper.yaml (embedded default):43:9: users[0].ssh_keys[0]: this is the example key"
	if code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, want 1 with %q:\n%s", code, want, stderr)
	}
	if _, stderr, code := kiln(t, dir, "init"); code != 0 {
		t.Fatal(stderr)
	}
	_, stderr, code = kiln(t, dir, "validate", "--strict", "appliance.yaml")
	if code != 1 || !strings.Contains(stderr, "appliance.yaml:43:9: users[0].ssh_keys[0]: this is the example key") {
		t.Errorf("kiln init's spec: exit %d:\n%s", code, stderr)
	}
}

// TestDiffJSON checks `kiln diff --json` against its schema.
func TestDiffJSON(t *testing.T) {
	dir := t.TempDir()
	newSpec := bytes.Replace(builder.DefaultSpec, []byte("version: 1.0.0"), []byte("version: 1.0.1"), 1)
	os.WriteFile(filepath.Join(dir, "old.yaml"), builder.DefaultSpec, 0o644)
	os.WriteFile(filepath.Join(dir, "new.yaml"), newSpec, 0o644)
	type changes struct {
		Old struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"old"`
		New struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"new"`
		Changes []struct {
			Op   string `json:"op"`
			Kind string `json:"kind"`
			Name string `json:"name"`
			Diff string `json:"diff"`
		} `json:"changes"`
	}
	stdout, stderr, code := kiln(t, dir, "diff", "--json", "--exit-code", "old.yaml", "new.yaml")
	if code != 1 {
		t.Errorf("--exit-code with differences: exit %d\n%s", code, stderr)
	}
	var d changes
	decodeStrict(t, stdout, &d)
	if d.Old.Version != "1.0.0" || d.New.Version != "1.0.1" || d.Old.Name != "clipper" {
		t.Errorf("sides: %+v %+v", d.Old, d.New)
	}
	found := false
	for _, c := range d.Changes {
		if c.Op == "changed" && c.Kind == "file" && c.Name == builder.ReleasePath && strings.Contains(c.Diff, "+  \"version\": \"1.0.1\"") {
			found = true
		}
	}
	if !found {
		t.Errorf("no change of %s with its diff: %+v", builder.ReleasePath, d.Changes)
	}
	stdout, _, code = kiln(t, dir, "diff", "--json", "old.yaml", "old.yaml")
	var same changes
	decodeStrict(t, stdout, &same)
	if code != 0 || same.Changes == nil || len(same.Changes) != 0 {
		t.Errorf("identical specs: exit %d, %s", code, stdout)
	}
}

// TestBaseListJSON checks `kiln base list --json` on an empty cache and on
// one holding a verified record.
func TestBaseListJSON(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	stdout, stderr, code := kiln(t, dir, "base", "list", "--json", "--cache-dir", cache)
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("empty cache: exit %d: %q %s", code, stdout, stderr)
	}
	rec := filepath.Join(cache, "stable", "42.20250901.3.0", "x86_64", "metal")
	if err := os.MkdirAll(rec, 0o755); err != nil {
		t.Fatal(err)
	}
	record := `{"stream":"stable","release":"42.20250901.3.0","arch":"x86_64","platform":"metal",
		"formats":{"raw.xz":[{"name":"disk.raw.xz","role":"disk","verified":{"size":123}}]}}`
	if err := os.WriteFile(filepath.Join(rec, "kiln-verified.json"), []byte(record), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = kiln(t, dir, "base", "list", "--json", "--cache-dir", cache)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var entries []struct {
		Stream   string `json:"stream"`
		Release  string `json:"release"`
		Arch     string `json:"arch"`
		Platform string `json:"platform"`
		Dir      string `json:"dir"`
		Size     int64  `json:"size"`
		Formats  map[string][]struct {
			Name string `json:"name"`
			Role string `json:"role"`
		} `json:"formats"`
	}
	if err := json.Unmarshal([]byte(stdout), &entries); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(entries) != 1 || entries[0].Release != "42.20250901.3.0" || entries[0].Platform != "metal" || entries[0].Dir != rec ||
		entries[0].Size != 123 || entries[0].Formats["raw.xz"][0].Role != "disk" {
		t.Errorf("entries: %+v", entries)
	}
}
