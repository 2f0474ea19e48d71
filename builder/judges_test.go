package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/judge"
)

// TestIgnitionValidates judges every rendered config with the Ignition
// validator built from the same module version.
func TestIgnitionValidates(t *testing.T) {
	for _, name := range renderCases {
		t.Run(name, func(t *testing.T) {
			judge.ValidateIgnition(t, renderCase(t, name).Ignition)
		})
	}
}

// TestUnitsVerify converts every Quadlet file with quadlet -dryrun and
// verifies the generated services with kiln's own units through
// systemd-analyze verify; any stderr is a failure.
func TestUnitsVerify(t *testing.T) {
	for _, name := range renderCases {
		t.Run(name, func(t *testing.T) {
			res := renderCase(t, name)
			files := map[string]string{}
			for _, u := range res.Units {
				files[u.Name] = u.Contents
			}
			generated := judge.VerifyUnitSet(t, files)
			for _, u := range res.Units {
				if !strings.HasSuffix(u.Name, ".container") {
					continue
				}
				svc := strings.TrimSuffix(u.Name, ".container") + ".service"
				g, ok := generated[svc]
				if !ok {
					t.Errorf("quadlet generated no %s", svc)
					continue
				}
				for _, want := range []string{"Restart=always", "--log-driver journald", "--health-cmd"} {
					if want == "--health-cmd" && !strings.Contains(u.Contents, "HealthCmd=") {
						continue
					}
					if !strings.Contains(g, want) {
						t.Errorf("%s lacks %q", svc, want)
					}
				}
			}
		})
	}
}

// TestEveryClipperServiceIsComplete checks the list for each
// Clipper container: health check, restart, limits, journald, and
// no-new-privileges.
func TestEveryClipperServiceIsComplete(t *testing.T) {
	res := renderCase(t, "clipper")
	want := []string{"postgres", "pgbouncer", "redis", "backend", "frontend", "edge", "prometheus", "alertmanager", "postgres-exporter", "redis-exporter", "grafana", "loki", "alloy", "node-exporter"}
	byName := map[string]string{}
	for _, u := range res.Units {
		byName[u.Name] = u.Contents
	}
	for _, s := range want {
		c, ok := byName[s+".container"]
		if !ok {
			t.Errorf("no unit for %s", s)
			continue
		}
		for _, key := range []string{"Image=", "HealthCmd=", "Restart=always", "MemoryMax=", "CPUQuota=", "LogDriver=journald", "NoNewPrivileges=true", "WantedBy=multi-user.target"} {
			if !strings.Contains(c, "\n"+key) {
				t.Errorf("%s.container lacks %s", s, key)
			}
		}
	}
}

// TestIgnitionApplies runs the real Ignition engine (fetch and files
// stages) on the default appliance's config into a scratch root, then
// checks what the server would have on first boot.
func TestIgnitionApplies(t *testing.T) {
	res := renderCase(t, "clipper")
	root := judge.ApplyIgnition(t, res.Ignition)

	files := []struct {
		path string
		mode os.FileMode
	}{
		{ReleasePath, 0o644},
		{MotdPath, 0o644},
		{SecretsScript, 0o755},
		{"/etc/sudoers.d/90-kiln", 0o440},
		{"/etc/containers/systemd/postgres.container", 0o644},
		{"/etc/containers/systemd/clipper.network", 0o644},
		{"/etc/containers/systemd/postgres-data.volume", 0o644},
		{"/etc/zincati/config.d/90-kiln-updates.toml", 0o644},
	}
	for _, f := range files {
		st, err := os.Stat(filepath.Join(root, f.path))
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %o, want %o", f.path, st.Mode().Perm(), f.mode)
		}
		if uid, gid := owner(st); uid != 0 || gid != 0 {
			t.Errorf("%s: owner %d:%d, want root", f.path, uid, gid)
		}
	}
	rel, err := os.ReadFile(filepath.Join(root, ReleasePath))
	if err != nil || !strings.Contains(string(rel), res.ConfigDigest) {
		t.Errorf("release.json does not carry the config digest: %s", rel)
	}
	if _, _, ok := judge.LookupUser(t, root, "deploy"); !ok {
		t.Error("user deploy was not created")
	}
	keys, err := os.ReadFile(filepath.Join(root, "home", "deploy", ".ssh", "authorized_keys"))
	if err != nil || !strings.Contains(string(keys), "deploy@example") {
		t.Errorf("deploy's authorized_keys: %v %q", err, keys)
	}
	// Every unit and Quadlet file the config installed passes Quadlet and
	// systemd-analyze as installed, and every program they run is there.
	judge.VerifyAppliedUnits(t, root)
	for _, unit := range []string{"kiln-secrets.service", "var-lib-kiln.mount", "kiln-firewall.service"} {
		if len(judge.Wants(t, root, unit)) == 0 {
			t.Errorf("%s is not enabled", unit)
		}
	}
}
