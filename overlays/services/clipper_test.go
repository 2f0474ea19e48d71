package services

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/overlays"
)

// Clipper's configuration of each kind, as the builder derives it from
// builder/appliances/clipper.yaml. goldenFiles compares what these render
// with the builder's own Clipper goldens, so a fixture that drifts from
// production fails instead of testing a configuration no server gets.
const clipperData = "/var/lib/kiln"

func clipperPostgres() PostgresConfig {
	spool := clipperData + "/wal-archive"
	return PostgresConfig{
		Port: 5436, MaxConnections: 100, SharedBuffers: "256MB", Database: "clipper", User: "clipper",
		Subnet: "10.89.10.0/24", PasswordSecret: "postgres-password", UID: "70", DataDir: clipperData + "/postgres",
		WALSpool: spool,
		Extra: map[string]string{
			"archive_command": "test ! -f " + spool + "/incoming/%f && cp %p " + spool + "/incoming/%f.tmp && mv " + spool + "/incoming/%f.tmp " + spool + "/incoming/%f",
			"archive_mode":    "on", "archive_timeout": "60s", "max_wal_senders": "3", "wal_level": "replica",
		},
	}
}

func clipperPgBouncer() PgBouncerConfig {
	return PgBouncerConfig{
		ListenAddr: "0.0.0.0", Port: 6432, ServerHost: "postgres", ServerPort: 5436, Database: "clipper", User: "clipper",
		PoolMode: "transaction", MaxClientConn: 1000, DefaultPoolSize: 25, PasswordSecret: "postgres-password",
		AuthFile: "/tmp/pgbouncer-userlist.txt", UID: "70",
		StatsUser: PgBouncerStatsUser, StatsPasswordSecret: PgBouncerStatsSecret,
	}
}

func clipperRedis() RedisConfig {
	return RedisConfig{Bind: "0.0.0.0", Port: 6379, Dir: "/data", DataDir: clipperData + "/redis",
		MaxMemory: "256mb", MaxMemoryPolicy: "allkeys-lru", PasswordSecret: "redis-password", UID: "999"}
}

func clipperPrometheus() PrometheusConfig {
	job := func(name, target string) ScrapeJob {
		return ScrapeJob{Name: "clipper-" + name, Targets: []string{target}}
	}
	return PrometheusConfig{
		Port: 9090, ScrapeInterval: "15s", EvaluationInterval: "15s", Retention: "15d",
		Alerts: DefaultAlertThresholds(), Appliance: "clipper", DataDir: clipperData + "/prometheus",
		Alertmanagers: []string{"alertmanager:9093"}, HostJob: "clipper-node-exporter",
		DataMount: clipperData, ACMEUnit: "kiln-acme.service",
		PostgresExporter: true, PgBouncerExporter: true, RedisExporter: true, NginxExporter: true,
		Jobs: []ScrapeJob{
			job("backend", "backend:8080"), job("prometheus", "localhost:9090"), job("alertmanager", "alertmanager:9093"),
			job("postgres-exporter", "postgres-exporter:9187"), job("pgbouncer-exporter", "pgbouncer-exporter:9127"),
			job("redis-exporter", "redis-exporter:9121"),
			job("nginx-exporter", "10.89.10.1:9113"), job("grafana", "grafana:3000"), job("loki", "loki:3100"),
			job("alloy", "alloy:12345"), job("node-exporter", "10.89.10.1:9100"),
		},
	}
}

func clipperAlertmanager() AlertmanagerConfig {
	return AlertmanagerConfig{
		Port: 9093, ExternalURL: "http://127.0.0.1:9093", GroupBy: []string{"alertname", "appliance", "job"},
		GroupWait: "30s", GroupInterval: "5m", RepeatInterval: "4h",
		CredentialsDir: clipperData + "/alertmanager/credentials", DataDir: clipperData + "/alertmanager/data",
	}
}

func clipperGrafana() GrafanaConfig {
	return GrafanaConfig{
		Port: 3000, AdminUser: "admin", PasswordSecret: "grafana-password",
		PrometheusURL: "http://prometheus:9090", LokiURL: "http://loki:3100", PrometheusUID: "prometheus", LokiUID: "loki",
		ScrapeInterval: "15s", Folder: "Clipper", DataDir: clipperData + "/grafana", UID: "472",
	}
}

func clipperLoki() LokiConfig {
	return LokiConfig{Port: 3100, GRPCPort: 9096, Dir: "/loki", DataDir: clipperData + "/loki",
		Retention: 31 * 24 * time.Hour, SchemaFrom: "2024-04-01"}
}

func clipperAlloy() AlloyConfig {
	return AlloyConfig{Port: 12345, PushURL: "http://loki:3100/loki/api/v1/push", JournalPath: "/var/log/journal",
		MaxAge: "12h", DataDir: clipperData + "/alloy"}
}

func clipperNodeExporter() NodeExporterConfig {
	return NodeExporterConfig{Port: 9100, TextfileDir: clipperData + "/node-exporter/textfile", RootfsMount: "/host"}
}

func clipperPostgresExporter() PostgresExporterConfig {
	return PostgresExporterConfig{Port: 9187, Host: "postgres", DBPort: 5436, Database: "clipper", User: "clipper", PasswordSecret: "postgres-password", UID: "65534"}
}

func clipperPgBouncerExporter() PgBouncerExporterConfig {
	return PgBouncerExporterConfig{Port: 9127, Host: "pgbouncer", PgBouncerPort: 6432, StatsUser: PgBouncerStatsUser, PasswordSecret: PgBouncerStatsSecret}
}

func clipperRedisExporter() RedisExporterConfig {
	return RedisExporterConfig{Port: 9121, Addr: "redis:6379", PasswordSecret: "redis-password"}
}

func clipperNginxExporter() NginxExporterConfig {
	return NginxExporterConfig{Port: 9113, ScrapeURI: "http://127.0.0.1:8089/stub_status"}
}

// mustRender returns a rendered component, failing the test on an error:
// mustRender(t)(Postgres(cfg)).
func mustRender(t *testing.T) func(overlays.Component, error) overlays.Component {
	return func(k overlays.Component, err error) overlays.Component {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
}

// productionGolden is the builder's golden of the file the server gets at
// path for Clipper, without its path/mode/owner header.
func productionGolden(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "builder", "testdata", "render", "clipper.files", path+".golden"))
	if err != nil {
		t.Fatalf("no production golden for %s (re-record the builder's goldens): %v", path, err)
	}
	_, body, ok := bytes.Cut(raw, []byte("\n---\n"))
	if !ok {
		t.Fatalf("%s: golden has no header", path)
	}
	return body
}

// filesOf is the files of a rendered component, for tests of the files
// alone.
func filesOf(k overlays.Component, err error) ([]overlays.File, error) { return k.Files, err }
