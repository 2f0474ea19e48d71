// Package backup renders an appliance's backup and disaster-recovery plan:
// the kiln-backup and kiln-restore scripts, their environment file, and the
// systemd timers, paths and services that run them. Everything goes into one
// encrypted restic repository on S3: logical dumps, physical base backups with
// continuously shipped WAL for point-in-time recovery, Redis snapshots and
// the appliance configuration.
package backup

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/overlays"
)

// Schedule is one timer that runs kiln-backup.
type Schedule struct {
	// Name becomes the unit name kiln-backup-<Name> and the snapshot tag.
	Name string
	// OnCalendar is a systemd calendar expression, e.g. "*-*-* 02:00:00".
	OnCalendar string
	// RandomizedDelay spreads the start so many servers do not hit S3 at once.
	RandomizedDelay time.Duration
}

// Retention is how many snapshots restic keeps per period.
type Retention struct {
	Daily, Weekly, Monthly int
}

// S3 is the destination bucket.
type S3 struct {
	// Endpoint is the S3 host (and port), without a scheme: s3.amazonaws.com,
	// fra1.digitaloceanspaces.com, 127.0.0.1:9000.
	Endpoint string
	// Insecure selects http:// instead of https://; for loopback tests only.
	Insecure bool
	Bucket   string
	// Prefix is the folder inside the bucket holding the repository.
	Prefix string
	Region string
	// CredentialsFile is an env file on the server holding AWS_ACCESS_KEY_ID
	// and AWS_SECRET_ACCESS_KEY. It is placed there by the operator, never
	// baked into the image unless EmbedCredentials is set.
	CredentialsFile string
	// EmbedCredentials, when non-nil, writes these keys into CredentialsFile
	// through the image. Anyone holding the image can then read the bucket,
	// so Render reports a warning.
	EmbedCredentials *Credentials
}

// Credentials are S3 access keys.
type Credentials struct {
	AccessKeyID, SecretAccessKey string
}

// Postgres describes the database container that is dumped and archived.
type Postgres struct {
	Container string
	// Port is the port PostgreSQL listens on inside its container; the
	// tools reach it through the container's Unix socket for that port.
	Port     int
	User     string
	Database string
	// DataDir is the cluster's data directory on the host (on the data
	// volume); a point-in-time restore rebuilds it.
	DataDir string
	// UID and GID own DataDir and the WAL spool (999 in the official image).
	UID, GID int
	// ArchiveDirInContainer is the WAL spool (DataRoot/wal-archive/incoming
	// on the host) as the container sees it; archive_command writes there and
	// a point-in-time restore reads from its sibling "restore". Empty means
	// the same path as on the host: the PostgreSQL unit should mount
	// DataRoot/wal-archive at the same path.
	ArchiveDirInContainer string
}

// Redis describes the cache container whose snapshot is backed up.
type Redis struct {
	Container    string
	Port         int
	PasswordFile string
	// DataDir holds dump.rdb and the AOF directory on the host.
	DataDir string
	// DataDirInContainer is where DataDir is mounted in the container
	// (/data in the official image); empty means the same path.
	DataDirInContainer string
}

// Config is the whole backup plan for one appliance.
type Config struct {
	// Host names this appliance's snapshots (restic --host); a rebuilt
	// server keeps the name and so continues the same series.
	Host        string
	Schedules   []Schedule
	Retention   Retention
	Destination S3
	// PasswordFile holds the restic repository password. It is generated on
	// the server at first boot and never replaced; it lives on the data
	// volume so a rebuilt server can still open its repository.
	PasswordFile string
	Postgres     Postgres
	Redis        Redis
	// DataRoot is the persistent data volume's mount point.
	DataRoot string
	// ConfigDirs are backed up as the appliance configuration and secrets.
	ConfigDirs []string
	// ArchiveTimeout forces a WAL segment switch so an idle database still
	// ships its last commits: it bounds the RPO.
	ArchiveTimeout time.Duration
	// WALWindow is how far back point-in-time recovery reaches.
	WALWindow time.Duration
	// DrillOnCalendar schedules the restore drill.
	DrillOnCalendar string
	// ResticImage is the pinned restic container image used on the server.
	ResticImage string
	// TextfileDir is the node exporter textfile collector directory.
	TextfileDir string
}

