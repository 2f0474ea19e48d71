package builder

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestSecretsScript runs the generated first-boot script on this host,
// with a stand-in for podman that keeps its secret store in a directory:
// secrets are random, 0600, created once, never replaced, and re-created
// in Podman's store when that is empty (as after a rebuild).
var alnum32 = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

func TestSecretsScript(t *testing.T) {
	script, _, ok := ignFile(t, renderCase(t, "clipper").Ignition, SecretsScript)
	if !ok {
		t.Fatal("no secrets script")
	}
	dir := t.TempDir()
	scriptPath := filepath.Join(dir, "kiln-secrets")
	store := filepath.Join(dir, "store")
	podman := filepath.Join(dir, "podman")
	if err := os.WriteFile(scriptPath, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	fake := `#!/bin/bash
set -e
mkdir -p "` + store + `"
case "$1 $2" in
"secret exists") test -f "` + store + `/$3" ;;
"secret create") cp "$4" "` + store + `/$3" ;;
*) echo "unexpected podman $*" >&2; exit 2 ;;
esac
`
	if err := os.WriteFile(podman, []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(dir, "secrets")
	run := func() {
		t.Helper()
		cmd := exec.Command("bash", scriptPath)
		cmd.Env = append(os.Environ(), "KILN_SECRETS_DIR="+secrets, "KILN_PODMAN="+podman)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("secrets script: %v\n%s", err, out)
		}
	}
	run()
	first := map[string]string{}
	for _, name := range []string{"postgres-password", "redis-password", "grafana-password"} {
		p := filepath.Join(secrets, name)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %o, want 0600", name, st.Mode().Perm())
		}
		v, _ := os.ReadFile(p)
		if !alnum32.Match(v) {
			t.Errorf("%s: %q is not 32 alphanumerics", name, v)
		}
		first[name] = string(v)
		if stored, _ := os.ReadFile(filepath.Join(store, name)); string(stored) != string(v) {
			t.Errorf("%s: podman secret differs from the file", name)
		}
	}
	if first["postgres-password"] == first["redis-password"] {
		t.Error("two secrets have the same value")
	}
	// A rebuilt server: the data volume keeps the files, podman's store is new.
	if err := os.RemoveAll(store); err != nil {
		t.Fatal(err)
	}
	run()
	for name, v := range first {
		got, _ := os.ReadFile(filepath.Join(secrets, name))
		if string(got) != v {
			t.Errorf("%s was replaced", name)
		}
		if stored, _ := os.ReadFile(filepath.Join(store, name)); string(stored) != v {
			t.Errorf("%s was not re-created in podman's store from the file", name)
		}
	}
}
