package services

import (
	"fmt"
	"strconv"
)

// PostgresExporterConfig is the PostgreSQL exporter's configuration: it
// logs in as the application's user (the image's superuser, which reads
// every statistics view) with the password from the database's secret.
type PostgresExporterConfig struct {
	// Image is the container image.
	Image string
	// Port the exporter listens on.
	Port int
	// Host and DBPort reach the database on the container network.
	Host   string
	DBPort int
	// Database and User to log in with.
	Database, User string
	// PasswordSecret names the Podman secret holding the user's password.
	PasswordSecret string
}

// DefaultPostgresExporter returns Clipper's PostgreSQL exporter.
func DefaultPostgresExporter() PostgresExporterConfig {
	return PostgresExporterConfig{
		Image: "quay.io/prometheuscommunity/postgres-exporter:latest", Port: 9187,
		Host: "postgres", DBPort: 5432, Database: "clipper", User: "clipper", PasswordSecret: "postgres-password",
	}
}

// Validate checks the configuration.
func (c PostgresExporterConfig) Validate() error {
	if err := checkNonEmpty("postgres exporter image", c.Image); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"postgres exporter port", c.Port}, {"postgres exporter database port", c.DBPort}} {
		if err := checkPort(p.name, p.v); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, v string }{{"postgres exporter host", c.Host}, {"postgres exporter database", c.Database},
		{"postgres exporter user", c.User}, {"postgres exporter password secret", c.PasswordSecret}} {
		if err := checkPlain(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// PostgresExporterEnv is the exporter's environment: the connection
// without the password, which it reads from the secret file.
func PostgresExporterEnv(c PostgresExporterConfig) map[string]string {
	return map[string]string{
		"DATA_SOURCE_URI":       fmt.Sprintf("%s:%d/%s?sslmode=disable", c.Host, c.DBPort, c.Database),
		"DATA_SOURCE_USER":      c.User,
		"DATA_SOURCE_PASS_FILE": Secret{Name: c.PasswordSecret}.Path(),
	}
}

// PostgresExporterRuntime describes the exporter's container.
func PostgresExporterRuntime(c PostgresExporterConfig) Runtime {
	return Runtime{
		Image:   c.Image,
		Exec:    []string{fmt.Sprintf("--web.listen-address=:%d", c.Port)},
		Env:     PostgresExporterEnv(c),
		Secrets: []Secret{{Name: c.PasswordSecret, UID: 65534, GID: 65534, Mode: 0o400}},
		Ports:   []int{c.Port},
		// The image is built on Prometheus's busybox, which has wget;
		// the landing page answers without querying the database.
		HealthCmd: fmt.Sprintf("wget -q -O /dev/null http://127.0.0.1:%d/", c.Port),
	}
}

// RedisExporterConfig is the Redis exporter's configuration.
type RedisExporterConfig struct {
	// Image is the container image.
	Image string
	// Port the exporter listens on.
	Port int
	// Addr is the Redis server as host:port on the container network.
	Addr string
	// PasswordSecret names the Podman secret holding Redis's password. The
	// exporter's password file is a JSON map, not a plain file, so the
	// secret reaches it as the REDIS_PASSWORD variable (PasswordEnv).
	PasswordSecret string
}

// RedisExporterPasswordEnv is the variable the Redis exporter reads its
// password from.
const RedisExporterPasswordEnv = "REDIS_PASSWORD"

// DefaultRedisExporter returns Clipper's Redis exporter.
func DefaultRedisExporter() RedisExporterConfig {
	return RedisExporterConfig{Image: "docker.io/oliver006/redis_exporter:latest", Port: 9121, Addr: "redis:6379", PasswordSecret: "redis-password"}
}

// Validate checks the configuration.
func (c RedisExporterConfig) Validate() error {
	if err := checkNonEmpty("redis exporter image", c.Image); err != nil {
		return err
	}
	if err := checkPort("redis exporter port", c.Port); err != nil {
		return err
	}
	if err := checkHostPort("redis exporter address", c.Addr); err != nil {
		return err
	}
	return checkPlain("redis exporter password secret", c.PasswordSecret)
}

// RedisExporterRuntime describes the exporter's container.
func RedisExporterRuntime(c RedisExporterConfig) Runtime {
	return Runtime{
		Image:      c.Image,
		Exec:       []string{"--web.listen-address=:" + strconv.Itoa(c.Port)},
		Env:        map[string]string{"REDIS_ADDR": "redis://" + c.Addr},
		EnvSecrets: map[string]string{RedisExporterPasswordEnv: c.PasswordSecret},
		Ports:      []int{c.Port},
		// The image's alpine variant has wget (the default one is empty).
		HealthCmd: fmt.Sprintf("wget -q -O /dev/null http://127.0.0.1:%d/", c.Port),
	}
}

// NginxExporterConfig is the nginx exporter's configuration. It shares the
// host's network with the edge, whose status page listens on loopback.
type NginxExporterConfig struct {
	// Image is the container image.
	Image string
	// Port the exporter listens on.
	Port int
	// ScrapeURI is the edge's stub_status page.
	ScrapeURI string
}

// DefaultNginxExporter returns Clipper's nginx exporter.
func DefaultNginxExporter() NginxExporterConfig {
	return NginxExporterConfig{Image: "docker.io/nginx/nginx-prometheus-exporter:latest", Port: 9113, ScrapeURI: "http://127.0.0.1:8089/stub_status"}
}

// Validate checks the configuration.
func (c NginxExporterConfig) Validate() error {
	if err := checkNonEmpty("nginx exporter image", c.Image); err != nil {
		return err
	}
	if err := checkPort("nginx exporter port", c.Port); err != nil {
		return err
	}
	return checkURL("nginx exporter scrape uri", c.ScrapeURI)
}

// NginxExporterArgs are the exporter's flags; both the image's exporter
// and Debian's accept them.
func NginxExporterArgs(c NginxExporterConfig) []string {
	return []string{"--nginx.scrape-uri=" + c.ScrapeURI, fmt.Sprintf("--web.listen-address=:%d", c.Port)}
}

// NginxExporterRuntime describes the exporter's container. It has no
// health check, and none can be given: the image is the binary alone on
// scratch (nginx-prometheus-exporter v1.4.2, build/Dockerfile: FROM
// scratch, only CA certificates beside it), so there is no shell, wget or
// curl to run, and the binary has no self-check among its flags
// (exporter.go: web.*, nginx.*, prometheus.const-label, log and version
// flags only; a second instance would serve, not probe). A HealthCmd
// would fail every time, and with HealthOnFailure=kill restart the
// exporter forever. What a health check would tell is told anyway:
// systemd restarts the process when it exits (Restart=always),
// Prometheus's ServiceDown (up == 0, for every job) fires when the
// exporter stops answering scrapes, and EdgeDown (nginx_up == 0) when it
// answers but cannot read nginx's status page.
func NginxExporterRuntime(c NginxExporterConfig) Runtime {
	return Runtime{Image: c.Image, Exec: NginxExporterArgs(c), Ports: []int{c.Port}}
}

// PgBouncerExporterConfig is the PgBouncer exporter's configuration
// (prometheus-community/pgbouncer_exporter): it logs in to PgBouncer's
// admin console as the stats user, which may read SHOW output and nothing
// else.
type PgBouncerExporterConfig struct {
	// Image is the container image.
	Image string
	// Port the exporter listens on.
	Port int
	// Host and PgBouncerPort reach PgBouncer on the container network.
	Host          string
	PgBouncerPort int
	// StatsUser is PgBouncer's stats user.
	StatsUser string
	// PasswordSecret names the Podman secret holding StatsUser's password.
	// The exporter reads it as PGPASSWORD (lib/pq takes the variable as
	// the connection's password), so it is on no command line.
	PasswordSecret string
}

// PgBouncerExporterPasswordEnv is the variable the exporter's PostgreSQL
// driver (lib/pq) reads the password from.
const PgBouncerExporterPasswordEnv = "PGPASSWORD"

// DefaultPgBouncerExporter returns Clipper's PgBouncer exporter.
func DefaultPgBouncerExporter() PgBouncerExporterConfig {
	return PgBouncerExporterConfig{Image: "quay.io/prometheuscommunity/pgbouncer-exporter:latest", Port: 9127,
		Host: "pgbouncer", PgBouncerPort: 6432, StatsUser: PgBouncerStatsUser, PasswordSecret: PgBouncerStatsSecret}
}

// Validate checks the configuration.
func (c PgBouncerExporterConfig) Validate() error {
	if err := checkNonEmpty("pgbouncer exporter image", c.Image); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"pgbouncer exporter port", c.Port}, {"pgbouncer exporter pgbouncer port", c.PgBouncerPort}} {
		if err := checkPort(p.name, p.v); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, v string }{{"pgbouncer exporter host", c.Host},
		{"pgbouncer exporter stats user", c.StatsUser}, {"pgbouncer exporter password secret", c.PasswordSecret}} {
		if err := checkPlain(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// PgBouncerExporterArgs are the exporter's flags: the admin console's
// connection string, without the password.
func PgBouncerExporterArgs(c PgBouncerExporterConfig) []string {
	return []string{
		fmt.Sprintf("--pgBouncer.connectionString=postgres://%s@%s:%d/pgbouncer?sslmode=disable", c.StatsUser, c.Host, c.PgBouncerPort),
		fmt.Sprintf("--web.listen-address=:%d", c.Port),
	}
}

// PgBouncerExporterRuntime describes the exporter's container.
func PgBouncerExporterRuntime(c PgBouncerExporterConfig) Runtime {
	return Runtime{
		Image:      c.Image,
		Exec:       PgBouncerExporterArgs(c),
		EnvSecrets: map[string]string{PgBouncerExporterPasswordEnv: c.PasswordSecret},
		Ports:      []int{c.Port},
		// The image is built on Prometheus's busybox, which has wget;
		// the landing page answers without querying PgBouncer.
		HealthCmd: fmt.Sprintf("wget -q -O /dev/null http://127.0.0.1:%d/", c.Port),
	}
}
