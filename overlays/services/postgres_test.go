package services

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
)

func TestPostgresGolden(t *testing.T) {
	cfg := clipperPostgres()
	files, err := filesOf(Postgres(cfg))
	if err != nil {
		t.Fatal(err)
	}
	// Clipper archives its WAL, so this covers the archive settings too.
	goldenFiles(t, "postgres", files)
}

func TestPostgresValidate(t *testing.T) {
	cases := map[string]testutil.FieldCase[PostgresConfig]{
		"port":           {func(c *PostgresConfig) { c.Port = 70000 }, ErrInvalidPort, "port"},
		"shared buffers": {func(c *PostgresConfig) { c.SharedBuffers = "lots" }, ErrInvalidValue, "shared_buffers"},
		"subnet":         {func(c *PostgresConfig) { c.Subnet = "10.89.0.0" }, ErrInvalidValue, "subnet"},
		"quote in user":  {func(c *PostgresConfig) { c.User = "a'b" }, ErrInvalidValue, "user"},
		"setting name":   {func(c *PostgresConfig) { c.Extra = map[string]string{"archive mode": "on"} }, ErrInvalidSettingName, "extra"},
		"owned setting":  {func(c *PostgresConfig) { c.Extra = map[string]string{"port": "5432"} }, ErrDuplicateSetting, "extra"},
	}
	testutil.OverlayFieldErrors(t, clipperPostgres, func(c PostgresConfig) error { _, err := Postgres(c); return err }, cases)
}

