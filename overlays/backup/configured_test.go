package backup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNotConfigured: a server without S3 credentials (the default) is in
// a clean "not configured" state. The units' condition skips them (exit
// 1) instead of failing, says so in a metric, and drops the WAL segments
// nothing can ship so the spool stays bounded; `kiln-backup status` says
// how to configure. With credentials the condition passes and the spool
// is kept for shipping.
func TestNotConfigured(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.DataRoot = filepath.Join(dir, "data")
	cfg.PasswordFile = filepath.Join(cfg.DataRoot, "backup", "restic.password")
	cfg.TextfileDir = filepath.Join(cfg.DataRoot, "node-exporter", "textfile")
	cfg.Destination.CredentialsFile = filepath.Join(dir, "etc", "s3.env")
	files, us, err := Render(cfg)
	if err != nil && !IsWarningsOnly(err) {
		t.Fatal(err)
	}
	for _, f := range files {
		dst := ""
		switch f.Path {
		case BackupScript, LibScript:
			dst = filepath.Join(dir, "bin", filepath.Base(f.Path))
		case EnvFile:
			dst = filepath.Join(dir, "backup.env")
		default:
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, f.Contents, f.Mode); err != nil {
			t.Fatal(err)
		}
	}
	incoming := cfg.archiveDir()
	if err := os.MkdirAll(incoming, 0o700); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(incoming, "000000010000000000000003")
	partial := filepath.Join(incoming, "000000010000000000000004.tmp")
	for _, f := range []string{seg, partial} {
		if err := os.WriteFile(f, make([]byte, 4096), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(arg string) (string, int) {
		t.Helper()
		cmd := exec.Command("bash", filepath.Join(dir, "bin", filepath.Base(BackupScript)), arg)
		cmd.Env = append(os.Environ(), "KILN_BACKUP_ENV="+filepath.Join(dir, "backup.env"),
			"KILN_BACKUP_LIB="+filepath.Join(dir, "bin", filepath.Base(LibScript)), "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	prom := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(cfg.TextfileDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if p, err := exec.LookPath("promtool"); err == nil {
			c := exec.Command(p, "check", "metrics")
			c.Stdin = strings.NewReader(string(b))
			if out, err := c.CombinedOutput(); err != nil {
				t.Errorf("promtool check metrics %s: %v\n%s", name, err, out)
			}
		}
		return string(b)
	}

	// Not configured: skipped (1, which ExecCondition= treats as "skip",
	// not 255 or a signal, which fail the unit).
	out, code := run("configured")
	if code != 1 {
		t.Errorf("configured without credentials: exit %d, want 1\n%s", code, out)
	}
	if m := prom("kiln_backup_configured.prom"); !strings.Contains(m, "\nkiln_backup_configured 0\n") {
		t.Errorf("metric does not say not configured:\n%s", m)
	}
	if _, err := os.Stat(seg); !os.IsNotExist(err) {
		t.Error("an unshippable WAL segment stayed in the spool")
	}
	if _, err := os.Stat(partial); err != nil {
		t.Error("a segment archive_command is still writing was removed")
	}
	if m := prom("kiln_wal_spool.prom"); !strings.Contains(m, "kiln_wal_spool_segments{dir=\"incoming\"} 1\n") {
		t.Errorf("spool metric wrong:\n%s", m)
	}
	out, code = run("status")
	if code != 0 || !strings.Contains(out, "backups: not configured: write AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to "+cfg.Destination.CredentialsFile) {
		t.Errorf("status (exit %d) does not say how to configure:\n%s", code, out)
	}

	// Configured: the condition passes and the spool is kept.
	if err := os.MkdirAll(filepath.Dir(cfg.Destination.CredentialsFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.Destination.CredentialsFile, []byte("AWS_ACCESS_KEY_ID=k\nAWS_SECRET_ACCESS_KEY=s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seg, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := run("configured"); code != 0 {
		t.Errorf("configured with credentials: exit %d\n%s", code, out)
	}
	if m := prom("kiln_backup_configured.prom"); !strings.Contains(m, "\nkiln_backup_configured 1\n") {
		t.Errorf("metric does not say configured:\n%s", m)
	}
	if _, err := os.Stat(seg); err != nil {
		t.Error("a configured server dropped a WAL segment before shipping it")
	}
	if out, _ := run("status"); !strings.Contains(out, "backups: configured") {
		t.Errorf("status:\n%s", out)
	}

	// Every unit that needs S3 is conditioned on it.
	for _, u := range us {
		if strings.HasSuffix(u.Name, ".service") && !strings.Contains(u.Contents, "\nExecCondition=/usr/local/bin/kiln-backup configured\n") {
			t.Errorf("%s runs without checking that backups are configured", u.Name)
		}
	}
}
