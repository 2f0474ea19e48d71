package freshness

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/judge"
	"github.com/kiln-dev/kiln/internal/testutil"
)

func render(t *testing.T) (map[string][]byte, map[string]string) {
	t.Helper()
	c := DefaultConfig("stable", "/var/lib/kiln/node-exporter/textfile")
	c.RulesDir = "/etc/kiln/prometheus/rules"
	files, us, err := Render(c)
	if err != nil {
		t.Fatal(err)
	}
	fs := map[string][]byte{}
	for _, f := range files {
		fs[f.Path] = f.Contents
	}
	m := map[string]string{}
	for _, u := range us {
		m[u.Name] = u.Contents
	}
	return fs, m
}

func TestRenderGolden(t *testing.T) {
	fs, us := render(t)
	testutil.Golden(t, filepath.Join("testdata", RulesFile), fs["/etc/kiln/prometheus/rules/"+RulesFile])
	for name, u := range us {
		testutil.Golden(t, filepath.Join("testdata", name), []byte(u))
	}
	if _, ok := fs[Script]; !ok {
		t.Errorf("no %s", Script)
	}
}

func TestValidate(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"stream":   func(c *Config) { c.Stream = "rawhide" },
		"textfile": func(c *Config) { c.TextfileDir = "relative/dir" },
		"rules":    func(c *Config) { c.RulesDir = "/etc/../x" },
		"grace":    func(c *Config) { c.Grace = time.Minute },
	} {
		c := DefaultConfig("stable", "/var/lib/kiln/node-exporter/textfile")
		mut(&c)
		if _, _, err := Render(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

func TestUnits(t *testing.T) {
	_, us := render(t)
	judge.SystemdVerify(t, us)
}

func TestShellcheck(t *testing.T) {
	sc := testutil.Tool(t, "shellcheck")
	if out, err := exec.Command(sc, "-s", "sh", "kiln-base-check.sh").CombinedOutput(); err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

// TestScript runs the check against the fixture stream (current release
// 42.20251012.3.0), served as a file:// URL, and has promtool parse the
// metrics it writes.
func TestScript(t *testing.T) {
	testutil.Tool(t, "curl")
	testutil.Tool(t, "jq")
	promtool := testutil.Tool(t, "promtool")
	stream, err := filepath.Abs("../../images/base/testdata/stable.json")
	if err != nil {
		t.Fatal(err)
	}
	// 2025-10-21: the fixture's release has been out for 9 days.
	now := time.Date(2025, 10, 21, 0, 0, 0, 0, time.UTC).Unix()
	run := func(t *testing.T, release, url string) (string, error) {
		dir := t.TempDir()
		osRelease := filepath.Join(dir, "os-release")
		if err := os.WriteFile(osRelease, []byte("NAME=\"Fedora Linux\"\nVARIANT_ID=coreos\nOSTREE_VERSION='"+release+"'\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "kiln-base-check.sh")
		cmd.Env = append(os.Environ(), "KILN_BASE_STREAM=stable", "KILN_TEXTFILE_DIR="+dir, "KILN_BASE_STREAM_URL="+url,
			"KILN_OS_RELEASE="+osRelease, "KILN_ARCH=x86_64", "KILN_NOW="+strconv.FormatInt(now, 10))
		out, runErr := cmd.CombinedOutput()
		prom, err := os.ReadFile(filepath.Join(dir, "kiln_base.prom"))
		if err != nil {
			t.Fatalf("no metrics written (%v): %v\n%s", runErr, err, out)
		}
		lint := exec.Command(promtool, "check", "metrics")
		lint.Stdin = strings.NewReader(string(prom))
		if lo, err := lint.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s\n%s", err, lo, prom)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".kiln_base.prom.*")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
		return string(prom), runErr
	}
	t.Run("behind", func(t *testing.T) {
		prom, err := run(t, "42.20250901.3.0", "file://"+stream)
		if err != nil {
			t.Fatalf("check failed: %v\n%s", err, prom)
		}
		for _, want := range []string{
			`kiln_base_release_timestamp_seconds{stream="stable",release="42.20250901.3.0"} 1756684800`,
			`kiln_base_release_age_seconds{stream="stable",release="42.20250901.3.0"} 4320000`,
			`kiln_base_latest_release_timestamp_seconds{stream="stable",release="42.20251012.3.0"} 1760227200`,
			`kiln_base_newer_available{stream="stable",release="42.20250901.3.0",latest="42.20251012.3.0"} 1`,
			"kiln_base_check_success 1",
		} {
			if !strings.Contains(prom, want+"\n") {
				t.Errorf("missing %s in:\n%s", want, prom)
			}
		}
	})
	t.Run("current", func(t *testing.T) {
		prom, err := run(t, "42.20251012.3.0", "file://"+stream)
		if err != nil || !strings.Contains(prom, `latest="42.20251012.3.0"} 0`+"\n") {
			t.Errorf("current release: %v\n%s", err, prom)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		prom, err := run(t, "42.20250901.3.0", "file:///nonexistent/stable.json")
		if err == nil || !strings.Contains(prom, "kiln_base_check_success 0\n") || !strings.Contains(prom, "kiln_base_release_age_seconds") || strings.Contains(prom, "kiln_base_newer_available") {
			t.Errorf("unreachable stream: err=%v\n%s", err, prom)
		}
	})
}

// TestRules has promtool check the alert rules and replay the situations
// they are for: a newer release out for longer than the grace fires
// KilnBaseRebuildDue, a fresh one does not.
func TestRules(t *testing.T) {
	promtool := testutil.Tool(t, "promtool")
	fs, _ := render(t)
	dir := t.TempDir()
	rules := filepath.Join(dir, RulesFile)
	if err := os.WriteFile(rules, fs["/etc/kiln/prometheus/rules/"+RulesFile], 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	// promtool's clock starts at 0: releases are dated relative to it.
	// At 10 days, the newer release (built at day 2) has been out 8 days,
	// beyond the 7-day grace; at 5 days only 3.
	tests := `rule_files: [` + RulesFile + `]
evaluation_interval: 1h
tests:
  - interval: 1h
    input_series:
      - series: 'kiln_base_newer_available{stream="stable",release="42.1.3.0",latest="42.2.3.0"}'
        values: '1x300'
      - series: 'kiln_base_latest_release_timestamp_seconds{stream="stable",release="42.2.3.0"}'
        values: '172800x300'
      - series: 'kiln_base_release_timestamp_seconds{stream="stable",release="42.1.3.0"}'
        values: '0x300'
      - series: 'kiln_base_check_success'
        values: '1x300'
      - series: 'kiln_base_check_timestamp_seconds'
        values: '0+3600x300'
    alert_rule_test:
      - eval_time: 5d
        alertname: KilnBaseRebuildDue
        exp_alerts: []
      - eval_time: 10d
        alertname: KilnBaseRebuildDue
        exp_alerts:
          - exp_labels: {severity: warning, stream: stable, release: 42.1.3.0, latest: 42.2.3.0}
            exp_annotations:
              summary: "Fedora CoreOS 42.2.3.0 has been out for more than 7 days: rebuild and replace this server (it runs 42.1.3.0)"
      - eval_time: 10d
        alertname: KilnBaseCheckFailing
        exp_alerts: []
      - eval_time: 10d
        alertname: KilnBaseTooOld
        exp_alerts: []
  - interval: 1h
    input_series:
      - series: 'kiln_base_release_timestamp_seconds{stream="stable",release="42.1.3.0"}'
        values: '0x1200'
      - series: 'kiln_base_check_success'
        values: '0x1200'
      - series: 'kiln_base_check_timestamp_seconds'
        values: '0+3600x1200'
    alert_rule_test:
      - eval_time: 46d
        alertname: KilnBaseTooOld
        exp_alerts:
          - exp_labels: {severity: warning, stream: stable, release: 42.1.3.0}
            exp_annotations:
              summary: "This server's Fedora CoreOS 42.1.3.0 is older than 45 days: rebuild it"
      - eval_time: 46d
        alertname: KilnBaseCheckFailing
        exp_alerts:
          - exp_labels: {severity: warning}
            exp_annotations:
              summary: "kiln-base-check cannot read the Fedora CoreOS stream metadata (journalctl -u kiln-base-check)"
`
	testFile := filepath.Join(dir, "tests.yml")
	if err := os.WriteFile(testFile, []byte(tests), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "test", "rules", testFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}