// TestPostgresAndPgBouncer runs the generated configurations in the real
// servers: PostgreSQL with WAL archiving on, and PgBouncer in front of it,
// started by the same script the container runs.
func TestPostgresAndPgBouncer(t *testing.T) {
	initdb := testutil.Tool(t, "initdb")
	postgres := testutil.Tool(t, "postgres")
	pgctl := testutil.Tool(t, "pg_ctl")
	psql := testutil.Tool(t, "psql")
	pgbouncer := testutil.Tool(t, "pgbouncer")
	pg := lookupPostgresUser(t)

	dir := pg.sharedDir(t)
	data := filepath.Join(dir, "data")
	archive := filepath.Join(dir, "archive")
	socket := filepath.Join(dir, "sock")
	for _, d := range []string{archive, socket} {
		pg.run(t, "mkdir", "-m", "0700", d)
	}
	// A password with both quote characters exercises the auth file's
	// quoting and the shell around it.
	const password = `s3"cr'et pw`
	secret := filepath.Join(dir, "postgres-password")
	pg.writeOwned(t, secret, []byte(password+"\n"), 0o400)

	cfg := clipperPostgres()
	cfg.Extra = map[string]string{
		"archive_mode":    "on",
		"archive_command": fmt.Sprintf("test ! -f %s/%%f && cp %%p %s/%%f", archive, archive),
		"archive_timeout": "60",
	}
	files, err := filesOf(Postgres(cfg))
	if err != nil {
		t.Fatal(err)
	}
	confDir := writeUnder(t, filepath.Join(dir, "conf"), PostgresConfigDir, files)
	if err := os.Chmod(filepath.Join(dir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(confDir, "postgresql.conf")
	hbaFile := filepath.Join(confDir, "pg_hba.conf")

	args := append([]string{"-D", data, "-U", cfg.User, "--pwfile=" + secret, "--auth=scram-sha-256"}, strings.Fields(PostgresInitDBArgs())...)
	pg.run(t, initdb, args...)

	// postgres -C reports the value the server would run with.
	for param, want := range map[string]string{
		"listen_addresses":    "*",
		"port":                "5436",
		"max_connections":     "100",
		"shared_buffers":      "32768", // in 8 kB pages: 256MB
		"password_encryption": "scram-sha-256",
		"log_destination":     "stderr",
		"logging_collector":   "off",
		"archive_mode":        "on",
		"archive_command":     cfg.Extra["archive_command"],
		"archive_timeout":     "60",
		"hba_file":            hbaFile,
	} {
		got := strings.TrimSpace(pg.run(t, postgres, "-D", data, "-c", "config_file="+confFile, "-c", "hba_file="+hbaFile, "-C", param))
		if got != want {
			t.Errorf("postgres -C %s = %q, want %q", param, got, want)
		}
	}

	port := testutil.FreePort(t)
	opts := fmt.Sprintf("-c config_file=%s -c hba_file=%s -c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s", confFile, hbaFile, port, socket)
	pg.run(t, pgctl, "-w", "-t", "60", "-D", data, "-l", filepath.Join(dir, "postgres.log"), "-o", opts, "start")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := pg.command(ctx, pgctl, "-D", data, "-m", "immediate", "stop").CombinedOutput(); err != nil {
			t.Logf("pg_ctl stop: %v\n%s", err, out)
		}
	})

	// queryAs runs sql as user; header keeps psql's header line.
	queryAs := func(user string, header bool, port int, dbname, pw, sql string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args := []string{"-X", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-U", user, "-d", dbname, "-c", sql}
		if !header {
			args = append([]string{"-t"}, args...)
		}
		cmd := pg.command(ctx, psql, args...)
		cmd.Env = append(cmd.Env, "PGPASSWORD="+pw, "PGCONNECT_TIMEOUT=5")
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	query := func(port int, dbname, pw, sql string) (string, error) {
		return queryAs(cfg.User, false, port, dbname, pw, sql)
	}
	mustQuery := func(port int, dbname, sql string) string {
		t.Helper()
		out, err := query(port, dbname, password, sql)
		if err != nil {
			t.Fatalf("psql %s: %v\n%s", sql, err, out)
		}
		return out
	}

	// The container's health check, pointed at the test port.
	hcfg := cfg
	hcfg.Port = port
	health := pg.command(context.Background(), "/bin/sh", "-c", mustRender(t)(Postgres(hcfg)).Container.Health.Command)
	health.Env = append(health.Env, "PATH="+filepath.Dir(testutil.Tool(t, "pg_isready"))+":/usr/bin:/bin")
	if out, err := health.CombinedOutput(); err != nil {
		t.Errorf("health check %q: %v\n%s", mustRender(t)(Postgres(hcfg)).Container.Health.Command, err, out)
	}

	if out, err := query(port, "postgres", "wrong", "SELECT 1"); err == nil || !strings.Contains(out, "password authentication failed") {
		t.Errorf("wrong password was not refused: %v %s", err, out)
	}
	// The initdb arguments the container gets: UTF-8, C collation.
	if got := mustQuery(port, "postgres", "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = 'template1'"); got != "UTF8|C|C" {
		t.Errorf("template1 encoding|collate|ctype = %q, want UTF8|C|C", got)
	}
	mustQuery(port, "postgres", "CREATE DATABASE "+cfg.Database)
	if got := mustQuery(port, cfg.Database, "SHOW archive_mode"); got != "on" {
		t.Errorf("archive_mode = %q", got)
	}
	// A real archived segment proves archive_command runs as configured.
	mustQuery(port, cfg.Database, "CREATE TABLE t AS SELECT generate_series(1, 1000) AS n")
	mustQuery(port, cfg.Database, "SELECT pg_switch_wal()")
	testutil.WaitFor(t, "a WAL segment in the archive", 20*time.Second, func() error {
		entries, err := os.ReadDir(archive)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return errors.New("archive is empty")
		}
		return nil
	})

	// Debian's PostgreSQL exporter, configured as the container is, logs
	// in with the secret file and exports every metric the alerts and
	// dashboards use.
	t.Run("exporter", func(t *testing.T) {
		bin := testutil.Tool(t, "prometheus-postgres-exporter")
		// The exporter (0.11) cannot quote a password holding both quote
		// characters into its DSN. kiln's generated secrets are
		// alphanumeric, so the test logs in as a superuser like the
		// image's, with such a password.
		const monitorPassword = "Alnum0Secret0Like0KilnGenerates"
		mustQuery(port, cfg.Database, "CREATE ROLE kiln_monitor LOGIN SUPERUSER PASSWORD '"+monitorPassword+"'")
		monitorSecret := filepath.Join(dir, "monitor-password")
		pg.writeOwned(t, monitorSecret, []byte(monitorPassword+"\n"), 0o400)
		ecfg := clipperPostgresExporter()
		ecfg.Host, ecfg.DBPort, ecfg.Database, ecfg.User = "127.0.0.1", port, cfg.Database, "kiln_monitor"
		var env []string
		for k, v := range PostgresExporterEnv(ecfg) {
			if k == "DATA_SOURCE_PASS_FILE" {
				v = monitorSecret
			}
			env = append(env, k+"="+v)
		}
		body := scrapeExporter(t, bin, env, "pg_up 1")
		checkMetricsExist(t, "pg_", body)
	})

	t.Run("pgbouncer", func(t *testing.T) {
		bcfg := clipperPgBouncer()
		bcfg.ListenAddr = "127.0.0.1"
		bcfg.Port = testutil.FreePort(t)
		bcfg.ServerHost = "127.0.0.1"
		bcfg.ServerPort = port
		bcfg.AuthFile = filepath.Join(dir, "userlist.txt")
		bfiles, err := filesOf(PgBouncer(bcfg))
		if err != nil {
			t.Fatal(err)
		}
		bdir := writeUnder(t, filepath.Join(dir, "pgbouncer"), PgBouncerConfigDir, bfiles)
		if err := os.Chmod(bdir, 0o755); err != nil {
			t.Fatal(err)
		}
		ini := filepath.Join(bdir, "pgbouncer.ini")

		// The stats user's password, with a quote the auth file must escape.
		statsPassword := `stats"` + password[:8]
		statsSecret := filepath.Join(dir, "pgbouncer-stats-password")
		if err := os.WriteFile(statsSecret, []byte(statsPassword), 0o644); err != nil {
			t.Fatal(err)
		}
		start, err := pgbouncerStartScript(bcfg, ini, secret, statsSecret)
		if err != nil {
			t.Fatal(err)
		}
		startPath := filepath.Join(bdir, "start.sh")
		if err := os.WriteFile(startPath, start, 0o644); err != nil {
			t.Fatal(err)
		}

		cmd := pg.command(context.Background(), "/bin/sh", startPath)
		cmd.Env = append(cmd.Env, "PATH="+filepath.Dir(pgbouncer)+":/usr/bin:/bin")
		d := testutil.StartDaemon(t, cmd, syscall.SIGTERM)
		testutil.WaitFor(t, "pgbouncer admin console", 10*time.Second, func() error {
			if exited, err := d.Exited(); exited {
				return fmt.Errorf("pgbouncer exited: %v\n%s", err, d.Output())
			}
			out, err := queryAs(bcfg.StatsUser, false, bcfg.Port, "pgbouncer", statsPassword, "SHOW VERSION")
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
		asStats := func(sql string) (string, error) {
			return queryAs(bcfg.StatsUser, false, bcfg.Port, "pgbouncer", statsPassword, sql)
		}
		show, err := asStats("SHOW CONFIG")
		if err != nil {
			t.Fatalf("SHOW CONFIG as %s: %v\n%s", bcfg.StatsUser, err, show)
		}
		for key, want := range map[string]string{
			"listen_port": fmt.Sprint(bcfg.Port), "pool_mode": "transaction",
			"max_client_conn": "1000", "default_pool_size": "25", "auth_type": "scram-sha-256",
		} {
			if !strings.Contains(show, "\n"+key+"|"+want+"|") && !strings.HasPrefix(show, key+"|"+want+"|") {
				t.Errorf("SHOW CONFIG: %s is not %s", key, want)
			}
		}
		// The application's user cannot even log in to the admin console;
		// the stats user reads statistics and is no admin.
		for _, cmd := range []string{"SHOW POOLS", "RELOAD", "PAUSE", "SET default_pool_size = 1"} {
			if out, err := query(bcfg.Port, "pgbouncer", password, cmd); err == nil || !strings.Contains(out, "not allowed") {
				t.Errorf("%s as the application user: %v %s, want refused (not allowed)", cmd, err, out)
			}
			if strings.HasPrefix(cmd, "SHOW") {
				continue
			}
			if out, err := asStats(cmd); err == nil || !strings.Contains(out, "admin access needed") {
				t.Errorf("%s as the stats user: %v %s, want refused (admin access needed)", cmd, err, out)
			}
		}
		if _, err := queryAs(bcfg.StatsUser, false, bcfg.Port, "pgbouncer", "wrong", "SHOW POOLS"); err == nil {
			t.Error("the stats user logged in with a wrong password")
		}
		// A client for each pool, so that SHOW POOLS and STATS have rows.
		mustQuery(bcfg.Port, cfg.Database, "SELECT 1")
		checkPgBouncerColumns(t, func(cmd string) ([]string, [][]string) {
			out, err := queryAs(bcfg.StatsUser, true, bcfg.Port, "pgbouncer", statsPassword, cmd)
			if err != nil {
				t.Fatalf("%s as %s: %v\n%s", cmd, bcfg.StatsUser, err, out)
			}
			lines := strings.Split(out, "\n")
			var rows [][]string
			for _, l := range lines[1:] {
				if !strings.HasPrefix(l, "(") { // psql's "(N rows)"
					rows = append(rows, strings.Split(l, "|"))
				}
			}
			return strings.Split(lines[0], "|"), rows
		})
		if got := mustQuery(bcfg.Port, cfg.Database, "SELECT count(*) FROM t"); got != "1000" {
			t.Errorf("query through pgbouncer = %q, want 1000", got)
		}
		if out, err := query(bcfg.Port, cfg.Database, "wrong", "SELECT 1"); err == nil {
			t.Errorf("pgbouncer accepted a wrong password: %s", out)
		}
		st, err := os.Stat(bcfg.AuthFile)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("auth file mode %o, want 0600", st.Mode().Perm())
		}
	})
}
