package builder

import (
	"fmt"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/overlays/backup"
)

// backupConfig derives the backup plan from the spec: its schedules,
// retention and bucket, and the database and cache services it saves.
func (p *Plan) backupConfig() (backup.Config, bool) {
	a := p.App
	if a.Backup.Disabled || len(a.Backup.Schedules) == 0 {
		return backup.Config{}, false
	}
	c := backup.DefaultConfig()
	c.Host = a.Name
	c.Schedules = nil
	for _, s := range a.Backup.Schedules {
		c.Schedules = append(c.Schedules, backup.Schedule{Name: s.Name, OnCalendar: s.OnCalendar, RandomizedDelay: 10 * time.Minute})
	}
	c.Retention = backup.Retention{Daily: a.Backup.Retention.Daily, Weekly: a.Backup.Retention.Weekly, Monthly: a.Backup.Retention.Monthly}
	s3 := a.Backup.S3
	endpoint := s3.Endpoint
	insecure := strings.HasPrefix(endpoint, "http://")
	endpoint = strings.TrimPrefix(strings.TrimPrefix(endpoint, "https://"), "http://")
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	c.Destination = backup.S3{Endpoint: strings.TrimSuffix(endpoint, "/"), Insecure: insecure, Bucket: s3.Bucket, Prefix: s3.Prefix, Region: s3.Region, CredentialsFile: s3.CredentialsFile}
	if c.Destination.Region == "" {
		c.Destination.Region = "us-east-1"
	}
	c.DataRoot = a.Data.Path
	c.PasswordFile = p.DataDir("backup", "restic.password")
	c.TextfileDir = p.DataDir("node-exporter", "textfile")
	c.ConfigDirs = []string{EtcDir, p.SecretsDir()}
	c.After = []string{"kiln-secrets.service"}
	d, _ := time.ParseDuration(a.Backup.ArchiveTimeout)
	c.ArchiveTimeout = d
	if pg, ok := serviceByKind(a, spec.KindPostgres); ok {
		uid := postgresUID(pg.Image)
		c.Postgres = backup.Postgres{Container: pg.Name, Port: targetPort(pg, 5432), User: a.Name, Database: a.Name,
			DataDir: p.volumeDirAt(pg, "/var/lib/postgresql/data", "postgres"), UID: uid, GID: uid}
	} else {
		c.Postgres = backup.Postgres{}
	}
	if r, ok := serviceByKind(a, spec.KindRedis); ok {
		c.Redis = backup.Redis{Container: r.Name, Port: targetPort(r, 6379),
			PasswordFile: p.SecretsDir() + "/" + firstSecret(r, "redis-password"),
			DataDir:      p.volumeDirAt(r, "/data", "redis"), DataDirInContainer: "/data"}
	} else {
		c.Redis = backup.Redis{}
	}
	return c, true
}

// postgresUID is the uid of the postgres user in the official images: 70
// in the Alpine variants, 999 in the Debian ones.
func postgresUID(image string) int {
	if strings.Contains(image, "alpine") {
		return 70
	}
	return 999
}

// volumeDirAt returns the host directory of the spec volume a service
// mounts at target, or a directory named def on the data filesystem.
func (p *Plan) volumeDirAt(s *spec.Service, target, def string) string {
	for _, m := range s.Volumes {
		if m.Path == target {
			return p.DataDir("volumes", m.Volume)
		}
	}
	return p.DataDir(def)
}

// 5. Backups: timers, scripts, and the PostgreSQL settings for WAL
// archiving, which the database's recipe picks up in the next step.
func (p *Plan) backups() error {
	c, ok := p.backupConfig()
	if !ok {
		return nil
	}
	for _, w := range c.Warnings() {
		// The spec offers one way to reach a backup warning: an http://
		// endpoint (credentials are never embedded from the spec).
		p.Warnings = append(p.Warnings, PlanWarning{Path: "backup.s3.endpoint", Msg: w.Message,
			Fix: "use an https:// endpoint"})
	}
	files, us, err := backup.Render(c)
	if err != nil && !backup.IsWarningsOnly(err) {
		return fmt.Errorf("backup: %w", err)
	}
	if err := p.add(files, us, nil); err != nil {
		return err
	}
	if c.Postgres.Container != "" {
		p.postgresExtra = map[string]string{}
		for k, v := range backup.PostgresSettings(c) {
			p.postgresExtra[k] = unquotePG(v)
		}
		// archive_command copies segments into the spool on the data
		// filesystem, and a point-in-time restore replays from beside it:
		// the database container sees the WAL archive at the same path.
		// The backup package's tmpfiles entry creates and owns it.
		p.walSpool = p.DataDir("wal-archive")
	}
	return nil
}

// unquotePG undoes postgresql.conf single quoting; the configuration
// package quotes every value itself.
func unquotePG(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return strings.ReplaceAll(v[1:len(v)-1], "''", "'")
	}
	return v
}
