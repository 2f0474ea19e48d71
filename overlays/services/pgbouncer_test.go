package services

import (
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/testutil"
)

func TestPgBouncerGolden(t *testing.T) {
	files, err := filesOf(PgBouncer(clipperPgBouncer()))
	if err != nil {
		t.Fatal(err)
	}
	goldenFiles(t, "pgbouncer", files)
}

func TestPgBouncerContainer(t *testing.T) {
	cfg := clipperPgBouncer()
	rt := mustRender(t)(PgBouncer(cfg)).Container
	if rt.Entrypoint != "/bin/sh" || len(rt.Exec) != 1 || rt.Exec[0] != "/etc/kiln/pgbouncer/start.sh" {
		t.Fatalf("container command %q %q, want /bin/sh start.sh", rt.Entrypoint, rt.Exec)
	}
	files, err := filesOf(PgBouncer(cfg))
	if err != nil {
		t.Fatal(err)
	}
	script := string(fileByName(t, files, "start.sh").Contents)
	for _, want := range []string{"/run/secrets/postgres-password", "/etc/kiln/pgbouncer/pgbouncer.ini", "umask 077", "exec pgbouncer", cfg.AuthFile} {
		if !strings.Contains(script, want) {
			t.Errorf("start script lacks %q:\n%s", want, script)
		}
	}
	if len(rt.Secrets) != 2 || rt.Secrets[0].Target != "/run/secrets/postgres-password" || rt.Secrets[1].Target != "/run/secrets/"+PgBouncerStatsSecret {
		t.Errorf("secrets %+v", rt.Secrets)
	}
	// Without a stats user, neither its secret nor its line.
	cfg.StatsUser, cfg.StatsPasswordSecret = "", ""
	if rt := mustRender(t)(PgBouncer(cfg)).Container; len(rt.Secrets) != 1 {
		t.Errorf("no stats user, secrets %+v", rt.Secrets)
	}
	files, err = filesOf(PgBouncer(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if script := string(fileByName(t, files, "start.sh").Contents); strings.Contains(script, "stats") {
		t.Errorf("no stats user, yet:\n%s", script)
	}
}

func TestPgBouncerValidate(t *testing.T) {
	cases := map[string]testutil.FieldCase[PgBouncerConfig]{
		"pool mode":               {func(c *PgBouncerConfig) { c.PoolMode = "pooled" }, ErrInvalidValue, "pool_mode"},
		"server port":             {func(c *PgBouncerConfig) { c.ServerPort = 0 }, ErrInvalidPort, "server_port"},
		"empty user":              {func(c *PgBouncerConfig) { c.User = "" }, ErrEmptyField, "user"},
		"stats user is the app's": {func(c *PgBouncerConfig) { c.StatsUser = c.User }, ErrInvalidValue, "stats_user"},
		"stats user, no secret":   {func(c *PgBouncerConfig) { c.StatsPasswordSecret = "" }, ErrInvalidValue, "stats_user"},
		"space host":              {func(c *PgBouncerConfig) { c.ServerHost = "a b" }, ErrInvalidValue, "server_host"},
		"pool size":               {func(c *PgBouncerConfig) { c.DefaultPoolSize = 0 }, ErrInvalidValue, "default_pool_size"},
	}
	testutil.OverlayFieldErrors(t, clipperPgBouncer, func(c PgBouncerConfig) error { _, err := PgBouncer(c); return err }, cases)
}