// DefaultConfig returns the Clipper appliance's plan: daily at 02:00,
// weekly on Sunday at 03:00, 7 daily / 4 weekly / 6 monthly snapshots, WAL
// shipped within a minute, and a monthly restore drill.
func DefaultConfig() Config {
	return Config{
		Host: "clipper",
		Schedules: []Schedule{
			{Name: "daily", OnCalendar: "*-*-* 02:00:00", RandomizedDelay: 10 * time.Minute},
			{Name: "weekly", OnCalendar: "Sun *-*-* 03:00:00", RandomizedDelay: 10 * time.Minute},
		},
		Retention: Retention{Daily: 7, Weekly: 4, Monthly: 6},
		Destination: S3{
			Endpoint:        "s3.amazonaws.com",
			Bucket:          "clipper-backups",
			Prefix:          "clipper",
			Region:          "us-east-1",
			CredentialsFile: "/etc/kiln/backup/s3.env",
		},
		PasswordFile: "/var/lib/kiln/backup/restic.password",
		Postgres: Postgres{
			Container: "postgres", Port: 5436, User: "clipper", Database: "clipper",
			DataDir: "/var/lib/kiln/postgres/data", UID: 999, GID: 999,
		},
		Redis: Redis{
			Container: "redis", Port: 6379,
			PasswordFile:       "/etc/kiln/secrets/redis-password",
			DataDir:            "/var/lib/kiln/redis",
			DataDirInContainer: "/data",
		},
		DataRoot:        "/var/lib/kiln",
		ConfigDirs:      []string{"/etc/kiln"},
		ArchiveTimeout:  60 * time.Second,
		WALWindow:       7 * 24 * time.Hour,
		DrillOnCalendar: "*-*-01 04:00:00",
		ResticImage:     overlays.ResticImage.Pinned(),
		TextfileDir:     "/var/lib/kiln/node-exporter/textfile",
	}
}

var (
	scheduleName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)
	// Calendar expressions are checked by systemd-analyze in tests; here we
	// only refuse characters that could break out of the unit file.
	calendarChars = regexp.MustCompile(`^[A-Za-z0-9 *:,./~-]+$`)
	identChars    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,62}$`)
	hostChars     = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)
	bucketChars   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	prefixChars   = regexp.MustCompile(`^[A-Za-z0-9._/-]*$`)
	imagePinned   = regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+((:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}|:[A-Za-z0-9._-]+)$`)
	safePath      = regexp.MustCompile(`^/[A-Za-z0-9._/-]*$`)
)

