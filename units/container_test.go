package units

import (
	"strings"
	"testing"
)

// TestContainerWantsItsPeers: a container's peers are ordered before it and
// pulled in, never required. With Requires=, one failed first start of a
// peer (redis exiting 125 while the booted appliance came up) failed the
// dependents' start jobs for good: Restart= brings the peer back, but
// nothing starts the dependents again (systemd.unit(5), Requires=).
func TestContainerWantsItsPeers(t *testing.T) {
	c := Container{Name: "backend", Image: "backend.image", DependsOn: []string{"pgbouncer", "redis"},
		After: []string{"var-lib-kiln.mount"}}
	unit := c.Unit().Contents
	lines := map[string]string{}
	for _, l := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			lines[k] = v
		}
	}
	if r, ok := lines["Requires"]; ok {
		t.Errorf("Requires=%s: a peer's failed start would keep this container down for good", r)
	}
	for _, key := range []string{"After", "Wants"} {
		for _, u := range []string{"pgbouncer.service", "redis.service", "var-lib-kiln.mount"} {
			if !strings.Contains(" "+lines[key]+" ", " "+u+" ") {
				t.Errorf("%s=%s lacks %s\n%s", key, lines[key], u, unit)
			}
		}
	}
}
