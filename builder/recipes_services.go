package builder

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/overlays/acme"
	"github.com/kiln-dev/kiln/overlays/services"
	"github.com/kiln-dev/kiln/units"
)

// serviceByKind returns the first service of a kind, for wiring services
// to each other (PgBouncer to PostgreSQL, Grafana to Prometheus…).
func serviceByKind(a *spec.Appliance, kind string) (*spec.Service, bool) {
	for i := range a.Services {
		if a.Services[i].Kind == kind {
			return &a.Services[i], true
		}
	}
	return nil, false
}

// internalURL is how containers reach a service on the appliance network.
func internalURL(s *spec.Service, def int) string {
	return fmt.Sprintf("http://%s:%d", s.Name, targetPort(s, def))
}

func firstSecret(s *spec.Service, def string) string {
	if len(s.Secrets) > 0 {
		return s.Secrets[0]
	}
	return def
}

// applyRuntime merges what a service's configuration package says about
// its container into the unit. The spec wins where both speak: its
// volumes replace the package's data directories at the same path, and its
// env and health check are applied afterwards.
func (p *Plan) applyRuntime(c *units.Container, files []overlays.File, rt services.Runtime) {
	p.Files = append(p.Files, files...)
	if len(c.Exec) == 0 {
		c.Exec = rt.Exec
		if rt.Entrypoint != "" {
			c.PodmanArgs = append(c.PodmanArgs, "--entrypoint="+rt.Entrypoint)
		}
	}
	for k, v := range rt.Env {
		c.Env[k] = v
	}
	secrets := map[string]services.Secret{}
	for _, s := range rt.Secrets {
		secrets[s.Name] = s
	}
	for i := range c.Secrets {
		if s, ok := secrets[c.Secrets[i].Name]; ok {
			if s.UID != 0 {
				c.Secrets[i].UID = fmt.Sprint(s.UID)
			}
			c.Secrets[i].Mode = fmt.Sprintf("0%o", uint32(s.Mode))
		}
	}
	taken := map[string]bool{}
	for _, m := range c.Mounts {
		taken[m.Target] = true
	}
	for _, m := range rt.Mounts {
		if taken[m.Target] {
			continue // the spec's volume holds this data
		}
		src := m.Source
		if rest, ok := strings.CutPrefix(src, services.DataRoot+"/"); ok {
			src = p.DataDir(rest)
			p.dataDirs = append(p.dataDirs, dataDir{path: src, owner: c.User})
		}
		c.Mounts = append(c.Mounts, units.Mount{Source: src, Target: m.Target, ReadOnly: m.ReadOnly, Options: m.Options, NoRelabel: m.HostSystem})
	}
	if rt.HostPID {
		c.PodmanArgs = append(c.PodmanArgs, "--pid=host")
	}
	if rt.HostNetwork {
		c.Network = "host"
		c.Publish = nil // the process binds its port on the host itself
	}
	c.SecurityLabelDisable = c.SecurityLabelDisable || rt.SecurityLabelDisable
	if rt.HealthCmd != "" {
		c.Health = health(rt.HealthCmd)
	}
}

func applyPostgres(p *Plan, s *spec.Service, c *units.Container) error {
	cfg := services.DefaultPostgres()
	cfg.Image, cfg.Port = s.Image, targetPort(s, 5432)
	cfg.Database, cfg.User = p.App.Name, p.App.Name
	cfg.Subnet = NetworkSubnet
	cfg.PasswordSecret = firstSecret(s, "postgres-password")
	arch := p.walArchive()
	if len(arch.settings) > 0 && cfg.Extra == nil {
		cfg.Extra = map[string]string{}
	}
	for k, v := range arch.settings {
		cfg.Extra[k] = v
	}
	files, err := services.Postgres(cfg)
	if err != nil {
		return err
	}
	p.applyRuntime(c, files, services.PostgresRuntime(cfg))
	if arch.spool != "" {
		c.Mounts = append(c.Mounts, units.Mount{Source: arch.spool, Target: arch.spool})
	}
	// Every secret of the database is read by the image's postgres user,
	// the same uid the backup scripts and the WAL spool use.
	uid := strconv.Itoa(services.PostgresUID(s.Image))
	for i := range c.Secrets {
		c.Secrets[i].UID = uid
	}
	c.Notify = true
	return nil
}

