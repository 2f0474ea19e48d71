//go:build vmtest

// Package testos_test boots the default appliance as one system: Clipper,
// built by `kiln build` on the FCOS-shaped test OS (make testos), in QEMU,
// from its own disk. It is behind the vmtest build tag (make vmtest) because
// one boot takes minutes under TCG; every assertion shares that one boot.
//
// What the test OS does not reproduce of Fedora CoreOS is listed in
// testos/README.md (no SELinux, ext4 root, no ostree, no network in the
// initramfs, Debian's GRUB without blscfg). A service whose image has no
// stand-in in the test OS's storage (testos/standins) cannot run, nor can
// what requires it; every check that needs one says so in the test output
// and tightens by itself once the stand-in exists.
package testos_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/internal/vm"
)

// diskSize is what the VM's disk is grown to before boot, as a VPS disk is
// larger than the image written to it: Clipper's data partition starts at
// 10 GiB.
const diskSize = 16 << 30

// Bounds of the waits, generous for TCG on a busy two-core machine; the
// times measured are printed, so a slow boot shows before a bound is hit.
// The wait for healthy services goes on past healthyWithin while services
// still change state (see keepWaiting).
const (
	sshWithin     = 15 * time.Minute
	healthyWithin = 20 * time.Minute
)

func TestClipperBoots(t *testing.T) {
	testStart := time.Now()
	root := testutil.RepoRoot(t)
	base := testutil.TestOS(t, "make vmtest", "testos-metal.raw")[0]
	qemu := testutil.Tool(t, "qemu-system-x86_64")
	dir := t.TempDir()

	// Clipper's own spec with only the example SSH key replaced.
	key, err := vm.NewKey("kiln-vmtest")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "builder", "appliances", "clipper.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data = withKey(t, "clipper.yaml", data, key)
	// And backup.s3.endpoint: the backups go to an S3 server on the host
	// (backup_test.go), which the guest reaches through QEMU's gateway.
	s3 := startS3(t)
	if data, err = pointBackupAt(data, s3.guestEndpoint()); err != nil {
		t.Fatal(err)
	}
	// base.release stays: the test OS's BLS entry names the FCOS release
	// it stands in for (testos/build.sh), and kiln checks it as on FCOS.
	specPath := filepath.Join(dir, "clipper.yaml")
	app := writeSpec(t, specPath, data)
	// The bucket exists, as an operator creates it before the first backup.
	if err := s3.backend.CreateBucket(app.Backup.S3.Bucket); err != nil {
		t.Fatal(err)
	}

	kiln := filepath.Join(dir, "kiln")
	run(t, root, "go", "build", "-o", kiln, "./cmd/kiln")
	out := filepath.Join(dir, "out")
	run(t, root, kiln, "build", "-f", specPath, "-o", out, "--platform", "metal", "--format", "raw", "--base-image", base, "--insecure-base")
	// The artifact stays as built (the secrets check searches it); the VM
	// boots a sparse copy grown to a VPS-sized disk.
	artifact := filepath.Join(out, "clipper-1.0.0-metal.raw")
	disk := filepath.Join(dir, "disk.raw")

	ports := portTable(app)
	hostPorts, err := vm.FreePorts(len(ports))
	if err != nil {
		t.Fatal(err)
	}
	fwd := map[int]int{}
	var forwards []vm.Forward
	for i, p := range ports {
		fwd[p.port] = hostPorts[i]
		forwards = append(forwards, vm.Forward{Host: hostPorts[i], Guest: p.port})
	}
	serial := filepath.Join(root, "testos", "out", "vmtest-clipper-serial.log")
	accel := os.Getenv("KILN_VM_ACCEL")
	if accel == "" {
		// KVM was measured broken on the CI machines (nested: "KVM
		// internal error … emulation failure" in the guest's kernel, a
		// hang in GRUB), so TCG unless asked.
		accel = vm.AccelTCG
	}
	cfg := vm.Config{Disk: disk, QEMU: qemu, Accel: accel, Forwards: forwards, SerialLog: serial}
	if os.Getenv("KILN_VM_TCG_SINGLE") != "" {
		cfg.SingleThread = true
	}

	// For a look inside while the test runs: KILN_VM_KEY=FILE writes the
	// login key (ssh -i FILE -p PORT deploy@127.0.0.1), KILN_VM_HOLD=10m
	// keeps the machine up that long after the checks.
	if path := os.Getenv("KILN_VM_KEY"); path != "" {
		if err := key.WritePrivate(path); err != nil {
			t.Fatal(err)
		}
		t.Logf("login: ssh -i %s -p %d deploy@127.0.0.1", path, fwd[app.SSH.Port])
	}

	var times []string
	var start time.Time
	mark := func(what string) {
		d := time.Since(start).Round(time.Second)
		times = append(times, fmt.Sprintf("%s %s", what, d))
		t.Logf("%s %s after power-on", what, d)
	}
	defer func() {
		times = append(times, fmt.Sprintf("whole test %s", time.Since(testStart).Round(time.Second)))
		t.Logf("times: power-on → %s", strings.Join(times, ", "))
	}()
	if d, err := time.ParseDuration(os.Getenv("KILN_VM_HOLD")); err == nil {
		defer func() {
			t.Logf("holding the machine for %s (KILN_VM_HOLD)", d)
			time.Sleep(d)
		}()
	}

	c, start := bootFirst(t, artifact, cfg, fwd[app.SSH.Port], key)
	mark("SSH login")
	if oops := kernelOops(tail(serial, 1<<20)); oops != "" {
		t.Errorf("the guest's kernel oopsed while booting:\n%s", oops)
	}

	// The appliance's containers, the images in the test OS's storage, and
	// so which containers cannot run here (and why).
	qs, err := readQuadlets(mustRun(t, c, quadletUnits))
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]bool{}
	for _, ref := range strings.Fields(mustRun(t, c, "sudo podman images --format '{{.Repository}}:{{.Tag}}'")) {
		images[ref] = true
	}
	blocked := blockedBy(qs, func(ref string) bool { return images[ref] })
	for _, q := range qs {
		if why, ok := blocked[q.Name]; ok {
			t.Logf("SKIP %s: %s", q.Name, why)
		}
	}

	// Wait until every container that can run is active and healthy
	// (Notify=healthy: a unit with a health check is active only once it
	// passed), or until the bound.
	state, settled := waitHealthy(t, c, qs, blocked, time.Now().Add(healthyWithin))
	if settled {
		mark("all runnable services healthy")
	} else {
		mark("stopped waiting for healthy services")
	}

	t.Run("services healthy", func(t *testing.T) {
		for _, q := range qs {
			if _, ok := blocked[q.Name]; ok {
				continue
			}
			s := state[q.Name]
			if s.ok(q) {
				continue
			}
			checks, _ := c.Run("sudo podman inspect --format '{{json .State.Health}}' " + q.Name)
			if prog := missingProgram(checks); prog != "" {
				// kiln's recipe runs the check with a program of the real
				// image; a stand-in that lacks it cannot pass, which says
				// nothing of kiln. Everything that needs the container
				// running skips it from here on.
				blocked[q.Name] = "its health check runs " + prog + ", which the stand-in image lacks"
				t.Logf("SKIP %s: %s", q.Name, blocked[q.Name])
				continue
			}
			journal, _ := c.Run("sudo journalctl -b --no-pager -o cat -n 20 -u " + q.Name + ".service")
			t.Errorf("%s: unit %s (restarted %d times), container %q (image %s)\nhealth log: %s\n%s", q.Name, s.active, s.restarts, s.status, q.Image, checks, journal)
		}
	})

	t.Run("no failed unit", func(t *testing.T) {
		list := mustRun(t, c, "systemctl list-units --all --state=failed,auto-restart --plain --no-legend --no-pager | awk '{print $1}'")
		ids := map[string]string{} // container ID -> name
		if strings.Contains(list, "-") {
			ps := mustRun(t, c, "sudo podman ps -a --no-trunc --format '{{.ID}} {{.Names}}'")
			for _, line := range strings.Split(ps, "\n") {
				if id, name, ok := strings.Cut(line, " "); ok {
					ids[id] = name
				}
			}
		}
		for _, unit := range strings.Fields(list) {
			journal, _ := c.Run("sudo journalctl -b --no-pager -o cat -n 30 -u " + unit)
			// Podman runs each health check as a transient unit named
			// after the container's ID; a check that failed leaves it
			// failed. Whether the container is healthy is the
			// "services healthy" check's; here it is named.
			if m := healthcheckUnit.FindStringSubmatch(unit); m != nil {
				name := ids[m[1]]
				switch {
				case name == "":
					t.Logf("%s: a health check of a container that is gone failed", unit)
				case blocked[name] != "":
					t.Logf("SKIP %s: a health check of %s failed: %s", unit, name, blocked[name])
				case state[name].health == "healthy":
					t.Logf("%s: a health check of %s failed before it became healthy:\n%s", unit, name, journal)
				default:
					t.Errorf("%s: a health check of %s failed:\n%s", unit, name, journal)
				}
				continue
			}
			if why := expectedFailure(unit, blocked); why != "" {
				t.Logf("SKIP %s failed: %s", unit, why)
				continue
			}
			t.Errorf("%s failed:\n%s", unit, journal)
		}
	})

	t.Run("by name", func(t *testing.T) {
		// Each stand-in resolves and dials, through aardvark-dns on the
		// appliance network, the services the real one talks to
		// (backend → pgbouncer → postgres, grafana → prometheus and loki,
		// alloy → loki, prometheus → its targets).
		diagnosed := false
		hostNetwork := map[string]bool{}
		for _, q := range qs {
			hostNetwork[q.Name] = q.HostNetwork
		}
		// One bound for all: a stand-in that started last may need a
		// few dials to find its peers.
		deadline := time.Now().Add(90 * time.Second)
		for _, s := range readStandins(t, filepath.Join(root, "testos", "standins")) {
			if len(s.dial) == 0 {
				continue
			}
			if why, ok := blocked[s.name]; ok {
				t.Logf("SKIP %s → %v: %s", s.name, s.dial, why)
				continue
			}
			deps, err := standinDeps(c, s, deadline)
			if err != nil {
				t.Errorf("%s: %v", s.name, err)
				continue
			}
			for _, target := range s.dial {
				host := target[:strings.LastIndex(target, ":")]
				d, ok := deps[target]
				switch {
				case ok && d.Connected:
					t.Logf("%s → %s by name", s.name, target)
				case hostNetwork[host]:
					// kiln points its peers at the bridge's gateway
					// instead (Prometheus scrapes the node exporter there).
					t.Logf("SKIP %s → %s: %s shares the host's network and has no name on the appliance network", s.name, target, host)
				case blocked[host] != "":
					t.Logf("SKIP %s → %s: %s", s.name, target, blocked[host])
				case !ok:
					t.Errorf("%s has not dialled %s", s.name, target)
				default:
					t.Errorf("%s cannot reach %s by name: %s%s", s.name, target, d.Resolve, d.Connect)
					if !diagnosed {
						diagnosed = true
						// What a failed lookup depends on: aardvark-dns
						// listening on the bridge, the bridge's name, the
						// input chain's counters.
						diag, _ := c.Run("sudo ss -lunp 'sport = :53'; ip -br addr; sudo nft list chain inet kiln input; sudo nft list tables")
						t.Logf("DNS on the appliance network:\n%s", diag)
					}
				}
			}
		}
	})

	t.Run("prometheus targets up", func(t *testing.T) {
		checkPrometheusUp(t, c, blocked)
	})

	t.Run("first boot", func(t *testing.T) {
		mustRun(t, c, "test ! -e /boot/ignition.firstboot && test ! -e /boot/ignition/config.ign")
		size, err := c.Run("findmnt -bno SIZE /")
		if err != nil {
			t.Fatal(err)
		}
		// Root grew from the image's ~2 GiB up to the data partition.
		if n, _ := strconv.ParseInt(strings.TrimSpace(size), 10, 64); n < 8<<30 {
			t.Errorf("root filesystem is %s bytes; first boot should have grown it up to the data partition at 10 GiB", strings.TrimSpace(size))
		}
		if got := strings.TrimSpace(mustRun(t, c, "readlink -f /dev/disk/by-id/coreos-boot-disk")); got != "/dev/vda" {
			t.Errorf("coreos-boot-disk is %q, want /dev/vda", got)
		}
	})

	t.Run("firewall loaded", func(t *testing.T) {
		if got := strings.TrimSpace(mustRun(t, c, "systemctl is-active kiln-firewall.service")); got != "active" {
			t.Errorf("kiln-firewall.service is %s", got)
		}
		rules := mustRun(t, c, "sudo nft list table inet kiln")
		if !strings.Contains(rules, "policy drop") {
			t.Errorf("the kiln table has no default-drop chain:\n%s", rules)
		}
	})

	t.Run("data filesystem by label", func(t *testing.T) {
		got := strings.Fields(mustRun(t, c, "findmnt -n -o FSTYPE,LABEL,PARTLABEL "+app.Data.Path))
		if want := []string{app.Data.Format, app.Data.Label, app.Data.Label}; !slices.Equal(got, want) {
			t.Errorf("%s: findmnt says %q, want %q (the data partition, mounted by label)", app.Data.Path, got, want)
		}
	})

	t.Run("secrets", func(t *testing.T) {
		checkSecrets(t, c, app, artifact)
	})

	t.Run("backup timers", func(t *testing.T) {
		checkTimers(t, c, app)
	})

	t.Run("ssh keys only", func(t *testing.T) {
		refused, err := vm.PasswordRefused(fwd[app.SSH.Port], "deploy")
		if err != nil {
			t.Fatal(err)
		}
		if !refused {
			t.Error("sshd accepted a password login")
		}
	})

	t.Run("only public ports answer", func(t *testing.T) {
		byPort := map[int]port{}
		var nums []int
		for _, p := range ports {
			byPort[p.port] = p
			nums = append(nums, p.port)
		}
		// QEMU's user network takes the connections on the host; a few at
		// a time keep the guest from missing one.
		open, err := probePorts(nums, 3, func(n int) (bool, error) {
			p := byPort[n]
			want, _ := p.wanted(blocked)
			// sshd forks a session process per connection, which takes
			// seconds under TCG on a busy host; a dropped port waits the
			// whole time, so private ports get less.
			wait := 5 * time.Second
			if want {
				wait = 30 * time.Second
			}
			send := []byte("GET / HTTP/1.0\r\n\r\n")
			if p.service == "" {
				send = nil // sshd speaks first
			}
			return portAnswers(probeTries, func() (bool, error) {
				// Not the login's context: its bound runs from power-on
				// and had passed by here, which failed every dial at once.
				return vm.Answers(context.Background(), fwd[n], send, wait), nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		comparePorts(t, ports, blocked, open, "")
	})

	t.Run("only public ports answer over IPv6", func(t *testing.T) {
		checkIPv6Ports(t, c, ports, blocked)
	})

	// Last: from here on the appliance has S3 keys, and the WAL shipper
	// starts writing to the bucket every minute.
	t.Run("backup to S3", func(t *testing.T) {
		took := checkBackup(t, c, app, s3)
		times = append(times, fmt.Sprintf("backup run %s", took))
	})
}

// promUpWithin bounds the wait for every target to have been up within
// upWindow: a target that has never answered by then is down.
const promUpWithin = 4 * time.Minute

// checkPrometheusUp asks Prometheus (in the guest, on its host port) for
// its active targets and for max_over_time(up[upWindow]) until every target
// that can run has been up within the window, or until promUpWithin; it
// prints each target's last scrape duration, which shows how close a slow
// target runs to the scrape timeout.
func checkPrometheusUp(t *testing.T, c *vm.Client, blocked map[string]string) {
	t.Helper()
	var targets []promTarget
	var notUp []promTarget
	skip := func(tg promTarget) bool {
		if why := blocked[hostOf(tg)]; why != "" {
			t.Logf("SKIP target %s: %s", tg.ScrapeURL, why)
			return true
		}
		return false
	}
	if why, ok := blocked["prometheus"]; ok {
		t.Skipf("SKIP: prometheus cannot run here: %s", why)
	}
	deadline := time.Now().Add(promUpWithin)
	for {
		body, err := c.Run("curl -fsS --max-time 20 http://127.0.0.1:9090/api/v1/targets")
		var tr struct {
			Status string `json:"status"`
			Data   struct {
				Active []promTarget `json:"activeTargets"`
			} `json:"data"`
		}
		if err != nil || json.Unmarshal([]byte(body), &tr) != nil || tr.Status != "success" {
			t.Fatalf("Prometheus's targets API does not answer: %v %.200q", err, body)
		}
		targets = tr.Data.Active
		if len(targets) == 0 {
			t.Fatal("Prometheus has no active target")
		}
		body, err = c.Run("curl -fsS --max-time 20 -G http://127.0.0.1:9090/api/v1/query --data-urlencode 'query=max_over_time(up[" + upWindow + "])'")
		var qr struct {
			Status string `json:"status"`
			Data   struct {
				Result []promSample `json:"result"`
			} `json:"data"`
		}
		if err != nil || json.Unmarshal([]byte(body), &qr) != nil || qr.Status != "success" {
			t.Fatalf("Prometheus's query API: %v %.200q", err, body)
		}
		quiet := func(tg promTarget) bool { _, ok := blocked[hostOf(tg)]; return ok }
		notUp = targetsNotUp(targets, qr.Data.Result, quiet)
		if len(notUp) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(15 * time.Second)
	}
	for _, tg := range targets {
		if skip(tg) {
			continue
		}
		t.Logf("target %s (job %s): %s now, last scrape took %.1fs", tg.ScrapeURL, tg.Labels["job"], tg.Health, tg.LastScrapeDuration)
	}
	for _, tg := range notUp {
		t.Errorf("target %s (job %s) has not been up once in the last %s: %s (last scrape took %.1fs)", tg.ScrapeURL, tg.Labels["job"], upWindow, tg.LastError, tg.LastScrapeDuration)
	}
}

// hostOf is the host part of a target's scrape URL: a container's name, or
// the bridge's gateway for the node exporter on the host's network.
func hostOf(tg promTarget) string {
	host := tg.ScrapeURL
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	host, _, _ = strings.Cut(host, "/")
	host, _, _ = net.SplitHostPort(host)
	return host
}

// guestState is what the guest says of one container.
type guestState struct {
	active, status, health string
	restarts               int
}

// ok says whether the container runs as it should: its unit active and,
// when it has a health check, healthy (a container that was just
// restarted has no health status yet).
func (s guestState) ok(q quadlet) bool {
	return s.active == "active" && (s.health == "healthy" || !q.Health && s.health == "")
}

// waitHealthy polls the containers that can run until each is active and
// not unhealthy or starting, or until deadline, and returns the last state
// and whether all of them got there.
func waitHealthy(t *testing.T, c *vm.Client, qs []quadlet, blocked map[string]string, deadline time.Time) (map[string]guestState, bool) {
	t.Helper()
	var units []string
	for _, q := range qs {
		units = append(units, q.Name+".service")
	}
	var (
		lastProgress string
		lastChange   = time.Now()
	)
	for {
		// One round trip per poll: each podman call costs seconds of
		// emulated CPU.
		out, _ := c.Run("systemctl is-active " + strings.Join(units, " ") +
			"; echo ==; systemctl show -P NRestarts " + strings.Join(units, " ") +
			"; echo ==; sudo podman ps -a --format '{{.Names}}\t{{.Status}}'")
		parts := strings.SplitN(out, "==\n", 3)
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		states, restarts, ps := strings.Fields(parts[0]), strings.Fields(parts[1]), parts[2]
		state := map[string]guestState{}
		for i, q := range qs {
			s := guestState{active: "unknown"}
			if i < len(states) {
				s.active = states[i]
			}
			if i < len(restarts) {
				s.restarts, _ = strconv.Atoi(restarts[i])
			}
			state[q.Name] = s
		}
		for _, line := range strings.Split(ps, "\n") {
			name, status, ok := strings.Cut(line, "\t")
			if s, known := state[name]; ok && known {
				s.status, s.health = status, health(status)
				state[name] = s
			}
		}
		var waiting, progress []string
		settled := true
		for _, q := range qs {
			s := state[q.Name]
			if _, ok := blocked[q.Name]; ok {
				continue
			}
			if s.ok(q) {
				continue
			}
			settled = false
			// A unit restarted twice (its health check killed it, or it
			// crashed) will not get there by waiting longer, nor will a
			// check that cannot find its program.
			if s.restarts >= 2 {
				continue
			}
			if s.health == "starting" || s.health == "unhealthy" {
				checks, _ := c.Run("sudo podman inspect --format '{{json .State.Health}}' " + q.Name)
				if missingProgram(checks) != "" {
					continue
				}
			}
			waiting = append(waiting, fmt.Sprintf("%s (%s, %s)", q.Name, s.active, s.status))
			// Not the status itself: podman's "Up 3 minutes" changes
			// on every poll.
			phase, _, _ := strings.Cut(s.status, " ") // Created, Up, Exited…
			progress = append(progress, strings.Join([]string{q.Name, s.active, phase, s.health, strconv.Itoa(s.restarts)}, " "))
		}
		now := time.Now()
		if p := strings.Join(progress, ", "); p != lastProgress {
			lastProgress, lastChange = p, now
		}
		if len(waiting) == 0 || !keepWaiting(now, deadline, lastChange) {
			if len(waiting) > 0 {
				t.Logf("still waiting at the bound (no change for %s): %s", now.Sub(lastChange).Round(time.Second), strings.Join(waiting, ", "))
			}
			return state, settled
		}
		time.Sleep(10 * time.Second)
	}
}

// expectedFailure says why a failed unit is expected in the test OS, or ""
// when its failure is a finding: a container that cannot run (no stand-in
// image, or it requires one without) and the Quadlet .image unit that tried
// to pull its image.
func expectedFailure(unit string, blocked map[string]string) string {
	name := strings.TrimSuffix(unit, ".service")
	if why, ok := blocked[name]; ok {
		return why
	}
	if img, ok := strings.CutSuffix(name, "-image"); ok {
		if why, ok := blocked[img]; ok && strings.HasPrefix(why, "no stand-in image") {
			return "its pull fails: " + why + " and no registry is reachable"
		}
	}
	return ""
}

// healthcheckUnit matches the transient unit Podman runs a container's
// health check in: the container's full ID, a dash, a random suffix.
var healthcheckUnit = regexp.MustCompile(`^([0-9a-f]{64})-[0-9a-f]+\.service$`)

// checkSecrets asserts that every secret of the spec is a file of mode 0600
// owned by root on the data filesystem, and that no secret's value is
// anywhere in the built image: they are generated on first boot.
func checkSecrets(t *testing.T, c *vm.Client, app *spec.Appliance, artifact string) {
	dir := app.Data.Path + "/secrets"
	mnt := strings.Fields(mustRun(t, c, "findmnt -n -o TARGET,LABEL --target "+dir))
	if want := []string{app.Data.Path, app.Data.Label}; !slices.Equal(mnt, want) {
		t.Errorf("%s is on %q, want the data filesystem %q", dir, mnt, want)
	}
	// One line per file: mode, owner, name, value in base64.
	list := mustRun(t, c, "sudo sh -c 'cd "+dir+" && for f in *; do printf \"%s %s %s\\n\" \"$(stat -c \"%a %U\" \"$f\")\" \"$f\" \"$(base64 -w0 \"$f\")\"; done'")
	values := map[string][]byte{}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Errorf("unexpected line %q in %s", line, dir)
			continue
		}
		if f[0] != "600" || f[1] != "root" {
			t.Errorf("secret %s: mode %s owner %s, want 600 root", f[2], f[0], f[1])
		}
		v, err := base64.StdEncoding.DecodeString(f[3])
		if err != nil || len(v) < 16 {
			t.Errorf("secret %s: %d bytes (%v), want a generated value", f[2], len(v), err)
			continue
		}
		values[f[2]] = v
	}
	var names []string
	var needles [][]byte
	for _, s := range app.Secrets {
		v, ok := values[s.Name]
		if !ok {
			t.Errorf("secret %s missing from %s", s.Name, dir)
			continue
		}
		names = append(names, s.Name)
		needles = append(needles, v)
	}
	if len(needles) == 0 {
		return
	}
	found, err := findInFile(artifact, needles)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range found {
		if f {
			t.Errorf("the value of secret %s is in the built image %s", names[i], artifact)
		}
	}
	t.Logf("%d secrets of mode 0600 on %s; none of their values is in %s", len(needles), app.Data.Label, filepath.Base(artifact))
}

// standinDeps asks a stand-in what it found when it dialled its peers by
// name. The stand-in dials every few seconds, so an answer that says a
// peer is not reached yet is asked again until deadline.
func standinDeps(c *vm.Client, s standin, deadline time.Time) (map[string]dep, error) {
	port := s.listen[strings.LastIndex(s.listen, ":")+1:]
	var deps map[string]dep
	for {
		out, err := c.Run("sudo podman exec " + s.name + " wget -q -O - http://127.0.0.1:" + port + "/standin/deps")
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(out), &deps); err != nil {
			return nil, fmt.Errorf("%v: %s", err, out)
		}
		all := true
		for _, target := range s.dial {
			all = all && deps[target].Connected
		}
		if all || time.Now().After(deadline) {
			return deps, nil
		}
		time.Sleep(10 * time.Second)
	}
}

