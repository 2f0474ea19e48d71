//go:build vmtest

package testos_test

// The backup checks of the VM test: the timers' next runs against the
// spec's calendars, and one backup run into an S3 server the test starts on
// the host.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/internal/vm"
)

// backupWithin bounds one backup run (a restic container start, pg_dump,
// pg_basebackup, Redis's snapshot, forget and prune), each step seconds to
// minutes of emulated CPU.
const backupWithin = 10 * time.Minute

// s3Server is an S3 server on the host's loopback. The guest reaches it at
// QEMU's user-network gateway, 10.0.2.2, which QEMU connects to the host's
// 127.0.0.1.
type s3Server struct {
	backend *s3mem.Backend
	port    int
}

// startS3 starts the server, with no bucket yet.
func startS3(t *testing.T) *s3Server {
	t.Helper()
	be := s3mem.New()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// No time-skew check: the guest's clock is the emulator's, with no NTP
	// server to reach, and the test is about the backup, not the clock.
	// Only the server's errors and warnings are logged.
	h := gofakes3.New(be, gofakes3.WithTimeSkewLimit(0), gofakes3.WithLogger(gofakes3.GlobalLog(gofakes3.LogErr, gofakes3.LogWarn)))
	srv := &http.Server{Handler: h.Server(), ReadHeaderTimeout: time.Minute}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return &s3Server{backend: be, port: l.Addr().(*net.TCPAddr).Port}
}

// guestEndpoint is the server's URL as the guest dials it.
func (s *s3Server) guestEndpoint() string { return fmt.Sprintf("http://10.0.2.2:%d", s.port) }

// keys lists the bucket's object keys under prefix.
func (s *s3Server) keys(t *testing.T, bucket, prefix string) []string {
	t.Helper()
	p := gofakes3.NewPrefix(&prefix, nil)
	list, err := s.backend.ListBucket(bucket, &p, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, o.Key)
	}
	return keys
}

// checkTimers asserts that each backup schedule's timer next runs when the
// spec's calendar says: systemd-analyze, in the guest, computes the
// calendar's next elapse, and the timer's must fall between that and its
// randomized delay later.
func checkTimers(t *testing.T, c *vm.Client, app *spec.Appliance) {
	if len(app.Backup.Schedules) == 0 {
		t.Fatal("the spec has no backup schedule")
	}
	for _, s := range app.Backup.Schedules {
		unit := "kiln-backup-" + s.Name + ".timer"
		// systemd 257's `show -P` prints NextElapseUSecRealtime as a
		// date even with --timestamp=unix (seen on the test OS: "Mon
		// 2026-11-30 02:03:53 UTC"); date(1) in the guest turns it into
		// seconds, in the guest's own zone, so no zone name is parsed here.
		out := mustRun(t, c, fmt.Sprintf(
			"v=$(systemctl show -P NextElapseUSecRealtime %[1]s) && [ -n \"$v\" ] && date -d \"$v\" +@%%s; echo; systemd-analyze timespan \"$(systemctl show -P RandomizedDelayUSec %[1]s)\"; echo; systemctl show -P TimersCalendar %[1]s; echo; systemd-analyze calendar --iterations=1 %[2]q",
			unit, s.OnCalendar))
		next, delay, calendar, want, err := parseTimer(out)
		if err != nil {
			t.Errorf("%s: %v\n%s", unit, err, out)
			continue
		}
		if !strings.Contains(calendar, "OnCalendar="+want.normalized+" ") {
			t.Errorf("%s has %q, want the spec's calendar %q (normalized %q)", unit, calendar, s.OnCalendar, want.normalized)
		}
		if next.Before(want.next) || next.After(want.next.Add(delay)) {
			t.Errorf("%s next runs %s, want between %s (calendar %q) and %s later", unit, next.UTC(), want.next.UTC(), s.OnCalendar, delay)
			continue
		}
		t.Logf("%s next runs %s: calendar %q says %s, plus up to %s of random delay", unit, next.UTC().Format(time.UnixDate), s.OnCalendar, want.next.UTC().Format(time.UnixDate), delay)
	}
}

