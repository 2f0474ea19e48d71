package builder

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// clipperReceivers replaces Clipper's empty receiver list with one
// receiver of each kind.
const clipperReceivers = `receivers:
    - name: ops
      severities: [critical, warning]
      email:
        to: [ops@example.com]
        from: alerts@clipper.example.com
        smarthost: smtp.example.com:587
        username: alerts@clipper.example.com
        password_file: smtp-password
    - name: phone
      severities: [critical]
      repeat_interval: 1h
      ntfy: {url: "https://ntfy.sh/clipper-alerts", token_file: ntfy-token}
    - name: chat
      slack: {url_file: slack-webhook-url, channel: "#ops"}
    - name: pager
      webhook: {url: "https://events.example.com/alertmanager"}
`

func renderClipperWith(t *testing.T, old, new string) *Result {
	t.Helper()
	src := string(DefaultSpec)
	if !strings.Contains(src, old) {
		t.Fatalf("%q not in the default spec", old)
	}
	res, err := Render(Request{File: "clipper.yaml", Spec: []byte(strings.Replace(src, old, new, 1))})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestAlertsReachAlertmanager renders Clipper with and without receivers
// and judges what the server gets with the real programs: amtool for
// Alertmanager's configuration and routes, promtool for Prometheus's, whose
// alerting block must name the alertmanager service.
func TestAlertsReachAlertmanager(t *testing.T) {
	amtool := testutil.Tool(t, "amtool")
	promtool := testutil.Tool(t, "promtool")
	for name, tc := range map[string]struct {
		res      *Result
		critical string
		motd     bool
	}{
		"no receivers": {renderCase(t, "clipper"), "kiln-ui-only", true},
		"receivers":    {renderClipperWith(t, "receivers: []\n", clipperReceivers), "ops,phone,chat,pager", false},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{"/etc/kiln/alertmanager/alertmanager.yml", "/etc/kiln/prometheus/prometheus.yml", "/etc/kiln/prometheus/rules/clipper-alerts.yml"} {
				content, _, ok := ignFile(t, tc.res.Ignition, f)
				if !ok {
					t.Fatalf("%s is not in the config", f)
				}
				p := filepath.Join(dir, strings.TrimPrefix(f, "/etc/kiln/"))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			am := filepath.Join(dir, "alertmanager", "alertmanager.yml")
			if out, err := exec.Command(amtool, "check-config", am).CombinedOutput(); err != nil {
				t.Fatalf("amtool check-config: %v\n%s", err, out)
			}
			out, err := exec.Command(amtool, "config", "routes", "test", "--config.file="+am, "alertname=HostDown", "severity=critical").Output()
			if err != nil || strings.TrimSpace(string(out)) != tc.critical {
				t.Errorf("a critical alert goes to %q (%v), want %q", strings.TrimSpace(string(out)), err, tc.critical)
			}
			prom := filepath.Join(dir, "prometheus", "prometheus.yml")
			if out, err := exec.Command(promtool, "check", "config", prom).CombinedOutput(); err != nil {
				t.Fatalf("promtool check config: %v\n%s", err, out)
			}
			conf, _ := os.ReadFile(prom)
			if !strings.Contains(string(conf), "alerting:") || !strings.Contains(string(conf), `- "alertmanager:9093"`) {
				t.Errorf("prometheus.yml does not send alerts to the alertmanager service:\n%s", conf)
			}
			motd, _, _ := ignFile(t, tc.res.Ignition, MotdPath)
			if got := strings.Contains(motd, "only visible in Alertmanager's UI"); got != tc.motd {
				t.Errorf("motd mentions the UI-only alerts: %v, want %v:\n%s", got, tc.motd, motd)
			}
		})
	}
}