// dep is what a stand-in reports of one peer (testos/standin).
type dep struct {
	Connected bool   `json:"connected"`
	Resolve   string `json:"resolve_error"`
	Connect   string `json:"connect_error"`
}

// standin is one line of testos/standins.
type standin struct {
	ref, name, listen string
	dial              []string
}

func readStandins(t *testing.T, path string) []standin {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []standin
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 4 {
			t.Fatalf("%s: %q: want REFERENCE NAME LISTEN DIAL", path, line)
		}
		s := standin{ref: f[0], name: f[1], listen: f[2]}
		if f[3] != "-" {
			s.dial = strings.Split(f[3], ",")
		}
		out = append(out, s)
	}
	return out
}

func mustRun(t *testing.T, c *vm.Client, cmd string) string {
	t.Helper()
	out, err := c.Run(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
}

// tail returns the last n lines of the serial log, without the terminal
// escapes GRUB and systemd write.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprint(err)
	}
	data = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\r`).ReplaceAll(data, nil)
	lines := strings.Split(string(data), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// bootFirst boots a fresh sparse copy of artifact, grown to diskSize, and
// logs in over SSH (powerOn, which boots a fresh copy again after a guest
// kernel's panic); it returns the session and the power-on time.
func bootFirst(t *testing.T, artifact string, cfg vm.Config, sshPort int, key *vm.Key) (*vm.Client, time.Time) {
	t.Helper()
	_, c, on := powerOn(t, "clipper", cfg, sshWithin, sshPort, key, func() {
		_ = os.Remove(cfg.Disk)
		run(t, filepath.Dir(cfg.Disk), "cp", "--sparse=always", artifact, cfg.Disk)
		if err := os.Truncate(cfg.Disk, diskSize); err != nil {
			t.Fatal(err)
		}
	})
	return c, on
}

// powerOn boots cfg and logs in over SSH as deploy within the given time;
// it returns the machine, the session and the power-on time. prepare, when
// not nil, writes the machine's disks afresh before each boot (the disk's
// copy of the artifact, a blank volume), and makes the boot one that can
// be repeated: a guest kernel that panics before SSH answers is then booted
// again (up to panicBoots boots), said in the log with the panic. The CI
// machine's TCG took guests down with "Fatal exception in interrupt" twice
// on commits that booted everywhere else — once two minutes into the
// Clipper boot, once 8 s into a live ISO's kernel, before anything of the
// appliance ran — which is the emulator's failure, not the appliance's. A
// panic on the last boot or on a boot that cannot be repeated, or any
// other failure, fails the test with the console's end and the oops last.
func powerOn(t *testing.T, what string, cfg vm.Config, within time.Duration, sshPort int, key *vm.Key, prepare func()) (*vm.Machine, *vm.Client, time.Time) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		if prepare != nil {
			prepare()
		}
		on := time.Now()
		m, err := vm.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Stop)
		t.Logf("%s: booting (%s); serial console in %s", what, strings.Join(cfg.Args()[:2], " "), cfg.SerialLog)
		ctx, cancel := context.WithTimeout(context.Background(), within)
		c, err := vm.Dial(ctx, m, sshPort, "deploy", key)
		cancel()
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return m, c, on
		}
		m.Stop()
		oops := kernelOops(tail(cfg.SerialLog, 1<<20))
		if prepare != nil && bootAgain(attempt, oops) {
			kept := fmt.Sprintf("%s.panic%d", cfg.SerialLog, attempt)
			_ = os.Rename(cfg.SerialLog, kept)
			t.Logf("RETRY: %s: the guest's kernel panicked %s after power-on, before SSH answered (boot %d of at most %d; console kept in %s); booting afresh. The oops:\n%s\nin short:\n%s",
				what, time.Since(on).Round(time.Second), attempt, panicBoots, kept, oops, oopsSummary(oops))
			continue
		}
		msg := fmt.Sprintf("%s: %v\nQEMU: %s\nserial console (end):\n%s", what, err, m.Output(), tail(cfg.SerialLog, 60))
		if oops != "" {
			// Last, where a CI log's excerpt keeps it.
			msg += fmt.Sprintf("\nthe guest's kernel oopsed (boot %d of at most %d):\n%s\nin short:\n%s", attempt, panicBoots, oops, oopsSummary(oops))
		}
		t.Fatal(msg)
	}
}

// exampleKey is the example deploy key of kiln's specs, which the VM tests
// replace with a key of their own.
var exampleKey = regexp.MustCompile(`(?m)^(\s*- )ssh-ed25519 \S+ deploy@example$`)

// withKey returns the spec data (of the file name) with its example key
// replaced by key's.
func withKey(t *testing.T, name string, data []byte, key *vm.Key) []byte {
	t.Helper()
	if !exampleKey.Match(data) {
		t.Fatalf("%s no longer has the example key the test replaces", name)
	}
	return exampleKey.ReplaceAll(data, []byte("${1}"+key.Authorized))
}

// writeSpec writes the spec data to path and loads it as kiln does.
func writeSpec(t *testing.T, path string, data []byte) *spec.Appliance {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	app, _, diags := spec.Load(path, data)
	if app == nil {
		t.Fatalf("%s does not load: %v", filepath.Base(path), diags)
	}
	return app
}
