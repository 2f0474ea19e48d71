package judge

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// relabelRefused are the paths Podman refuses to relabel ("SELinux
// relabeling of / is not allowed"), even for a read-only mount: the
// exclude list of github.com/opencontainers/selinux, go-selinux
// (selinux_linux.go; label.Relabel in older releases), which Podman calls
// for every :z or :Z volume.
var relabelRefused = []string{
	"/", "/bin", "/boot", "/dev", "/etc", "/etc/passwd", "/etc/pki", "/etc/shadow",
	"/home", "/lib", "/lib64", "/media", "/opt", "/proc", "/root", "/run", "/sbin",
	"/srv", "/sys", "/tmp", "/usr", "/var", "/var/lib", "/var/log",
}

// SELinuxVolumes checks the Volume= lines of a Quadlet .container file
// against what Fedora CoreOS's enforcing SELinux allows, and returns one
// line per problem (none when the unit is fine):
//   - no relabel (z or Z) of a path Podman refuses to relabel, and none
//     of any other host path outside owned (kiln's own directories):
//     relabelling a file the host's daemons use (/var/log/journal,
//     /etc/machine-id) to container_file_t locks those daemons out;
//   - no Z at all: it gives the source a new random MCS level at every
//     start, so the whole tree is relabelled each time (z, the shared
//     level, is relabelled once);
//   - a host path outside owned that is mounted without a relabel is only
//     readable by a container that runs unconfined (SecurityLabelDisable=true).
func SELinuxVolumes(unit string, owned ...string) []string {
	entries := parseUnit(unit)
	disabled := strings.EqualFold(lastValue(entries, "Container", "SecurityLabelDisable"), "true")
	var problems []string
	for _, e := range entries {
		if e.section != "Container" || e.key != "Volume" {
			continue
		}
		parts := strings.Split(e.value, ":")
		if len(parts) < 2 {
			continue
		}
		src := parts[0]
		var opts []string
		if len(parts) > 2 {
			opts = strings.Split(parts[2], ",")
		}
		relabel := ""
		for _, o := range opts {
			if o == "z" || o == "Z" {
				relabel = o
			}
		}
		hostPath := strings.HasPrefix(src, "/")
		clean := path.Clean(src)
		switch {
		case relabel == "Z":
			problems = append(problems, fmt.Sprintf("%s: Z gives a new private label at every start and relabels the whole tree each time; use z", e.value))
		case relabel != "" && hostPath && slices.Contains(relabelRefused, clean):
			problems = append(problems, fmt.Sprintf("%s: Podman refuses to relabel %s (go-selinux exclude list); mount it without z and set SecurityLabelDisable=true", e.value, clean))
		case relabel != "" && hostPath && !under(clean, owned):
			problems = append(problems, fmt.Sprintf("%s: relabelling a host system path to container_file_t locks out the daemons that use it; mount it without z and set SecurityLabelDisable=true", e.value))
		case relabel == "" && hostPath && !under(clean, owned) && !disabled:
			problems = append(problems, fmt.Sprintf("%s: a confined container cannot read this unlabelled host path; set SecurityLabelDisable=true", e.value))
		}
	}
	return problems
}

// under reports whether p is one of roots or inside one.
func under(p string, roots []string) bool {
	for _, r := range roots {
		r = path.Clean(r)
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}
