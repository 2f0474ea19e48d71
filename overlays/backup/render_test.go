package backup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/judge"
	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/units"
)

func renderDefault(t *testing.T) (map[string][]byte, []units.Unit) {
	t.Helper()
	files, us, err := Render(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string][]byte{}
	for _, f := range files {
		if _, dup := byPath[f.Path]; dup {
			t.Fatalf("file %s rendered twice", f.Path)
		}
		byPath[f.Path] = f.Contents
	}
	return byPath, us
}

// TestGolden records every file and unit of the Clipper plan, one per file.
func TestGolden(t *testing.T) {
	files, us := renderDefault(t)
	for p, b := range files {
		if p == RunbookFile {
			continue // the runbook is RUNBOOK.md itself
		}
		testutil.Golden(t, filepath.Join("testdata", "clipper", "files", strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", "_")), b)
	}
	for _, u := range us {
		testutil.Golden(t, filepath.Join("testdata", "clipper", "units", u.Name), []byte(u.Contents))
	}
}

func TestUnits(t *testing.T) {
	_, us := renderDefault(t)
	byName := map[string]units.Unit{}
	for _, u := range us {
		byName[u.Name] = u
	}
	want := []string{
		"kiln-backup-init.service",
		"kiln-backup-daily.service", "kiln-backup-daily.timer",
		"kiln-backup-weekly.service", "kiln-backup-weekly.timer",
		"kiln-wal-ship.service", "kiln-wal-ship.path", "kiln-wal-ship.timer",
		"kiln-restore-drill.service", "kiln-restore-drill.timer",
	}
	if len(us) != len(want) {
		t.Errorf("got %d units, want %d", len(us), len(want))
	}
	for _, name := range want {
		u, ok := byName[name]
		if !ok {
			t.Errorf("missing unit %s", name)
			continue
		}
		trigger := strings.HasSuffix(name, ".timer") || strings.HasSuffix(name, ".path")
		if trigger != u.Enabled && name != "kiln-backup-init.service" {
			t.Errorf("%s enabled = %v; timers and paths are enabled, the services they trigger are not", name, u.Enabled)
		}
		if trigger {
			svc := strings.TrimSuffix(strings.TrimSuffix(name, ".timer"), ".path") + ".service"
			if _, ok := byName[svc]; !ok || !strings.Contains(u.Contents, "Unit="+svc+"\n") {
				t.Errorf("%s does not trigger an existing %s", name, svc)
			}
		}
	}
	for _, s := range []struct{ unit, line string }{
		{"kiln-backup-daily.timer", "OnCalendar=*-*-* 02:00:00"},
		{"kiln-backup-weekly.timer", "OnCalendar=Sun *-*-* 03:00:00"},
		{"kiln-backup-daily.timer", "Persistent=true"},
		{"kiln-backup-daily.timer", "RandomizedDelaySec=600"},
		{"kiln-backup-daily.service", "ExecStart=/usr/local/bin/kiln-backup daily"},
		{"kiln-wal-ship.path", "PathChanged=/var/lib/kiln/wal-archive/incoming"},
		{"kiln-wal-ship.timer", "OnCalendar=*-*-* *:*:00"},
		{"kiln-restore-drill.timer", "OnCalendar=*-*-01 04:00:00"},
	} {
		if !strings.Contains(byName[s.unit].Contents, s.line+"\n") {
			t.Errorf("%s lacks %q", s.unit, s.line)
		}
	}
}

// TestSystemdVerify hands every unit to systemd-analyze verify.
func TestSystemdVerify(t *testing.T) {
	_, us := renderDefault(t)
	m := map[string]string{}
	for _, u := range us {
		m[u.Name] = u.Contents
	}
	judge.SystemdVerify(t, m)
}

// TestTimerCalendars checks each calendar expression with systemd itself.
func TestTimerCalendars(t *testing.T) {
	cfg := DefaultConfig()
	exprs := []string{cfg.DrillOnCalendar, "*-*-* *:*:00"}
	for _, s := range cfg.Schedules {
		exprs = append(exprs, s.OnCalendar)
	}
	for _, e := range exprs {
		out, err := judge.TryJudge(t, "systemd-analyze", "calendar", e)
		if err != nil {
			t.Errorf("systemd-analyze calendar %q: %v\n%s", e, err, out)
		}
	}
}

// TestScripts runs bash -n and shellcheck on every script as rendered.
func TestScripts(t *testing.T) {
	files, _ := renderDefault(t)
	dir := t.TempDir()
	var paths []string
	for _, p := range []string{BackupScript, RestoreScript, LibScript, EnvFile} {
		dst := filepath.Join(dir, filepath.Base(p))
		if err := os.WriteFile(dst, files[p], 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, dst)
		if out, err := judge.TryJudge(t, "bash", "-n", dst); err != nil {
			t.Errorf("bash -n %s: %v\n%s", p, err, out)
		}
	}
	args := append([]string{"-x", "-s", "bash", "-S", "style"}, paths...)
	if out, err := judge.TryJudge(t, "shellcheck", args...); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
	for _, p := range []string{BackupScript, RestoreScript} {
		if !strings.HasPrefix(string(files[p]), "#!/bin/bash\n") || !strings.Contains(string(files[p]), "set -euo pipefail\n") {
			t.Errorf("%s must be bash with set -euo pipefail", p)
		}
	}
}

func TestPostgresSettings(t *testing.T) {
	got := PostgresSettings(DefaultConfig())
	want := map[string]string{
		"wal_level":       "replica",
		"archive_mode":    "on",
		"archive_timeout": "60s",
		"archive_command": "test ! -f /var/lib/kiln/wal-archive/incoming/%f && cp %p /var/lib/kiln/wal-archive/incoming/%f.tmp && mv /var/lib/kiln/wal-archive/incoming/%f.tmp /var/lib/kiln/wal-archive/incoming/%f",
		"max_wal_senders": "3",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d settings, want %d: %v", len(got), len(want), got)
	}
}

func TestWarnings(t *testing.T) {
	cfg := DefaultConfig()
	files, us, err := Render(cfg)
	if err != nil || len(files) == 0 || len(us) == 0 {
		t.Fatalf("default plan: %v", err)
	}
	for _, f := range files {
		if f.Path == cfg.Destination.CredentialsFile {
			t.Fatal("credentials embedded without being asked for")
		}
	}
	cfg.Destination.EmbedCredentials = &Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s3cr3t"}
	files, us, err = Render(cfg)
	if !errors.Is(err, ErrWarnings) || !IsWarningsOnly(err) {
		t.Fatalf("embedding credentials: err = %v, want a Warnings result", err)
	}
	var ws Warnings
	if !errors.As(err, &ws) || len(ws) != 1 || ws[0].Field != "destination.embedCredentials" {
		t.Fatalf("warnings = %v", ws)
	}
	if len(us) == 0 {
		t.Fatal("units missing from a warnings-only result")
	}
	found := false
	for _, f := range files {
		if f.Path == cfg.Destination.CredentialsFile {
			found = true
			if f.Mode != 0o600 || !strings.Contains(string(f.Contents), "AWS_SECRET_ACCESS_KEY='s3cr3t'") {
				t.Errorf("credentials file mode %v contents %q", f.Mode, f.Contents)
			}
		}
	}
	if !found {
		t.Error("credentials file not rendered")
	}
	if IsWarningsOnly(ErrBadPath) || IsWarningsOnly(nil) {
		t.Error("IsWarningsOnly accepts a real error")
	}
}

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   error
	}{
		{"no schedule", func(c *Config) { c.Schedules = nil }, ErrNoSchedule},
		{"bad host", func(c *Config) { c.Host = "my host" }, ErrBadHost},
		{"bad schedule name", func(c *Config) { c.Schedules[0].Name = "Daily!" }, ErrBadSchedule},
		{"reserved schedule name", func(c *Config) { c.Schedules[0].Name = "wal" }, ErrBadSchedule},
		{"duplicate schedule", func(c *Config) { c.Schedules[1].Name = "daily" }, ErrBadSchedule},
		{"calendar injection", func(c *Config) { c.Schedules[0].OnCalendar = "daily\nExecStart=/bin/sh" }, ErrBadSchedule},
		{"negative delay", func(c *Config) { c.Schedules[0].RandomizedDelay = -time.Second }, ErrBadDuration},
		{"nothing kept", func(c *Config) { c.Retention = Retention{} }, ErrBadRetention},
		{"negative retention", func(c *Config) { c.Retention.Daily = -1 }, ErrBadRetention},
		{"endpoint with scheme", func(c *Config) { c.Destination.Endpoint = "https://s3.example.com" }, ErrBadDestination},
		{"bucket", func(c *Config) { c.Destination.Bucket = "A" }, ErrBadDestination},
		{"absolute prefix", func(c *Config) { c.Destination.Prefix = "/x" }, ErrBadDestination},
		{"half credentials", func(c *Config) { c.Destination.EmbedCredentials = &Credentials{AccessKeyID: "a"} }, ErrBadDestination},
		{"quoted credentials", func(c *Config) {
			c.Destination.EmbedCredentials = &Credentials{AccessKeyID: "a", SecretAccessKey: "x'y"}
		}, ErrBadDestination},
		{"relative credentials file", func(c *Config) { c.Destination.CredentialsFile = "s3.env" }, ErrBadPath},
		{"password off the data volume", func(c *Config) { c.PasswordFile = "/etc/kiln/backup/restic.password" }, ErrBadPath},
		{"unclean data root", func(c *Config) { c.DataRoot = "/var/lib/kiln/" }, ErrBadPath},
		{"space in path", func(c *Config) { c.TextfileDir = "/var/lib/node exporter" }, ErrBadPath},
		{"pg user", func(c *Config) { c.Postgres.User = "bad user" }, ErrBadDatabase},
		{"pg port", func(c *Config) { c.Postgres.Port = 0 }, ErrBadDatabase},
		{"redis port", func(c *Config) { c.Redis.Port = 70000 }, ErrBadDatabase},
		{"archive timeout too long", func(c *Config) { c.ArchiveTimeout = 10 * time.Minute }, ErrBadDuration},
		{"archive timeout fraction", func(c *Config) { c.ArchiveTimeout = 1500 * time.Millisecond }, ErrBadDuration},
		{"wal window", func(c *Config) { c.WALWindow = 30 * time.Minute }, ErrBadDuration},
		{"unpinned image", func(c *Config) { c.ResticImage = "docker.io/restic/restic" }, ErrBadImage},
		{"latest image", func(c *Config) { c.ResticImage = "docker.io/restic/restic:latest" }, ErrBadImage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate() = %v, want %v", err, tc.want)
			}
			if _, _, rerr := Render(cfg); !errors.Is(rerr, tc.want) {
				t.Fatalf("Render() = %v, want %v", rerr, tc.want)
			}
		})
	}
}

func TestRepository(t *testing.T) {
	cfg := DefaultConfig()
	if got := cfg.Repository(); got != "s3:https://s3.amazonaws.com/clipper-backups/clipper" {
		t.Errorf("Repository() = %s", got)
	}
	cfg.Destination.Insecure, cfg.Destination.Prefix, cfg.Destination.Endpoint = true, "", "127.0.0.1:9000"
	if got := cfg.Repository(); got != "s3:http://127.0.0.1:9000/clipper-backups" {
		t.Errorf("Repository() = %s", got)
	}
}