func applyPgBouncer(p *Plan, s *spec.Service, c *units.Container) error {
	cfg := services.DefaultPgBouncer()
	cfg.Image, cfg.Port = s.Image, targetPort(s, 6432)
	cfg.Database, cfg.User = p.App.Name, p.App.Name
	if pg, ok := serviceByKind(p.App, spec.KindPostgres); ok {
		cfg.ServerHost, cfg.ServerPort = pg.Name, targetPort(pg, 5432)
	}
	cfg.PasswordSecret = firstSecret(s, "postgres-password")
	// The stats user exists only for an exporter to log in as.
	cfg.StatsUser, cfg.StatsPasswordSecret = "", ""
	if _, ok := serviceByKind(p.App, spec.KindPgBouncerExporter); ok {
		cfg.StatsUser, cfg.StatsPasswordSecret = services.PgBouncerStatsUser, services.PgBouncerStatsSecret
		ensureSecret(c, cfg.StatsPasswordSecret, "70")
	}
	files, err := services.PgBouncer(cfg)
	if err != nil {
		return err
	}
	p.applyRuntime(c, files, services.PgBouncerRuntime(cfg))
	c.Health = health(fmt.Sprintf("pg_isready -q -h 127.0.0.1 -p %d", cfg.Port))
	c.Notify = true
	return nil
}

func applyRedis(p *Plan, s *spec.Service, c *units.Container) error {
	cfg := services.DefaultRedis()
	cfg.Image, cfg.Port = s.Image, targetPort(s, 6379)
	cfg.PasswordSecret = firstSecret(s, "redis-password")
	files, err := services.Redis(cfg)
	if err != nil {
		return err
	}
	p.applyRuntime(c, files, services.RedisRuntime(cfg))
	c.Notify = true
	return nil
}

// Databases, caches and log stores others depend on are ready only when
// their health check passes (Notify=healthy): a dependant ordered After=
// them then starts against a server that answers, not one still starting.

func applyPrometheus(p *Plan, s *spec.Service, c *units.Container) error {
	cfg := services.DefaultPrometheus()
	cfg.Image, cfg.Port = s.Image, targetPort(s, 9090)
	cfg.Appliance = p.App.Name
	cfg.DataMount, cfg.ACMEUnit = "", ""
	if p.App.Data.Mode != spec.DataNone {
		cfg.DataMount = p.App.Data.Path
	}
	if _, ok := serviceByKind(p.App, spec.KindEdge); ok && p.App.TLS.ACME != "none" && len(p.App.TLS.Domains) > 0 {
		cfg.ACMEUnit = acme.RenewUnit
	}
	_, cfg.PostgresExporter = serviceByKind(p.App, spec.KindPostgresExporter)
	_, cfg.PgBouncerExporter = serviceByKind(p.App, spec.KindPgBouncerExporter)
	_, cfg.RedisExporter = serviceByKind(p.App, spec.KindRedisExporter)
	_, cfg.NginxExporter = serviceByKind(p.App, spec.KindNginxExporter)
	cfg.Jobs, cfg.Alertmanagers, cfg.HostJob = nil, nil, ""
	for _, o := range p.App.Services {
		kind, _ := spec.Kind(o.Kind)
		if kind.MetricsPath == "" || len(o.Ports) == 0 {
			continue
		}
		target := fmt.Sprintf("%s:%d", o.Name, o.Ports[0].Target)
		if hostNetworkKinds[o.Kind] {
			// Not on the appliance network, so not in its DNS: the host
			// answers on the network's gateway address.
			target = fmt.Sprintf("%s:%d", NetworkGateway, o.Ports[0].Target)
		}
		if o.Name == s.Name {
			target = fmt.Sprintf("localhost:%d", cfg.Port)
		}
		job := p.App.Name + "-" + o.Name
		path := kind.MetricsPath
		if path == "/metrics" {
			path = "" // Prometheus's default, left out of the config
		}
		cfg.Jobs = append(cfg.Jobs, services.ScrapeJob{Name: job, MetricsPath: path, Targets: []string{target}})
		switch o.Kind {
		case spec.KindAlertmanager:
			cfg.Alertmanagers = append(cfg.Alertmanagers, target)
		case spec.KindNodeExporter:
			cfg.HostJob = job
		}
	}
	files, err := services.Prometheus(cfg)
	if err != nil {
		return err
	}
	p.applyRuntime(c, files, services.PrometheusRuntime(cfg))
	return nil
}

