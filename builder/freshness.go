package builder

import (
	"fmt"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/overlays/freshness"
	"github.com/kiln-dev/kiln/overlays/services"
)

// 10. Base freshness: with a node exporter to publish it, the server
// checks daily how old its FCOS release is and whether its stream has a
// newer one; with Prometheus, an alert says when a rebuild is due.
func (p *plan) freshness() error {
	if _, ok := serviceByKind(p.App, spec.KindNodeExporter); !ok {
		return nil
	}
	c := freshness.DefaultConfig(p.App.Base.Stream, p.DataDir("node-exporter", "textfile"))
	if _, ok := serviceByKind(p.App, spec.KindPrometheus); ok {
		c.RulesDir = services.PrometheusConfigDir + "/rules"
	}
	if err := p.add(freshness.Render(c)); err != nil {
		return fmt.Errorf("base freshness: %w", err)
	}
	return nil
}
