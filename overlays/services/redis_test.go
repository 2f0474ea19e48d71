package services

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
)

func TestRedisGolden(t *testing.T) {
	files, err := filesOf(Redis(clipperRedis()))
	if err != nil {
		t.Fatal(err)
	}
	goldenFiles(t, "redis", files)
	if strings.Contains(string(files[0].Contents), "requirepass") {
		t.Error("redis.conf must not hold the password")
	}
}

func TestRedisValidate(t *testing.T) {
	cases := map[string]testutil.FieldCase[RedisConfig]{
		"policy":    {func(c *RedisConfig) { c.MaxMemoryPolicy = "lru" }, ErrInvalidValue, "max_memory_policy"},
		"maxmemory": {func(c *RedisConfig) { c.MaxMemory = "256 MB" }, ErrInvalidValue, "max_memory"},
		"port":      {func(c *RedisConfig) { c.Port = -1 }, ErrInvalidPort, "port"},
		"dir":       {func(c *RedisConfig) { c.Dir = "" }, ErrEmptyField, "dir"},
	}
	testutil.OverlayFieldErrors(t, clipperRedis, func(c RedisConfig) error { _, err := Redis(c); return err }, cases)
}

// TestRedisServer starts redis-server with the generated configuration
// through the container's start script (the image entrypoint replaced by a
// pass-through), on a loopback port, and reads the effective settings back.
func TestRedisServer(t *testing.T) {
	server := testutil.Tool(t, "redis-server")
	cli := testutil.Tool(t, "redis-cli")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	// Redis applies the file's dir before command-line options, so the
	// data directory is moved in the configuration itself.
	cfg := clipperRedis()
	cfg.Dir = data
	files, err := filesOf(Redis(cfg))
	if err != nil {
		t.Fatal(err)
	}
	confDir := writeUnder(t, filepath.Join(dir, "conf"), RedisConfigDir, files)
	conf := filepath.Join(confDir, "redis.conf")
	// Spaces, quotes and a dollar sign must survive the shell unchanged.
	const password = `p w"'$HOME`
	secret := filepath.Join(dir, "redis-password")
	if err := os.WriteFile(secret, []byte(password+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	shim := filepath.Join(dir, "bin")
	if err := os.Mkdir(shim, 0o755); err != nil {
		t.Fatal(err)
	}
	// The shim records the entrypoint's arguments: they are visible to
	// every process on the host while it runs.
	argsLog := filepath.Join(dir, "entrypoint-args")
	if err := os.WriteFile(filepath.Join(shim, "docker-entrypoint.sh"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" >"+argsLog+"\nexec \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	port := testutil.FreePort(t)
	// The scripts as the container runs them, pointed at the test's files.
	tcfg := cfg
	tcfg.Port = port
	start, healthScript, err := redisScripts(tcfg, conf, secret)
	if err != nil {
		t.Fatal(err)
	}
	startPath := filepath.Join(confDir, "start.sh")
	if err := os.WriteFile(startPath, start, 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("/bin/sh", startPath, "--port", fmt.Sprint(port), "--bind", "127.0.0.1")
	cmd.Env = []string{"PATH=" + shim + ":" + filepath.Dir(server) + ":/usr/bin:/bin"}
	d := testutil.StartDaemon(t, cmd, syscall.SIGTERM)

	redis := func(auth bool, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		base := []string{"-h", "127.0.0.1", "-p", fmt.Sprint(port)}
		c := exec.CommandContext(ctx, cli, append(base, args...)...)
		if auth {
			c.Env = []string{"REDISCLI_AUTH=" + password}
		}
		out, err := c.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	testutil.WaitFor(t, "redis PING", 10*time.Second, func() error {
		if exited, err := d.Exited(); exited {
			return fmt.Errorf("redis-server exited: %v\n%s", err, d.Output())
		}
		out, err := redis(true, "PING")
		if err != nil || out != "PONG" {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})

	for param, want := range map[string]string{
		"appendonly":       "yes",
		"appendfilename":   "appendonly.aof",
		"maxmemory":        "268435456",
		"maxmemory-policy": "allkeys-lru",
		"protected-mode":   "yes",
		"requirepass":      password,
		"port":             fmt.Sprint(port),
		"dir":              data,
	} {
		out, err := redis(true, "CONFIG", "GET", param)
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v %s", param, err, out)
		}
		if want := param + "\n" + want; out != want {
			t.Errorf("CONFIG GET %s = %q, want %q", param, out, want)
		}
	}
	if args, err := os.ReadFile(argsLog); err != nil || strings.Contains(string(args), password) || !strings.Contains(string(args), "redis-server") {
		t.Errorf("the password is on the command line (or the entrypoint did not run: %v):\n%s", err, args)
	}
	if out, _ := redis(false, "PING"); !strings.Contains(out, "NOAUTH") {
		t.Errorf("unauthenticated PING answered %q, want NOAUTH", out)
	}
	if out, _ := redis(false, "SET", "k", "v"); !strings.Contains(out, "NOAUTH") {
		t.Errorf("unauthenticated SET answered %q, want NOAUTH", out)
	}
	// The container's health check passes with the secret, fails without.
	health := func(secretPath string) error {
		script := strings.ReplaceAll(string(healthScript), secret, secretPath)
		c := exec.Command("/bin/sh", "-c", script)
		c.Env = []string{"PATH=" + filepath.Dir(cli) + ":/usr/bin:/bin"}
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	if err := health(secret); err != nil {
		t.Errorf("health check failed: %v", err)
	}
	wrong := filepath.Join(dir, "wrong-password")
	if err := os.WriteFile(wrong, []byte("nope\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := health(wrong); err == nil {
		t.Error("health check passed with a wrong password")
	}

	// Debian's Redis exporter, configured as the container is, exports
	// every metric the alerts and dashboards use.
	t.Run("exporter", func(t *testing.T) {
		bin := testutil.Tool(t, "prometheus-redis-exporter")
		ecfg := clipperRedisExporter()
		ecfg.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		rt := mustRender(t)(RedisExporter(ecfg)).Container
		env := []string{RedisExporterPasswordEnv + "=" + password}
		for k, v := range rt.Env {
			env = append(env, k+"="+v)
		}
		body := scrapeExporter(t, bin, env, "redis_up 1")
		checkMetricsExist(t, "redis_", body)
	})

	// The append-only file appears once a write lands.
	if out, err := redis(true, "SET", "k", "v"); err != nil || out != "OK" {
		t.Fatalf("SET: %v %s", err, out)
	}
	testutil.WaitFor(t, "append-only file", 5*time.Second, func() error {
		matches, _ := filepath.Glob(filepath.Join(data, "*", "appendonly.aof*"))
		more, _ := filepath.Glob(filepath.Join(data, "appendonly.aof*"))
		if len(matches)+len(more) == 0 {
			return errors.New("no appendonly.aof in the data directory")
		}
		return nil
	})
}
