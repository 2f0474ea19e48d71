package services

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// PostgresConfig is the PostgreSQL server configuration.
type PostgresConfig struct {
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
	// UID is the uid of the image's postgres user, which owns the password
	// secret (PostgresUID of the image, decided by the plan).
	UID string
	// DataDir is the cluster's directory on the data filesystem.
	DataDir string
	// WALSpool, when not empty, is the WAL archive's spool directory; the
	// container sees it at the same path, so that a point-in-time restore
	// replays from it.
	WALSpool string
	// Extra holds further settings other parts of the appliance need, such
	// as archive_mode, archive_command and archive_timeout for WAL
	// archiving. Keys are parameter names; values are written quoted.
	Extra map[string]string
}

// Paths of the PostgreSQL files, on the server and in the container.
const (
	PostgresConfigDir    = ConfigRoot + "/postgres"
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
	if err := firstError(
		checkPort("port", c.Port),
		checkMin("max_connections", c.MaxConnections, 1),
	); err != nil {
		return err
	}
	if !sizeValue.MatchString(c.SharedBuffers) {
		return bad("shared_buffers", c.SharedBuffers, "want a size such as 256MB", ErrInvalidValue)
	}
	if err := checkPlains("database", c.Database, "user", c.User, "password_secret", c.PasswordSecret, "data_dir", c.DataDir); err != nil {
		return err
	}
	if _, err := netip.ParsePrefix(c.Subnet); err != nil {
		return overlays.Bad("subnet", c.Subnet, fmt.Errorf("%w: %w", ErrInvalidValue, err))
	}
	keys := make([]string, 0, len(c.Extra))
	for k := range c.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.ContainsAny(c.Extra[k], "\n\r") {
			return bad("extra."+k, c.Extra[k], "value spans lines", ErrInvalidValue)
		}
		if !pgSettingName.MatchString(k) {
			return overlays.Bad("extra", k, ErrInvalidSettingName)
		}
		if postgresOwned[k] {
			return overlays.Bad("extra", k, ErrDuplicateSetting)
		}
	}
	return nil
}

// Postgres renders postgresql.conf and pg_hba.conf, and the container
// that reads them.
func Postgres(cfg PostgresConfig) (overlays.Component, error) {
	if err := cfg.Validate(); err != nil {
		return overlays.Component{}, err
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
	files, err := renderFiles(data,
		tmplFile{"postgresql.conf.tmpl", PostgresConfigDir + "/" + postgresConfFileName},
		tmplFile{"pg_hba.conf.tmpl", PostgresConfigDir + "/" + postgresHBAFileName})
	if err != nil {
		return overlays.Component{}, err
	}
	return overlays.Component{Files: files, Container: postgresContainer(cfg), DataDirs: []overlays.DataDir{{Path: cfg.DataDir}}}, nil
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

// postgresContainer is the PostgreSQL container. It is ready (Notify)
// only once the server answers, so dependants ordered after it start
// against a server that accepts connections.
func postgresContainer(cfg PostgresConfig) units.Container {
	c := units.Container{
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
			"POSTGRES_PASSWORD_FILE": secretPath(cfg.PasswordSecret),
			"PGDATA":                 postgresDataMount,
		},
		Secrets: []units.SecretMount{secret(cfg.PasswordSecret, cfg.UID)},
		Mounts: []units.Mount{
			{Source: PostgresConfigDir, Target: postgresConfMount, ReadOnly: true},
			{Source: cfg.DataDir, Target: postgresDataMount},
		},
		Health: health("pg_isready -q -h 127.0.0.1 -p %d -U %s -d %s", cfg.Port, cfg.User, cfg.Database),
		Notify: true,
	}
	if cfg.WALSpool != "" {
		c.Mounts = append(c.Mounts, units.Mount{Source: cfg.WALSpool, Target: cfg.WALSpool})
	}
	return c
}
