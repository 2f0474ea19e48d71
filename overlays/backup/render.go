package backup

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"text/template"
	"time"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

//go:embed scripts/kiln-backup.sh scripts/kiln-restore.sh scripts/backup-lib.sh
var scriptFS embed.FS

//go:embed RUNBOOK.md
var runbook []byte

var templates = template.Must(template.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl"))

// Paths of the files Render places on the server.
const (
	BackupScript  = "/usr/local/bin/kiln-backup"
	RestoreScript = "/usr/local/bin/kiln-restore"
	LibScript     = "/usr/local/lib/kiln/backup-lib.sh"
	EnvFile       = "/etc/kiln/backup/backup.env"
	TmpfilesFile  = "/etc/tmpfiles.d/kiln-backup.conf"
	RunbookFile   = "/usr/local/share/kiln/backup-runbook.md"
)

// view is what the templates see: the config plus derived values.
type view struct {
	Config
	Repository            string
	Region                string
	CredentialsFile       string
	ArchiveDir            string
	ShippedDir            string
	RestoreDirInContainer string
	ConfigDirs            string
	ConfigDirList         []string
	WALWindowHours        int
	WALSettleSec          int
	PGUnit, RedisUnit     string
	RedisDataDirCLI       string
	// ExecSandbox confines the units that enter the database and cache
	// containers (podman exec); RunSandbox those that only run restic.
	ExecSandbox, RunSandbox string
}

type scheduleView struct {
	Schedule
	DataRoot, PGUnit, RedisUnit string
	DelaySec                    int
	ExecSandbox                 string
}

// Render returns the backup plan's files and units. When the plan is valid
// but has warnings (embedded credentials), it returns the complete output
// together with a Warnings error; see IsWarningsOnly.
func Render(cfg Config) ([]overlays.File, []units.Unit, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	v := view{
		Config:                cfg,
		Repository:            cfg.Repository(),
		Region:                cfg.Destination.Region,
		CredentialsFile:       cfg.Destination.CredentialsFile,
		ArchiveDir:            cfg.archiveDir(),
		ShippedDir:            cfg.shippedDir(),
		RestoreDirInContainer: path.Dir(cfg.archiveDirInContainer()) + "/restore",
		ConfigDirs:            strings.Join(cfg.ConfigDirs, " "),
		ConfigDirList:         cfg.ConfigDirs,
		WALWindowHours:        int(cfg.WALWindow / time.Hour),
		WALSettleSec:          int(cfg.ArchiveTimeout/time.Second) + 120,
		PGUnit:                cfg.Postgres.Container + ".service",
		RedisUnit:             cfg.Redis.Container + ".service",
		RedisDataDirCLI:       cfg.Redis.DataDirInContainer,
	}
	// Every job writes the data filesystem only (its state, staging, WAL
	// spool, the metrics for the node exporter and, restoring, the
	// database's files); restic runs on the host's network and UTS
	// namespace, so podman needs neither netavark nor a hostname.
	v.ExecSandbox = units.PodmanRunner{Writable: []string{cfg.DataRoot}, Exec: true}.Directives()
	v.RunSandbox = units.PodmanRunner{Writable: []string{cfg.DataRoot}}.Directives()
	if v.RedisDataDirCLI == "" {
		v.RedisDataDirCLI = cfg.Redis.DataDir
	}

	var files []overlays.File
	for _, s := range []struct {
		src, dst string
		mode     fs.FileMode
	}{
		{"scripts/kiln-backup.sh", BackupScript, 0o755},
		{"scripts/kiln-restore.sh", RestoreScript, 0o755},
		{"scripts/backup-lib.sh", LibScript, 0o644},
	} {
		b, err := scriptFS.ReadFile(s.src)
		if err != nil {
			return nil, nil, fmt.Errorf("embedded %s: %w", s.src, err)
		}
		files = append(files, overlays.File{Path: s.dst, Mode: s.mode, Contents: b})
	}
	env, err := execute("backup.env.tmpl", v)
	if err != nil {
		return nil, nil, err
	}
	files = append(files, overlays.File{Path: EnvFile, Mode: 0o644, Contents: env})
	tmpfiles, err := execute("tmpfiles.conf.tmpl", v)
	if err != nil {
		return nil, nil, err
	}
	files = append(files,
		overlays.File{Path: TmpfilesFile, Mode: 0o644, Contents: tmpfiles},
		overlays.File{Path: RunbookFile, Mode: 0o644, Contents: runbook},
	)
	if e := cfg.Destination.EmbedCredentials; e != nil {
		creds := fmt.Sprintf("AWS_ACCESS_KEY_ID='%s'\nAWS_SECRET_ACCESS_KEY='%s'\n", e.AccessKeyID, e.SecretAccessKey)
		files = append(files, overlays.File{Path: cfg.Destination.CredentialsFile, Mode: 0o600, Contents: []byte(creds)})
	}

	var us []units.Unit
	add := func(name, tmpl string, data any, enabled bool) error {
		b, err := execute(tmpl, data)
		if err != nil {
			return err
		}
		us = append(us, units.Unit{Name: name, Contents: string(b), Enabled: enabled})
		return nil
	}
	steps := []struct {
		name, tmpl string
		enabled    bool
	}{
		{"kiln-backup-init.service", "kiln-backup-init.service.tmpl", true},
		{"kiln-wal-ship.service", "kiln-wal-ship.service.tmpl", false},
		{"kiln-wal-ship.path", "kiln-wal-ship.path.tmpl", true},
		{"kiln-wal-ship.timer", "kiln-wal-ship.timer.tmpl", true},
		{"kiln-restore-drill.service", "kiln-restore-drill.service.tmpl", false},
		{"kiln-restore-drill.timer", "kiln-restore-drill.timer.tmpl", true},
	}
	for _, s := range steps {
		if err := add(s.name, s.tmpl, v, s.enabled); err != nil {
			return nil, nil, err
		}
	}
	for _, s := range cfg.Schedules {
		sv := scheduleView{Schedule: s, DataRoot: cfg.DataRoot, PGUnit: v.PGUnit, RedisUnit: v.RedisUnit,
			DelaySec: int(s.RandomizedDelay / time.Second), ExecSandbox: v.ExecSandbox}
		if err := add("kiln-backup-"+s.Name+".service", "backup-schedule.service.tmpl", sv, false); err != nil {
			return nil, nil, err
		}
		if err := add("kiln-backup-"+s.Name+".timer", "backup-schedule.timer.tmpl", sv, true); err != nil {
			return nil, nil, err
		}
	}
	if ws := cfg.Warnings(); len(ws) > 0 {
		return files, us, ws
	}
	return files, us, nil
}

func execute(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}
