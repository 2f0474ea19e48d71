package judge

import (
	"embed"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// base is the minimal /etc a scratch root starts from: Fedora CoreOS's
// system users and groups and login.defs ranges, so useradd --root and
// groupadd --root (which Ignition calls) work and hand out the ids they
// would on the server. A debootstrap root would be closer but takes minutes
// per test.
//
//go:embed base
var base embed.FS

// hostUnitDir holds the units of the systemd that judges the scratch root.
// systemd-analyze resolves every dependency and target inside --root, so the
// root needs them; they are copied (not linked) because an absolute symlink
// would be resolved inside the root as well.
const hostUnitDir = "/usr/lib/systemd/system"

// defaultDisablePreset is Fedora CoreOS's last preset rule. Without it
// `systemctl preset-all` enables every unit that no rule names, which would
// hide a unit kiln forgot to enable.
const defaultDisablePreset = "disable *\n"

// newRoot makes an empty scratch root with the base /etc, a copy of the
// host's unit directory and the default-disable preset.
func newRoot(t testing.TB) string {
	t.Helper()
	tmp := t.TempDir()
	// t.TempDir makes its directories 0700. Ignition writes some files (SSH
	// keys) as the user that owns them, who must be able to reach the root
	// like on a real server.
	for _, d := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(tmp, "root")
	err := fs.WalkDir(base, "base", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(root, strings.TrimPrefix(p, "base"))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := base.ReadFile(p)
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(p, "shadow") {
			mode = 0o600
		}
		return os.WriteFile(dst, data, mode)
	})
	if err != nil {
		t.Fatalf("scratch root: %v", err)
	}
	copyTree(t, hostUnitDir, filepath.Join(root, hostUnitDir))
	writeFile(t, filepath.Join(root, "usr/lib/systemd/system-preset/99-default-disable.preset"), defaultDisablePreset, 0o644)
	return root
}

// copyTree copies a directory of regular files, directories and symlinks.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("scratch root needs %s (package systemd): %v", src, err)
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return os.WriteFile(out, data, info.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// writeFile writes a file under a scratch directory, creating its parents.
func writeFile(t testing.TB, p, contents string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(contents), mode); err != nil {
		t.Fatal(err)
	}
}

// writeTree writes name-to-contents files under dir. Names may contain
// slashes (drop-in directories) but must stay inside dir.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for _, name := range sortedKeys(files) {
		if !fs.ValidPath(name) || path.IsAbs(name) {
			t.Fatalf("file name %q must be a relative path inside the unit directory", name)
		}
		writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), files[name], 0o644)
	}
}

// stub is what stands in for a program a unit runs: systemd-analyze only
// checks that the command exists and is executable.
const stub = "#!/bin/sh\nexit 0\n"

// ensureExecutable creates a stub at root+p unless something is there.
func ensureExecutable(t testing.TB, root, p string) {
	t.Helper()
	full := filepath.Join(root, filepath.FromSlash(p))
	if _, err := os.Lstat(full); err == nil {
		return
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stub %s: %v", p, err)
	}
	writeFile(t, full, stub, 0o755)
}
