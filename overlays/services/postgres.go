package services

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/kiln-dev/kiln/overlays"
)

// PostgresConfig is the PostgreSQL server configuration.
type PostgresConfig struct {
	// Image is the container image.
	Image string
	// Port the server listens on inside the container network.
	Port int
	// MaxConnections is max_connections.
	MaxConnections int
	// SharedBuffers is shared_buffers, with its unit (e.g. 256MB).
	SharedBuffers string
	// Database and User are created by the image's entrypoint on first start.
	Database, User string
	// Subnet is the container network allowed to connect (CIDR).
	Subnet string
	// PasswordSecret names the Podman secret holding the user's password.
	PasswordSecret string
	// Extra holds further settings other parts of the appliance need, such
	// as archive_mode, archive_command and archive_timeout for WAL
	// archiving. Keys are parameter names; values are written quoted.
	Extra map[string]string
}

// DefaultPostgres returns Clipper's PostgreSQL configuration.
func DefaultPostgres() PostgresConfig {
	return PostgresConfig{
		Image:          "docker.io/library/postgres:17-alpine",
		Port:           5436,
		MaxConnections: 100,
		SharedBuffers:  "256MB",
		Database:       "clipper",
		User:           "clipper",
		Subnet:         ClipperSubnet,
		PasswordSecret: "postgres-password",
	}
}

// Paths of the PostgreSQL files, on the server and in the container.
const (
	PostgresConfigDir    = ConfigRoot + "/postgres"
	PostgresDataDir      = DataRoot + "/postgres"
	postgresConfMount    = "/etc/postgresql"
	postgresDataMount    = "/var/lib/postgresql/data"
	postgresConfFileName = "postgresql.conf"
	postgresHBAFileName  = "pg_hba.conf"
)

// postgresOwned lists the settings postgresql.conf.tmpl writes, which Extra
// may not repeat.
var postgresOwned = map[string]bool{
	"listen_addresses": true, "port": true, "max_connections": true,
	"unix_socket_directories": true, "password_encryption": true,
	"shared_buffers": true, "logging_collector": true, "log_destination": true,
	"log_line_prefix": true, "log_timezone": true, "timezone": true,
	"config_file": true, "hba_file": true, "data_directory": true,
}

var pgSettingName = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`)
var sizeValue = regexp.MustCompile(`^[0-9]+(kB|MB|GB|TB)?$`)

type keyValue struct{ Key, Value string }

// Validate checks the configuration without rendering it.
func (c PostgresConfig) Validate() error {
	if err := checkNonEmpty("postgres image", c.Image); err != nil {
		return err
	}
	if err := checkPort("postgres port", c.Port); err != nil {
		return err
	}
	if c.MaxConnections < 1 {
		return fmt.Errorf("postgres max_connections %d: %w", c.MaxConnections, ErrInvalidValue)
	}
	if !sizeValue.MatchString(c.SharedBuffers) {
		return fmt.Errorf("postgres shared_buffers %q: want a size such as 256MB: %w", c.SharedBuffers, ErrInvalidValue)
	}
	for _, f := range []struct{ name, v string }{
		{"postgres database", c.Database}, {"postgres user", c.User}, {"postgres password secret", c.PasswordSecret},
	} {
		if err := checkPlain(f.name, f.v); err != nil {
			return err
		}
	}
	if _, err := netip.ParsePrefix(c.Subnet); err != nil {
		return fmt.Errorf("postgres subnet %q: %w: %w", c.Subnet, ErrInvalidValue, err)
	}
	keys := make([]string, 0, len(c.Extra))
	for k := range c.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.ContainsAny(c.Extra[k], "\n\r") {
			return fmt.Errorf("postgres extra setting %s: value spans lines: %w", k, ErrInvalidValue)
		}
		if !pgSettingName.MatchString(k) {
			return fmt.Errorf("postgres extra setting %q: %w", k, ErrInvalidSettingName)
		}
		if postgresOwned[k] {
			return fmt.Errorf("postgres extra setting %q: %w", k, ErrDuplicateSetting)
		}
	}
	return nil
}

// Postgres renders postgresql.conf and pg_hba.conf.
func Postgres(cfg PostgresConfig) ([]overlays.File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	extra := make([]keyValue, 0, len(cfg.Extra))
	for k, v := range cfg.Extra {
		extra = append(extra, keyValue{k, v})
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].Key < extra[j].Key })
	data := struct {
		PostgresConfig
		Extra []keyValue
	}{cfg, extra}
	conf, err := render("postgresql.conf.tmpl", data)
	if err != nil {
		return nil, err
	}
	hba, err := render("pg_hba.conf.tmpl", data)
	if err != nil {
		return nil, err
	}
	return []overlays.File{
		{Path: PostgresConfigDir + "/" + postgresConfFileName, Mode: 0o644, Contents: conf},
		{Path: PostgresConfigDir + "/" + postgresHBAFileName, Mode: 0o644, Contents: hba},
	}, nil
}

// PostgresUID is the uid (and gid) of the postgres user in the official
// image: 70 in the Alpine variants, 999 in the Debian ones (bookworm,
// trixie, or a bare version tag). The secret mounted into the container,
// the backup scripts and the WAL spool all use it: the server runs as that
// user and must read and write them.
func PostgresUID(image string) int {
	if strings.Contains(image, "alpine") {
		return 70
	}
	return 999
}

// PostgresInitDBArgs are the initdb arguments for a new cluster: UTF-8 with
// the C locale, so sorting never changes with the image's libc.
func PostgresInitDBArgs() string { return "--encoding=UTF8 --lc-collate=C --lc-ctype=C" }

// PostgresRuntime describes the PostgreSQL container.
func PostgresRuntime(cfg PostgresConfig) Runtime {
	uid := PostgresUID(cfg.Image)
	secret := Secret{Name: cfg.PasswordSecret, UID: uid, GID: uid, Mode: 0o400}
	return Runtime{
		Image: cfg.Image,
		// The image's entrypoint runs initdb on an empty data directory and
		// passes these arguments to the server it starts.
		Exec: []string{
			"postgres",
			"-c", "config_file=" + postgresConfMount + "/" + postgresConfFileName,
			"-c", "hba_file=" + postgresConfMount + "/" + postgresHBAFileName,
		},
		Env: map[string]string{
			"POSTGRES_INITDB_ARGS":   PostgresInitDBArgs(),
			"POSTGRES_DB":            cfg.Database,
			"POSTGRES_USER":          cfg.User,
			"POSTGRES_PASSWORD_FILE": secret.Path(),
			"PGDATA":                 postgresDataMount,
		},
		Secrets: []Secret{secret},
		Mounts: []Mount{
			{Source: PostgresConfigDir, Target: postgresConfMount, ReadOnly: true},
			{Source: PostgresDataDir, Target: postgresDataMount},
		},
		Ports:     []int{cfg.Port},
		HealthCmd: fmt.Sprintf("pg_isready -q -h 127.0.0.1 -p %d -U %s -d %s", cfg.Port, cfg.User, cfg.Database),
	}
}
