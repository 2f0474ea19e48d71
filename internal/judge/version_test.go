package judge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// requiredVersion returns the version a go.mod requires of a module.
func requiredVersion(t *testing.T, gomod, module string) string {
	t.Helper()
	data, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == module {
			return f[1]
		}
	}
	t.Fatalf("%s does not require %s", gomod, module)
	return ""
}

// The validator and engine must know exactly the Ignition spec kiln emits:
// a newer judge could accept what the server's Ignition rejects.
func TestToolsPinKilnsIgnition(t *testing.T) {
	root := testutil.RepoRoot(t)
	const ign = "github.com/coreos/ignition/v2"
	main := requiredVersion(t, filepath.Join(root, "go.mod"), ign)
	tools := requiredVersion(t, filepath.Join(root, "tools", "go.mod"), ign)
	if main != tools {
		t.Fatalf("tools/go.mod builds the judges from %s %s, kiln uses %s: align them", ign, tools, main)
	}
}
