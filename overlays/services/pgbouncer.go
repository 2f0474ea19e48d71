package services

import (
	"fmt"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// PgBouncerConfig is the connection pooler's configuration.
type PgBouncerConfig struct {
	// ListenAddr and Port are where PgBouncer listens in the container.
	ListenAddr string
	Port       int
	// ServerHost and ServerPort locate PostgreSQL on the container network.
	ServerHost string
	ServerPort int
	// Database is the one database pooled (same name on both sides).
	Database string
	// User is the application's user. It is no admin (nobody is:
	// operators restart the unit instead) and reads no statistics.
	User string
	// StatsUser may read the admin console's statistics (SHOW) and do
	// nothing else: the exporter logs in as it. Empty means no such user.
	StatsUser string
	// StatsPasswordSecret names the Podman secret holding StatsUser's
	// password; PgBouncer alone knows it (it is no PostgreSQL user).
	StatsPasswordSecret string
	// PoolMode is session, transaction or statement.
	PoolMode string
	// MaxClientConn and DefaultPoolSize size the pool.
	MaxClientConn, DefaultPoolSize int
	// PasswordSecret names the Podman secret holding User's PostgreSQL
	// password (the same secret PostgreSQL is initialised with).
	PasswordSecret string
	// AuthFile is where the start command writes the auth file inside the
	// container; it must be on a writable, private path.
	AuthFile string
	// UID is the numeric user the image runs its process as, which owns
	// the mounted password secret; the plan decides it from the image.
	UID string
}

// The stats user the PgBouncer exporter logs in as, and its secret.
const (
	PgBouncerStatsUser   = "kiln_stats"
	PgBouncerStatsSecret = "pgbouncer-stats-password"
)

// Paths of the PgBouncer files, on the server and in the container.
const (
	PgBouncerConfigDir     = ConfigRoot + "/pgbouncer"
	pgbouncerConfMount     = "/etc/kiln/pgbouncer"
	pgbouncerIniFileName   = "pgbouncer.ini"
	pgbouncerStartFileName = "start.sh"
)

// Validate checks the configuration without rendering it.
func (c PgBouncerConfig) Validate() error {
	if err := firstError(
		checkPort("port", c.Port),
		checkPort("server_port", c.ServerPort),
		checkPlains("listen_addr", c.ListenAddr, "server_host", c.ServerHost, "database", c.Database,
			"user", c.User, "password_secret", c.PasswordSecret, "auth_file", c.AuthFile),
	); err != nil {
		return err
	}
	if (c.StatsUser == "") != (c.StatsPasswordSecret == "") {
		return bad("stats_user", c.StatsUser, fmt.Sprintf("and stats_password_secret %q: name both or neither", c.StatsPasswordSecret), ErrInvalidValue)
	}
	if c.StatsUser != "" {
		if err := checkPlains("stats_user", c.StatsUser, "stats_password_secret", c.StatsPasswordSecret); err != nil {
			return err
		}
		if c.StatsUser == c.User {
			return bad("stats_user", c.StatsUser, "is the application's user", ErrInvalidValue)
		}
	}
	switch c.PoolMode {
	case "session", "transaction", "statement":
	default:
		return bad("pool_mode", c.PoolMode, "want session, transaction or statement", ErrInvalidValue)
	}
	return firstError(checkMin("max_client_conn", c.MaxClientConn, 1), checkMin("default_pool_size", c.DefaultPoolSize, 1))
}

// PgBouncer renders pgbouncer.ini and the container's start script, and
// the container that runs them. The image must provide /bin/sh and
// pgbouncer on PATH and run as a non-root user (PgBouncer refuses root).
func PgBouncer(cfg PgBouncerConfig) (overlays.Component, error) {
	if err := cfg.Validate(); err != nil {
		return overlays.Component{}, err
	}
	ini, err := render("pgbouncer.ini.tmpl", cfg)
	if err != nil {
		return overlays.Component{}, err
	}
	start, err := pgbouncerStartScript(cfg, pgbouncerConfMount+"/"+pgbouncerIniFileName, secretPath(cfg.PasswordSecret), secretPath(cfg.StatsPasswordSecret))
	if err != nil {
		return overlays.Component{}, err
	}
	return overlays.Component{Files: []overlays.File{
		{Path: PgBouncerConfigDir + "/" + pgbouncerIniFileName, Mode: 0o644, Contents: ini},
		{Path: PgBouncerConfigDir + "/" + pgbouncerStartFileName, Mode: 0o644, Contents: start},
	}, Container: pgbouncerContainer(cfg)}, nil
}

// pgbouncerStartScript renders the start script for the given container
// paths.
func pgbouncerStartScript(cfg PgBouncerConfig, iniPath, secretPath, statsSecretPath string) ([]byte, error) {
	return render("pgbouncer-start.sh.tmpl", struct {
		PgBouncerConfig
		IniPath, SecretPath, StatsSecretPath string
	}{cfg, iniPath, secretPath, statsSecretPath})
}

// pgbouncerContainer is the PgBouncer container. The entrypoint is
// replaced by /bin/sh running the start script, so that no image-specific
// script rewrites the configuration, and the command line holds no $ or %
// for systemd to expand.
func pgbouncerContainer(cfg PgBouncerConfig) units.Container {
	secrets := []units.SecretMount{secret(cfg.PasswordSecret, cfg.UID)}
	if cfg.StatsPasswordSecret != "" {
		secrets = append(secrets, secret(cfg.StatsPasswordSecret, cfg.UID))
	}
	return units.Container{
		Entrypoint: "/bin/sh",
		Exec:       []string{pgbouncerConfMount + "/" + pgbouncerStartFileName},
		Secrets:    secrets,
		Mounts:     []units.Mount{{Source: PgBouncerConfigDir, Target: pgbouncerConfMount, ReadOnly: true}},
		Health:     health("pg_isready -q -h 127.0.0.1 -p %d", cfg.Port),
		Notify:     true,
	}
}