// Validate checks the plan without side effects. Errors wrap the sentinels
// in errors.go and name the field.
func (c Config) Validate() error {
	if !identChars.MatchString(c.Host) {
		return fmt.Errorf("host %q: letters, digits, dots, dashes: %w", c.Host, ErrBadHost)
	}
	if len(c.Schedules) == 0 {
		return ErrNoSchedule
	}
	seen := map[string]bool{}
	for i, s := range c.Schedules {
		if !scheduleName.MatchString(s.Name) || s.Name == "now" || s.Name == "init" || s.Name == "wal" {
			return fmt.Errorf("schedules[%d].name %q: lowercase letters, digits and dashes, not a kiln-backup command: %w", i, s.Name, ErrBadSchedule)
		}
		if seen[s.Name] {
			return fmt.Errorf("schedules[%d].name %q is used twice: %w", i, s.Name, ErrBadSchedule)
		}
		seen[s.Name] = true
		if !calendarChars.MatchString(s.OnCalendar) {
			return fmt.Errorf("schedules[%d].onCalendar %q: %w", i, s.OnCalendar, ErrBadSchedule)
		}
		if s.RandomizedDelay < 0 || s.RandomizedDelay > 6*time.Hour {
			return fmt.Errorf("schedules[%d].randomizedDelay %s: between 0 and 6h: %w", i, s.RandomizedDelay, ErrBadDuration)
		}
	}
	r := c.Retention
	if r.Daily < 0 || r.Weekly < 0 || r.Monthly < 0 || r.Daily+r.Weekly+r.Monthly == 0 {
		return fmt.Errorf("retention %+v: counts must be >= 0 and keep something: %w", r, ErrBadRetention)
	}
	d := c.Destination
	switch {
	case !hostChars.MatchString(d.Endpoint):
		return fmt.Errorf("destination.endpoint %q: a host[:port] without scheme: %w", d.Endpoint, ErrBadDestination)
	case !bucketChars.MatchString(d.Bucket):
		return fmt.Errorf("destination.bucket %q: %w", d.Bucket, ErrBadDestination)
	case !prefixChars.MatchString(d.Prefix) || strings.HasPrefix(d.Prefix, "/") || strings.Contains(d.Prefix, ".."):
		return fmt.Errorf("destination.prefix %q: a relative folder: %w", d.Prefix, ErrBadDestination)
	case d.Region != "" && !identChars.MatchString(d.Region):
		return fmt.Errorf("destination.region %q: %w", d.Region, ErrBadDestination)
	}
	if e := d.EmbedCredentials; e != nil && (e.AccessKeyID == "" || e.SecretAccessKey == "" ||
		strings.ContainsAny(e.AccessKeyID+e.SecretAccessKey, "'\n\"\\$`")) {
		return fmt.Errorf("destination.embedCredentials: both keys are required, without quotes or newlines: %w", ErrBadDestination)
	}
	paths := []struct{ field, p string }{
		{"destination.credentialsFile", d.CredentialsFile},
		{"passwordFile", c.PasswordFile},
		{"postgres.dataDir", c.Postgres.DataDir},
		{"redis.passwordFile", c.Redis.PasswordFile},
		{"redis.dataDir", c.Redis.DataDir},
		{"dataRoot", c.DataRoot},
		{"textfileDir", c.TextfileDir},
	}
	if c.Redis.DataDirInContainer != "" {
		paths = append(paths, struct{ field, p string }{"redis.dataDirInContainer", c.Redis.DataDirInContainer})
	}
	if c.Postgres.ArchiveDirInContainer != "" {
		paths = append(paths, struct{ field, p string }{"postgres.archiveDirInContainer", c.Postgres.ArchiveDirInContainer})
	}
	for i, p := range c.ConfigDirs {
		paths = append(paths, struct{ field, p string }{fmt.Sprintf("configDirs[%d]", i), p})
	}
	for _, p := range paths {
		if !safePath.MatchString(p.p) || path.Clean(p.p) != p.p || p.p == "/" {
			return fmt.Errorf("%s %q: %w", p.field, p.p, ErrBadPath)
		}
	}
	if !strings.HasPrefix(c.PasswordFile, c.DataRoot+"/") {
		return fmt.Errorf("passwordFile %q must live on the data volume %s so a rebuild keeps it: %w", c.PasswordFile, c.DataRoot, ErrBadPath)
	}
	pg := c.Postgres
	switch {
	case !identChars.MatchString(pg.Container), !identChars.MatchString(pg.User), !identChars.MatchString(pg.Database):
		return fmt.Errorf("postgres container/user/database %q/%q/%q: %w", pg.Container, pg.User, pg.Database, ErrBadDatabase)
	case pg.Port < 1 || pg.Port > 65535:
		return fmt.Errorf("postgres.port %d: %w", pg.Port, ErrBadDatabase)
	case pg.UID < 0 || pg.GID < 0:
		return fmt.Errorf("postgres.uid/gid %d/%d: %w", pg.UID, pg.GID, ErrBadDatabase)
	}
	if !identChars.MatchString(c.Redis.Container) || c.Redis.Port < 1 || c.Redis.Port > 65535 {
		return fmt.Errorf("redis container/port %q/%d: %w", c.Redis.Container, c.Redis.Port, ErrBadDatabase)
	}
	if c.ArchiveTimeout < time.Second || c.ArchiveTimeout > 5*time.Minute || c.ArchiveTimeout%time.Second != 0 {
		return fmt.Errorf("archiveTimeout %s: whole seconds between 1s and 5m, since it bounds the RPO: %w", c.ArchiveTimeout, ErrBadDuration)
	}
	if c.WALWindow < time.Hour || c.WALWindow%time.Hour != 0 {
		return fmt.Errorf("walWindow %s: whole hours, at least 1h: %w", c.WALWindow, ErrBadDuration)
	}
	if !calendarChars.MatchString(c.DrillOnCalendar) {
		return fmt.Errorf("drillOnCalendar %q: %w", c.DrillOnCalendar, ErrBadSchedule)
	}
	if !imagePinned.MatchString(c.ResticImage) || strings.HasSuffix(c.ResticImage, ":latest") {
		return fmt.Errorf("resticImage %q: use registry/name:version or @sha256 digest: %w", c.ResticImage, ErrBadImage)
	}
	return nil
}

