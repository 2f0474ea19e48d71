package judge

import (
	"path"
	"regexp"
	"strings"
	"testing"
)

// IsQuadlet reports whether a file name is one Quadlet converts.
func IsQuadlet(name string) bool {
	switch path.Ext(name) {
	case ".container", ".network", ".volume", ".pod", ".kube", ".image", ".build":
		return true
	}
	return false
}

// quadletProgress matches the lines Quadlet prints in dry-run mode about
// its own progress (its -dryrun turns debug logging on). Every other stderr
// line is a warning or an error about the files, such as "unsupported key"
// or a short image name.
var quadletProgress = regexp.MustCompile(`^quadlet-generator\[\d+\]: (Loading source unit file |Loading source drop-in file |Starting quadlet-generator|writing |No files parsed from )`)

// quadletSection starts each generated unit in the dry-run output.
var quadletSection = regexp.MustCompile(`^---([^/\s]+)---$`)

// QuadletDryRun converts Quadlet files (name to contents; names with a
// slash are drop-ins such as "web.container.d/10.conf") with
// `QUADLET_UNIT_DIRS=dir quadlet -dryrun` and returns the generated units by
// name. A non-zero exit or any warning on stderr fails the test.
func QuadletDryRun(t testing.TB, quadletFiles map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, quadletFiles)
	out, err := Exec(t, Command{
		Name: "quadlet",
		// -no-kmsg-log keeps the test's messages out of the host's kernel
		// log, where Quadlet writes them first when running as root.
		Args: []string{"-no-kmsg-log", "-dryrun"},
		Env:  []string{"QUADLET_UNIT_DIRS=" + dir},
	})
	var warnings []string
	for _, line := range strings.Split(out.Stderr, "\n") {
		if strings.TrimSpace(line) != "" && !quadletProgress.MatchString(line) {
			warnings = append(warnings, line)
		}
	}
	if err != nil || len(warnings) > 0 {
		t.Fatalf("quadlet rejected the files: %v\n%s", err, strings.ReplaceAll(strings.Join(warnings, "\n"), dir+"/", ""))
	}
	generated := parseDryRun(out.Stdout)
	for _, name := range sortedKeys(quadletFiles) {
		if strings.Contains(name, "/") {
			continue
		}
		if want := serviceName(name, quadletFiles[name]); generated[want] == "" {
			t.Fatalf("quadlet generated no %s from %s\n%s", want, name, out.Combined())
		}
	}
	return generated
}

// serviceName is the unit Quadlet generates from a file: ServiceName= when
// set, else the base name with the type's suffix (none for containers and
// kube files).
func serviceName(name, contents string) string {
	ext := path.Ext(name)
	section := map[string]string{
		".container": "Container", ".network": "Network", ".volume": "Volume", ".pod": "Pod",
		".kube": "Kube", ".image": "Image", ".build": "Build",
	}[ext]
	if s := lastValue(parseUnit(contents), section, "ServiceName"); s != "" {
		return s + ".service"
	}
	base := strings.TrimSuffix(name, ext)
	switch ext {
	case ".container", ".kube":
		return base + ".service"
	}
	return base + "-" + strings.TrimPrefix(ext, ".") + ".service"
}

// parseDryRun splits Quadlet's dry-run output into units. Each unit starts
// with a "---name---" line and is followed by a blank separator line.
func parseDryRun(stdout string) map[string]string {
	units := map[string]string{}
	var name string
	var body []string
	flush := func() {
		if name != "" {
			units[name] = strings.TrimRight(strings.Join(body, "\n"), "\n") + "\n"
		}
	}
	for _, line := range strings.Split(stdout, "\n") {
		if m := quadletSection.FindStringSubmatch(line); m != nil {
			flush()
			name, body = m[1], nil
			continue
		}
		body = append(body, line)
	}
	flush()
	return units
}
