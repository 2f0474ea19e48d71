package builder

import (
	"strings"
	"testing"
)

// TestComponentsConsistent checks what ties each kind's component together,
// on the components production renders for Clipper: every file reaches its
// container through a read-only mount, every secret a command, environment
// or script names is mounted, no password travels in the environment,
// nothing on the unit's command line is expanded by systemd, and the
// container writes only its data directories on the data filesystem.
func TestComponentsConsistent(t *testing.T) {
	res, err := Render(Request{File: "clipper.yaml", Spec: DefaultSpec})
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlan(res.App)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for i := range res.App.Services {
		s := &res.App.Services[i]
		r, err := recipeFor(s.Kind)
		if err != nil {
			t.Fatal(err)
		}
		k, err := r.apply(p, s)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if len(k.Files) == 0 && len(k.Container.Mounts) == 0 && len(k.Container.Exec) == 0 {
			continue // a kind that takes everything from the spec
		}
		seen++
		c := k.Container
		for _, f := range k.Files {
			mounted := false
			for _, m := range c.Mounts {
				mounted = mounted || (m.ReadOnly && strings.HasPrefix(f.Path, m.Source+"/"))
			}
			if !mounted {
				t.Errorf("%s: %s is not under a read-only mount of its container", s.Name, f.Path)
			}
		}
		data := map[string]bool{}
		for _, d := range k.DataDirs {
			data[d.Path] = true
			if !strings.HasPrefix(d.Path, res.App.Data.Path+"/") {
				t.Errorf("%s: data directory %s is not on the data filesystem %s", s.Name, d.Path, res.App.Data.Path)
			}
		}
		for _, m := range c.Mounts {
			if !m.ReadOnly && !strings.HasPrefix(m.Source, res.App.Data.Path+"/") {
				t.Errorf("%s: writable mount %s is not on the data filesystem", s.Name, m.Source)
			}
		}
		cmdline := strings.Join(c.Exec, " ")
		for _, v := range c.Env {
			cmdline += " " + v
		}
		text := cmdline
		for _, f := range k.Files {
			if strings.HasSuffix(f.Path, ".sh") {
				text += " " + string(f.Contents)
			}
		}
		for _, word := range strings.FieldsFunc(text, func(r rune) bool { return strings.ContainsRune(" \"'();=\n\t", r) }) {
			if !strings.HasPrefix(word, "/run/secrets/") {
				continue
			}
			found := false
			for _, sec := range c.Secrets {
				found = found || sec.Target == word
			}
			if !found {
				t.Errorf("%s: %s is used but no such secret is mounted", s.Name, word)
			}
		}
		// systemd expands $ and % on the unit's command line.
		if unitText := c.Entrypoint + " " + cmdline + " " + c.Health.Command; strings.ContainsAny(unitText, "$%") {
			t.Errorf("%s: command line holds $ or %%, which systemd would expand: %s", s.Name, unitText)
		}
		for name, v := range c.Env {
			if strings.Contains(strings.ToUpper(name), "PASSWORD") && !strings.HasPrefix(v, "/run/secrets/") {
				t.Errorf("%s: %s=%s is not a secret file", s.Name, name, v)
			}
		}
	}
	if seen < 12 {
		t.Errorf("only %d components checked", seen)
	}
}
