package builder

import (
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	old := renderCase(t, "clipper")
	if cs, err := Diff(old, old); err != nil || len(cs) != 0 {
		t.Fatalf("a config differs from itself: %v %v", cs, err)
	}
	spec := strings.Replace(string(DefaultSpec), "version: 1.0.0", "version: 1.1.0", 1)
	spec = strings.Replace(spec, "    memory: 512M\n    cpus: 1\n", "    memory: 1G\n    cpus: 1\n", 1)
	spec = strings.Replace(spec, "  - name: loki-data\n", "  - name: loki-data\n  - name: extra-data\n", 1)
	new, err := Render(Request{File: "new.yaml", Spec: []byte(spec)})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := Diff(old, new)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Change{}
	for _, c := range cs {
		got[c.Kind+" "+c.Name] = c
	}
	backend := got["file /etc/containers/systemd/backend.container"]
	if backend.Op != "changed" || !strings.Contains(backend.Diff, "-MemoryMax=512M") || !strings.Contains(backend.Diff, "+MemoryMax=1G") {
		t.Errorf("backend change not shown: %+v", backend)
	}
	if c := got["file /etc/containers/systemd/extra-data.volume"]; c.Op != "added" {
		t.Errorf("new volume not shown as added: %+v", c)
	}
	if c := got["file /etc/kiln/release.json"]; c.Op != "changed" || !strings.Contains(c.Diff, `+  "version": "1.1.0"`) {
		t.Errorf("release change not shown: %+v", c)
	}
	if _, ok := got["file /etc/containers/systemd/postgres.container"]; ok {
		t.Error("an unchanged unit is listed")
	}
}
