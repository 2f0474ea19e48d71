package judge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// recorder is a testing.TB that records failures instead of failing the
// real test, so a test can assert that a judge rejects bad input. Fatal
// ends the goroutine like the real one does.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	failed  bool
	skipped bool
	msgs    []string
}

func (r *recorder) Helper() {}

func (r *recorder) record(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.msgs = append(r.msgs, msg)
}

func (r *recorder) Fail()                     { r.record("Fail") }
func (r *recorder) Error(a ...any)            { r.record(fmt.Sprint(a...)) }
func (r *recorder) Errorf(f string, a ...any) { r.record(fmt.Sprintf(f, a...)) }
func (r *recorder) FailNow()                  { r.record("FailNow"); runtime.Goexit() }
func (r *recorder) Fatal(a ...any)            { r.record(fmt.Sprint(a...)); runtime.Goexit() }
func (r *recorder) Fatalf(f string, a ...any) { r.record(fmt.Sprintf(f, a...)); runtime.Goexit() }
func (r *recorder) SkipNow()                  { r.skipped = true; runtime.Goexit() }
func (r *recorder) Skip(a ...any)             { r.SkipNow() }
func (r *recorder) Skipf(string, ...any)      { r.SkipNow() }

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// judged runs check on a recorder and returns whether it failed and what it
// said.
func judged(t *testing.T, check func(tb testing.TB)) (failed bool, msg string) {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	if r.skipped {
		t.Skip("judge unavailable")
	}
	return r.failed, strings.Join(r.msgs, "\n")
}

// mustReject asserts that check fails with a message containing want.
func mustReject(t *testing.T, want string, check func(tb testing.TB)) {
	t.Helper()
	failed, msg := judged(t, check)
	if !failed {
		t.Fatalf("the judge accepted input it must reject (wanted a failure mentioning %q)", want)
	}
	if !strings.Contains(msg, want) {
		t.Fatalf("the judge failed, but not with %q:\n%s", want, msg)
	}
}

// mustAccept asserts that check passes, showing the judge's words if not.
func mustAccept(t *testing.T, check func(tb testing.TB)) {
	t.Helper()
	if failed, msg := judged(t, check); failed {
		t.Fatalf("the judge rejected valid input:\n%s", msg)
	}
}

func TestValidateIgnition(t *testing.T) {
	testutil.Tool(t, "ignition-validate")
	valid := `{"ignition":{"version":"3.5.0"},"storage":{"files":[{"path":"/etc/x","mode":420,"contents":{"source":"data:,a"}}]}}`
	mustAccept(t, func(tb testing.TB) { ValidateIgnition(tb, []byte(valid)) })

	cases := map[string]struct{ ign, want string }{
		"relative path": {`{"ignition":{"version":"3.5.0"},"storage":{"files":[{"path":"etc/x"}]}}`, "path not absolute"},
		"not json":      {`{"ignition":`, "unexpected end"},
		"old version":   {`{"ignition":{"version":"9.9.0"}}`, "version"},
		// A warning exits 0 in ignition-validate; the judge fails on it.
		"unused key": {`{"ignition":{"version":"3.5.0"},"storgae":{}}`, "unused key storgae"},
	}
	for _, name := range sortedKeys(cases) {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			mustReject(t, c.want, func(tb testing.TB) { ValidateIgnition(tb, []byte(c.ign)) })
		})
	}
}

const webContainer = `[Unit]
Description=web

[Container]
Image=docker.io/library/nginx:1.27
Network=edge.network
PublishPort=127.0.0.1:8080:80

[Install]
WantedBy=multi-user.target
`

