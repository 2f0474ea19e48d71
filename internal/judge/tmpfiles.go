package judge

import (
	"os"
	"path/filepath"
	"testing"
)

// Tmpfiles judges tmpfiles.d configurations (file name to contents, as in
// /etc/tmpfiles.d) with systemd-tmpfiles itself: it creates what they
// declare inside a scratch root (--root; Debian 12's systemd 252 has no
// --dry-run) and fails the test on any message, because systemd-tmpfiles
// exits 0 after warnings such as "Duplicate line for path …, ignoring",
// where one of two owners silently loses.
func Tmpfiles(t testing.TB, confs map[string]string) {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "etc", "tmpfiles.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, confs)
	out, err := Exec(t, Command{Name: "systemd-tmpfiles", Args: []string{"--root=" + root, "--create"}})
	if err != nil || out.Combined() != "" {
		t.Errorf("systemd-tmpfiles --create: %v\n%s", err, out.Combined())
	}
}
