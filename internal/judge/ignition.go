package judge

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// ValidateIgnition judges an Ignition config with ignition-validate built
// from the same Ignition module kiln uses. The validator exits 0 on
// warnings (an unused key, for instance), so any output fails the test too.
func ValidateIgnition(t testing.TB, ign []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.ign")
	writeFile(t, p, string(ign), 0o600)
	out, err := Exec(t, Command{Name: "ignition-validate", Args: []string{p}})
	if msg := strings.TrimSpace(out.Combined()); err != nil || msg != "" {
		t.Fatalf("ignition-validate rejected the config: %v\n%s", err, msg)
	}
}

// ApplyIgnition applies a config with the real Ignition engine (stages
// fetch, then files, platform "file") to a fresh scratch root and returns
// the root. The root starts with Fedora CoreOS's system users and groups,
// so Ignition's useradd/groupadd --root work, the host's unit directory and
// FCOS's "disable *" preset. Ignition only writes a preset for an enabled
// unit, so `systemctl --root preset-all` then turns presets into the wants
// links the server would get on first boot. Ignition changes owners and
// modes, so the test must run as root (it does here and in CI).
func ApplyIgnition(t testing.TB, ign []byte) (root string) {
	t.Helper()
	root = newRoot(t)
	work := t.TempDir()
	cfg := filepath.Join(work, "config.ign")
	writeFile(t, cfg, string(ign), 0o600)
	run := filepath.Join(work, "run")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"fetch", "files"} {
		out, err := Exec(t, Command{
			Name: "ignition",
			Args: []string{
				"-platform", "file", "-stage", stage, "-root", root,
				"-config-cache", filepath.Join(run, "config.json"),
				"-state-file", filepath.Join(run, "state"),
				"-neednet", filepath.Join(run, "neednet"),
				"-log-to-stdout",
			},
			Env: []string{"IGNITION_CONFIG_FILE=" + cfg},
		})
		if err != nil {
			t.Fatalf("ignition stage %s failed: %v\n%s", stage, err, ignitionErrors(out.Combined()))
		}
	}
	out, err := Exec(t, Command{Name: "systemctl", Args: []string{"--root=" + root, "preset-all"}})
	if err != nil {
		t.Fatalf("systemctl --root preset-all: %v\n%s", err, out.Combined())
	}
	return root
}

// ignitionErrors keeps the lines of an Ignition log that explain a failure,
// or the whole log when none is marked as an error.
func ignitionErrors(log string) string {
	var keep []string
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, "CRITICAL") || strings.HasPrefix(line, "ERROR") || strings.HasPrefix(line, "WARNING") {
			keep = append(keep, line)
		}
	}
	if len(keep) == 0 {
		return log
	}
	return strings.Join(keep, "\n")
}

// LookupUser returns the uid and primary gid of a user in root/etc/passwd.
func LookupUser(t testing.TB, root, name string) (uid, gid int, ok bool) {
	t.Helper()
	for _, f := range dbEntries(t, filepath.Join(root, "etc/passwd")) {
		if len(f) >= 4 && f[0] == name {
			return atoi(t, f[2]), atoi(t, f[3]), true
		}
	}
	return 0, 0, false
}

// LookupGroup returns the gid and members of a group in root/etc/group.
func LookupGroup(t testing.TB, root, name string) (gid int, members []string, ok bool) {
	t.Helper()
	for _, f := range dbEntries(t, filepath.Join(root, "etc/group")) {
		if len(f) >= 4 && f[0] == name {
			if f[3] != "" {
				members = strings.Split(f[3], ",")
			}
			return atoi(t, f[2]), members, true
		}
	}
	return 0, nil, false
}

// Wants returns the units (usually targets) that pull unit in through a
// .wants or .requires link under root/etc/systemd/system, sorted; empty
// means the unit is not enabled.
func Wants(t testing.TB, root, unit string) []string {
	t.Helper()
	var by []string
	for _, suffix := range []string{".wants", ".requires"} {
		links, err := filepath.Glob(filepath.Join(root, "etc/systemd/system", "*"+suffix, unit))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			by = append(by, strings.TrimSuffix(filepath.Base(filepath.Dir(l)), suffix))
		}
	}
	sort.Strings(by)
	return by
}

// dbEntries reads a colon-separated database such as /etc/passwd.
func dbEntries(t testing.TB, p string) [][]string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			entries = append(entries, strings.Split(line, ":"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return entries
}

// atoi parses a numeric id field.
func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("bad id %q: %v", s, err)
	}
	return n
}