func TestQuadletDryRun(t *testing.T) {
	testutil.Tool(t, "quadlet")
	var got map[string]string
	mustAccept(t, func(tb testing.TB) {
		got = QuadletDryRun(tb, map[string]string{
			"web.container":           webContainer,
			"web.container.d/10.conf": "[Container]\nEnvironment=MODE=prod\n",
			"edge.network":            "[Network]\nSubnet=10.89.7.0/24\n",
		})
	})
	if want := []string{"edge-network.service", "web.service"}; !reflect.DeepEqual(sortedKeys(got), want) {
		t.Fatalf("generated units %v, want %v", sortedKeys(got), want)
	}
	for _, want := range []string{"ExecStart=/usr/bin/podman run", "--env MODE=prod", "docker.io/library/nginx:1.27", "--network systemd-edge", "WantedBy=multi-user.target"} {
		if !strings.Contains(got["web.service"], want) {
			t.Errorf("web.service lacks %q:\n%s", want, got["web.service"])
		}
	}

	t.Run("unknown key", func(t *testing.T) {
		mustReject(t, "unsupported key 'Imgae'", func(tb testing.TB) {
			QuadletDryRun(tb, map[string]string{"web.container": strings.Replace(webContainer, "Image=", "Imgae=", 1)})
		})
	})
	t.Run("short image name warning", func(t *testing.T) {
		mustReject(t, "not a fully qualified image name", func(tb testing.TB) {
			QuadletDryRun(tb, map[string]string{"web.container": strings.Replace(webContainer, "docker.io/library/nginx", "nginx", 1)})
		})
	})
}

const backupService = `[Unit]
Description=nightly backup
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStartPre=-/usr/bin/podman pull docker.io/library/alpine:3
ExecStart=/usr/local/bin/kiln-backup --daily
`

const backupTimer = `[Unit]
Description=nightly backup

[Timer]
OnCalendar=*-*-* 02:00:00
Persistent=true

[Install]
WantedBy=timers.target
`

func TestSystemdVerify(t *testing.T) {
	testutil.Tool(t, "systemd-analyze")
	mustAccept(t, func(tb testing.TB) {
		SystemdVerify(tb, map[string]string{
			"kiln-backup.service":                backupService,
			"kiln-backup.service.d/10-nice.conf": "[Service]\nNice=10\n",
			"kiln-backup.timer":                  backupTimer,
			"kiln-certs.path":                    "[Path]\nPathChanged=/etc/kiln/tls\nUnit=kiln-backup.service\n",
			"getty-helper.timer":                 "[Timer]\nOnBootSec=5min\nUnit=getty@tty1.service\n",
			"kiln-data.mount":                    "[Mount]\nWhat=/dev/disk/by-label/data\nWhere=/kiln/data\nType=xfs\n",
			"chronyd.service.d/90-kiln.conf":     "[Service]\nEnvironment=OPTIONS=-F2\n",
			"fstrim.timer.d/10-kiln.conf":        "[Timer]\nRandomizedDelaySec=1h\n",
			"getty@.service.d/10-kiln.conf":      "[Service]\nTTYVTDisallocate=no\n",
		})
	})

	cases := map[string]struct {
		units map[string]string
		want  string
	}{
		"typo in a key": {
			map[string]string{"kiln-backup.service": strings.Replace(backupService, "Type=", "Tpye=", 1)},
			"Unknown key 'Tpye'",
		},
		"typo in a drop-in": {
			map[string]string{"kiln-backup.service": backupService, "kiln-backup.service.d/10.conf": "[Service]\nNcie=10\n"},
			"Unknown key 'Ncie'",
		},
		"timer without its service": {
			map[string]string{"kiln-backup.timer": backupTimer},
			"kiln-backup.timer activates kiln-backup.service, which does not exist",
		},
		"timer naming a missing unit": {
			map[string]string{"kiln-backup.service": backupService, "weekly.timer": "[Timer]\nOnCalendar=Sun 03:00\nUnit=kiln-weekly.service\n"},
			"weekly.timer activates kiln-weekly.service",
		},
		"path without its service": {
			map[string]string{"kiln-certs.path": "[Path]\nPathChanged=/etc/kiln/tls\n"},
			"kiln-certs.path activates kiln-certs.service",
		},
		"required unit missing": {
			map[string]string{"kiln-backup.service": strings.Replace(backupService, "Wants=", "Requires=kiln-nothere.service\nWants=", 1)},
			"kiln-nothere.service",
		},
		"typo in a drop-in for an FCOS unit": {
			map[string]string{"chronyd.service.d/90-kiln.conf": "[Service]\nEnvironmnet=OPTIONS=-F2\n"},
			"Unknown key 'Environmnet'",
		},
		"drop-in for a unit that exists nowhere": {
			map[string]string{"chrony.service.d/90-kiln.conf": "[Service]\nNice=1\n"},
			"chrony.service is not among the units nor a known Fedora CoreOS unit",
		},
		"drop-in not named .conf": {
			map[string]string{"kiln-backup.service": backupService, "kiln-backup.service.d/10-nice": "[Service]\nNice=10\n"},
			"only *.conf",
		},
		"mount name does not match Where": {
			map[string]string{"data.mount": "[Mount]\nWhat=/dev/vdb\nWhere=/srv/data\n"},
			"doesn't match unit name",
		},
	}
	for _, name := range sortedKeys(cases) {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			mustReject(t, c.want, func(tb testing.TB) { SystemdVerify(tb, c.units) })
		})
	}
}

