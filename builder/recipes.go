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

func recipeFor(kind string) recipe {
	r, ok := recipes[kind]
	if !ok {
		return recipe{}
	}
	return r
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

// hostNetworkKinds run in the host's network namespace. The edge, so its
// ports are plain input-chain ports of the firewall; the node exporter,
// because only the host's namespace shows the host's interfaces.
// Containers reach a non-public port of these on the bridge gateway
// (NetworkGateway), which the firewall opens to them.
var hostNetworkKinds = map[string]bool{spec.KindEdge: true, spec.KindNodeExporter: true,
	// The nginx exporter reads the edge's status page on the host's
	// loopback.
	spec.KindNginxExporter: true}

// recipes by kind; an "app" takes everything from the spec and has none.
var recipes = map[string]recipe{
	spec.KindStatic: {applyFn: func(p *Plan, s *spec.Service, c *units.Container) error {
		c.Health = httpHealth(targetPort(s, 8080), "/")
		return nil
	}},
	spec.KindEdge:             {applyFn: applyEdge},
	spec.KindPostgres:         {secretUID: "70", applyFn: applyPostgres},
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
