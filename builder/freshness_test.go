package builder

import (
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/overlays/freshness"
)

// TestFreshnessWired: Clipper (node exporter and Prometheus) gets the
// daily check and its alerts; an appliance without a node exporter, which
// could not publish the metrics, gets neither.
func TestFreshnessWired(t *testing.T) {
	has := func(res *Result) (timer, rules bool) {
		for _, u := range res.Units {
			timer = timer || u.Name == freshness.TimerName
		}
		rules = strings.Contains(string(res.Butane), "/etc/kiln/prometheus/rules/"+freshness.RulesFile)
		return
	}
	if timer, rules := has(renderCase(t, "clipper")); !timer || !rules {
		t.Errorf("clipper: timer %v, rules %v; want both", timer, rules)
	}
	if timer, rules := has(renderCase(t, "minimal")); timer || rules {
		t.Errorf("minimal: timer %v, rules %v; want neither", timer, rules)
	}
}