func TestVerifyUnitSet(t *testing.T) {
	testutil.Tool(t, "quadlet")
	testutil.Tool(t, "systemd-analyze")
	// The timer triggers a service that only Quadlet generates.
	set := map[string]string{
		"web.container":     webContainer,
		"edge.network":      "[Network]\n",
		"web-restart.timer": "[Timer]\nOnCalendar=daily\nUnit=web.service\n",
	}
	var generated map[string]string
	mustAccept(t, func(tb testing.TB) { generated = VerifyUnitSet(tb, set) })
	if _, ok := generated["web.service"]; !ok {
		t.Fatalf("web.service not generated: %v", sortedKeys(generated))
	}
	// Quadlet turns Network=edge.network into a dependency on the network's
	// service; Quadlet refuses the reference when the .network file is missing.
	mustReject(t, "edge.network was not found", func(tb testing.TB) {
		VerifyUnitSet(tb, map[string]string{"web.container": webContainer})
	})
	delete(set, "web.container")
	mustReject(t, "web-restart.timer activates web.service", func(tb testing.TB) { VerifyUnitSet(tb, set) })
}

// appliedConfig exercises what kiln's configs rely on: a file with mode and
// owner, a new user and group, a user with an SSH key, an enabled unit and a
// unit left to the default-disable preset.
const appliedConfig = `{
  "ignition": {"version": "3.5.0"},
  "passwd": {
    "users": [
      {"name": "core", "groups": ["wheel", "sudo"], "sshAuthorizedKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKiln test"]},
      {"name": "kiln", "uid": 1500, "system": false}
    ],
    "groups": [{"name": "kilnsvc", "gid": 1600}]
  },
  "storage": {
    "files": [{"path": "/etc/kiln/app.env", "mode": 416, "user": {"name": "kiln"}, "group": {"name": "kilnsvc"},
               "contents": {"source": "data:,MODE%3Dprod%0A"}}],
    "directories": [{"path": "/var/lib/kiln", "mode": 448, "user": {"id": 1500}}]
  },
  "systemd": {
    "units": [
      {"name": "hello.service", "enabled": true, "contents": "[Unit]\nDescription=hello\n[Service]\nExecStart=/usr/bin/true\n[Install]\nWantedBy=multi-user.target\n"},
      {"name": "idle.service", "contents": "[Unit]\nDescription=idle\n[Service]\nExecStart=/usr/bin/true\n[Install]\nWantedBy=multi-user.target\n"}
    ]
  }
}`