// Warning is something the user should know about a valid plan.
type Warning struct {
	// Field is the config path the warning is about.
	Field   string
	Message string
}

// String formats the warning as "field: message".
func (w Warning) String() string { return w.Field + ": " + w.Message }

// Warnings is returned by Render as its error when the files and units are
// complete but the plan has warnings. It matches ErrWarnings with errors.Is,
// so a caller prints it and continues, or fails under a strict mode.
type Warnings []Warning

// Error joins the warnings into one line.
func (ws Warnings) Error() string {
	s := make([]string, len(ws))
	for i, w := range ws {
		s[i] = w.String()
	}
	return "backup: " + strings.Join(s, "; ")
}

// Is lets errors.Is(err, ErrWarnings) recognise a warnings-only result.
func (ws Warnings) Is(target error) bool { return target == ErrWarnings }

// Warnings lists what a valid plan should tell the user.
func (c Config) Warnings() Warnings {
	var ws Warnings
	if c.Destination.EmbedCredentials != nil {
		ws = append(ws, Warning{
			Field:   "destination.embedCredentials",
			Message: "S3 keys are embedded in the image; anyone with the image can read and delete the backups. Prefer placing " + c.Destination.CredentialsFile + " on the server",
		})
	}
	if c.Destination.Insecure {
		ws = append(ws, Warning{Field: "destination.insecure", Message: "backups travel to S3 over plain http"})
	}
	return ws
}

// IsWarningsOnly reports whether err from Render carries only warnings, in
// which case the returned files and units are complete.
func IsWarningsOnly(err error) bool {
	var ws Warnings
	return err != nil && errors.As(err, &ws)
}

// Repository is the restic repository URL for the destination.
func (c Config) Repository() string {
	scheme := "https"
	if c.Destination.Insecure {
		scheme = "http"
	}
	repo := "s3:" + scheme + "://" + c.Destination.Endpoint + "/" + c.Destination.Bucket
	if c.Destination.Prefix != "" {
		repo += "/" + strings.Trim(c.Destination.Prefix, "/")
	}
	return repo
}

// archiveDir is the WAL spool on the host, written by archive_command.
func (c Config) archiveDir() string { return c.DataRoot + "/wal-archive/incoming" }

// shippedDir keeps shipped segments locally until two base backups are newer.
func (c Config) shippedDir() string { return c.DataRoot + "/wal-archive/shipped" }

// archiveDirInContainer is the spool as PostgreSQL sees it.
func (c Config) archiveDirInContainer() string {
	if c.Postgres.ArchiveDirInContainer != "" {
		return c.Postgres.ArchiveDirInContainer
	}
	return c.archiveDir()
}

// PostgresSettings returns the postgresql.conf settings that WAL archiving
// needs, as values ready to write after "name = ". The segment is copied to
// a temporary name and renamed, so the shipper never sees half a segment,
// and an existing segment is never overwritten.
func PostgresSettings(c Config) map[string]string {
	dir := c.archiveDirInContainer()
	cmd := fmt.Sprintf("test ! -f %[1]s/%%f && cp %%p %[1]s/%%f.tmp && mv %[1]s/%%f.tmp %[1]s/%%f", dir)
	return map[string]string{
		"wal_level":       "replica",
		"archive_mode":    "on",
		"archive_command": "'" + cmd + "'",
		"archive_timeout": fmt.Sprintf("%ds", int(c.ArchiveTimeout/time.Second)),
		"max_wal_senders": "3",
	}
}
