package judge

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// unitDirs are the directories of a root where the checks below look for a
// unit that a timer, path or socket triggers, besides the units under test.
var unitDirs = []string{"etc/systemd/system", "usr/lib/systemd/system"}

// SystemdVerify judges plain systemd units (name with extension to
// contents; names with a slash are drop-ins such as "x.service.d/10.conf")
// with `systemd-analyze verify --man=no` in a scratch root that holds the
// host's unit directory, the units under /etc/systemd/system and a stub for
// every program their Exec*= lines name that the root lacks. systemd reports
// unknown keys and sections only as warnings with exit status 0, so any
// stderr output fails the test. It also fails when a .timer, .path or
// .socket triggers a unit that exists neither among the units nor in the
// root, which systemd-analyze lets pass silently, and when a drop-in could
// never apply (not a .conf file, or for a unit that is neither in the set,
// on the host nor a known Fedora CoreOS unit). A drop-in for a Fedora CoreOS
// unit the host lacks is parsed against a stand-in of that unit.
func SystemdVerify(t testing.TB, units map[string]string) {
	t.Helper()
	root := newRoot(t)
	etc := filepath.Join(root, "etc/systemd/system")
	writeTree(t, etc, units)
	extra, problems := dropInBases(t, root, units)
	for _, name := range sortedKeys(units) {
		stubPrograms(t, root, units[name])
	}
	verifyRoot(t, root, units, extra, problems)
}

// stubPrograms creates a stub for every program a unit runs that the root
// lacks.
func stubPrograms(t testing.TB, root, contents string) {
	t.Helper()
	for _, prog := range execPrograms(parseUnit(contents)) {
		if !path.IsAbs(prog) {
			// systemd searches bare names in its fixed path; /usr/bin is
			// on it.
			prog = path.Join("/usr/bin", prog)
		}
		ensureExecutable(t, root, prog)
	}
}

// fcosUnits are units of Fedora CoreOS that kiln may extend with drop-ins
// although the judging host lacks them. A drop-in for a unit that exists
// nowhere is silently ignored by systemd, so any other base is an error.
var fcosUnits = map[string]bool{
	"chronyd.service":                true,
	"sshd.service":                   true,
	"zincati.service":                true,
	"podman.service":                 true,
	"podman.socket":                  true,
	"podman-auto-update.service":     true,
	"podman-auto-update.timer":       true,
	"NetworkManager.service":         true,
	"systemd-resolved.service":       true,
	"systemd-journald.service":       true,
	"rpm-ostreed.service":            true,
	"fstrim.service":                 true,
	"fstrim.timer":                   true,
	"docker.service":                 true,
	"containerd.service":             true,
	"serial-getty@.service":          true,
	"getty@.service":                 true,
	"systemd-tmpfiles-setup.service": true,
}

// dropInBases makes sure every drop-in gets judged: its unit must be among
// the units, in the root, or a Fedora CoreOS unit (for which a stand-in is
// written so that systemd parses the drop-in). It returns the units to
// verify besides the set's own, and the drop-ins that can never apply.
func dropInBases(t testing.TB, root string, units map[string]string) (extra, problems []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, name := range sortedKeys(units) {
		dir, file, ok := strings.Cut(name, "/")
		if !ok {
			continue
		}
		base := strings.TrimSuffix(dir, ".d")
		switch {
		case base == dir:
			problems = append(problems, fmt.Sprintf("%s: drop-ins live in a directory named after the unit plus .d", name))
			continue
		case path.Ext(file) != ".conf" || strings.Contains(file, "/"):
			problems = append(problems, fmt.Sprintf("%s: systemd reads only *.conf files directly in a drop-in directory", name))
			continue
		case path.Ext(base) == "" || seen[base]:
			continue
		}
		seen[base] = true
		if _, ok := units[base]; ok {
			continue
		}
		host := filepath.Join(root, hostUnitDir, base)
		if data, err := os.ReadFile(host); err == nil {
			stubPrograms(t, root, string(data))
			extra = append(extra, base)
			continue
		}
		if !fcosUnits[base] {
			problems = append(problems, fmt.Sprintf("%s: %s is not among the units nor a known Fedora CoreOS unit, so the drop-in would never apply", name, base))
			continue
		}
		standIn := "[Unit]\nDescription=stand-in for Fedora CoreOS's " + base + "\n"
		switch path.Ext(base) {
		case ".service":
			standIn += "[Service]\nExecStart=/usr/bin/true\n"
		case ".timer":
			standIn += "[Timer]\nOnCalendar=daily\nUnit=" + strings.TrimSuffix(base, ".timer") + ".service\n"
			svc := strings.TrimSuffix(base, ".timer") + ".service"
			if !unitExists(root, units, svc) {
				writeFile(t, filepath.Join(root, hostUnitDir, svc), "[Service]\nExecStart=/usr/bin/true\n", 0o644)
			}
		case ".socket":
			standIn += "[Socket]\nListenStream=/run/" + strings.TrimSuffix(base, ".socket") + ".sock\n"
			svc := strings.TrimSuffix(base, ".socket") + ".service"
			if !unitExists(root, units, svc) {
				writeFile(t, filepath.Join(root, hostUnitDir, svc), "[Service]\nExecStart=/usr/bin/true\n", 0o644)
			}
		}
		writeFile(t, filepath.Join(root, hostUnitDir, base), standIn, 0o644)
		ensureExecutable(t, root, "/usr/bin/true")
		if !strings.Contains(base, "@.") {
			extra = append(extra, base)
		}
	}
	return extra, problems
}

