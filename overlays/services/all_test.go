package services

import (
	"strings"
	"testing"
)

// TestRenderConsistency checks what ties the services together: every
// rendered file reaches its container through a read-only mount, every
// secret a command or environment names is mounted, and no value carries a
// password.
func TestRenderConsistency(t *testing.T) {
	svcs, err := Render(DefaultConfigs())
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 13 {
		t.Fatalf("got %d services, want 13", len(svcs))
	}
	for _, s := range svcs {
		rt := s.Runtime
		if rt.Image == "" || len(rt.Ports) == 0 {
			t.Errorf("%s: image %q ports %v", s.Name, rt.Image, rt.Ports)
		}
		for _, f := range s.Files {
			mounted := false
			for _, m := range rt.Mounts {
				mounted = mounted || (m.ReadOnly && strings.HasPrefix(f.Path, m.Source+"/"))
			}
			if !mounted {
				t.Errorf("%s: %s is not under a read-only mount of its container", s.Name, f.Path)
			}
		}
		for _, m := range rt.Mounts {
			if !m.ReadOnly && !strings.HasPrefix(m.Source, DataRoot+"/") {
				t.Errorf("%s: writable mount %s outside %s", s.Name, m.Source, DataRoot)
			}
		}
		cmdline := strings.Join(rt.Exec, " ")
		for _, v := range rt.Env {
			cmdline += " " + v
		}
		text := cmdline
		for _, f := range s.Files {
			if strings.HasSuffix(f.Path, ".sh") {
				text += " " + string(f.Contents)
			}
		}
		for _, word := range strings.FieldsFunc(text, func(r rune) bool { return strings.ContainsRune(" \"'();=\n\t", r) }) {
			if !strings.HasPrefix(word, SecretsDir+"/") {
				continue
			}
			found := false
			for _, sec := range rt.Secrets {
				found = found || sec.Path() == word
			}
			if !found {
				t.Errorf("%s: %s is used but no such secret is mounted", s.Name, word)
			}
		}
		// systemd expands $ and % on the unit's command line.
		unitText := rt.Entrypoint + " " + cmdline + " " + rt.HealthCmd
		if strings.ContainsAny(unitText, "$%") {
			t.Errorf("%s: command line holds $ or %%, which systemd would expand: %s", s.Name, unitText)
		}
		for k, v := range rt.Env {
			if strings.Contains(strings.ToUpper(k), "PASSWORD") && !strings.HasPrefix(v, SecretsDir+"/") {
				t.Errorf("%s: %s=%s is not a secret file", s.Name, k, v)
			}
		}
	}
}
