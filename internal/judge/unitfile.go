package judge

import (
	"sort"
	"strings"
)

// entry is one key=value of a unit file with the section it is in.
type entry struct {
	section, key, value string
}

// parseUnit reads the entries of a unit file the way systemd splits them:
// comments and blank lines skipped, backslash-newline continuations joined.
// It is only as strict as the checks here need; systemd-analyze judges the
// syntax.
func parseUnit(contents string) []entry {
	var (
		entries []entry
		section string
		pending string
	)
	for _, raw := range strings.Split(contents, "\n") {
		line := strings.TrimSpace(raw)
		if pending != "" {
			line = pending + " " + line
			pending = ""
		} else if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			pending = strings.TrimSuffix(line, "\\")
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		entries = append(entries, entry{section: section, key: strings.TrimSpace(k), value: strings.TrimSpace(v)})
	}
	return entries
}

// lastValue returns the last value of key in section ("" when unset), the
// one systemd uses for single-valued settings.
func lastValue(entries []entry, section, key string) string {
	v := ""
	for _, e := range entries {
		if e.section == section && e.key == key {
			v = e.value
		}
	}
	return v
}

// execPrograms returns the programs the Exec*= lines of [Service] and
// [Socket] run: absolute paths, or bare names that systemd looks up in its
// fixed search path. Programs built from specifiers or variables are left
// out; their real name is only known on the server.
func execPrograms(entries []entry) []string {
	var progs []string
	for _, e := range entries {
		if e.section != "Service" && e.section != "Socket" {
			continue
		}
		if !strings.HasPrefix(e.key, "Exec") || len(e.key) == len("Exec") {
			continue
		}
		fields := strings.Fields(e.value)
		first := true
		for _, f := range fields {
			if f == ";" {
				first = true
				continue
			}
			if !first {
				continue
			}
			first = false
			prog := strings.Trim(strings.TrimLeft(f, "@-:+!"), `"'`)
			if prog == "" || strings.ContainsAny(prog, "%$") {
				continue
			}
			progs = append(progs, prog)
		}
	}
	return progs
}

// sortedKeys returns a map's keys in order, so every judge run and every
// message is deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// InstalledBy returns the units an [Install] section hooks a unit into
// (WantedBy= and RequiredBy=, sorted). Quadlet-generated services cannot be
// enabled with links; Quadlet applies their [Install] at boot, so this is
// how a test sees whether such a service starts.
func InstalledBy(contents string) []string {
	lists := map[string][]string{}
	for _, e := range parseUnit(contents) {
		if e.section != "Install" || (e.key != "WantedBy" && e.key != "RequiredBy") {
			continue
		}
		if e.value == "" {
			// An empty assignment resets that key's list.
			lists[e.key] = nil
			continue
		}
		lists[e.key] = append(lists[e.key], strings.Fields(e.value)...)
	}
	by := append(lists["WantedBy"], lists["RequiredBy"]...)
	sort.Strings(by)
	return by
}