// verifyRoot runs systemd-analyze verify on the top-level units of units
// and on extra inside root, and checks the units' triggers.
func verifyRoot(t testing.TB, root string, units map[string]string, extra, problems []string) {
	t.Helper()
	var names []string
	for _, name := range sortedKeys(units) {
		if !strings.Contains(name, "/") {
			names = append(names, name)
		}
	}
	names = append(names, extra...)
	problems = append(problems, triggerProblems(root, units)...)
	if len(names) > 0 {
		args := append([]string{"verify", "--man=no", "--root=" + root}, names...)
		out, err := Exec(t, Command{Name: "systemd-analyze", Args: args})
		// No host noise has been seen from systemd 252 (Debian 12) with
		// --root, even with a unit that wants every host unit, so nothing
		// is filtered: every line is about the units.
		msg := strings.TrimSpace(strings.ReplaceAll(out.Combined(), root, ""))
		if err != nil || msg != "" {
			problems = append(problems, fmt.Sprintf("systemd-analyze verify %s: %v\n%s", strings.Join(names, " "), err, msg))
		}
	}
	if len(problems) > 0 {
		t.Fatalf("systemd units rejected:\n%s", strings.Join(problems, "\n"))
	}
}

// triggerProblems lists every timer, path or socket unit whose unit to
// activate is missing.
func triggerProblems(root string, units map[string]string) []string {
	var problems []string
	for _, name := range sortedKeys(units) {
		if strings.Contains(name, "/") {
			continue
		}
		ext := path.Ext(name)
		section := map[string]string{".timer": "Timer", ".path": "Path", ".socket": "Socket"}[ext]
		if section == "" {
			continue
		}
		entries := parseUnit(units[name])
		target := lastValue(entries, section, "Unit")
		if target == "" {
			target = strings.TrimSuffix(name, ext) + ".service"
			if ext == ".socket" && parseBool(lastValue(entries, section, "Accept")) {
				target = strings.TrimSuffix(name, ext) + "@.service"
			}
		}
		if !unitExists(root, units, target) {
			problems = append(problems, fmt.Sprintf("%s activates %s, which does not exist", name, target))
		}
	}
	return problems
}

// unitExists reports whether name is among units or in the root's unit
// directories, falling back from an instance to its template.
func unitExists(root string, units map[string]string, name string) bool {
	candidates := []string{name}
	if at := strings.Index(name, "@"); at >= 0 && !strings.HasPrefix(name[at:], "@.") {
		candidates = append(candidates, name[:at+1]+path.Ext(name))
	}
	for _, c := range candidates {
		if _, ok := units[c]; ok {
			return true
		}
		for _, d := range unitDirs {
			if _, err := os.Stat(filepath.Join(root, d, c)); err == nil {
				return true
			}
		}
	}
	return false
}

// parseBool reads a systemd boolean.
func parseBool(s string) bool {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true
	}
	return false
}

// VerifyUnitSet judges a whole set of units the way the server sees them:
// Quadlet files (see IsQuadlet) are converted with QuadletDryRun, and the
// generated services are verified together with the plain units by
// SystemdVerify, so a timer may trigger a service that Quadlet generates.
// It returns the generated services by name.
func VerifyUnitSet(t testing.TB, files map[string]string) map[string]string {
	t.Helper()
	quadlets := map[string]string{}
	plain := map[string]string{}
	for name, contents := range files {
		if IsQuadlet(strings.SplitN(name, "/", 2)[0]) {
			quadlets[name] = contents
		} else {
			plain[name] = contents
		}
	}
	generated := map[string]string{}
	if len(quadlets) > 0 {
		generated = QuadletDryRun(t, quadlets)
	}
	all := map[string]string{}
	for name, contents := range plain {
		all[name] = contents
	}
	for name, contents := range generated {
		if _, clash := all[name]; clash {
			t.Fatalf("%s is both a plain unit and generated by Quadlet", name)
		}
		all[name] = contents
	}
	SystemdVerify(t, all)
	return generated
}