// TestAlertmanagerContainer: loopback only, data and credentials on the
// data filesystem, owned by the container's user.
func TestAlertmanagerContainer(t *testing.T) {
	res := renderCase(t, "clipper")
	var unit string
	for _, u := range res.Units {
		if u.Name == "alertmanager.container" {
			unit = u.Contents
		}
	}
	for _, want := range []string{
		"PublishPort=127.0.0.1:9093:9093",
		"Volume=/var/lib/kiln/alertmanager/data:/alertmanager:z",
		"Volume=/var/lib/kiln/alertmanager/credentials:/etc/alertmanager-credentials:ro,z",
		"--cluster.listen-address=\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("alertmanager.container lacks %q:\n%s", want, unit)
		}
	}
	tmpfiles, _, _ := ignFile(t, res.Ignition, "/etc/tmpfiles.d/kiln.conf")
	for _, want := range []string{"d /var/lib/kiln/alertmanager/data 0750 65534 65534 -", "d /var/lib/kiln/alertmanager/credentials 0750 65534 65534 -"} {
		if !strings.Contains(tmpfiles, want) {
			t.Errorf("tmpfiles lacks %q:\n%s", want, tmpfiles)
		}
	}
}

// TestHostAlertsFollowTheSpec: the host alerts watch the spec's data
// filesystem and ACME issuance, and kiln-host-metrics is told where the
// edge certificate is; an appliance without them gets neither rule.
func TestHostAlertsFollowTheSpec(t *testing.T) {
	res := renderCase(t, "clipper")
	rules, _, _ := ignFile(t, res.Ignition, "/etc/kiln/prometheus/rules/clipper-alerts.yml")
	for _, want := range []string{`mountpoint="/var/lib/kiln"`, "alert: DataFilesystemFull", "alert: CertificateNotIssued"} {
		if !strings.Contains(rules, want) {
			t.Errorf("clipper's rules lack %q", want)
		}
	}
	byName := map[string]string{}
	for _, u := range res.Units {
		byName[u.Name] = u.Contents
	}
	svc := byName["kiln-host-metrics.service"]
	for _, want := range []string{
		"Environment=KILN_TLS_CERT=/var/lib/kiln/tls/fullchain.pem",
		"Environment=KILN_TEXTFILE_DIR=/var/lib/kiln/node-exporter/textfile",
		"After=var-lib-kiln.mount",
	} {
		if !strings.Contains(svc, want) {
			t.Errorf("kiln-host-metrics.service lacks %q:\n%s", want, svc)
		}
	}
	if !strings.Contains(byName["kiln-host-metrics.timer"], "OnUnitActiveSec=1min") {
		t.Errorf("kiln-host-metrics.timer does not run every minute:\n%s", byName["kiln-host-metrics.timer"])
	}

	res = renderClipperWith(t, "  acme: letsencrypt ", "  acme: none ")
	rules, _, _ = ignFile(t, res.Ignition, "/etc/kiln/prometheus/rules/clipper-alerts.yml")
	if strings.Contains(rules, "alert: CertificateNotIssued") {
		t.Error("ACME alerts without ACME")
	}
	res = renderClipperWith(t, "  mode: partition\n", "  mode: none\n")
	rules, _, _ = ignFile(t, res.Ignition, "/etc/kiln/prometheus/rules/clipper-alerts.yml")
	if strings.Contains(rules, "alert: DataFilesystemFull") {
		t.Error("DataFilesystemFull on an appliance without a data filesystem")
	}
}

