package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/kiln-dev/kiln/internal/judge"
	"github.com/kiln-dev/kiln/internal/testutil"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// flakyS3 is an S3 server on loopback that the test can take down, either
// at once or after a number of data uploads, to see a backup fail midway.
type flakyS3 struct {
	backend     *s3mem.Backend
	handler     http.Handler
	down        atomic.Bool
	failAfterPU atomic.Int64 // data-pack PUTs still allowed; <0 means no limit
}

func (f *flakyS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/data/") {
		if n := f.failAfterPU.Load(); n == 0 {
			f.down.Store(true)
		} else if n > 0 {
			f.failAfterPU.Add(-1)
		}
	}
	if f.down.Load() {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	f.handler.ServeHTTP(w, r)
}

// env is the fixture: PostgreSQL 15, Redis and S3 on loopback, and the
// rendered scripts configured for this host through environment overrides.
type env struct {
	t       *testing.T
	dir     string
	cfg     Config
	s3      *flakyS3
	pgData  string
	pgSock  string
	pgPort  int
	redis   string // redis.conf
	rPort   int
	rPass   string
	environ []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the round trip runs PostgreSQL as user postgres and needs root to switch to it")
	}
	t.Setenv("PATH", pgBin+":"+os.Getenv("PATH"))
	for _, tool := range []string{"initdb", "pg_ctl", "pg_dump", "pg_restore", "pg_basebackup", "psql",
		"restic", "redis-server", "redis-cli", "jq", "runuser", "flock", "timeout"} {
		testutil.Tool(t, tool)
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		if testutil.InCI() {
			t.Fatalf("user postgres: %v", err)
		}
		t.Skipf("user postgres: %v", err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)

	// PostgreSQL runs as another user.
	dir := testutil.SharedDir(t, "kiln-backup-")

	e := &env{t: t, dir: dir, pgPort: testutil.FreePort(t), rPort: testutil.FreePort(t), rPass: "redis-test-secret"}
	e.pgData = filepath.Join(dir, "pg", "data")
	e.pgSock = filepath.Join(dir, "pg", "sock")

	// S3 on loopback.
	be := s3mem.New()
	if err := be.CreateBucket("kiln-test"); err != nil {
		t.Fatal(err)
	}
	e.s3 = &flakyS3{backend: be, handler: gofakes3.New(be).Server()}
	e.s3.failAfterPU.Store(-1)
	srv := httptest.NewServer(e.s3)
	t.Cleanup(srv.Close)

	cfg := DefaultConfig()
	cfg.DataRoot = filepath.Join(dir, "data")
	cfg.PasswordFile = filepath.Join(cfg.DataRoot, "backup", "restic.password")
	cfg.ConfigDirs = []string{filepath.Join(dir, "etc", "kiln")}
	cfg.TextfileDir = filepath.Join(cfg.DataRoot, "node-exporter", "textfile")
	cfg.ArchiveTimeout = 2 * time.Second
	cfg.Destination.Endpoint = strings.TrimPrefix(srv.URL, "http://")
	cfg.Destination.Insecure = true
	cfg.Destination.Bucket = "kiln-test"
	cfg.Destination.CredentialsFile = filepath.Join(dir, "etc", "kiln", "backup", "s3.env")
	cfg.Postgres.DataDir = e.pgData
	cfg.Postgres.Port = e.pgPort
	cfg.Postgres.UID, cfg.Postgres.GID = uid, gid
	cfg.Redis.Port = e.rPort
	cfg.Redis.DataDir = filepath.Join(dir, "redis")
	cfg.Redis.DataDirInContainer = ""
	cfg.Redis.PasswordFile = filepath.Join(dir, "etc", "kiln", "secrets", "redis-password")
	e.cfg = cfg

	files, _, err := Render(cfg)
	if err != nil && !IsWarningsOnly(err) {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	for _, f := range files {
		dst := f.Path
		switch f.Path {
		case BackupScript, RestoreScript, LibScript:
			dst = filepath.Join(bin, filepath.Base(f.Path))
		case EnvFile:
			dst = filepath.Join(dir, "etc", "kiln", "backup", "backup.env")
		default:
			continue
		}
		e.write(dst, f.Contents, f.Mode)
	}
	e.write(cfg.Destination.CredentialsFile, []byte("AWS_ACCESS_KEY_ID=test\nAWS_SECRET_ACCESS_KEY=test-secret\n"), 0o600)
	e.write(cfg.Redis.PasswordFile, []byte(e.rPass+"\n"), 0o600)
	e.write(filepath.Join(dir, "etc", "kiln", "appliance.yaml"), []byte("name: clipper\nversion: 1\n"), 0o644)
	for _, d := range []string{cfg.archiveDir(), cfg.shippedDir(), filepath.Dir(e.pgData), e.pgSock, cfg.Redis.DataDir} {
		e.mkdir(d)
	}
	for _, d := range []string{filepath.Dir(cfg.archiveDir()), cfg.archiveDir(), cfg.shippedDir(), filepath.Dir(e.pgData), e.pgSock} {
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}

	// Start and stop hooks the restore calls instead of systemctl.
	pgctl := "runuser -u postgres -- " + pgBin + "/pg_ctl -D " + e.pgData + " -w -t 120 -l " + filepath.Join(dir, "pg", "log")
	e.write(filepath.Join(bin, "pg-stop"), []byte("#!/bin/sh\nexec "+pgctl+" -m fast stop\n"), 0o755)
	e.write(filepath.Join(bin, "pg-start"), []byte("#!/bin/sh\nexec "+pgctl+" start\n"), 0o755)
	e.redis = filepath.Join(dir, "redis.conf")
	e.write(e.redis, []byte(fmt.Sprintf("bind 127.0.0.1\nport %d\nrequirepass %s\nappendonly yes\ndir %s\ndaemonize yes\npidfile %s/redis.pid\nlogfile %s/redis.log\nsave \"\"\n",
		e.rPort, e.rPass, cfg.Redis.DataDir, dir, dir)), 0o644)
	e.write(filepath.Join(bin, "redis-start"), []byte("#!/bin/sh\nset -e\nredis-server "+e.redis+"\nfor i in $(seq 100); do REDISCLI_AUTH="+e.rPass+" redis-cli -p "+strconv.Itoa(e.rPort)+" ping >/dev/null 2>&1 && exit 0; sleep 0.1; done\ntail -20 "+dir+"/redis.log >&2\nexit 1\n"), 0o755)
	e.write(filepath.Join(bin, "redis-stop"), []byte("#!/bin/sh\nREDISCLI_AUTH="+e.rPass+" redis-cli -p "+strconv.Itoa(e.rPort)+" shutdown nosave >/dev/null 2>&1\nfor i in $(seq 100); do [ -e "+dir+"/redis.pid ] || exit 0; sleep 0.1; done\nexit 1\n"), 0o755)

	e.environ = append(os.Environ(),
		"KILN_BACKUP_ENV="+filepath.Join(dir, "etc", "kiln", "backup", "backup.env"),
		"KILN_BACKUP_LIB="+filepath.Join(bin, "backup-lib.sh"),
		"KILN_PG_EXEC=",
		"KILN_RESTIC=restic",
		"KILN_REDIS_CLI=redis-cli",
		"KILN_PG_STOP="+filepath.Join(bin, "pg-stop"),
		"KILN_PG_START="+filepath.Join(bin, "pg-start"),
		"KILN_REDIS_STOP="+filepath.Join(bin, "redis-stop"),
		"KILN_REDIS_START="+filepath.Join(bin, "redis-start"),
		"KILN_PG_RECOVERY_TIMEOUT=120",
		"PGHOST="+e.pgSock,
		"PGPORT="+strconv.Itoa(e.pgPort),
	)

	// PostgreSQL 15 with the archive settings kiln renders.
	e.run("runuser", "-u", "postgres", "--", pgBin+"/initdb", "-D", e.pgData, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
	conf := fmt.Sprintf("port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\nmax_wal_size = '64MB'\n", e.pgPort, e.pgSock)
	settings := PostgresSettings(cfg)
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		// Quoted as postgresql.conf wants a string, which every setting
		// may be written as.
		conf += k + " = '" + strings.ReplaceAll(settings[k], "'", "''") + "'\n"
	}
	f, err := os.OpenFile(filepath.Join(e.pgData, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(conf); err != nil {
		t.Fatal(err)
	}
	f.Close()
	e.run(filepath.Join(bin, "pg-start"))
	t.Cleanup(func() { exec.Command(filepath.Join(bin, "pg-stop")).Run() })
	e.run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres",
		"-c", "CREATE ROLE clipper LOGIN SUPERUSER", "-c", "CREATE DATABASE clipper OWNER clipper")

	e.run(filepath.Join(bin, "redis-start"))
	t.Cleanup(func() { exec.Command(filepath.Join(bin, "redis-stop")).Run() })
	return e
}

// sub points the fixture's helpers at a subtest, so a failure stops only it.
func (e *env) sub(t *testing.T) {
	parent := e.t
	e.t = t
	t.Cleanup(func() { e.t = parent })
}

func (e *env) write(path string, b []byte, mode os.FileMode) {
	e.t.Helper()
	e.mkdir(filepath.Dir(path))
	if err := os.WriteFile(path, b, mode); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) mkdir(d string) {
	e.t.Helper()
	if err := os.MkdirAll(d, 0o755); err != nil {
		e.t.Fatal(err)
	}
}

// exec runs a command with the fixture's environment and returns its
// combined output and error.
func (e *env) exec(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = e.environ
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *env) run(name string, args ...string) string {
	e.t.Helper()
	out, err := e.exec(name, args...)
	if err != nil {
		e.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (e *env) script(name string, args ...string) (string, error) {
	return e.exec(filepath.Join(e.dir, "bin", name), args...)
}

func (e *env) mustScript(name string, args ...string) string {
	e.t.Helper()
	out, err := e.script(name, args...)
	if err != nil {
		e.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (e *env) psql(db, sql string) string {
	e.t.Helper()
	return strings.TrimSpace(e.run("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", "clipper", "-d", db, "-c", sql))
}

func (e *env) redisCLI(args ...string) string {
	e.t.Helper()
	cmd := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(e.rPort), "--no-auth-warning", "-a", e.rPass}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// tableDigest is a digest of every row of every user table, in key order.
func (e *env) tableDigest(db string) (string, int) {
	e.t.Helper()
	h := sha256.New()
	rows := 0
	for _, tbl := range []string{"customers", "orders", "events"} {
		out := e.run("psql", "-X", "-At", "-U", "clipper", "-d", db, "-c", "COPY (SELECT * FROM "+tbl+" ORDER BY id) TO STDOUT")
		rows += strings.Count(out, "\n")
		fmt.Fprintf(h, "%s\n%s", tbl, out)
	}
	return hex.EncodeToString(h.Sum(nil)), rows
}

// metric reads one sample from a textfile written for the node exporter.
func (e *env) metric(file, name, job string) (float64, bool) {
	e.t.Helper()
	f, err := os.Open(filepath.Join(e.cfg.TextfileDir, file))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	want := fmt.Sprintf("%s{schedule=%q} ", name, job)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				e.t.Fatalf("%s: %q is not a number", name, v)
			}
			return n, true
		}
	}
	return 0, false
}

// restic runs restic against the fixture's repository with the settings
// the scripts use.
func (e *env) restic(args ...string) (string, error) {
	script := `set -euo pipefail; set -a; . "$KILN_BACKUP_ENV"; . "$1"; set +a; shift; exec restic "$@"`
	return e.exec("bash", append([]string{"-c", script, "bash", e.cfg.Destination.CredentialsFile}, args...)...)
}

func (e *env) latestBackup() string {
	e.t.Helper()
	out, err := e.restic("snapshots", "--no-lock", "--json", "--tag", "kiln-backup")
	if err != nil {
		e.t.Fatalf("restic snapshots: %v\n%s", err, out)
	}
	var snaps []struct {
		ID   string    `json:"id"`
		Time time.Time `json:"time"`
	}
	if err := json.Unmarshal([]byte(out), &snaps); err != nil {
		e.t.Fatalf("restic snapshots: %v\n%s", err, out)
	}
	latest := ""
	var at time.Time
	for _, s := range snaps {
		if s.Time.After(at) {
			latest, at = s.ID, s.Time
		}
	}
	return latest
}

func TestRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("the round trip starts PostgreSQL, Redis and S3")
	}
	e := newEnv(t)

	// First boot: the daily backup and the WAL shipper may both find no
	// repository at once; both must end with the one repository, and the
	// password is created once and never replaced.
	var wg sync.WaitGroup
	outs, errs := make([]string, 3), make([]error, 3)
	for i := range outs {
		wg.Go(func() { outs[i], errs[i] = e.script("kiln-backup", "init") })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("one of three kiln-backup init run at once failed: %v\n%s", err, outs[i])
		}
	}
	pw1, err := os.ReadFile(e.cfg.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(e.cfg.PasswordFile); st.Mode().Perm() != 0o600 || len(pw1) < 32 {
		t.Fatalf("password file mode %v, %d bytes; want 0600 and a long password", st.Mode().Perm(), len(pw1))
	}
	e.mustScript("kiln-backup", "init")
	if pw2, _ := os.ReadFile(e.cfg.PasswordFile); !bytes.Equal(pw1, pw2) {
		t.Fatal("kiln-backup init replaced an existing repository password")
	}

	// The dataset.
	e.psql("clipper", `CREATE TABLE customers (id serial PRIMARY KEY, email text UNIQUE NOT NULL, created timestamptz NOT NULL DEFAULT '2026-01-01');
CREATE TABLE orders (id bigserial PRIMARY KEY, customer int REFERENCES customers, total numeric(12,2), note text);
CREATE TABLE events (id bigserial PRIMARY KEY, kind text, payload jsonb, at timestamptz NOT NULL DEFAULT clock_timestamp());
INSERT INTO customers (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 5000) g;
INSERT INTO orders (customer, total, note) SELECT 1 + g % 5000, g * 1.25, md5(g::text) FROM generate_series(1, 50000) g;
INSERT INTO events (kind, payload) SELECT 'seed', jsonb_build_object('n', g, 'h', md5(g::text)) FROM generate_series(1, 20000) g;`)
	wantDigest, rows := e.tableDigest("clipper")
	for i := 0; i < 200; i++ {
		e.redisCLI("SET", fmt.Sprintf("session:%d", i), fmt.Sprintf("token-%x", sha256.Sum256([]byte(strconv.Itoa(i)))))
	}
	e.redisCLI("HSET", "cfg", "mode", "prod", "limit", "42")
	e.redisCLI("RPUSH", "queue", "a", "b", "c")
	wantRedis := e.redisDump()

	start := time.Now()
	e.mustScript("kiln-backup", "daily")
	backupTime := time.Since(start)
	if v, ok := e.metric("kiln_backup.prom", "kiln_backup_last_run_success", "daily"); !ok || v != 1 {
		t.Fatalf("kiln_backup_last_run_success{schedule=daily} = %v, %v; want 1", v, ok)
	}
	size, _ := e.metric("kiln_backup.prom", "kiln_backup_last_size_bytes", "daily")
	if size <= 0 {
		t.Fatalf("kiln_backup_last_size_bytes = %v", size)
	}
	firstSnap := e.latestBackup()
	if firstSnap == "" {
		t.Fatal("no backup snapshot after kiln-backup daily")
	}
	t.Logf("backup: %d rows, %d Redis keys, %.0f bytes staged, %d bytes in S3, %s", rows, len(strings.Split(wantRedis, "\n")), size, e.bucketBytes(t), backupTime.Round(time.Millisecond))

	t.Run("rpo", func(t *testing.T) {
		e.sub(t)
		e.measureRPO(t)
	})

	// Rows for point-in-time recovery: A before the target, B after.
	e.psql("clipper", "INSERT INTO events (kind) SELECT 'before-target' FROM generate_series(1, 300)")
	time.Sleep(1100 * time.Millisecond)
	target := e.psql("clipper", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
	time.Sleep(1100 * time.Millisecond)
	e.psql("clipper", "INSERT INTO events (kind) SELECT 'after-target' FROM generate_series(1, 200)")
	e.psql("clipper", "SELECT pg_switch_wal()")
	e.waitShipped(t, e.psql("clipper", "SELECT pg_walfile_name(pg_current_wal_lsn() - 1)"))

	t.Run("db", func(t *testing.T) {
		e.sub(t)
		e.psql("postgres", "DROP DATABASE clipper WITH (FORCE)")
		start := time.Now()
		e.mustScript("kiln-restore", "db")
		got, n := e.tableDigest("clipper")
		if got != wantDigest || n != rows {
			t.Fatalf("restored %d rows with digest %s; want %d rows, %s", n, got, rows, wantDigest)
		}
		t.Logf("logical restore: %d rows identical in %s", n, time.Since(start).Round(time.Millisecond))
	})

	t.Run("pitr", func(t *testing.T) {
		e.sub(t)
		start := time.Now()
		out := e.mustScript("kiln-restore", "pitr", "--to", target)
		count := func(kind string) string {
			return e.psql("clipper", "SELECT count(*) FROM events WHERE kind = '"+kind+"'")
		}
		if got := count("before-target"); got != "300" {
			t.Errorf("rows committed before the target: %s, want 300\n%s", got, out)
		}
		if got := count("after-target"); got != "0" {
			t.Errorf("rows committed after the target: %s, want 0\n%s", got, out)
		}
		if got := count("seed"); got != "20000" {
			t.Errorf("seed rows after PITR: %s, want 20000", got)
		}
		if e.psql("postgres", "SELECT pg_is_in_recovery()") != "f" {
			t.Error("PostgreSQL is still in recovery")
		}
		t.Logf("point-in-time recovery to %s in %s", target, time.Since(start).Round(time.Millisecond))
	})

	t.Run("redis", func(t *testing.T) {
		e.sub(t)
		// A fresh server: stop Redis and wipe its data directory.
		e.run(filepath.Join(e.dir, "bin", "redis-stop"))
		if err := os.RemoveAll(e.cfg.Redis.DataDir); err != nil {
			t.Fatal(err)
		}
		e.mkdir(e.cfg.Redis.DataDir)
		e.run(filepath.Join(e.dir, "bin", "redis-start"))
		if n := e.redisCLI("DBSIZE"); n != "0" {
			t.Fatalf("fresh Redis has %s keys", n)
		}
		e.mustScript("kiln-restore", "redis")
		if got := e.redisDump(); got != wantRedis {
			t.Fatalf("Redis after restore differs:\n%.300s\nwant\n%.300s", got, wantRedis)
		}
		// The restored data must survive a restart, i.e. be in the AOF too.
		e.run(filepath.Join(e.dir, "bin", "redis-stop"))
		e.run(filepath.Join(e.dir, "bin", "redis-start"))
		if got := e.redisDump(); got != wantRedis {
			t.Fatal("Redis lost the restored keys on restart")
		}
	})

	t.Run("config", func(t *testing.T) {
		e.sub(t)
		p := filepath.Join(e.cfg.ConfigDirs[0], "appliance.yaml")
		e.write(p, []byte("broken\n"), 0o644)
		e.mustScript("kiln-restore", "config")
		if b, _ := os.ReadFile(p); string(b) != "name: clipper\nversion: 1\n" {
			t.Fatalf("config after restore: %q", b)
		}
	})

	t.Run("drill", func(t *testing.T) {
		e.sub(t)
		e.mustScript("kiln-restore", "drill")
		if v, ok := e.metric("kiln_restore_drill.prom", "kiln_restore_drill_last_run_success", "drill"); !ok || v != 1 {
			t.Fatalf("kiln_restore_drill_last_run_success = %v, %v; want 1", v, ok)
		}
		if e.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'clipper_restore_drill'") != "0" {
			t.Error("the drill left its scratch database behind")
		}
	})

	t.Run("server-command-lines", func(t *testing.T) {
		e.sub(t)
		// With the env file's defaults, every tool runs through podman. A
		// stand-in podman records its arguments and runs the tool on this
		// host, so the composed command lines are exercised for real.
		stubs := filepath.Join(e.dir, "stubs")
		calls := filepath.Join(e.dir, "podman.calls")
		e.write(filepath.Join(stubs, "podman"), []byte(podmanStub(calls, e.cfg.ResticImage)), 0o755)
		saved := e.environ
		defer func() { e.environ = saved }()
		e.environ = nil
		for _, kv := range saved {
			switch k, _, _ := strings.Cut(kv, "="); k {
			case "KILN_PG_EXEC", "KILN_RESTIC", "KILN_REDIS_CLI":
			case "PATH":
				e.environ = append(e.environ, "PATH="+stubs+":"+strings.TrimPrefix(kv, "PATH="))
			default:
				e.environ = append(e.environ, kv)
			}
		}
		e.mustScript("kiln-backup", "now")
		e.mustScript("kiln-restore", "list")
		b, err := os.ReadFile(calls)
		if err != nil {
			t.Fatal(err)
		}
		got := string(b)
		for _, want := range []string{
			"exec -i -e PGPORT -e PGUSER -e PGDATABASE postgres pg_dump -Fc --no-password clipper\n",
			"exec -i -e PGPORT -e PGUSER -e PGDATABASE postgres pg_basebackup --no-password -D - -Ft -X fetch --checkpoint=fast -l kiln-now\n",
			"exec -i -e REDISCLI_AUTH redis redis-cli -h 127.0.0.1 -p " + strconv.Itoa(e.rPort) + " --rdb ",
			"run --rm -i --network host --pid host --uts host --security-opt label=disable -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e AWS_DEFAULT_REGION -e RESTIC_REPOSITORY -e RESTIC_PASSWORD_FILE -e RESTIC_CACHE_DIR -v " + e.cfg.DataRoot + ":" + e.cfg.DataRoot + " -v " + e.cfg.ConfigDirs[0] + ":" + e.cfg.ConfigDirs[0] + ":ro " + e.cfg.ResticImage + " backup --host clipper --tag kiln-backup --tag schedule:now",
			e.cfg.ResticImage + " snapshots --host clipper\n",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("no podman call %q in:\n%s", want, got)
			}
		}
	})

	t.Run("wal-local-retention", func(t *testing.T) {
		e.sub(t)
		// Two more base backups: the shipped directory then keeps WAL from
		// the older of the two newest bases on, and nothing before it.
		for i := 0; i < 2; i++ {
			e.psql("clipper", "INSERT INTO events (kind) SELECT 'retention' FROM generate_series(1, 100)")
			e.mustScript("kiln-backup", "now")
		}
		e.psql("clipper", "SELECT pg_switch_wal()")
		e.waitShipped(t, e.psql("clipper", "SELECT pg_walfile_name(pg_current_wal_lsn() - 1)"))
		names, err := filepath.Glob(filepath.Join(e.cfg.shippedDir(), "*"))
		if err != nil {
			t.Fatal(err)
		}
		var backups, segments []string
		for _, n := range names {
			b := filepath.Base(n)
			switch {
			case strings.HasSuffix(b, ".backup"):
				backups = append(backups, b)
			case len(b) == 24:
				segments = append(segments, b)
			}
		}
		slices.Sort(backups)
		slices.Sort(segments)
		if len(backups) != 2 || len(segments) == 0 {
			t.Fatalf("shipped directory keeps %d backup labels and %d segments; want 2 labels: %v", len(backups), len(segments), names)
		}
		if cutoff := backups[0][:24]; segments[0] != cutoff {
			t.Errorf("oldest kept segment %s; want %s, the start of the older kept base backup", segments[0], cutoff)
		}
	})

	t.Run("s3-down-during-backup", func(t *testing.T) {
		e.sub(t)
		before := e.latestBackup()
		okBefore, _ := e.metric("kiln_backup.prom", "kiln_backup_last_success_timestamp_seconds", "daily")
		// Change the data so restic must upload new packs, then fail after one.
		e.psql("clipper", "INSERT INTO events (kind, payload) SELECT 'fault', jsonb_build_object('h', md5(random()::text)) FROM generate_series(1, 20000)")
		e.s3.failAfterPU.Store(1)
		e.environ = append(e.environ, "KILN_RESTIC_TIMEOUT=10s", "KILN_RESTIC_KILL_AFTER=5")
		out, err := e.script("kiln-backup", "daily")
		e.environ = e.environ[:len(e.environ)-2]
		e.s3.down.Store(false)
		e.s3.failAfterPU.Store(-1)
		if err == nil {
			t.Fatalf("kiln-backup succeeded with S3 down:\n%s", out)
		}
		t.Logf("backup with S3 failing: %v; last lines:\n%s", err, lastLines(out, 3))
		if v, ok := e.metric("kiln_backup.prom", "kiln_backup_last_run_success", "daily"); !ok || v != 0 {
			t.Errorf("kiln_backup_last_run_success{schedule=daily} = %v, %v after a failure; want 0", v, ok)
		}
		if v, _ := e.metric("kiln_backup.prom", "kiln_backup_last_success_timestamp_seconds", "daily"); v != okBefore {
			t.Errorf("last success timestamp moved from %v to %v on a failed run", okBefore, v)
		}
		if after := e.latestBackup(); after != before {
			t.Errorf("latest snapshot changed from %s to %s after a failed backup", before, after)
		}
		// The killed restic left its lock in S3; the next run must clear it
		// as stale and succeed.
		if locks, _ := e.restic("list", "locks", "--no-lock"); strings.TrimSpace(locks) == "" {
			t.Log("no lock was left behind")
		}
		e.mustScript("kiln-backup", "daily")
		if after := e.latestBackup(); after == before {
			t.Error("the backup after the outage did not create a snapshot")
		}
	})

	t.Run("metrics-format", func(t *testing.T) {
		e.sub(t)
		for _, f := range []string{"kiln_backup.prom", "kiln_wal_archive.prom", "kiln_restore_drill.prom"} {
			b, err := os.ReadFile(filepath.Join(e.cfg.TextfileDir, f))
			if err != nil {
				t.Fatal(err)
			}
			out, err := judge.Exec(t, judge.Command{Name: "promtool", Args: []string{"check", "metrics"}, Stdin: b})
			if err != nil || strings.TrimSpace(out.Combined()) != "" {
				t.Errorf("promtool check metrics %s: %v\n%s\n%s", f, err, out.Combined(), b)
			}
		}
		if st, err := os.Stat(filepath.Join(e.cfg.TextfileDir, "kiln_backup.prom")); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("kiln_backup.prom: %v %v", st, err)
		}
		if left, _ := filepath.Glob(filepath.Join(e.cfg.TextfileDir, "*.tmp")); len(left) > 0 {
			t.Errorf("temporary metric files left behind: %v", left)
		}
	})

	t.Run("corrupt-repository", func(t *testing.T) {
		e.sub(t)
		e.corruptPacks(t)
		out, err := e.script("kiln-restore", "drill")
		if err == nil {
			t.Fatalf("restore drill passed on a corrupted repository:\n%s", out)
		}
		t.Logf("drill on a corrupted repository: %v; last lines:\n%s", err, lastLines(out, 4))
		if strings.Contains(out, "already locked") {
			t.Errorf("the drill failed on a stale lock, not on the corruption:\n%s", out)
		}
		if !strings.Contains(out, "restore drill FAILED") {
			t.Errorf("drill output does not say it failed:\n%s", out)
		}
		if v, ok := e.metric("kiln_restore_drill.prom", "kiln_restore_drill_last_run_success", "drill"); !ok || v != 0 {
			t.Errorf("kiln_restore_drill_last_run_success = %v, %v; want 0", v, ok)
		}
	})
}

