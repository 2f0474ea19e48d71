package testos_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// TestHealthDropIn runs the real Quadlet over a container with the test
// OS's drop-in for every container and checks that the drop-in's values
// win over the unit's and that each duration flag parses as Podman parses
// it (Go's time.ParseDuration: "15min", which systemd would take, fails
// every container's start with "unknown unit").
func TestHealthDropIn(t *testing.T) {
	quadlet := testutil.Tool(t, "quadlet")
	root := testutil.RepoRoot(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "container.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	dropIn, err := os.ReadFile(filepath.Join(root, "testos", "rootfs", "usr", "share", "containers", "systemd", "container.d", "50-testos-health.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "container.d", "50-testos-health.conf"), dropIn, 0o644); err != nil {
		t.Fatal(err)
	}
	unit := "[Container]\nImage=localhost/x:1\nHealthCmd=true\nHealthStartPeriod=30s\nHealthTimeout=5s\n"
	if err := os.WriteFile(filepath.Join(dir, "x.container"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(quadlet, "-dryrun")
	cmd.Env = append(os.Environ(), "QUADLET_UNIT_DIRS="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("quadlet -dryrun: %v\n%s", err, out)
	}
	flags := map[string]string{}
	for _, m := range regexp.MustCompile(`--health-(start-period|timeout) (\S+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = m[2]
	}
	for flag, want := range map[string]time.Duration{"start-period": 15 * time.Minute, "timeout": time.Minute} {
		v, ok := flags[flag]
		if !ok {
			t.Errorf("no --health-%s in the generated unit:\n%s", flag, out)
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d != want {
			t.Errorf("--health-%s %s: %v, %v; want %s, a duration Podman parses", flag, v, d, err, want)
		}
	}
}