// TestExportersWiring: the exporters log in to the servers the spec names,
// with their secrets (never a value in the unit), and Prometheus scrapes
// them and loads their rules.
func TestExportersWiring(t *testing.T) {
	res := renderCase(t, "clipper")
	byName := map[string]string{}
	for _, u := range res.Units {
		byName[u.Name] = u.Contents
	}
	for unit, wants := range map[string][]string{
		"postgres-exporter.container": {
			"Environment=DATA_SOURCE_URI=postgres:5436/clipper?sslmode=disable",
			"Environment=DATA_SOURCE_PASS_FILE=/run/secrets/postgres-password",
			"Secret=postgres-password,type=mount,target=/run/secrets/postgres-password,uid=65534,mode=0400",
			"PublishPort=127.0.0.1:9187:9187",
		},
		"nginx-exporter.container": {
			"Network=host",
			"Exec=--nginx.scrape-uri=http://127.0.0.1:8089/stub_status --web.listen-address=:9113",
		},
		// The stats user, its password from a first-boot secret as
		// PGPASSWORD: never the application's credentials.
		"pgbouncer-exporter.container": {
			"Exec=--pgBouncer.connectionString=postgres://kiln_stats@pgbouncer:6432/pgbouncer?sslmode=disable --web.listen-address=:9127",
			"PodmanArgs=--secret=pgbouncer-stats-password,type=env,target=PGPASSWORD",
			"PublishPort=127.0.0.1:9127:9127",
			"ReadOnly=true",
		},
		"pgbouncer.container": {
			"Secret=pgbouncer-stats-password,type=mount,target=/run/secrets/pgbouncer-stats-password,uid=70,mode=0400",
		},
		"redis-exporter.container": {
			"Environment=REDIS_ADDR=redis://redis:6379",
			"PodmanArgs=--secret=redis-password,type=env,target=REDIS_PASSWORD",
			"PublishPort=127.0.0.1:9121:9121",
		},
	} {
		for _, want := range wants {
			if !strings.Contains(byName[unit], want+"\n") {
				t.Errorf("%s lacks %q:\n%s", unit, want, byName[unit])
			}
		}
	}
	prom, _, _ := ignFile(t, res.Ignition, "/etc/kiln/prometheus/prometheus.yml")
	for _, want := range []string{`- "postgres-exporter:9187"`, `- "pgbouncer-exporter:9127"`, `- "redis-exporter:9121"`, `- "10.89.10.1:9113"`} {
		if !strings.Contains(prom, want) {
			t.Errorf("prometheus.yml does not scrape %s", want)
		}
	}
	rules, _, _ := ignFile(t, res.Ignition, "/etc/kiln/prometheus/rules/clipper-alerts.yml")
	for _, want := range []string{"alert: PostgresDown", "alert: PgBouncerPoolSaturated", "alert: PgBouncerClientConnectionsHigh", "alert: RedisPersistenceFailing", "alert: EdgeDown"} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules lack %s", want)
		}
	}
	// The edge serves its status page to the exporter, on loopback only.
	conf, _, _ := ignFile(t, res.Ignition, "/etc/kiln/nginx/nginx.conf")
	if !strings.Contains(conf, "listen 127.0.0.1:8089;") || !strings.Contains(conf, "stub_status;") {
		t.Errorf("the edge has no loopback status page for the exporter")
	}
}

// TestPgBouncerStatsUser: PgBouncer's stats user, the exporter's login, is
// generated at first boot and exists only with a pgbouncer-exporter; the
// application's user never reads the admin console.
func TestPgBouncerStatsUser(t *testing.T) {
	files := func(spec []byte) (ini, secrets string) {
		t.Helper()
		res, err := Render(Request{File: "c.yaml", Spec: spec})
		if err != nil {
			t.Fatal(err)
		}
		ini, _, _ = ignFile(t, res.Ignition, "/etc/kiln/pgbouncer/pgbouncer.ini")
		secrets, _, _ = ignFile(t, res.Ignition, SecretsScript)
		return ini, secrets
	}
	ini, secrets := files(DefaultSpec)
	if !strings.Contains(ini, "\nstats_users = kiln_stats\n") || !strings.Contains(ini, "\nadmin_users =\n") {
		t.Errorf("pgbouncer.ini's users:\n%s", ini)
	}
	if !strings.Contains(secrets, "\ngenerate pgbouncer-stats-password 32\n") {
		t.Errorf("the stats user's secret is not generated:\n%s", secrets)
	}
	block := "  - name: pgbouncer-exporter\n    kind: pgbouncer-exporter\n"
	start := strings.Index(string(DefaultSpec), block)
	if start < 0 {
		t.Fatal("Clipper has no pgbouncer-exporter")
	}
	end := start + strings.Index(string(DefaultSpec[start:]), "\n\n")
	without := append(append([]byte{}, DefaultSpec[:start]...), DefaultSpec[end+2:]...)
	ini, secrets = files(without)
	if strings.Contains(ini, "kiln_stats") || strings.Contains(secrets, "pgbouncer-stats-password") {
		t.Errorf("no exporter, yet a stats user:\n%s\n%s", ini, secrets)
	}
}
