package builder

import (
	"fmt"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/units"
)

func applyPostgres(p *Plan, s *spec.Service, c *units.Container) error {
	port := targetPort(s, 5432)
	c.Env["POSTGRES_USER"] = p.App.Name
	c.Env["POSTGRES_DB"] = p.App.Name
	c.Env["PGDATA"] = "/var/lib/postgresql/data/pgdata"
	c.Env["POSTGRES_INITDB_ARGS"] = "--encoding=UTF8 --lc-collate=C --lc-ctype=C"
	if len(s.Secrets) > 0 {
		c.Env["POSTGRES_PASSWORD_FILE"] = "/run/secrets/" + s.Secrets[0]
	}
	if len(c.Exec) == 0 {
		c.Exec = []string{"postgres", "-p", fmt.Sprint(port)}
	}
	c.Health = health(fmt.Sprintf("pg_isready -h 127.0.0.1 -p %d -U %s -d %s", port, p.App.Name, p.App.Name))
	return nil
}

func applyPgBouncer(p *Plan, s *spec.Service, c *units.Container) error {
	port := targetPort(s, 6432)
	c.Health = health(fmt.Sprintf("pg_isready -h 127.0.0.1 -p %d", port))
	return nil
}

func applyRedis(p *Plan, s *spec.Service, c *units.Container) error {
	port := targetPort(s, 6379)
	pw := "/run/secrets/redis-password"
	if len(s.Secrets) > 0 {
		pw = "/run/secrets/" + s.Secrets[0]
	}
	if len(c.Exec) == 0 {
		c.Exec = []string{"sh", "-c", fmt.Sprintf(`exec redis-server --port %d --appendonly yes --appendfilename appendonly.aof --maxmemory 256mb --maxmemory-policy allkeys-lru --requirepass "$(cat %s)"`, port, pw)}
	}
	c.Health = health(fmt.Sprintf(`sh -c 'redis-cli -p %d -a "$(cat %s)" --no-auth-warning ping | grep -q PONG'`, port, pw))
	return nil
}

func applyPrometheus(p *Plan, s *spec.Service, c *units.Container) error {
	c.Health = httpHealth(targetPort(s, 9090), "/-/healthy")
	return nil
}

func applyGrafana(p *Plan, s *spec.Service, c *units.Container) error {
	port := targetPort(s, 3000)
	if len(s.Secrets) > 0 {
		c.Env["GF_SECURITY_ADMIN_PASSWORD__FILE"] = "/run/secrets/" + s.Secrets[0]
	}
	c.Env["GF_SERVER_HTTP_PORT"] = fmt.Sprint(port)
	c.Env["GF_USERS_ALLOW_SIGN_UP"] = "false"
	c.Env["GF_ANALYTICS_REPORTING_ENABLED"] = "false"
	c.Health = httpHealth(port, "/api/health")
	return nil
}

func applyLoki(p *Plan, s *spec.Service, c *units.Container) error {
	c.Health = httpHealth(targetPort(s, 3100), "/ready")
	return nil
}

func applyAlloy(p *Plan, s *spec.Service, c *units.Container) error {
	// The Alloy image is Debian-based with bash but no wget or curl.
	c.Health = health(fmt.Sprintf(`bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d'`, targetPort(s, 12345)))
	return nil
}

func applyNodeExporter(p *Plan, s *spec.Service, c *units.Container) error {
	c.Health = httpHealth(targetPort(s, 9100), "/metrics")
	return nil
}
