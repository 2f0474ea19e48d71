package services

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/judge"
)

func renderPrometheus(t *testing.T) string {
	t.Helper()
	files, err := filesOf(Prometheus(clipperPrometheus()))
	if err != nil {
		t.Fatal(err)
	}
	return writeUnder(t, t.TempDir(), PrometheusConfigDir, files)
}

func TestPrometheusGolden(t *testing.T) {
	files, err := filesOf(Prometheus(clipperPrometheus()))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("got %d files, want prometheus.yml and the rules", len(files))
	}
	goldenFiles(t, "prometheus", files)
	conf := string(fileByName(t, files, "prometheus.yml").Contents)
	for _, want := range []string{"scrape_interval: 15s", `- "backend:8080"`, `- "10.89.10.1:9100"`} {
		if !strings.Contains(conf, want) {
			t.Errorf("prometheus.yml lacks %q", want)
		}
	}
}

// runTool runs the judge name in dir, failing the test when it does.
func runTool(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	out, err := judge.Exec(t, judge.Command{Name: name, Args: args, Dir: dir})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.Combined())
	}
	return out.Combined()
}

func TestPrometheusPromtoolCheck(t *testing.T) {
	dir := renderPrometheus(t)
	out := runTool(t, dir, "promtool", "check", "config", filepath.Join(dir, "prometheus.yml"))
	// check config also checks the rule files it finds: make sure it found
	// ours, or a broken glob would pass silently.
	if !strings.Contains(out, "rules/clipper-alerts.yml") || !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check config did not check the rule file:\n%s", out)
	}
	out = runTool(t, dir, "promtool", "check", "rules", filepath.Join(dir, "rules", "clipper-alerts.yml"))
	if !strings.Contains(out, "SUCCESS: 40 rules found") {
		t.Errorf("unexpected rule count:\n%s", out)
	}
}

// ruleTestFiles are promtool's unit tests for the alert rules, split by
// evaluation interval so the day-long backup windows are evaluated hourly.
var ruleTestFiles = []string{"clipper-alerts_test.yml", "clipper-backup-alerts_test.yml", "clipper-host-alerts_test.yml", "clipper-cert-alerts_test.yml", "clipper-exporter-alerts_test.yml"}

// promtoolTestRules renders the rules from cfg, places the unit tests
// beside them and runs promtool test rules.
func promtoolTestRules(t *testing.T, cfg PrometheusConfig) (string, string, error) {
	t.Helper()
	files, err := filesOf(Prometheus(cfg))
	if err != nil {
		t.Fatal(err)
	}
	dir := writeUnder(t, t.TempDir(), PrometheusConfigDir, files)
	rulesDir := filepath.Join(dir, "rules")
	args := []string{"test", "rules"}
	var all strings.Builder
	for _, name := range ruleTestFiles {
		tests, err := os.ReadFile(filepath.Join("testdata", "prometheus", name))
		if err != nil {
			t.Fatal(err)
		}
		all.Write(tests)
		if err := os.WriteFile(filepath.Join(rulesDir, name), tests, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	out, err := judge.Exec(t, judge.Command{Name: "promtool", Args: args, Dir: rulesDir})
	return out.Combined(), all.String(), err
}

// TestPrometheusAlertRules makes every alert fire and not fire with
// promtool's rule unit tests (testdata/prometheus/*_test.yml).
func TestPrometheusAlertRules(t *testing.T) {
	out, tests, err := promtoolTestRules(t, clipperPrometheus())
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	// Every alert the rules define must be exercised by the unit tests.
	files, err := filesOf(Prometheus(clipperPrometheus()))
	if err != nil {
		t.Fatal(err)
	}
	rules := string(fileByName(t, files, prometheusRulesFileName).Contents)
	alerts := 0
	for _, line := range strings.Split(rules, "\n") {
		name, ok := strings.CutPrefix(strings.TrimSpace(line), "- alert: ")
		if !ok {
			continue
		}
		alerts++
		if n := strings.Count(tests, "alertname: "+name+"\n"); n < 2 {
			t.Errorf("alert %s has %d unit test cases, want one that fires and one that does not", name, n)
		}
	}
	if alerts != 40 {
		t.Errorf("found %d alerts in the rules, want 40", alerts)
	}
}

// TestPrometheusAlertRulesCanFail proves the rule tests catch a wrong
// threshold: with the daily backup window widened to 30h they must fail.
func TestPrometheusAlertRulesCanFail(t *testing.T) {
	cfg := clipperPrometheus()
	cfg.Alerts.DailyBackupMaxAge = 30 * time.Hour
	out, _, err := promtoolTestRules(t, cfg)
	if err == nil {
		t.Fatalf("promtool test rules passed with a 30h daily backup window:\n%s", out)
	}
	if !strings.Contains(out, "BackupDailyStale") {
		t.Errorf("failure does not name BackupDailyStale:\n%s", out)
	}
}

func TestPrometheusValidate(t *testing.T) {
	for name, mutate := range map[string]func(*PrometheusConfig){
		"bad interval":   func(c *PrometheusConfig) { c.ScrapeInterval = "15 seconds" },
		"duplicate job":  func(c *PrometheusConfig) { c.Jobs = append(c.Jobs, c.Jobs[0]) },
		"no targets":     func(c *PrometheusConfig) { c.Jobs[0].Targets = nil },
		"ratio over one": func(c *PrometheusConfig) { c.Alerts.ErrorRatio = 5 },
		"bad port":       func(c *PrometheusConfig) { c.Port = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := clipperPrometheus()
			cfg.Jobs = append([]ScrapeJob(nil), cfg.Jobs...)
			mutate(&cfg)
			_, err := filesOf(Prometheus(cfg))
			if !errors.Is(err, ErrInvalidValue) && !errors.Is(err, ErrEmptyField) && !errors.Is(err, ErrInvalidPort) {
				t.Fatalf("got %v, want a validation error", err)
			}
		})
	}
}
