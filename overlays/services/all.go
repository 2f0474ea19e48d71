package services

import "github.com/kiln-dev/kiln/overlays"

// Service is one rendered service: its files and its container.
type Service struct {
	// Name is the container name, which is also its host name on the
	// container network (Prometheus targets and datasource URLs use it).
	Name string
	// Files are the configuration files to place on the server.
	Files []overlays.File
	// Runtime describes the container.
	Runtime Runtime
}

// Configs holds every service's configuration.
type Configs struct {
	Postgres     PostgresConfig
	PgBouncer    PgBouncerConfig
	Redis        RedisConfig
	Prometheus   PrometheusConfig
	Alertmanager AlertmanagerConfig
	// PostgresExporter, PgBouncerExporter, RedisExporter and
	// NginxExporter export the databases', the pooler's and the edge's
	// metrics.
	PostgresExporter  PostgresExporterConfig
	PgBouncerExporter PgBouncerExporterConfig
	RedisExporter     RedisExporterConfig
	NginxExporter     NginxExporterConfig
	Grafana           GrafanaConfig
	Loki              LokiConfig
	Alloy             AlloyConfig
	NodeExporter      NodeExporterConfig
}

// DefaultConfigs returns Clipper's configuration of every service.
func DefaultConfigs() Configs {
	return Configs{
		Postgres:          DefaultPostgres(),
		PgBouncer:         DefaultPgBouncer(),
		Redis:             DefaultRedis(),
		Prometheus:        DefaultPrometheus(),
		Alertmanager:      DefaultAlertmanager(),
		PostgresExporter:  DefaultPostgresExporter(),
		PgBouncerExporter: DefaultPgBouncerExporter(),
		RedisExporter:     DefaultRedisExporter(),
		NginxExporter:     DefaultNginxExporter(),
		Grafana:           DefaultGrafana(),
		Loki:              DefaultLoki(),
		Alloy:             DefaultAlloy(),
		NodeExporter:      DefaultNodeExporter(),
	}
}

// Render renders every service, in a fixed order.
func Render(c Configs) ([]Service, error) {
	type step struct {
		name    string
		files   func() ([]overlays.File, error)
		runtime func() Runtime
	}
	steps := []step{
		{"postgres", func() ([]overlays.File, error) { return Postgres(c.Postgres) }, func() Runtime { return PostgresRuntime(c.Postgres) }},
		{"pgbouncer", func() ([]overlays.File, error) { return PgBouncer(c.PgBouncer) }, func() Runtime { return PgBouncerRuntime(c.PgBouncer) }},
		{"redis", func() ([]overlays.File, error) { return Redis(c.Redis) }, func() Runtime { return RedisRuntime(c.Redis) }},
		{"prometheus", func() ([]overlays.File, error) { return Prometheus(c.Prometheus) }, func() Runtime { return PrometheusRuntime(c.Prometheus) }},
		{"alertmanager", func() ([]overlays.File, error) { return Alertmanager(c.Alertmanager) }, func() Runtime { return AlertmanagerRuntime(c.Alertmanager) }},
		{"postgres-exporter", func() ([]overlays.File, error) { return nil, c.PostgresExporter.Validate() }, func() Runtime { return PostgresExporterRuntime(c.PostgresExporter) }},
		{"pgbouncer-exporter", func() ([]overlays.File, error) { return nil, c.PgBouncerExporter.Validate() }, func() Runtime { return PgBouncerExporterRuntime(c.PgBouncerExporter) }},
		{"redis-exporter", func() ([]overlays.File, error) { return nil, c.RedisExporter.Validate() }, func() Runtime { return RedisExporterRuntime(c.RedisExporter) }},
		{"nginx-exporter", func() ([]overlays.File, error) { return nil, c.NginxExporter.Validate() }, func() Runtime { return NginxExporterRuntime(c.NginxExporter) }},
		{"grafana", func() ([]overlays.File, error) { return Grafana(c.Grafana) }, func() Runtime { return GrafanaRuntime(c.Grafana) }},
		{"loki", func() ([]overlays.File, error) { return Loki(c.Loki) }, func() Runtime { return LokiRuntime(c.Loki) }},
		{"alloy", func() ([]overlays.File, error) { return Alloy(c.Alloy) }, func() Runtime { return AlloyRuntime(c.Alloy) }},
		{"node-exporter", func() ([]overlays.File, error) { return nil, c.NodeExporter.Validate() }, func() Runtime { return NodeExporterRuntime(c.NodeExporter) }},
	}
	out := make([]Service, 0, len(steps))
	for _, s := range steps {
		files, err := s.files()
		if err != nil {
			return nil, err
		}
		out = append(out, Service{Name: s.name, Files: files, Runtime: s.runtime()})
	}
	return out, nil
}
