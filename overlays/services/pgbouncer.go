package services

import (
	"fmt"

	"github.com/kiln-dev/kiln/overlays"
)

// PgBouncerConfig is the connection pooler's configuration.
type PgBouncerConfig struct {
	// Image is the container image; it must provide /bin/sh and pgbouncer
	// on PATH, and run as a non-root user (PgBouncer refuses root).
	Image string
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
}

// DefaultPgBouncer returns Clipper's PgBouncer configuration.
func DefaultPgBouncer() PgBouncerConfig {
	return PgBouncerConfig{
		Image:           "docker.io/edoburu/pgbouncer:latest",
		ListenAddr:      "0.0.0.0",
		Port:            6432,
		ServerHost:      "postgres",
		ServerPort:      5436,
		Database:        "clipper",
		User:            "clipper",
		PoolMode:        "transaction",
		MaxClientConn:   1000,
		DefaultPoolSize: 25,
		PasswordSecret:  "postgres-password",
		AuthFile:        "/tmp/pgbouncer-userlist.txt",

		StatsUser:           PgBouncerStatsUser,
		StatsPasswordSecret: PgBouncerStatsSecret,
	}
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
	pgbouncerImageUID      = 70 // the postgres user of the alpine image
)

// Validate checks the configuration without rendering it.
func (c PgBouncerConfig) Validate() error {
	if err := checkNonEmpty("pgbouncer image", c.Image); err != nil {
		return err
	}
	if err := checkPort("pgbouncer port", c.Port); err != nil {
		return err
	}
	if err := checkPort("pgbouncer server port", c.ServerPort); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"pgbouncer listen address", c.ListenAddr},
		{"pgbouncer server host", c.ServerHost},
		{"pgbouncer database", c.Database},
		{"pgbouncer user", c.User},
		{"pgbouncer password secret", c.PasswordSecret},
		{"pgbouncer auth file", c.AuthFile},
	} {
		if err := checkPlain(f.name, f.v); err != nil {
			return err
		}
	}
	if (c.StatsUser == "") != (c.StatsPasswordSecret == "") {
		return fmt.Errorf("pgbouncer stats user %q and secret %q: name both or neither: %w", c.StatsUser, c.StatsPasswordSecret, ErrInvalidValue)
	}
	if c.StatsUser != "" {
		if err := checkPlain("pgbouncer stats user", c.StatsUser); err != nil {
			return err
		}
		if err := checkPlain("pgbouncer stats password secret", c.StatsPasswordSecret); err != nil {
			return err
		}
		if c.StatsUser == c.User {
			return fmt.Errorf("pgbouncer stats user %q is the application's user: %w", c.StatsUser, ErrInvalidValue)
		}
	}
	switch c.PoolMode {
	case "session", "transaction", "statement":
	default:
		return fmt.Errorf("pgbouncer pool_mode %q: want session, transaction or statement: %w", c.PoolMode, ErrInvalidValue)
	}
	if c.MaxClientConn < 1 || c.DefaultPoolSize < 1 {
		return fmt.Errorf("pgbouncer max_client_conn %d / default_pool_size %d: %w", c.MaxClientConn, c.DefaultPoolSize, ErrInvalidValue)
	}
	return nil
}

// PgBouncer renders pgbouncer.ini and the container's start script.
func PgBouncer(cfg PgBouncerConfig) ([]overlays.File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ini, err := render("pgbouncer.ini.tmpl", cfg)
	if err != nil {
		return nil, err
	}
	start, err := pgbouncerStartScript(cfg, pgbouncerConfMount+"/"+pgbouncerIniFileName, Secret{Name: cfg.PasswordSecret}.Path(), Secret{Name: cfg.StatsPasswordSecret}.Path())
	if err != nil {
		return nil, err
	}
	return []overlays.File{
		{Path: PgBouncerConfigDir + "/" + pgbouncerIniFileName, Mode: 0o644, Contents: ini},
		{Path: PgBouncerConfigDir + "/" + pgbouncerStartFileName, Mode: 0o644, Contents: start},
	}, nil
}

// pgbouncerStartScript renders the start script for the given container
// paths.
func pgbouncerStartScript(cfg PgBouncerConfig, iniPath, secretPath, statsSecretPath string) ([]byte, error) {
	return render("pgbouncer-start.sh.tmpl", struct {
		PgBouncerConfig
		IniPath, SecretPath, StatsSecretPath string
	}{cfg, iniPath, secretPath, statsSecretPath})
}

// PgBouncerRuntime describes the PgBouncer container. The entrypoint is
// replaced by /bin/sh running the start script, so that no image-specific
// script rewrites the configuration, and the command line holds no $ or %
// for systemd to expand.
func PgBouncerRuntime(cfg PgBouncerConfig) Runtime {
	secrets := []Secret{{Name: cfg.PasswordSecret, UID: pgbouncerImageUID, GID: pgbouncerImageUID, Mode: 0o400}}
	if cfg.StatsPasswordSecret != "" {
		secrets = append(secrets, Secret{Name: cfg.StatsPasswordSecret, UID: pgbouncerImageUID, GID: pgbouncerImageUID, Mode: 0o400})
	}
	return Runtime{
		Image:      cfg.Image,
		Entrypoint: "/bin/sh",
		Exec:       []string{pgbouncerConfMount + "/" + pgbouncerStartFileName},
		Secrets:    secrets,
		Mounts:     []Mount{{Source: PgBouncerConfigDir, Target: pgbouncerConfMount, ReadOnly: true}},
		Ports:      []int{cfg.Port},
	}
}