// checkBackup configures backups as the operator does (RUNBOOK: the S3 keys
// in backup.s3.credentials_file, mode 0600), runs the daily backup's unit
// as its timer would, and asserts that it succeeded and that the bucket now
// holds a restic repository with a snapshot of the database, its base
// backup, Redis and the configuration. It returns how long the run took.
func checkBackup(t *testing.T, c *vm.Client, app *spec.Appliance, s3 *s3Server) time.Duration {
	b := app.Backup
	keys := "AWS_ACCESS_KEY_ID=kilnvmtest\nAWS_SECRET_ACCESS_KEY=kilnvmtest-secret\n"
	if _, err := c.RunInput("sudo install -D -m 0600 -o root -g root /dev/stdin "+b.S3.CredentialsFile, keys); err != nil {
		t.Fatal(err)
	}
	unit := "kiln-backup-" + b.Schedules[0].Name + ".service"
	start := time.Now()
	_, runErr := c.Run(fmt.Sprintf("sudo timeout %d systemctl start %s", int(backupWithin/time.Second), unit))
	took := time.Since(start).Round(time.Second)
	result := strings.Fields(mustRun(t, c, "systemctl show -P Result "+unit+"; systemctl show -P ExecMainStatus "+unit))
	if runErr != nil || !slices.Equal(result, []string{"success", "0"}) {
		journal, _ := c.Run("sudo journalctl -b --no-pager -o cat -n 60 -u " + unit)
		t.Fatalf("%s did not succeed after %s (result %v): %v\n%s", unit, took, result, runErr, journal)
	}
	status, _ := c.Run("sudo kiln-backup status")
	t.Logf("%s succeeded in %s; kiln-backup status:\n%s", unit, took, status)

	prefix := b.S3.Prefix
	if prefix != "" {
		prefix += "/"
	}
	objects := s3.keys(t, b.S3.Bucket, prefix)
	snapshots := 0
	for _, k := range objects {
		if strings.HasPrefix(k, prefix+"snapshots/") {
			snapshots++
		}
	}
	if !slices.Contains(objects, prefix+"config") || snapshots == 0 {
		t.Fatalf("bucket %s holds no restic repository with a snapshot under %q: %d objects, %d snapshots", b.S3.Bucket, prefix, len(objects), snapshots)
	}
	t.Logf("bucket %s: %d objects under %q, %d snapshots", b.S3.Bucket, len(objects), prefix, snapshots)

	// restic on the host opens the repository with the server's password
	// (escrowed as RUNBOOK says) and lists what the backup's snapshot holds.
	restic := testutil.Tool(t, "restic")
	out := mustRun(t, c, "sudo bash -c '. /etc/kiln/backup/backup.env && base64 -w0 \"$RESTIC_PASSWORD_FILE\"'")
	password, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "restic.password")
	if err := os.WriteFile(pwFile, password, 0o600); err != nil {
		t.Fatal(err)
	}
	repo := fmt.Sprintf("s3:http://127.0.0.1:%d/%s/%s", s3.port, b.S3.Bucket, b.S3.Prefix)
	resticRun := func(args ...string) string {
		cmd := exec.Command(restic, append([]string{"--no-cache", "-r", repo}, args...)...)
		cmd.Env = append(os.Environ(), "RESTIC_PASSWORD_FILE="+pwFile, "AWS_ACCESS_KEY_ID=kilnvmtest", "AWS_SECRET_ACCESS_KEY=kilnvmtest-secret")
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("restic %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return string(out)
	}
	var snaps []struct {
		ID       string   `json:"short_id"`
		Hostname string   `json:"hostname"`
		Tags     []string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(resticRun("snapshots", "--json", "--tag", "kiln-backup")), &snaps); err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 1 {
		t.Fatalf("restic lists %d snapshots tagged kiln-backup, want the one of this run: %+v", len(snaps), snaps)
	}
	for _, tag := range []string{"schedule:" + b.Schedules[0].Name, "kind:db", "kind:base", "kind:redis", "kind:config"} {
		if !slices.Contains(snaps[0].Tags, tag) {
			t.Errorf("snapshot %s has tags %v, want %s among them", snaps[0].ID, snaps[0].Tags, tag)
		}
	}
	files := resticRun("ls", snaps[0].ID)
	for _, want := range []string{".dump", "/base/base.tar", "/redis/dump.rdb", "/MANIFEST"} {
		if !regexp.MustCompile(`(?m)` + regexp.QuoteMeta(want) + `$`).MatchString(files) {
			t.Errorf("snapshot %s has no file ending in %s:\n%s", snaps[0].ID, want, files)
		}
	}
	t.Logf("snapshot %s (host %s, tags %v) opens with the server's password on the host", snaps[0].ID, snaps[0].Hostname, snaps[0].Tags)

	// Configured, the WAL shipper runs every minute from here on; neither
	// it nor any backup unit may have failed.
	if failed := strings.TrimSpace(mustRun(t, c, "systemctl list-units --state=failed --plain --no-legend --no-pager 'kiln-*' | awk '{print $1}'")); failed != "" {
		journal, _ := c.Run("sudo journalctl -b --no-pager -o cat -n 40 -u 'kiln-*'")
		t.Errorf("failed after the backup: %s\n%s", failed, journal)
	}
	return took
}
