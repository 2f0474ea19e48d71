package services

import (
	"slices"
	"testing"
)

func TestNodeExporter(t *testing.T) {
	cfg := clipperNodeExporter()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	args := NodeExporterArgs(cfg)
	for _, want := range []string{"--path.rootfs=/host", "--collector.textfile.directory=/var/lib/kiln/node-exporter/textfile", "--web.listen-address=:9100"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	rt := mustRender(t)(NodeExporter(cfg)).Container
	var root, textfile bool
	for _, m := range rt.Mounts {
		root = root || (m.Source == "/" && m.Target == "/host" && m.ReadOnly)
		textfile = textfile || (m.Source == cfg.TextfileDir && m.Target == cfg.TextfileDir)
	}
	if !root || !textfile {
		t.Errorf("mounts %+v lack the host root or the textfile directory", rt.Mounts)
	}
	// Prometheus must scrape the exporter where it listens.
	found := false
	for _, j := range clipperPrometheus().Jobs {
		found = found || slices.Contains(j.Targets, "10.89.10.1:9100")
	}
	if !found {
		t.Error("Prometheus does not scrape the exporter on the host (10.89.10.1:9100)")
	}
}
