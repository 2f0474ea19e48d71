package builder

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/overlays/services"
	"github.com/kiln-dev/kiln/units"
)

// recipe is what kiln knows about a kind of service: how the container is
// wired (network, secrets ownership), its health check and the
// configuration files it reads. The spec overrides a recipe's env and
// health check; the recipe never overrides the spec.
type recipe struct {
	// imageUID is the numeric user the kind's image runs its process as,
	// when it drops root: it owns the secrets mounted into the container
	// and, for the database, the backup's files. Nil for root or the
	// spec's own numeric user.
	imageUID func(image string) string
	// component renders the kind's files, its part of the container and
	// its data directories; nil for a kind that takes everything from the
	// spec.
	component func(p *plan, s *spec.Service) (overlays.Component, error)
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

func (r recipe) apply(p *plan, s *spec.Service) (overlays.Component, error) {
	if r.component == nil {
		return overlays.Component{}, nil
	}
	return r.component(p, s)
}

// health gives a component's check the spec's default timing; the spec's
// own check replaces it.
func health(cmd string) units.Health {
	return units.Health{Command: cmd, Interval: spec.DefaultHealthInterval, Timeout: spec.DefaultHealthTimeout,
		Retries: spec.DefaultHealthRetries, StartPeriod: spec.DefaultHealthStart}
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

// fixedUID is the user of an image whose uid does not vary by tag.
func fixedUID(uid string) func(string) string { return func(string) string { return uid } }

// postgresUID is the postgres user of the image's variant.
func postgresUID(image string) string { return strconv.Itoa(services.PostgresUID(image)) }

// applyStatic checks that a static site answers.
func applyStatic(p *plan, s *spec.Service) (overlays.Component, error) {
	return overlays.Component{Container: units.Container{Health: units.Health{
		Command: fmt.Sprintf("wget -q -O /dev/null http://127.0.0.1:%d/", targetPort(s, 8080))}}}, nil
}

// recipes by kind, one for every kind of spec.Kinds().
var recipes map[string]recipe

// The table is filled at init because its components and imageUID refer
// to each other through the plan (the database's component asks the
// backup for its archive, which asks the table for the image's user).
func init() {
	recipes = map[string]recipe{
		// An app takes everything from the spec.
		spec.KindApp:               {},
		spec.KindStatic:            {component: applyStatic},
		spec.KindEdge:              {component: applyEdge},
		spec.KindPostgres:          {imageUID: postgresUID, component: applyPostgres},
		spec.KindPgBouncer:         {imageUID: fixedUID("70"), component: applyPgBouncer},
		spec.KindRedis:             {imageUID: fixedUID("999"), component: applyRedis},
		spec.KindPrometheus:        {component: applyPrometheus},
		spec.KindGrafana:           {imageUID: fixedUID("472"), component: applyGrafana},
		spec.KindLoki:              {component: applyLoki},
		spec.KindAlloy:             {component: applyAlloy},
		spec.KindNodeExporter:      {component: applyNodeExporter},
		spec.KindAlertmanager:      {component: applyAlertmanager},
		spec.KindPostgresExporter:  {imageUID: fixedUID("65534"), component: applyPostgresExporter},
		spec.KindPgBouncerExporter: {component: applyPgBouncerExporter},
		spec.KindRedisExporter:     {component: applyRedisExporter},
		spec.KindNginxExporter:     {component: applyNginxExporter},
	}
}