func TestApplyIgnition(t *testing.T) {
	testutil.Tool(t, "ignition")
	testutil.Tool(t, "systemctl")
	if os.Geteuid() != 0 && !testutil.InCI() {
		t.Skip("Ignition sets owners: run as root")
	}
	root := ApplyIgnition(t, []byte(appliedConfig))

	uid, gid, ok := LookupUser(t, root, "kiln")
	if !ok || uid != 1500 {
		t.Fatalf("user kiln: uid %d ok %v, want 1500", uid, ok)
	}
	kilnsvc, _, ok := LookupGroup(t, root, "kilnsvc")
	if !ok || kilnsvc != 1600 {
		t.Fatalf("group kilnsvc: gid %d ok %v, want 1600", kilnsvc, ok)
	}
	if _, members, _ := LookupGroup(t, root, "wheel"); !reflect.DeepEqual(members, []string{"core"}) {
		t.Errorf("wheel members %v, want [core]", members)
	}
	coreUID, _, ok := LookupUser(t, root, "core")
	if !ok || coreUID != 1000 {
		t.Errorf("user core: uid %d ok %v, want 1000 (FCOS's UID_MIN)", coreUID, ok)
	}

	p := filepath.Join(root, "etc/kiln/app.env")
	data, err := os.ReadFile(p)
	if err != nil || string(data) != "MODE=prod\n" {
		t.Fatalf("app.env: %q, %v", data, err)
	}
	assertOwner(t, p, 0o640, 1500, 1600)
	assertOwner(t, filepath.Join(root, "var/lib/kiln"), 0o700|os.ModeDir, 1500, 0)
	keys, err := os.ReadFile(filepath.Join(root, "home/core/.ssh/authorized_keys"))
	if err != nil || !strings.Contains(string(keys), "AAAAC3NzaC1lZDI1NTE5AAAAIKiln") {
		t.Errorf("core's authorized_keys: %q, %v", keys, err)
	}
	_ = gid

	if got := Wants(t, root, "hello.service"); !reflect.DeepEqual(got, []string{"multi-user.target"}) {
		t.Errorf("hello.service wanted by %v, want [multi-user.target]", got)
	}
	if got := Wants(t, root, "idle.service"); len(got) != 0 {
		t.Errorf("idle.service wanted by %v; only enabled units may be", got)
	}
}

func TestApplyIgnitionRejects(t *testing.T) {
	testutil.Tool(t, "ignition")
	testutil.Tool(t, "systemctl")
	if os.Geteuid() != 0 && !testutil.InCI() {
		t.Skip("Ignition sets owners: run as root")
	}
	// A file owned by a user the config never creates fails the files stage
	// on the server; the judge must fail the same way.
	bad := `{"ignition":{"version":"3.5.0"},"storage":{"files":[{"path":"/etc/x","user":{"name":"nosuchuser"},"contents":{"source":"data:,a"}}]}}`
	mustReject(t, "nosuchuser", func(tb testing.TB) { ApplyIgnition(tb, []byte(bad)) })
}

// assertOwner checks a path's mode and numeric owner.
func assertOwner(t *testing.T, p string, mode os.FileMode, uid, gid uint32) {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if st.Mode() != mode || sys.Uid != uid || sys.Gid != gid {
		t.Errorf("%s: mode %v uid %d gid %d, want %v %d %d", p, st.Mode(), sys.Uid, sys.Gid, mode, uid, gid)
	}
}

func TestExecPrograms(t *testing.T) {
	unit := "[Service]\nExecStartPre=-/usr/bin/podman pull x\nExecStart=@/usr/sbin/nft nft -f /etc/x\n" +
		"ExecStart=\nExecStop=+bash -c 'true' ; /usr/bin/true\nExecReload=/usr/bin/%i-reload\n" +
		"[X-Container]\nExec=/not/a/command\n[Socket]\nExecStartPost=/usr/local/bin/after \\\n  --flag\n"
	got := execPrograms(parseUnit(unit))
	want := []string{"/usr/bin/podman", "/usr/sbin/nft", "bash", "/usr/bin/true", "/usr/local/bin/after"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("execPrograms = %q, want %q", got, want)
	}
}

func TestParseDryRun(t *testing.T) {
	out := "---a.service---\n[Service]\nExecStart=/x\n\n---b-network.service---\n[Network]\n\n"
	got := parseDryRun(out)
	want := map[string]string{"a.service": "[Service]\nExecStart=/x\n", "b-network.service": "[Network]\n"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseDryRun = %q, want %q", got, want)
	}
}

