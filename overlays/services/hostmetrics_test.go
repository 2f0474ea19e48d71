package services

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/judge"
)

// hostMetricsEnv is a scratch server for kiln-host-metrics: a release
// file, an os-release, a systemctl that reports failed units and a
// certificate.
type hostMetricsEnv struct {
	dir, script, textfile string
	env                   []string
}

func newHostMetricsEnv(t *testing.T) *hostMetricsEnv {
	t.Helper()
	dir := t.TempDir()
	e := &hostMetricsEnv{dir: dir, textfile: filepath.Join(dir, "textfile")}
	files, _, err := HostMetrics(HostMetricsConfig{TextfileDir: e.textfile, StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	e.script = filepath.Join(dir, "kiln-host-metrics")
	if err := os.WriteFile(e.script, files[0].Contents, 0o755); err != nil {
		t.Fatal(err)
	}
	systemctl := filepath.Join(dir, "systemctl")
	writeFile(t, systemctl, []byte("#!/bin/sh\n# list-units --state=failed --plain --no-legend\nprintf '%s\\n' 'kiln-backup-daily.service loaded failed failed kiln backup' 'kiln-acme.service loaded failed failed ACME'\n"))
	os.Chmod(systemctl, 0o755)
	cert := filepath.Join(dir, "fullchain.pem")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", filepath.Join(dir, "key.pem"), "-out", cert, "-days", "10", "-subj", "/CN=clipper.example.com").CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	e.release("1.0.0", "sha256:aaa")
	e.osVersion("42.20250901.3.0")
	e.env = []string{"KILN_TEXTFILE_DIR=" + e.textfile, "KILN_STATE_DIR=" + filepath.Join(dir, "state"),
		"KILN_RELEASE_FILE=" + filepath.Join(dir, "release.json"), "KILN_OS_RELEASE=" + filepath.Join(dir, "os-release"),
		"KILN_TLS_CERT=" + cert, "KILN_SYSTEMCTL=" + systemctl, "PATH=" + os.Getenv("PATH")}
	return e
}

func (e *hostMetricsEnv) release(version, digest string) {
	os.WriteFile(filepath.Join(e.dir, "release.json"), []byte(`{
  "name": "clipper",
  "version": "`+version+`",
  "config_digest": "`+digest+`"
}
`), 0o644)
}

func (e *hostMetricsEnv) osVersion(v string) {
	os.WriteFile(filepath.Join(e.dir, "os-release"), []byte("NAME=\"Fedora Linux\"\nVERSION_ID=42\nOSTREE_VERSION='"+v+"'\n"), 0o644)
}

// run runs the script and returns the metrics it wrote, checked by
// promtool check metrics.
func (e *hostMetricsEnv) run(t *testing.T, extraEnv ...string) string {
	t.Helper()
	cmd := exec.Command("bash", e.script)
	cmd.Env = append(append([]string(nil), e.env...), extraEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kiln-host-metrics: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(e.textfile, "kiln_host.prom"))
	if err != nil {
		t.Fatal(err)
	}
	out := string(raw)
	if res, err := judge.Exec(t, judge.Command{Name: "promtool", Args: []string{"check", "metrics"}, Stdin: []byte(out)}); err != nil {
		t.Fatalf("%v\n%s\n%s", err, res.Combined(), out)
	}
	entries, _ := os.ReadDir(e.textfile)
	if len(entries) != 1 {
		t.Errorf("textfile directory holds %d files, want only kiln_host.prom (no temporary left)", len(entries))
	}
	// Samples only, one per line between newlines, so that a HELP text
	// cannot satisfy a test.
	var samples []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "#") {
			samples = append(samples, l)
		}
	}
	return "\n" + strings.Join(samples, "\n")
}

// TestHostMetricsScript runs kiln-host-metrics against a scratch server and
// checks each metric the host alerts read.
func TestHostMetricsScript(t *testing.T) {
	e := newHostMetricsEnv(t)
	out := e.run(t)
	for _, want := range []string{
		`kiln_systemd_unit_failed{unit="kiln-backup-daily.service"} 1`,
		`kiln_systemd_unit_failed{unit="kiln-acme.service"} 1`,
		"kiln_systemd_units_failed 2",
		`kiln_tls_certificate_self_signed{path="` + filepath.Join(e.dir, "fullchain.pem") + `"} 1`,
		`kiln_release_info{version="1.0.0",config_digest="sha256:aaa",os_version="42.20250901.3.0"} 1`,
		"\nkiln_os_matches_release 1\n",
		"\nkiln_host_metrics_last_run_timestamp_seconds ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "kiln_tls_certificate_expiry_timestamp_seconds{") {
		t.Errorf("no certificate expiry:\n%s", out)
	}
	// Every metric of this script a rule or dashboard reads is written.
	for _, prefix := range []string{"kiln_systemd_", "kiln_tls_", "kiln_os_", "kiln_host_"} {
		checkMetricsExist(t, prefix, out)
	}

	// Same release, another OS: changed by hand.
	e.osVersion("42.20251001.3.0")
	if out := e.run(t); !strings.Contains(out, "\nkiln_os_matches_release 0\n") {
		t.Errorf("OS changed under release 1.0.0 but the metric says it matches:\n%s", out)
	}
	// With Zincati allowed to update, a new OS is expected.
	if out := e.run(t, "KILN_AUTO_UPDATES=1"); !strings.Contains(out, "\nkiln_os_matches_release 1\n") {
		t.Errorf("auto updates on, yet the OS change is reported:\n%s", out)
	}
	// A rebuild (new release) on another OS is how kiln upgrades.
	e.osVersion("43.20251101.3.0")
	e.release("1.1.0", "sha256:bbb")
	if out := e.run(t); !strings.Contains(out, "\nkiln_os_matches_release 1\n") {
		t.Errorf("a new release on a new OS is reported as changed by hand:\n%s", out)
	}
}

func TestHostMetricsShellcheck(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "kiln-host-metrics")
	writeFile(t, p, hostMetricsScript)
	if out, err := judge.TryJudge(t, "shellcheck", p); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
