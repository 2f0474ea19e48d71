// Package auditroot gives tests the Debian 13 root that build.sh makes:
// the auditors an operator's security team runs (ssh-audit 3.3,
// testssl.sh 3.2) and the servers of the versions FCOS ships (OpenSSH 10,
// nginx 1.26 on OpenSSL 3.5), none of which Debian 12 has.
//
// Programs run inside the root with chroot(8) and share the host's network
// namespace, so an auditor in the root can audit a server on the host's
// loopback and the other way round. Files a server reads must lie inside
// the root: TempDir makes a directory there and gives both of its names.
package auditroot

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// Root returns the root's directory. When it has not been built the test
// is skipped locally and fails in CI, where .ci/run builds it first.
func Root(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if testutil.InCI() {
			t.Fatal("the audit root needs root (chroot)")
		}
		t.Skip("the audit root needs root (chroot)")
	}
	script := filepath.Join(testutil.RepoRoot(t), "internal", "auditroot", "build.sh")
	var stderr bytes.Buffer
	cmd := exec.Command("bash", script, "--check")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := "audit root missing (" + strings.TrimSpace(stderr.String()) + ")"
		if testutil.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return strings.TrimSpace(string(out))
}

// TempDir makes a directory inside root, removed when the test ends, and
// returns its path on the host and its path inside the root.
func TempDir(t testing.TB, root string) (host, inside string) {
	t.Helper()
	host, err := os.MkdirTemp(filepath.Join(root, "tmp"), "kiln-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(host) })
	return host, "/" + strings.TrimPrefix(strings.TrimPrefix(host, root), "/")
}

// Command prepares a program of the root to run inside it, with /proc
// mounted there (testssl.sh reads /proc and /dev/fd) in a mount namespace
// of its own, so the mount goes away with the process. The shell and
// chroot exec in turn: the process started is the program itself.
func Command(ctx context.Context, root, name string, args ...string) *exec.Cmd {
	script := `mount -t proc proc "$0/proc" && exec chroot "$0" "$@"`
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, root, name}, args...)...)
	// A hung auditor must not outlive its test's deadline by long.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}