func applyGrafana(p *Plan, s *spec.Service, c *units.Container) error {
	cfg := services.DefaultGrafana()
	cfg.Image, cfg.Port = s.Image, targetPort(s, 3000)
	cfg.PasswordSecret = firstSecret(s, "grafana-password")
	if pr, ok := serviceByKind(p.App, spec.KindPrometheus); ok {
		cfg.PrometheusURL = internalURL(pr, 9090)
	}
	if l, ok := serviceByKind(p.App, spec.KindLoki); ok {
		cfg.LokiURL = internalURL(l, 3100)
	}
	files, err := services.Grafana(cfg)
	if err != nil {
		return err
	}
	p.applyRuntime(c, files, services.GrafanaRuntime(cfg))
	c.Health = httpHealth(cfg.Port, "/api/health")
	return nil
}

func applyLoki(p *Plan, s *spec.Service, c *units.Container) error {
	cfg := services.DefaultLoki()
	cfg.Image, cfg.Port = s.Image, targetPort(s, 3100)
	files, err := services.Loki(cfg)
	if err != nil {
		return err
	}
	p.applyRuntime(c, files, services.LokiRuntime(cfg))
	c.Health = httpHealth(cfg.Port, "/ready")
	c.Notify = true
	return nil
}

// alloyUser is the alloy user and group of the grafana/alloy image (UID
// 473 in its Dockerfile).
const alloyUser = "473:473"

// systemdJournalGID is the systemd-journal group of Fedora CoreOS, which
// may read the persistent journal.
const systemdJournalGID = "190"

func applyAlloy(p *Plan, s *spec.Service, c *units.Container) error {
	cfg := services.DefaultAlloy()
	cfg.Image, cfg.Port = s.Image, targetPort(s, 12345)
	if l, ok := serviceByKind(p.App, spec.KindLoki); ok {
		cfg.PushURL = internalURL(l, 3100) + "/loki/api/v1/push"
	}
	files, err := services.Alloy(cfg)
	if err != nil {
		return err
	}
	if c.User == "" {
		// Not root: the image's alloy user, which owns its data directory,
		// reads the journal through the systemd-journal group. Its gid is
		// fixed on Fedora (190, Fedora's setup package, uidgid), so the
		// container names it by number.
		c.User = alloyUser
		c.GroupAdd = append(c.GroupAdd, systemdJournalGID)
	}
	n := len(p.dataDirs)
	p.applyRuntime(c, files, services.AlloyRuntime(cfg))
	// A data volume kept from a release that ran Alloy as root holds
	// root's positions and write-ahead log, which the alloy user could not
	// update: its few files are handed over at boot.
	for i := n; i < len(p.dataDirs); i++ {
		p.dataDirs[i].adopt = true
	}
	if c.Health.Command == "" {
		// The Alloy image is Debian-based with bash but no wget or curl.
		c.Health = health(fmt.Sprintf(`bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d'`, cfg.Port))
	}
	return nil
}

