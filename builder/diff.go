package builder

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// Change is one difference between two rendered appliances: a file, a
// systemd unit, a user or the storage layout the server gets.
type Change struct {
	// Kind is "file", "unit", "user" or "storage".
	Kind string
	// Name is the file's path, the unit's or user's name.
	Name string
	// Op is "added", "removed" or "changed".
	Op string
	// Diff is a unified diff of the old and new contents.
	Diff string
}

// Diff compares what two rendered appliances put on a server, so that an
// operator sees exactly what a rebuild changes before replacing a server.
func Diff(old, new *Result) ([]Change, error) {
	a, err := serverItems(old.Ignition)
	if err != nil {
		return nil, fmt.Errorf("old config: %w", err)
	}
	b, err := serverItems(new.Ignition)
	if err != nil {
		return nil, fmt.Errorf("new config: %w", err)
	}
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var changes []Change
	for _, k := range sorted {
		kind, name, _ := strings.Cut(k, " ")
		before, inOld := a[k]
		after, inNew := b[k]
		c := Change{Kind: kind, Name: name}
		switch {
		case !inOld:
			c.Op = "added"
		case !inNew:
			c.Op = "removed"
		case before != after:
			c.Op = "changed"
		default:
			continue
		}
		c.Diff, _ = difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(before), B: difflib.SplitLines(after),
			FromFile: path.Join("old", name), ToFile: path.Join("new", name), Context: 2,
		})
		changes = append(changes, c)
	}
	return changes, nil
}

// serverItems flattens an Ignition config into "kind name" → text.
func serverItems(ign []byte) (map[string]string, error) {
	cfg, files, err := parseIgnition(ign)
	if err != nil {
		return nil, err
	}
	items := map[string]string{}
	for _, u := range cfg.Passwd.Users {
		items["user "+u.Name] = pretty(u)
	}
	if len(cfg.Storage.Disks) > 0 || len(cfg.Storage.Filesystems) > 0 {
		items["storage disks-and-filesystems"] = pretty(cfg.Storage.Disks) + pretty(cfg.Storage.Filesystems)
	}
	for _, f := range files {
		mode := ""
		if f.Mode != nil {
			mode = fmt.Sprintf("# mode %04o\n", *f.Mode)
		}
		items["file "+f.Path] = mode + string(f.Contents)
	}
	for _, u := range cfg.Systemd.Units {
		state := ""
		if u.Enabled != nil {
			state = fmt.Sprintf("# enabled: %v\n", *u.Enabled)
		}
		contents := ""
		if u.Contents != nil {
			contents = *u.Contents
		}
		items["unit "+u.Name] = state + contents
	}
	return items, nil
}

// pretty renders a part of the config as indented JSON with sorted keys.
func pretty(part any) string {
	raw, err := json.Marshal(part)
	if err != nil || string(raw) == "null" || string(raw) == "[]" {
		return ""
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return string(out) + "\n"
}
