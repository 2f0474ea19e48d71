package builder

import (
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/judge"
)

// TestReadyMeansHealthy: the services others depend on (PostgreSQL,
// PgBouncer, Redis, Loki) report ready only once healthy, so After= on
// them means ready. Quadlet (Podman 5) must accept Notify=healthy and turn
// it into a notify-type service that waits for --sdnotify=healthy.
func TestReadyMeansHealthy(t *testing.T) {
	res := renderCase(t, "clipper")
	files := map[string]string{}
	for _, u := range res.Units {
		if judge.IsQuadlet(u.Name) {
			files[u.Name] = u.Contents
		}
	}
	generated := judge.QuadletDryRun(t, files)
	for _, name := range []string{"postgres", "pgbouncer", "redis", "loki"} {
		if !strings.Contains(files[name+".container"], "\nNotify=healthy\n") {
			t.Errorf("%s.container lacks Notify=healthy", name)
		}
		g := generated[name+".service"]
		for _, want := range []string{"--sdnotify=healthy", "Type=notify"} {
			if !strings.Contains(g, want) {
				t.Errorf("%s.service lacks %q:\n%s", name, want, g)
			}
		}
	}
}
