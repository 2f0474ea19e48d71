package backup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// TestS3EnvRefusedWhenOpen: the S3 keys file is loaded only when no other
// user can read or write it; otherwise the backup stops and says how to
// fix the mode.
func TestS3EnvRefusedWhenOpen(t *testing.T) {
	bash := testutil.Tool(t, "bash")
	files, _ := renderDefault(t)
	dir := t.TempDir()
	lib := filepath.Join(dir, "backup-lib.sh")
	if err := os.WriteFile(lib, files[LibScript], 0o644); err != nil {
		t.Fatal(err)
	}
	s3env := filepath.Join(dir, "s3.env")
	if err := os.WriteFile(s3env, []byte("AWS_ACCESS_KEY_ID=AKIDTEST\nAWS_SECRET_ACCESS_KEY=secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(mode os.FileMode) (string, error) {
		if err := os.Chmod(s3env, mode); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bash, "-c", `set -euo pipefail; . "$1"; s3_credentials; echo "loaded $AWS_ACCESS_KEY_ID"`, "bash", lib)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "KILN_BACKUP_ENV=/dev/null", "KILN_S3_ENV=" + s3env}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(0o600); err != nil || !strings.Contains(out, "loaded AKIDTEST") {
		t.Errorf("mode 0600: %v\n%s", err, out)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
		out, err := run(mode)
		if err == nil || strings.Contains(out, "loaded") || !strings.Contains(out, "chmod 0600 "+s3env) {
			t.Errorf("mode %o: %v\n%s", mode, err, out)
		}
	}
}