func applyNodeExporter(p *Plan, s *spec.Service, c *units.Container) error {
	cfg := services.DefaultNodeExporter()
	cfg.Image, cfg.Port = s.Image, targetPort(s, 9100)
	cfg.TextfileDir = p.DataDir("node-exporter", "textfile")
	if err := cfg.Validate(); err != nil {
		return err
	}
	p.applyRuntime(c, nil, services.NodeExporterRuntime(cfg))
	c.Health = httpHealth(cfg.Port, "/metrics")
	return p.hostMetrics(cfg.TextfileDir)
}

// hostMetrics adds the job that writes what the node exporter cannot see
// from its container (failed units, the edge certificate, an OS changed
// by hand) to the exporter's textfile directory.
func (p *Plan) hostMetrics(textfileDir string) error {
	hc := services.HostMetricsConfig{
		TextfileDir: textfileDir,
		StateDir:    p.DataDir("host-metrics"),
		AutoUpdates: p.App.Updates.Auto,
	}
	if p.App.Data.Mode != spec.DataNone {
		hc.After = []string{units.MountUnitName(p.App.Data.Path)}
	}
	if _, ok := serviceByKind(p.App, spec.KindEdge); ok {
		hc.CertPath = p.edgeConfig().CertPath
	}
	files, us, err := services.HostMetrics(hc)
	if err != nil {
		return err
	}
	p.dataDirs = append(p.dataDirs, dataDir{path: hc.StateDir})
	return p.add(files, us, nil)
}

func applyAlertmanager(p *Plan, s *spec.Service, c *units.Container) error {
	cfg := services.DefaultAlertmanager()
	cfg.Image, cfg.Port = s.Image, targetPort(s, 9093)
	if len(s.Ports) > 0 {
		// Links in notifications point where an SSH tunnel to the
		// loopback port shows the UI.
		cfg.ExternalURL = fmt.Sprintf("http://127.0.0.1:%d", s.Ports[0].Port)
	}
	al := p.App.Alerts
	if len(al.GroupBy) > 0 {
		cfg.GroupBy = al.GroupBy
	}
	for _, d := range []struct {
		dst *string
		v   string
	}{
		{&cfg.GroupWait, al.GroupWait}, {&cfg.GroupInterval, al.GroupInterval}, {&cfg.RepeatInterval, al.RepeatInterval},
	} {
		if d.v != "" {
			*d.dst = d.v
		}
	}
	for i := range al.Receivers {
		r := &al.Receivers[i]
		rc := services.AlertReceiver{Name: r.Name, Severities: r.Severities, RepeatInterval: r.RepeatInterval}
		switch {
		case r.HasEmail():
			e := r.Email
			rc.Email = &services.EmailReceiver{To: e.To, From: e.From, Smarthost: e.Smarthost, Username: e.Username, PasswordFile: e.PasswordFile}
		case r.HasWebhook():
			rc.Webhook = &services.WebhookReceiver{URL: r.Webhook.URL, TokenFile: r.Webhook.TokenFile}
		case r.HasSlack():
			rc.Slack = &services.SlackReceiver{URLFile: r.Slack.URLFile, Channel: r.Slack.Channel}
		case r.HasNtfy():
			rc.Ntfy = &services.NtfyReceiver{URL: r.Ntfy.URL, TokenFile: r.Ntfy.TokenFile}
		}
		cfg.Receivers = append(cfg.Receivers, rc)
	}
	files, err := services.Alertmanager(cfg)
	if err != nil {
		return err
	}
	// The data and credentials directories land on the data filesystem
	// (applyRuntime maps them), owned by the container's user.
	p.applyRuntime(c, files, services.AlertmanagerRuntime(cfg))
	return nil
}

// ensureSecret mounts a secret the recipe needs even when the spec's
// service does not list it.
func ensureSecret(c *units.Container, name, uid string) {
	for _, s := range c.Secrets {
		if s.Name == name {
			return
		}
	}
	c.Secrets = append(c.Secrets, units.SecretMount{Name: name, Target: services.Secret{Name: name}.Path(), UID: uid, Mode: "0400"})
}

