package builder

import (
	"fmt"
	"strings"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/units"
)

// recipe is what kiln knows about a kind of service: how the container is
// wired (network, secrets ownership), its health check and the
// configuration files it reads. The spec overrides a recipe's env and
// health check; the recipe never overrides the spec.
type recipe struct {
	// secretUID owns secret files mounted into the container, for images
	// whose process drops root.
	secretUID string
	// apply adds the kind's health check, environment, command and files.
	applyFn func(p *Plan, s *spec.Service, c *units.Container) error
}

// recipeFor returns the recipe of a kind. A kind of the spec's table with
// no recipe is a programming error, not a plain app: TestEveryKindHasRecipe
// keeps the two tables in step, and the plan refuses one that slips by.
func recipeFor(kind string) (recipe, error) {
	r, ok := recipes[kind]
	if !ok {
		return recipe{}, fmt.Errorf("service kind %q has no recipe", kind)
	}
	return r, nil
}

func (r recipe) apply(p *Plan, s *spec.Service, c *units.Container) error {
	if r.applyFn == nil {
		return nil
	}
	return r.applyFn(p, s, c)
}

// health is a recipe's default check, used when the spec gives none.
func health(cmd string) units.Health {
	return units.Health{Command: cmd, Interval: spec.DefaultHealthInterval, Timeout: spec.DefaultHealthTimeout,
		Retries: spec.DefaultHealthRetries, StartPeriod: spec.DefaultHealthStart}
}

// httpHealth probes a local HTTP endpoint with the busybox wget most
// images carry.
func httpHealth(port int, path string) units.Health {
	return health(fmt.Sprintf("wget -q -O /dev/null http://127.0.0.1:%d%s", port, path))
}

// targetPort returns the container port of the service's first port, or
// def when it declares none.
func targetPort(s *spec.Service, def int) int {
	if len(s.Ports) > 0 {
		return s.Ports[0].Target
	}
	return def
}

// hostNetworkKinds run in the host's network namespace (see
// spec.KindInfo.HostNetwork). Containers reach a non-public port of these
// on the bridge gateway (NetworkGateway), which the firewall opens to them.
var hostNetworkKinds = func() map[string]bool {
	m := map[string]bool{}
	for _, name := range spec.Kinds() {
		if k, _ := spec.Kind(name); k.HostNetwork {
			m[name] = true
		}
	}
	return m
}()

// privileges is what a kind's image needs beyond an unprivileged process.
type privileges struct {
	// caps are the capabilities the image's root entrypoint uses before it
	// drops to its own user (chown and chmod of its data directory, then
	// su-exec); every other capability is dropped.
	caps []string
	// readOnly: the image writes only its volumes and the tmpfs Podman
	// mounts on /tmp, /var/tmp and /run of a read-only container
	// (--read-only-tmpfs, the default).
	readOnly bool
}

// kindPrivileges by kind. The edge sets its own; "app" and "static" images
// are the user's, so kiln drops capabilities only when the spec runs them
// as a non-root user, and never assumes a read-only filesystem for them.
var kindPrivileges = map[string]privileges{
	// docker-entrypoint.sh chowns PGDATA and the socket directory, chmods
	// them (FOWNER), searches PGDATA as root (DAC_OVERRIDE), then su-exec.
	spec.KindPostgres: {caps: []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"}, readOnly: true},
	// docker-entrypoint.sh chowns /data and su-execs to redis; the backup's
	// redis-cli --rdb runs as root and writes into the redis-owned /data.
	spec.KindRedis: {caps: []string{"CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID"}, readOnly: true},
	// The image runs as postgres (PgBouncer refuses root); its auth file
	// goes to /tmp.
	spec.KindPgBouncer:    {readOnly: true},
	spec.KindPrometheus:   {readOnly: true},
	spec.KindLoki:         {readOnly: true},
	spec.KindAlloy:        {readOnly: true},
	spec.KindNodeExporter: {readOnly: true},
	// The image runs as nobody and writes nothing.
	spec.KindPgBouncerExporter: {readOnly: true},
	// Grafana writes its log files under /var/log/grafana in the image.
	spec.KindGrafana: {},
}

// leastPrivilege drops every capability a container does not need and
// makes its root filesystem read-only where the image allows. A process
// that is not root has no capabilities to use, so dropping them all from
// its bounding set only closes setuid and file-capability paths.
func leastPrivilege(kind string, c *units.Container) {
	if len(c.DropCapability) > 0 {
		return // the recipe chose (the edge)
	}
	pr, known := kindPrivileges[kind]
	uid, _, _ := strings.Cut(c.User, ":")
	if !known && (uid == "" || uid == "0" || uid == "root") {
		return // a user image running as root: its needs are unknown
	}
	c.DropCapability = []string{"ALL"}
	c.AddCapability = append(c.AddCapability, pr.caps...)
	c.ReadOnly = c.ReadOnly || pr.readOnly
}

// recipes by kind, one for every kind of spec.Kinds().
var recipes = map[string]recipe{
	// An app takes everything from the spec.
	spec.KindApp: {},
	spec.KindStatic: {applyFn: func(p *Plan, s *spec.Service, c *units.Container) error {
		c.Health = httpHealth(targetPort(s, 8080), "/")
		return nil
	}},
	spec.KindEdge:              {applyFn: applyEdge},
	spec.KindPostgres:          {applyFn: applyPostgres}, // secrets' uid follows the image
	spec.KindPgBouncer:         {secretUID: "70", applyFn: applyPgBouncer},
	spec.KindRedis:             {secretUID: "999", applyFn: applyRedis},
	spec.KindPrometheus:        {applyFn: applyPrometheus},
	spec.KindGrafana:           {secretUID: "472", applyFn: applyGrafana},
	spec.KindLoki:              {applyFn: applyLoki},
	spec.KindAlloy:             {applyFn: applyAlloy},
	spec.KindNodeExporter:      {applyFn: applyNodeExporter},
	spec.KindAlertmanager:      {applyFn: applyAlertmanager},
	spec.KindPostgresExporter:  {secretUID: "65534", applyFn: applyPostgresExporter},
	spec.KindPgBouncerExporter: {applyFn: applyPgBouncerExporter},
	spec.KindRedisExporter:     {applyFn: applyRedisExporter},
	spec.KindNginxExporter:     {applyFn: applyNginxExporter},
}