// appliedUnitsConfig installs a script, a Quadlet container and a timer for
// a oneshot service that runs the script.
func appliedUnitsConfig(scriptMode int, script string) string {
	return `{
  "ignition": {"version": "3.5.0"},
  "storage": {"files": [
    {"path": "` + script + `", "mode": ` + fmt.Sprint(scriptMode) + `, "contents": {"source": "data:,%23!%2Fbin%2Fsh%0Aexit%200%0A"}},
    {"path": "/etc/containers/systemd/web.container", "mode": 420, "contents": {"source": "data:,%5BContainer%5D%0AImage%3Ddocker.io%2Flibrary%2Fnginx%3A1.27%0A%5BInstall%5D%0AWantedBy%3Dmulti-user.target%0A"}}
  ]},
  "systemd": {"units": [
    {"name": "kiln-backup.service", "contents": "[Service]\nType=oneshot\nExecStart=/usr/local/bin/kiln-backup\nExecStartPost=/usr/bin/podman ps\n"},
    {"name": "kiln-backup.timer", "enabled": true, "contents": "[Timer]\nOnCalendar=*-*-* 02:00:00\n[Install]\nWantedBy=timers.target\n"}
  ]}
}`
}

func TestVerifyAppliedUnits(t *testing.T) {
	testutil.Tool(t, "ignition")
	testutil.Tool(t, "systemctl")
	testutil.Tool(t, "quadlet")
	testutil.Tool(t, "systemd-analyze")
	if os.Geteuid() != 0 && !testutil.InCI() {
		t.Skip("Ignition sets owners: run as root")
	}
	root := ApplyIgnition(t, []byte(appliedUnitsConfig(0o755, "/usr/local/bin/kiln-backup")))
	if got := Wants(t, root, "kiln-backup.timer"); !reflect.DeepEqual(got, []string{"timers.target"}) {
		t.Errorf("kiln-backup.timer wanted by %v, want [timers.target]", got)
	}
	var units map[string]string
	mustAccept(t, func(tb testing.TB) { units = VerifyAppliedUnits(tb, root) })
	if want := []string{"kiln-backup.service", "kiln-backup.timer", "web.service"}; !reflect.DeepEqual(sortedKeys(units), want) {
		t.Errorf("judged units %v, want %v", sortedKeys(units), want)
	}
	if got := InstalledBy(units["web.service"]); !reflect.DeepEqual(got, []string{"multi-user.target"}) {
		t.Errorf("web.service installed by %v, want [multi-user.target]", got)
	}

	t.Run("script not installed", func(t *testing.T) {
		root := ApplyIgnition(t, []byte(appliedUnitsConfig(0o755, "/usr/local/bin/other")))
		mustReject(t, "runs /usr/local/bin/kiln-backup, which the config does not install", func(tb testing.TB) { VerifyAppliedUnits(tb, root) })
	})
	t.Run("script not executable", func(t *testing.T) {
		root := ApplyIgnition(t, []byte(appliedUnitsConfig(0o644, "/usr/local/bin/kiln-backup")))
		mustReject(t, "not executable", func(tb testing.TB) { VerifyAppliedUnits(tb, root) })
	})
}

func TestExec(t *testing.T) {
	testutil.Tool(t, "sh")
	out, err := Exec(t, Command{Name: "sh", Args: []string{"-c", "echo out; echo err >&2; exit 3"}})
	if !errors.Is(err, ErrJudgeFailed) || out.Stdout != "out\n" || out.Stderr != "err\n" {
		t.Fatalf("Exec = %+v, %v; want stdout, stderr and ErrJudgeFailed", out, err)
	}
	mustReject(t, "err", func(tb testing.TB) { RunJudge(tb, "sh", "-c", "echo err >&2; exit 1") })
	if got := RunJudge(t, "sh", "-c", "echo ok"); got != "ok\n" {
		t.Errorf("RunJudge = %q", got)
	}
	start := time.Now()
	_, err = Exec(t, Command{Name: "sh", Args: []string{"-c", "sleep 30"}, Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrJudgeTimeout) || time.Since(start) > 10*time.Second {
		t.Fatalf("a hung judge: %v after %s, want ErrJudgeTimeout promptly", err, time.Since(start))
	}
}

func TestInstalledBy(t *testing.T) {
	unit := "[Unit]\nWantedBy=ignored.target\n[Install]\nWantedBy=b.target a.target\nRequiredBy=c.target\nWantedBy=\nWantedBy=d.target\n"
	if got, want := InstalledBy(unit), []string{"c.target", "d.target"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("InstalledBy = %v, want %v (an empty WantedBy= resets the list)", got, want)
	}
}
