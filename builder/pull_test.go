package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/judge"
)

// TestImagePulls: every container requires a Quadlet .image unit that
// pulls its image with retries, a timeout and the credentials file, only
// when the image is missing; Quadlet and systemd-analyze judge the units,
// and systemd-tmpfiles creates the empty credentials file.
func TestImagePulls(t *testing.T) {
	const auth = "/etc/kiln/registry-auth.json"
	minimal, err := os.ReadFile(filepath.Join("testdata", "render", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec := strings.Replace(string(minimal), "services:\n", "registry: {auth_file: "+auth+", pull_retries: 3, pull_retry_delay: 1m, pull_timeout: 20m}\nservices:\n"+
		// A second container, so that the check covers more than one.
		"  - name: worker\n    image: registry.example.com/worker:1.0.0\n", 1)
	res, err := Render(Request{File: "pull.yaml", Spec: []byte(spec)})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, u := range res.Units {
		files[u.Name] = u.Contents
	}
	generated := judge.VerifyUnitSet(t, files)
	containers := 0
	for _, u := range res.Units {
		base, ok := strings.CutSuffix(u.Name, ".container")
		if !ok {
			continue
		}
		containers++
		svc, pull := generated[base+".service"], generated[base+"-image.service"]
		if !strings.Contains(svc, "Requires="+base+"-image.service") || !strings.Contains(svc, "After="+base+"-image.service") {
			t.Errorf("%s.service does not wait for its pull:\n%s", base, svc)
		}
		ref, _ := imageLine(files[base+".image"])
		for _, want := range []string{
			"ExecStart=/usr/bin/podman image pull --authfile " + auth + " --retry 3 --retry-delay 1m " + ref + "\n",
			"TimeoutStartSec=1200\n",
			`ExecCondition=/bin/sh -c "! /usr/bin/podman image exists ` + ref + `"`,
		} {
			if !strings.Contains(pull, want) {
				t.Errorf("%s-image.service lacks %q:\n%s", base, want, pull)
			}
		}
	}
	if containers < 2 {
		t.Fatalf("only %d containers", containers)
	}
	// systemd-tmpfiles itself creates the credentials file, empty and
	// private, and leaves one that is already there alone.
	plan, err := newPlan(res.App)
	if err != nil {
		t.Fatal(err)
	}
	var conf string
	for _, f := range plan.Files {
		if f.Path == "/etc/tmpfiles.d/kiln-registry.conf" {
			conf = string(f.Contents)
		}
	}
	if conf == "" {
		t.Fatal("no tmpfiles entry for the credentials file")
	}
	root := t.TempDir()
	cf := filepath.Join(t.TempDir(), "kiln-registry.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := judge.Exec(t, judge.Command{Name: "systemd-tmpfiles", Args: []string{"--root=" + root, "--create", cf}}); err != nil {
		t.Fatalf("systemd-tmpfiles: %v", err)
	}
	st, err := os.Stat(filepath.Join(root, auth))
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, auth)); string(data) != "{}" || st.Mode().Perm() != 0o600 {
		t.Errorf("credentials file %q mode %o, want {} and 0600", data, st.Mode().Perm())
	}
	if strings.Contains(string(res.Ignition), "auths") {
		t.Error("credentials in the image")
	}

	// Without auth_file: retries and timeout, no credentials file.
	res2 := renderCase(t, "minimal")
	for _, u := range res2.Units {
		if strings.HasSuffix(u.Name, ".image") && (strings.Contains(u.Contents, "AuthFile") || !strings.Contains(u.Contents, "--retry 5 --retry-delay 30s")) {
			t.Errorf("%s:\n%s", u.Name, u.Contents)
		}
	}
}
