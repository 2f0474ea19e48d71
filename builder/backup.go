package builder

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/overlays/backup"
)

// backupConfig derives the backup plan from the spec: its schedules,
// retention and bucket, and the database and cache services it saves.
func (p *plan) backupConfig() (backup.Config, bool) {
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
	if pg, ok := serviceWithBackup(a, spec.BackupPostgres); ok {
		uid, _ := strconv.Atoi(p.imageUID(pg))
		c.Postgres = backup.Postgres{Container: pg.Name, Port: targetPort(pg, 5432), User: a.Name, Database: a.Name,
			DataDir: p.volumeDirAt(pg, "/var/lib/postgresql/data", "postgres"), UID: uid, GID: uid}
	} else {
		c.Postgres = backup.Postgres{}
	}
	if r, ok := serviceWithBackup(a, spec.BackupRedis); ok {
		c.Redis = backup.Redis{Container: r.Name, Port: targetPort(r, 6379),
			PasswordFile: p.SecretsDir() + "/" + firstSecret(r, "redis-password"),
			DataDir:      p.volumeDirAt(r, "/data", "redis"), DataDirInContainer: "/data"}
	} else {
		c.Redis = backup.Redis{}
	}
	return c, true
}

// serviceWithBackup returns the first service whose kind needs the given
// backup.
func serviceWithBackup(a *spec.Appliance, need spec.BackupNeed) (*spec.Service, bool) {
	for i := range a.Services {
		if k, _ := spec.Kind(a.Services[i].Kind); k.Backup == need {
			return &a.Services[i], true
		}
	}
	return nil, false
}

// volumeDirAt returns the host directory of the spec volume a service
// mounts at target, or a directory named def on the data filesystem.
func (p *plan) volumeDirAt(s *spec.Service, target, def string) string {
	for _, m := range s.Volumes {
		if m.Path == target {
			return p.DataDir("volumes", m.Volume)
		}
	}
	return p.DataDir(def)
}

// 5. Backups: timers and scripts. The database's recipe asks walArchive
// for the PostgreSQL settings archiving needs.
func (p *plan) backups() error {
	c, ok := p.backupConfig()
	if !ok {
		return nil
	}
	for _, w := range c.Warnings() {
		// The spec offers one way to reach a backup warning: an http://
		// endpoint (credentials are never embedded from the spec).
		p.Warnings = append(p.Warnings, planWarning{Path: "backup.s3.endpoint", Msg: w.Message,
			Fix: "use an https:// endpoint"})
	}
	files, us, err := backup.Render(c)
	if err != nil && !backup.IsWarningsOnly(err) {
		return fmt.Errorf("backup: %w", err)
	}
	if err := p.add(files, us, nil); err != nil {
		return err
	}
	return nil
}

// walArchive is what WAL archiving asks of the database container: the
// postgresql.conf settings, and the spool directory, which the container
// sees at the same path so that a point-in-time restore replays from it.
// The backup package's tmpfiles entry creates and owns the spool.
type walArchive struct {
	settings map[string]string
	spool    string
}

// walArchive derives the archive from the spec, as the backup step does;
// it is zero when nothing backs the database up.
func (p *plan) walArchive() walArchive {
	c, ok := p.backupConfig()
	if !ok || c.Postgres.Container == "" {
		return walArchive{}
	}
	return walArchive{settings: backup.PostgresSettings(c), spool: p.DataDir("wal-archive")}
}