func applyPostgresExporter(p *Plan, s *spec.Service, c *units.Container) error {
	cfg := services.DefaultPostgresExporter()
	cfg.Image, cfg.Port = s.Image, targetPort(s, 9187)
	cfg.Database, cfg.User = p.App.Name, p.App.Name
	pg, ok := serviceByKind(p.App, spec.KindPostgres)
	if !ok {
		return fmt.Errorf("%w: a postgres-exporter needs a postgres service", ErrMissingService)
	}
	cfg.Host, cfg.DBPort = pg.Name, targetPort(pg, 5432)
	cfg.PasswordSecret = firstSecret(pg, "postgres-password")
	if err := cfg.Validate(); err != nil {
		return err
	}
	ensureSecret(c, cfg.PasswordSecret, "65534")
	p.applyRuntime(c, nil, services.PostgresExporterRuntime(cfg))
	return nil
}

func applyPgBouncerExporter(p *Plan, s *spec.Service, c *units.Container) error {
	cfg := services.DefaultPgBouncerExporter()
	cfg.Image, cfg.Port = s.Image, targetPort(s, 9127)
	pb, ok := serviceByKind(p.App, spec.KindPgBouncer)
	if !ok {
		return fmt.Errorf("%w: a pgbouncer-exporter needs a pgbouncer service", ErrMissingService)
	}
	cfg.Host, cfg.PgBouncerPort = pb.Name, targetPort(pb, 6432)
	if err := cfg.Validate(); err != nil {
		return err
	}
	rt := services.PgBouncerExporterRuntime(cfg)
	p.applyRuntime(c, nil, rt)
	// Quadlet's Secret= key mounts files only; lib/pq wants the password
	// in its environment.
	for _, env := range sortedKeys(rt.EnvSecrets) {
		c.PodmanArgs = append(c.PodmanArgs, fmt.Sprintf("--secret=%s,type=env,target=%s", rt.EnvSecrets[env], env))
	}
	return nil
}

func applyRedisExporter(p *Plan, s *spec.Service, c *units.Container) error {
	cfg := services.DefaultRedisExporter()
	cfg.Image, cfg.Port = s.Image, targetPort(s, 9121)
	r, ok := serviceByKind(p.App, spec.KindRedis)
	if !ok {
		return fmt.Errorf("%w: a redis-exporter needs a redis service", ErrMissingService)
	}
	cfg.Addr = fmt.Sprintf("%s:%d", r.Name, targetPort(r, 6379))
	cfg.PasswordSecret = firstSecret(r, "redis-password")
	if err := cfg.Validate(); err != nil {
		return err
	}
	rt := services.RedisExporterRuntime(cfg)
	p.applyRuntime(c, nil, rt)
	// Quadlet's Secret= key mounts files only; the exporter wants the
	// password in its environment.
	for _, env := range sortedKeys(rt.EnvSecrets) {
		c.PodmanArgs = append(c.PodmanArgs, fmt.Sprintf("--secret=%s,type=env,target=%s", rt.EnvSecrets[env], env))
	}
	return nil
}

func applyNginxExporter(p *Plan, s *spec.Service, c *units.Container) error {
	cfg := services.DefaultNginxExporter()
	cfg.Image, cfg.Port = s.Image, targetPort(s, 9113)
	if _, ok := serviceByKind(p.App, spec.KindEdge); !ok {
		return fmt.Errorf("%w: an nginx-exporter needs an edge service", ErrMissingService)
	}
	cfg.ScrapeURI = fmt.Sprintf("http://127.0.0.1:%d/stub_status", spec.NginxStatusPort)
	if err := cfg.Validate(); err != nil {
		return err
	}
	p.applyRuntime(c, nil, services.NginxExporterRuntime(cfg))
	return nil
}