// redisDump lists every key with its type and value, sorted.
func (e *env) redisDump() string {
	e.t.Helper()
	keys := strings.Fields(e.redisCLI("--scan"))
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		typ := e.redisCLI("TYPE", k)
		var v string
		switch typ {
		case "string":
			v = e.redisCLI("GET", k)
		case "hash":
			f := strings.Fields(e.redisCLI("HGETALL", k))
			v = strings.Join(f, ",")
		case "list":
			v = strings.Join(strings.Fields(e.redisCLI("LRANGE", k, "0", "-1")), ",")
		}
		fmt.Fprintf(&b, "%s %s %s\n", k, typ, v)
	}
	return strings.TrimSpace(b.String())
}

// waitShipped runs the shipper until segment seg is in the shipped
// directory, which the shipper only fills on its way to a snapshot.
// It returns how long the shipping run itself took.
func (e *env) waitShipped(t *testing.T, seg string) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 60*time.Second {
		run := time.Now()
		e.mustScript("kiln-backup", "wal")
		if _, err := os.Stat(filepath.Join(e.cfg.shippedDir(), seg)); err == nil {
			if _, err := os.Stat(filepath.Join(e.cfg.DataRoot, "backup", "wal.pending")); err == nil {
				t.Fatal("segment moved but not backed up")
			}
			return time.Since(run)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("segment %s was not shipped within 60s", seg)
	return 0
}

// measureRPO commits a row without forcing a WAL switch and measures how
// long until its segment is in S3, with the shipper running every 250ms as
// the path unit would. The bound is archive_timeout + one shipper run.
func (e *env) measureRPO(t *testing.T) {
	e.psql("clipper", "INSERT INTO events (kind) VALUES ('rpo-probe')")
	committed := time.Now()
	seg := e.psql("clipper", "SELECT pg_walfile_name(pg_current_wal_lsn() - 1)")
	push := e.waitShipped(t, seg)
	total := time.Since(committed)
	t.Logf("RPO: row committed -> segment %s in S3 after %s (archive_timeout %s, shipper polled every 250ms, the shipping run took %s)",
		seg, total.Round(time.Millisecond), e.cfg.ArchiveTimeout, push.Round(time.Millisecond))
	if limit := e.cfg.ArchiveTimeout + 15*time.Second; total > limit {
		t.Errorf("WAL shipped after %s, more than archive_timeout + 15s", total)
	}
	if v, ok := e.metric("kiln_wal_archive.prom", "kiln_wal_archive_last_run_success", "ship"); !ok || v != 1 {
		t.Errorf("kiln_wal_archive_last_run_success = %v, %v", v, ok)
	}
}

// corruptPacks overwrites every data pack in the bucket with garbage of the
// same size, as bit rot or a bad copy would.
func (e *env) corruptPacks(t *testing.T) {
	prefix := e.cfg.Destination.Prefix + "/data/"
	p := gofakes3.NewPrefix(&prefix, nil)
	list, err := e.s3.backend.ListBucket(e.cfg.Destination.Bucket, &p, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) == 0 {
		t.Fatal("no data packs to corrupt")
	}
	for _, c := range list.Contents {
		junk := bytes.Repeat([]byte{0x5a}, int(c.Size))
		if _, err := e.s3.backend.PutObject(e.cfg.Destination.Bucket, c.Key, map[string]string{}, bytes.NewReader(junk), c.Size, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// bucketBytes is the size of everything the repository stores in S3.
func (e *env) bucketBytes(t *testing.T) int64 {
	prefix := e.cfg.Destination.Prefix + "/"
	p := gofakes3.NewPrefix(&prefix, nil)
	list, err := e.s3.backend.ListBucket(e.cfg.Destination.Bucket, &p, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range list.Contents {
		n += c.Size
	}
	return n
}

// podmanStub stands in for podman: it logs each call and runs the tool on
// this host, dropping podman's own options. Names the image so that "run"
// knows where restic's arguments start.
func podmanStub(log, image string) string {
	return `#!/bin/bash
set -euo pipefail
printf '%s\n' "$*" >>` + log + `
cmd=$1
shift
case $cmd in
run)
	while [[ $1 != ` + image + ` ]]; do shift; done
	shift
	exec restic "$@"
	;;
exec)
	while [[ $1 == -* ]]; do
		case $1 in -e) shift 2 ;; *) shift ;; esac
	done
	shift # the container
	exec "$@"
	;;
esac
exit 1
`
}
