package services

import (
	"errors"
	"strings"
	"testing"
)

func TestPgBouncerGolden(t *testing.T) {
	files, err := PgBouncer(DefaultPgBouncer())
	if err != nil {
		t.Fatal(err)
	}
	goldenFiles(t, "pgbouncer", files)
}

func TestPgBouncerRuntime(t *testing.T) {
	cfg := DefaultPgBouncer()
	rt := PgBouncerRuntime(cfg)
	if rt.Entrypoint != "/bin/sh" || len(rt.Exec) != 1 || rt.Exec[0] != "/etc/kiln/pgbouncer/start.sh" {
		t.Fatalf("runtime command %q %q, want /bin/sh start.sh", rt.Entrypoint, rt.Exec)
	}
	files, err := PgBouncer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	script := string(fileByName(t, files, "start.sh").Contents)
	for _, want := range []string{"/run/secrets/postgres-password", "/etc/kiln/pgbouncer/pgbouncer.ini", "umask 077", "exec pgbouncer", cfg.AuthFile} {
		if !strings.Contains(script, want) {
			t.Errorf("start script lacks %q:\n%s", want, script)
		}
	}
	if len(rt.Secrets) != 2 || rt.Secrets[0].Path() != "/run/secrets/postgres-password" || rt.Secrets[1].Path() != "/run/secrets/"+PgBouncerStatsSecret {
		t.Errorf("secrets %+v", rt.Secrets)
	}
	// Without a stats user, neither its secret nor its line.
	cfg.StatsUser, cfg.StatsPasswordSecret = "", ""
	if rt := PgBouncerRuntime(cfg); len(rt.Secrets) != 1 {
		t.Errorf("no stats user, secrets %+v", rt.Secrets)
	}
	files, err = PgBouncer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if script := string(fileByName(t, files, "start.sh").Contents); strings.Contains(script, "stats") {
		t.Errorf("no stats user, yet:\n%s", script)
	}
}

func TestPgBouncerValidate(t *testing.T) {
	for name, c := range map[string]struct {
		mutate func(*PgBouncerConfig)
		want   error
	}{
		"pool mode":               {func(c *PgBouncerConfig) { c.PoolMode = "pooled" }, ErrInvalidValue},
		"server port":             {func(c *PgBouncerConfig) { c.ServerPort = 0 }, ErrInvalidPort},
		"empty user":              {func(c *PgBouncerConfig) { c.User = "" }, ErrEmptyField},
		"stats user is the app's": {func(c *PgBouncerConfig) { c.StatsUser = c.User }, ErrInvalidValue},
		"stats user, no secret":   {func(c *PgBouncerConfig) { c.StatsPasswordSecret = "" }, ErrInvalidValue},
		"space host":              {func(c *PgBouncerConfig) { c.ServerHost = "a b" }, ErrInvalidValue},
		"pool size":               {func(c *PgBouncerConfig) { c.DefaultPoolSize = 0 }, ErrInvalidValue},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultPgBouncer()
			c.mutate(&cfg)
			if _, err := PgBouncer(cfg); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}
