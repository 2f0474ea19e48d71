package builder

import (
	"path"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/judge"
	"github.com/kiln-dev/kiln/units"
)

// TestReadyMeansHealthy: the services others depend on (PostgreSQL,
// PgBouncer, Redis, Loki) report ready only once healthy, so After= on
// them means ready. Quadlet (Podman 5) must accept Notify=healthy and turn
// it into a notify-type service that waits for --sdnotify=healthy.
func TestReadyMeansHealthy(t *testing.T) {
	res := renderCase(t, "clipper")
	files := map[string]string{}
	for _, u := range res.Units {
		if judge.IsQuadlet(u.Name) {
			files[u.Name] = u.Contents
		}
	}
	generated := judge.QuadletDryRun(t, files)
	for _, name := range []string{"postgres", "pgbouncer", "redis", "loki"} {
		if !strings.Contains(files[name+".container"], "\nNotify=healthy\n") {
			t.Errorf("%s.container lacks Notify=healthy", name)
		}
		g := generated[name+".service"]
		for _, want := range []string{"--sdnotify=healthy", "Type=notify"} {
			if !strings.Contains(g, want) {
				t.Errorf("%s.service lacks %q:\n%s", name, want, g)
			}
		}
	}
}

// TestTmpfilesClean: every tmpfiles.d file a render case installs passes
// systemd-tmpfiles without a message; a directory declared twice (the node
// exporter's textfile directory, by the backup plan and the container's
// mount) makes it warn and ignore one owner.
func TestTmpfilesClean(t *testing.T) {
	for _, name := range renderCases {
		t.Run(name, func(t *testing.T) {
			confs := map[string]string{}
			for _, f := range renderCase(t, name).files(t) {
				if dir, base := path.Split(f.path); dir == "/etc/tmpfiles.d/" {
					confs[base] = f.content
				}
			}
			if len(confs) == 0 {
				t.Fatal("no tmpfiles.d file rendered")
			}
			judge.Tmpfiles(t, confs)
		})
	}
}

// TestDataMountChecked: the data mount requires and follows the
// filesystem check of its device, named as systemd-escape names it.
func TestDataMountChecked(t *testing.T) {
	res := renderCase(t, "clipper")
	dev := "/dev/disk/by-label/" + res.App.Data.Label
	esc := strings.TrimSpace(judge.RunJudge(t, "systemd-escape", "--path", dev))
	want := "systemd-fsck@" + esc + ".service"
	for _, u := range res.Units {
		if u.Name != units.MountUnitName(res.App.Data.Path) {
			continue
		}
		for _, key := range []string{"Requires=", "After="} {
			if !strings.Contains(u.Contents, "\n"+key+want+"\n") {
				t.Errorf("%s lacks %s%s:\n%s", u.Name, key, want, u.Contents)
			}
		}
		return
	}
	t.Fatal("no data mount unit")
}

// TestContainersBounded: every container kiln installs, its own included,
// restarts after a pause and may take the time a first pull
// needs; and sshd lets in the spec's users only: `core`, for which
// Afterburn installs the cloud provider's keys, is not added behind the
// spec's back.
func TestContainersBounded(t *testing.T) {
	res := renderCase(t, "clipper")
	n := 0
	for _, f := range res.files(t) {
		if !strings.HasSuffix(f.path, ".container") {
			continue
		}
		n++
		for _, want := range []string{"\nRestart=always\n", "\nRestartSec=5s\n", "\nTimeoutStartSec=900\n"} {
			if !strings.Contains(f.content, want) {
				t.Errorf("%s lacks %s", f.path, strings.TrimSpace(want))
			}
		}
	}
	if n < 12 {
		t.Errorf("only %d containers rendered", n)
	}
	var users []string
	for _, u := range res.App.Users {
		users = append(users, u.Name)
	}
	for _, f := range res.files(t) {
		if f.path == "/etc/ssh/sshd_config.d/40-kiln.conf" && !strings.Contains(f.content, "\nAllowUsers "+strings.Join(users, " ")+"\n") {
			t.Errorf("AllowUsers is not exactly the spec's users %v:\n%s", users, f.content)
		}
	}
}
