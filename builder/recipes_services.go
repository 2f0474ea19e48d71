package builder

import (
	"fmt"
	"slices"
	"strings"
	"time"

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

// needs returns the first service of kind, which a service of kind who
// cannot work without (an exporter and the server it exports), or
// ErrMissingService.
func (p *plan) needs(who, kind string) (*spec.Service, error) {
	if s, ok := serviceByKind(p.App, kind); ok {
		return s, nil
	}
	return nil, fmt.Errorf("%w: kind %s needs a service of kind %s", ErrMissingService, who, kind)
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

// attach merges a kind's component into the service's container and the
// plan. The spec wins where both speak: its command replaces the
// component's, its volumes replace the component's data directories at the
// same path, and its env and health check are applied afterwards.
func (p *plan) attach(c *units.Container, k overlays.Component) {
	p.Files = append(p.Files, k.Files...)
	kc := k.Container
	if len(c.Exec) == 0 {
		c.Exec, c.Entrypoint = kc.Exec, kc.Entrypoint
	}
	for name, v := range kc.Env {
		c.Env[name] = v
	}
	listed := map[string]int{}
	for i, s := range c.Secrets {
		listed[s.Name] = i
	}
	for _, s := range kc.Secrets {
		if i, ok := listed[s.Name]; ok {
			if s.UID != "" {
				c.Secrets[i].UID = s.UID
			}
			c.Secrets[i].Mode = s.Mode
		} else if p.declaredSecret(s.Name) {
			// A secret of another service (the exporter's database
			// password): mounted even though this service does not list it.
			c.Secrets = append(c.Secrets, s)
		}
	}
	taken := map[string]bool{}
	for _, m := range c.Mounts {
		taken[m.Target] = true
	}
	replaced := map[string]bool{}
	for _, m := range kc.Mounts {
		if taken[m.Target] {
			replaced[m.Source] = true // the spec's volume holds this data
			continue
		}
		c.Mounts = append(c.Mounts, m)
	}
	if c.User == "" && kc.User != "" {
		c.User = kc.User
		c.GroupAdd = append(c.GroupAdd, kc.GroupAdd...)
	}
	for _, d := range k.DataDirs {
		if !replaced[d.Path] {
			p.dataDirs = append(p.dataDirs, dataDir{path: d.Path, owner: c.User, adopt: d.Adopt})
		}
	}
	c.PodmanArgs = append(c.PodmanArgs, kc.PodmanArgs...)
	if kc.Network == "host" {
		c.Network = "host"
		c.Publish = nil // the process binds its port on the host itself
	}
	c.SecurityLabelDisable = c.SecurityLabelDisable || kc.SecurityLabelDisable
	if kc.Health.Command != "" {
		c.Health = health(kc.Health.Command)
	}
	c.Notify = c.Notify || kc.Notify
	c.After = append(c.After, kc.After...)
	c.ReadOnly = c.ReadOnly || kc.ReadOnly
	c.Tmpfs = append(c.Tmpfs, kc.Tmpfs...)
	c.DropCapability = append(c.DropCapability, kc.DropCapability...)
	c.AddCapability = append(c.AddCapability, kc.AddCapability...)
	c.ExecStartPre = append(c.ExecStartPre, kc.ExecStartPre...)
	if kc.ExecReload != "" {
		c.ExecReload = kc.ExecReload
	}
}

// componentFields maps the fields of a kind's Config that the plan fills
// from the spec back to the spec's paths, so that its errors point at the user's line.
func componentFields(i int, s *spec.Service) map[string]string {
	svc := fmt.Sprintf("services[%d]", i)
	fields := map[string]string{}
	if len(s.Ports) > 0 {
		fields["port"] = svc + ".ports[0].target"
	}
	if len(s.Secrets) > 0 {
		fields["password_secret"] = svc + ".secrets[0]"
	}
	if s.Kind == spec.KindAlertmanager {
		// The receivers keep the spec's order and field names.
		for _, f := range []string{"receivers", "group_by", "group_wait", "group_interval", "repeat_interval"} {
			fields[f] = "alerts." + f
		}
	}
	return fields
}

// imageUID is the numeric user a service's image runs as, from its kind's
// registry row: the one place the plan decides it, for the secrets, the
// component and the backup alike.
func (p *plan) imageUID(s *spec.Service) string {
	if r, ok := recipes[s.Kind]; ok && r.imageUID != nil {
		return r.imageUID(s.Image)
	}
	return ""
}

// kilnSecrets are the secrets kiln's recipes need beyond the spec's:
// PgBouncer's stats user, which only the exporter logs in as.
func (p *plan) kilnSecrets() []string {
	if _, ok := serviceByKind(p.App, spec.KindPgBouncerExporter); ok && !p.specSecret(services.PgBouncerStatsSecret) {
		return []string{services.PgBouncerStatsSecret}
	}
	return nil
}

// specSecret reports whether the spec declares a secret.
func (p *plan) specSecret(name string) bool {
	for _, s := range p.App.Secrets {
		if s.Name == name {
			return true
		}
	}
	return false
}

// declaredSecret reports whether first boot generates a secret: the
// spec declares it, or a recipe needs it.
func (p *plan) declaredSecret(name string) bool {
	return p.specSecret(name) || slices.Contains(p.kilnSecrets(), name)
}

func applyPostgres(p *plan, s *spec.Service) (overlays.Component, error) {
	arch := p.walArchive()
	return services.Postgres(services.PostgresConfig{
		Port: targetPort(s, 5432), Database: p.App.Name, User: p.App.Name,
		// kiln's sizing for the one database of a single-server appliance.
		MaxConnections: 100, SharedBuffers: "256MB",
		Subnet: NetworkSubnet, PasswordSecret: firstSecret(s, "postgres-password"),
		UID: p.imageUID(s), DataDir: p.DataDir("postgres"),
		WALSpool: arch.spool, Extra: arch.settings,
	})
}

func applyPgBouncer(p *plan, s *spec.Service) (overlays.Component, error) {
	pg, err := p.needs("pgbouncer", spec.KindPostgres)
	if err != nil {
		return overlays.Component{}, err
	}
	cfg := services.PgBouncerConfig{
		ListenAddr: "0.0.0.0", Port: targetPort(s, 6432),
		ServerHost: pg.Name, ServerPort: targetPort(pg, 5432),
		Database: p.App.Name, User: p.App.Name,
		// Transaction pooling: many short client connections share a few
		// server ones.
		PoolMode: "transaction", MaxClientConn: 1000, DefaultPoolSize: 25,
		PasswordSecret: firstSecret(s, "postgres-password"),
		AuthFile:       "/tmp/pgbouncer-userlist.txt", UID: p.imageUID(s),
	}
	// The stats user exists only for an exporter to log in as; its
	// secret is one kiln generates (plan.kilnSecrets).
	if _, ok := serviceByKind(p.App, spec.KindPgBouncerExporter); ok {
		cfg.StatsUser, cfg.StatsPasswordSecret = services.PgBouncerStatsUser, services.PgBouncerStatsSecret
	}
	return services.PgBouncer(cfg)
}

func applyRedis(p *plan, s *spec.Service) (overlays.Component, error) {
	return services.Redis(services.RedisConfig{
		Bind: "0.0.0.0", Port: targetPort(s, 6379), Dir: "/data", DataDir: p.DataDir("redis"),
		MaxMemory: "256mb", MaxMemoryPolicy: "allkeys-lru",
		PasswordSecret: firstSecret(s, "redis-password"), UID: p.imageUID(s),
	})
}

// Databases, caches and log stores others depend on are ready only when
// their health check passes (Notify=healthy): a dependant ordered After=
// them then starts against a server that answers, not one still starting.

func applyPrometheus(p *plan, s *spec.Service) (overlays.Component, error) {
	cfg := services.PrometheusConfig{
		Port: targetPort(s, 9090), ScrapeInterval: "15s", EvaluationInterval: "15s", Retention: "15d",
		Alerts: services.DefaultAlertThresholds(), Appliance: p.App.Name, DataDir: p.DataDir("prometheus"),
	}
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
	return services.Prometheus(cfg)
}

func applyGrafana(p *plan, s *spec.Service) (overlays.Component, error) {
	pr, err := p.needs("grafana", spec.KindPrometheus)
	if err != nil {
		return overlays.Component{}, err
	}
	l, err := p.needs("grafana", spec.KindLoki)
	if err != nil {
		return overlays.Component{}, err
	}
	return services.Grafana(services.GrafanaConfig{
		Port: targetPort(s, 3000), AdminUser: "admin", PasswordSecret: firstSecret(s, "grafana-password"),
		PrometheusURL: internalURL(pr, 9090), LokiURL: internalURL(l, 3100),
		PrometheusUID: "prometheus", LokiUID: "loki", ScrapeInterval: "15s",
		// The dashboards' folder is named after the appliance.
		Folder:  strings.ToUpper(p.App.Name[:1]) + p.App.Name[1:],
		DataDir: p.DataDir("grafana"), UID: p.imageUID(s),
	})
}

func applyLoki(p *plan, s *spec.Service) (overlays.Component, error) {
	return services.Loki(services.LokiConfig{
		Port: targetPort(s, 3100), GRPCPort: 9096, Dir: "/loki", DataDir: p.DataDir("loki"),
		Retention: 31 * 24 * time.Hour, SchemaFrom: "2024-04-01",
	})
}

func applyAlloy(p *plan, s *spec.Service) (overlays.Component, error) {
	l, err := p.needs("alloy", spec.KindLoki)
	if err != nil {
		return overlays.Component{}, err
	}
	return services.Alloy(services.AlloyConfig{
		Port: targetPort(s, 12345), PushURL: internalURL(l, 3100) + "/loki/api/v1/push",
		JournalPath: "/var/log/journal", MaxAge: "12h", DataDir: p.DataDir("alloy"),
	})
}

func applyNodeExporter(p *plan, s *spec.Service) (overlays.Component, error) {
	cfg := services.NodeExporterConfig{Port: targetPort(s, 9100), TextfileDir: p.DataDir("node-exporter", "textfile"), RootfsMount: "/host"}
	k, err := services.NodeExporter(cfg)
	if err != nil {
		return k, err
	}
	return k, p.hostMetrics(cfg.TextfileDir)
}

// hostMetrics adds the job that writes what the node exporter cannot see
// from its container (failed units, the edge certificate, an OS changed
// by hand) to the exporter's textfile directory.
func (p *plan) hostMetrics(textfileDir string) error {
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

func applyAlertmanager(p *plan, s *spec.Service) (overlays.Component, error) {
	al := p.App.Alerts
	cfg := services.AlertmanagerConfig{
		Port: targetPort(s, 9093), GroupBy: al.GroupBy,
		GroupWait: al.GroupWait, GroupInterval: al.GroupInterval, RepeatInterval: al.RepeatInterval,
		CredentialsDir: p.DataDir("alertmanager", "credentials"), DataDir: p.DataDir("alertmanager", "data"),
	}
	// Alertmanager's own defaults where the spec says nothing.
	if len(cfg.GroupBy) == 0 {
		cfg.GroupBy = []string{"alertname", "appliance", "job"}
	}
	for _, d := range []struct {
		dst *string
		def string
	}{{&cfg.GroupWait, "30s"}, {&cfg.GroupInterval, "5m"}, {&cfg.RepeatInterval, "4h"}} {
		if *d.dst == "" {
			*d.dst = d.def
		}
	}
	// Links in notifications point where an SSH tunnel to the loopback
	// port shows the UI.
	cfg.ExternalURL = fmt.Sprintf("http://127.0.0.1:%d", cfg.Port)
	if len(s.Ports) > 0 {
		cfg.ExternalURL = fmt.Sprintf("http://127.0.0.1:%d", s.Ports[0].Port)
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
	return services.Alertmanager(cfg)
}

func applyPostgresExporter(p *plan, s *spec.Service) (overlays.Component, error) {
	pg, err := p.needs("postgres-exporter", spec.KindPostgres)
	if err != nil {
		return overlays.Component{}, err
	}
	return services.PostgresExporter(services.PostgresExporterConfig{
		Port: targetPort(s, 9187), Host: pg.Name, DBPort: targetPort(pg, 5432),
		Database: p.App.Name, User: p.App.Name, PasswordSecret: firstSecret(pg, "postgres-password"), UID: p.imageUID(s),
	})
}

func applyPgBouncerExporter(p *plan, s *spec.Service) (overlays.Component, error) {
	pb, err := p.needs("pgbouncer-exporter", spec.KindPgBouncer)
	if err != nil {
		return overlays.Component{}, err
	}
	return services.PgBouncerExporter(services.PgBouncerExporterConfig{
		Port: targetPort(s, 9127), Host: pb.Name, PgBouncerPort: targetPort(pb, 6432),
		StatsUser: services.PgBouncerStatsUser, PasswordSecret: services.PgBouncerStatsSecret,
	})
}

func applyRedisExporter(p *plan, s *spec.Service) (overlays.Component, error) {
	r, err := p.needs("redis-exporter", spec.KindRedis)
	if err != nil {
		return overlays.Component{}, err
	}
	return services.RedisExporter(services.RedisExporterConfig{
		Port: targetPort(s, 9121), Addr: fmt.Sprintf("%s:%d", r.Name, targetPort(r, 6379)),
		PasswordSecret: firstSecret(r, "redis-password"),
	})
}

func applyNginxExporter(p *plan, s *spec.Service) (overlays.Component, error) {
	if _, err := p.needs("nginx-exporter", spec.KindEdge); err != nil {
		return overlays.Component{}, err
	}
	return services.NginxExporter(services.NginxExporterConfig{
		Port: targetPort(s, 9113), ScrapeURI: fmt.Sprintf("http://127.0.0.1:%d/stub_status", spec.NginxStatusPort),
	})
}
