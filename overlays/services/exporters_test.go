package services

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
	"gopkg.in/yaml.v3"
)

// scrapeExporter runs a Debian exporter on a loopback port with env and
// returns one scrape of its metrics, once the metric want appears (the
// first scrape may precede the exporter's first connection).
func scrapeExporter(t *testing.T, bin string, env []string, want string, args ...string) string {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append(args, "--web.listen-address="+addr)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("exporter log:\n%s", log.String())
		}
	})
	var body string
	testutil.WaitFor(t, "exporter metrics with "+want, 30*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		body = string(b)
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `\b`).MatchString(body) {
			return fmt.Errorf("no %s yet", want)
		}
		return nil
	})
	return body
}

// usedMetrics returns the metric names with prefix that kiln's alert rules
// and dashboards query (their expressions only, not their comments).
func usedMetrics(t *testing.T, prefix string) []string {
	t.Helper()
	prom, err := filesOf(Prometheus(clipperPrometheus()))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(fileByName(t, prom, prometheusRulesFileName).Contents, &rules); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	graf, err := filesOf(Grafana(clipperGrafana()))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range decodeDashboard(t, fileByName(t, graf, "clipper-overview.json").Contents).Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b`+prefix+`[a-z0-9_]+`).FindAllString(strings.Join(exprs, "\n"), -1) {
		seen[m] = true
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatalf("no %s* metric in the rules or dashboards", prefix)
	}
	return names
}

// checkMetricsExist fails for each metric the rules or dashboards use that
// the exporter's output does not have, so a renamed metric cannot leave an
// alert that never fires.
func checkMetricsExist(t *testing.T, prefix, body string) {
	t.Helper()
	have := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line+" ", "{ ")]
		have[name] = true
	}
	for _, n := range usedMetrics(t, prefix) {
		if !have[n] {
			t.Errorf("%s is used by kiln's rules or dashboards but the exporter does not export it", n)
		}
	}
}

// TestNginxExporterMetrics runs Debian's nginx with a status page shaped
// like the edge's (overlays/nginx serves it on loopback; its live test
// checks that) and Debian's nginx exporter, configured as the container
// is, and checks every nginx metric the alerts and dashboards use.
func TestNginxExporterMetrics(t *testing.T) {
	nginx := testutil.Tool(t, "nginx")
	bin := testutil.Tool(t, "prometheus-nginx-exporter")
	dir := t.TempDir()
	port := testutil.FreePort(t)
	conf := filepath.Join(dir, "nginx.conf")
	writeFile(t, conf, []byte(fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
events {}
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen 127.0.0.1:%[2]d;
		location = /stub_status {
			stub_status;
		}
	}
}
`, dir, port)))
	testutil.StartDaemon(t, exec.Command(nginx, "-c", conf, "-e", filepath.Join(dir, "error.log")), syscall.SIGTERM)
	// The exporter gives up when the status page does not answer at start.
	testutil.WaitFor(t, "nginx's status page", 10*time.Second, func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/stub_status", port))
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	cfg := clipperNginxExporter()
	cfg.ScrapeURI = fmt.Sprintf("http://127.0.0.1:%d/stub_status", port)
	var args []string
	for _, a := range NginxExporterArgs(cfg) {
		if !strings.HasPrefix(a, "--web.listen-address=") {
			args = append(args, a) // scrapeExporter picks a free port
		}
	}
	body := scrapeExporter(t, bin, nil, "nginx_up 1", args...)
	checkMetricsExist(t, "nginx_", body)
}

// TestNginxExporterWatchedWithoutHealthCheck: the nginx exporter's image
// cannot run a health check (NginxExporter says why), so it gets
// none, and Prometheus watches it instead: its job is scraped and
// ServiceDown fires on any job's up == 0, not only chosen ones; EdgeDown
// covers the status page behind it.
func TestNginxExporterWatchedWithoutHealthCheck(t *testing.T) {
	if hc := mustRender(t)(NginxExporter(clipperNginxExporter())).Container.Health.Command; hc != "" {
		t.Errorf("nginx exporter health check %q: its scratch image has no program to run it", hc)
	}
	cfg := clipperPrometheus()
	scraped := false
	for _, j := range cfg.Jobs {
		for _, tg := range j.Targets {
			scraped = scraped || strings.HasSuffix(tg, fmt.Sprintf(":%d", clipperNginxExporter().Port))
		}
	}
	if !scraped {
		t.Errorf("Prometheus does not scrape the nginx exporter: %+v", cfg.Jobs)
	}
	files, err := filesOf(Prometheus(cfg))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(fileByName(t, files, prometheusRulesFileName).Contents, &rules); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ServiceDown": "up == 0", "EdgeDown": "nginx_up == 0"}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if e, ok := want[r.Alert]; ok && strings.TrimSpace(r.Expr) == e {
				delete(want, r.Alert)
			}
		}
	}
	for alert, expr := range want {
		t.Errorf("no alert %s with expr %q", alert, expr)
	}
}

// TestPgBouncerExporterContainer: the stats user's password reaches the
// exporter as PGPASSWORD from its Podman secret, and never on the command
// line, which names the admin console without it.
func TestPgBouncerExporterContainer(t *testing.T) {
	c := mustRender(t)(PgBouncerExporter(clipperPgBouncerExporter())).Container
	if want := "--secret=" + PgBouncerStatsSecret + ",type=env,target=PGPASSWORD"; len(c.PodmanArgs) != 1 || c.PodmanArgs[0] != want {
		t.Errorf("podman args %q, want %q", c.PodmanArgs, want)
	}
	if want := "--pgBouncer.connectionString=postgres://kiln_stats@pgbouncer:6432/pgbouncer?sslmode=disable"; len(c.Exec) == 0 || c.Exec[0] != want {
		t.Errorf("exec %q, want %q first", c.Exec, want)
	}
	if c.Health.Command == "" {
		t.Error("no health check")
	}
}
