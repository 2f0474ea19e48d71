package builder

import (
	"fmt"

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

// recipes by kind, one for every kind of spec.Kinds().
var recipes = map[string]recipe{
	// An app takes everything from the spec.
	spec.KindApp: {},
	spec.KindStatic: {applyFn: func(p *Plan, s *spec.Service, c *units.Container) error {
		c.Health = httpHealth(targetPort(s, 8080), "/")
		return nil
	}},
	spec.KindEdge:             {applyFn: applyEdge},
	spec.KindPostgres:         {applyFn: applyPostgres}, // secrets' uid follows the image
	spec.KindPgBouncer:        {secretUID: "70", applyFn: applyPgBouncer},
	spec.KindRedis:            {secretUID: "999", applyFn: applyRedis},
	spec.KindPrometheus:       {applyFn: applyPrometheus},
	spec.KindGrafana:          {secretUID: "472", applyFn: applyGrafana},
	spec.KindLoki:             {applyFn: applyLoki},
	spec.KindAlloy:            {applyFn: applyAlloy},
	spec.KindNodeExporter:     {applyFn: applyNodeExporter},
	spec.KindAlertmanager:     {applyFn: applyAlertmanager},
	spec.KindPostgresExporter: {secretUID: "65534", applyFn: applyPostgresExporter},
	spec.KindRedisExporter:    {applyFn: applyRedisExporter},
	spec.KindNginxExporter:    {applyFn: applyNginxExporter},
}
