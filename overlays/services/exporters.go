package services

import (
	"fmt"
	"strconv"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// PostgresExporterConfig is the PostgreSQL exporter's configuration: it
// logs in as the application's user (the image's superuser, which reads
// every statistics view) with the password from the database's secret.
type PostgresExporterConfig struct {
	// Port the exporter listens on.
	Port int
	// Host and DBPort reach the database on the container network.
	Host   string
	DBPort int
	// Database and User to log in with.
	Database, User string
	// PasswordSecret names the Podman secret holding the user's password.
	PasswordSecret string
	// UID is the numeric user the image runs its process as, which owns
	// the mounted password secret; the plan decides it from the image.
	UID string
}

// Validate checks the configuration.
func (c PostgresExporterConfig) Validate() error {
	return firstError(
		checkPort("port", c.Port),
		checkPort("db_port", c.DBPort),
		checkPlains("host", c.Host, "database", c.Database, "user", c.User, "password_secret", c.PasswordSecret),
	)
}

// PostgresExporterEnv is the exporter's environment: the connection
// without the password, which it reads from the secret file.
func PostgresExporterEnv(c PostgresExporterConfig) map[string]string {
	return map[string]string{
		"DATA_SOURCE_URI":       fmt.Sprintf("%s:%d/%s?sslmode=disable", c.Host, c.DBPort, c.Database),
		"DATA_SOURCE_USER":      c.User,
		"DATA_SOURCE_PASS_FILE": secretPath(c.PasswordSecret),
	}
}

// PostgresExporter is the PostgreSQL exporter: no file, only its
// container, which mounts the database's password secret even when its own
// service does not list it.
func PostgresExporter(c PostgresExporterConfig) (overlays.Component, error) {
	if err := c.Validate(); err != nil {
		return overlays.Component{}, err
	}
	return overlays.Component{Container: units.Container{
		Exec:    []string{fmt.Sprintf("--web.listen-address=:%d", c.Port)},
		Env:     PostgresExporterEnv(c),
		Secrets: []units.SecretMount{secret(c.PasswordSecret, c.UID)},
		// The image is built on Prometheus's busybox, which has wget;
		// the landing page answers without querying the database.
		Health: httpHealth(c.Port, "/"),
	}}, nil
}

// RedisExporterConfig is the Redis exporter's configuration.
type RedisExporterConfig struct {
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

// Validate checks the configuration.
func (c RedisExporterConfig) Validate() error {
	return firstError(
		checkPort("port", c.Port),
		checkHostPort("addr", c.Addr),
		checkPlain("password_secret", c.PasswordSecret),
	)
}

// RedisExporter is the Redis exporter: no file, only its container.
// Quadlet's Secret= key mounts files only; the exporter wants the password
// in its environment, so the secret is passed to podman directly (the
// unit names the secret, never the password).
func RedisExporter(c RedisExporterConfig) (overlays.Component, error) {
	if err := c.Validate(); err != nil {
		return overlays.Component{}, err
	}
	return overlays.Component{Container: units.Container{
		Exec:       []string{"--web.listen-address=:" + strconv.Itoa(c.Port)},
		Env:        map[string]string{"REDIS_ADDR": "redis://" + c.Addr},
		PodmanArgs: []string{fmt.Sprintf("--secret=%s,type=env,target=%s", c.PasswordSecret, RedisExporterPasswordEnv)},
		// The image's alpine variant has wget (the default one is empty).
		Health: httpHealth(c.Port, "/"),
	}}, nil
}

// NginxExporterConfig is the nginx exporter's configuration. It shares the
// host's network with the edge, whose status page listens on loopback.
type NginxExporterConfig struct {
	// Port the exporter listens on.
	Port int
	// ScrapeURI is the edge's stub_status page.
	ScrapeURI string
}

// Validate checks the configuration.
func (c NginxExporterConfig) Validate() error {
	return firstError(checkPort("port", c.Port), checkURL("scrape_uri", c.ScrapeURI))
}

// NginxExporterArgs are the exporter's flags; both the image's exporter
// and Debian's accept them.
func NginxExporterArgs(c NginxExporterConfig) []string {
	return []string{"--nginx.scrape-uri=" + c.ScrapeURI, fmt.Sprintf("--web.listen-address=:%d", c.Port)}
}

// NginxExporter is the nginx exporter: no file, only its container, on
// the host's network beside the edge's loopback status page. It has no
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
func NginxExporter(c NginxExporterConfig) (overlays.Component, error) {
	if err := c.Validate(); err != nil {
		return overlays.Component{}, err
	}
	return overlays.Component{Container: units.Container{Exec: NginxExporterArgs(c), Network: "host"}}, nil
}

// PgBouncerExporterConfig is the PgBouncer exporter's configuration
// (prometheus-community/pgbouncer_exporter): it logs in to PgBouncer's
// admin console as the stats user, which may read SHOW output and nothing
// else.
type PgBouncerExporterConfig struct {
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

// Validate checks the configuration.
func (c PgBouncerExporterConfig) Validate() error {
	return firstError(
		checkPort("port", c.Port),
		checkPort("pgbouncer_port", c.PgBouncerPort),
		checkPlains("host", c.Host, "stats_user", c.StatsUser, "password_secret", c.PasswordSecret),
	)
}

// PgBouncerExporterArgs are the exporter's flags: the admin console's
// connection string, without the password.
func PgBouncerExporterArgs(c PgBouncerExporterConfig) []string {
	return []string{
		fmt.Sprintf("--pgBouncer.connectionString=postgres://%s@%s:%d/pgbouncer?sslmode=disable", c.StatsUser, c.Host, c.PgBouncerPort),
		fmt.Sprintf("--web.listen-address=:%d", c.Port),
	}
}

// PgBouncerExporter is the PgBouncer exporter: no file, only its
// container, which gets the stats user's password in its environment from
// the Podman secret (the unit names the secret, never the password).
func PgBouncerExporter(c PgBouncerExporterConfig) (overlays.Component, error) {
	if err := c.Validate(); err != nil {
		return overlays.Component{}, err
	}
	return overlays.Component{Container: units.Container{
		Exec:       PgBouncerExporterArgs(c),
		PodmanArgs: []string{fmt.Sprintf("--secret=%s,type=env,target=%s", c.PasswordSecret, PgBouncerExporterPasswordEnv)},
		// The image is built on Prometheus's busybox, which has wget;
		// the landing page answers without querying PgBouncer.
		Health: httpHealth(c.Port, "/"),
	}}, nil
}
