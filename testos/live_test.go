//go:build vmtest

package testos_test

// TestLiveBoots boots kiln's live artifacts on the test OS: a small
// appliance (testdata/upgrade-volume.yaml: Clipper's postgres and redis,
// its data on an attached volume, no install device, so both are live
// boots, not installer boots) built with --format pxe and --format iso
// from the test OS's live files (make testos: testos/out/testos-live-pxe/
// and testos/out/testos-live.iso), each booted in QEMU with a blank data
// volume and checked as `kiln test-boot` checks a disk boot
// (internal/bootcheck), plus what only a live boot has to show.
//
// PXE: QEMU loads the live kernel and one initrd, the live initramfs and
// kiln's config initrd concatenated, as PXE loaders pass several initrds;
// the kernel arguments are those of kiln's iPXE script, the rootfs URL's
// host rewritten to an HTTP server the test runs on the host (QEMU's
// gateway, 10.0.2.2), plus the serial console and the emulator's settings
// (console=, tsc=reliable, panic=) that the disk image's grub.cfg also sets.
// ISO: the built ISO from the emulated CD drive, through SeaBIOS and GRUB.
//
// What of FCOS's live boot the test OS does not reproduce is listed in
// testos/README.md ("Live boots") and in the initramfs module
// (rootfs/usr/lib/dracut/modules.d/31kiln-live/kiln-live.sh).

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/images"
	"github.com/kiln-dev/kiln/internal/bootcheck"
	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/internal/vm"
)

// Bounds of one live boot (a small appliance; the times are printed).
const (
	liveSSHWithin     = 12 * time.Minute
	liveHealthyWithin = 8 * time.Minute
	// liveMemoryMiB: the PXE boot keeps the fetched rootfs in RAM, as
	// FCOS's does (FCOS asks for 2 GiB besides the appliance).
	liveMemoryMiB = 4096
	// The URL the bundle is built for; the test serves it on the host.
	livePXEURL = "http://kiln-pxe.invalid/live"
	// liveKarg is an extra kernel argument (kiln build --karg): kiln
	// writes it into the ISO's kernel-argument area and the iPXE script.
	liveKarg = "kiln.vmtest=live"
)

func TestLiveBoots(t *testing.T) {
	root := testutil.RepoRoot(t)
	live := testutil.TestOS(t, "make vmtest-live", "testos-live-pxe", "testos-live.iso")
	pxeBase, isoBase := live[0], live[1]
	qemu := testutil.Tool(t, "qemu-system-x86_64")
	dir := t.TempDir()
	kiln := filepath.Join(dir, "kiln")
	run(t, root, "go", "build", "-o", kiln, "./cmd/kiln")
	key, err := vm.NewKey("kiln-vmtest")
	if err != nil {
		t.Fatal(err)
	}

	// The spec, with the test's key: data.mode volume and no
	// targets.install, so the ISO and PXE boots run the appliance live.
	name := "upgrade-volume.yaml"
	data, err := os.ReadFile(filepath.Join(root, "testos", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	data = withKey(t, name, data, key)
	specPath := filepath.Join(dir, name)
	app := writeSpec(t, specPath, data)
	built := filepath.Join(dir, "out")
	start := time.Now()
	run(t, root, kiln, "build", "-f", specPath, "-o", built, "--platform", "metal", "--format", "iso", "--format", "pxe",
		"--base-iso", isoBase, "--base-pxe", pxeBase, "--pxe-url", livePXEURL, "--karg", liveKarg, "--insecure-base")
	t.Logf("built the ISO and the PXE bundle in %s", time.Since(start).Round(time.Second))
	m := readManifest(t, built)
	for _, a := range m.Artifacts {
		if a.Boot == "installer" {
			t.Fatalf("%s is an installer boot (install device %s): the test boots live artifacts", a.Name, a.InstallDevice)
		}
	}
	prefix := fmt.Sprintf("%s-%s", app.Name, app.Version)

	t.Run("pxe", func(t *testing.T) {
		srv := serveDir(t, built)
		kernel, args := ipxeBoot(t, filepath.Join(built, prefix+"-pxe.ipxe"))
		args = strings.ReplaceAll(args, livePXEURL, "http://10.0.2.2:"+srv+"/live")
		if !strings.Contains(args, "coreos.live.rootfs_url=http://10.0.2.2:") {
			t.Fatalf("the iPXE script's arguments %q fetch no rootfs from %s", args, livePXEURL)
		}
		files, err := os.ReadDir(pxeBase)
		if err != nil {
			t.Fatal(err)
		}
		var initramfs string
		for _, f := range files {
			if strings.Contains(f.Name(), "-live-initramfs") {
				initramfs = filepath.Join(built, f.Name())
			}
		}
		if filepath.Base(kernel) == "" || initramfs == "" {
			t.Fatalf("no live kernel or initramfs in %s", built)
		}
		initrd := filepath.Join(t.TempDir(), "initrd.img")
		concat(t, initrd, initramfs, filepath.Join(built, prefix+"-pxe.ign.img"))
		b := liveBoot{t: t, app: app, key: key, qemu: qemu, what: "pxe", manifest: m,
			artifact: filepath.Join(built, prefix+"-pxe.ign.img"), cmdline: "coreos.live.rootfs_url=",
			cfg: vm.Config{Kernel: filepath.Join(built, filepath.Base(kernel)), Initrd: initrd,
				Append: args + " console=tty0 console=ttyS0,115200n8 tsc=reliable panic=10"}}
		b.run()
	})
	t.Run("iso", func(t *testing.T) {
		iso := filepath.Join(built, prefix+"-live.iso")
		b := liveBoot{t: t, app: app, key: key, qemu: qemu, what: "iso", manifest: m, artifact: iso,
			cmdline: "coreos.liveiso=", cfg: vm.Config{CDROM: iso}}
		b.run()
	})
}

// liveBoot is one live boot and its checks.
type liveBoot struct {
	t         *testing.T
	app       *spec.Appliance
	key       *vm.Key
	qemu      string
	what      string
	manifest  *images.Manifest
	artifact  string
	cmdline   string // what /proc/cmdline must carry on this kind of boot
	cfg       vm.Config
	volume    string
	serialLog string
}

func (b *liveBoot) run() {
	t := b.t
	// A blank data volume, attached by the serial data.device names
	// (Ignition formats it: the spec's data.format).
	serial, ok := strings.CutPrefix(b.app.Data.Device, "/dev/disk/by-id/virtio-")
	if !ok {
		t.Fatalf("data.device %q is not /dev/disk/by-id/virtio-SERIAL, which the test can attach", b.app.Data.Device)
	}
	b.volume = filepath.Join(t.TempDir(), "volume.raw")
	blank := func() {
		if err := os.WriteFile(b.volume, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(b.volume, volumeSize); err != nil {
			t.Fatal(err)
		}
	}
	ports := bootcheck.Ports(b.app)
	free, err := vm.FreePorts(len(ports))
	if err != nil {
		t.Fatal(err)
	}
	fwd := map[int]int{}
	for i, p := range ports {
		fwd[p.Port] = free[i]
		b.cfg.Forwards = append(b.cfg.Forwards, vm.Forward{Host: free[i], Guest: p.Port})
	}
	b.serialLog = filepath.Join(testutil.RepoRoot(t), "testos", "out", "vmtest-live-"+b.what+"-serial.log")
	b.cfg.QEMU, b.cfg.SerialLog, b.cfg.MemoryMiB = b.qemu, b.serialLog, liveMemoryMiB
	b.cfg.Extra = []vm.Drive{{File: b.volume, Serial: serial}}
	b.cfg.Accel = os.Getenv("KILN_VM_ACCEL")
	if b.cfg.Accel == "" {
		b.cfg.Accel = vm.AccelTCG // as boot_test.go: KVM is broken on the CI machines
	}

	if path := os.Getenv("KILN_VM_KEY"); path != "" {
		if err := b.key.WritePrivate(path); err != nil {
			t.Fatal(err)
		}
		t.Logf("login: ssh -i %s -p %d deploy@127.0.0.1", path, fwd[b.app.SSH.Port])
	}
	// A live boot starts from its artifact and a blank volume every time,
	// so a boot the emulator's panic ended is booted again (powerOn).
	_, c, on := powerOn(t, b.what, b.cfg, liveSSHWithin, fwd[b.app.SSH.Port], b.key, blank)
	ctx, cancel := context.WithTimeout(context.Background(), liveHealthyWithin+5*time.Minute)
	defer cancel()
	sshAt := time.Since(on)
	t.Logf("%s: SSH with the spec's key %s after power-on", b.what, sshAt.Round(time.Second))

	// The checks `kiln test-boot` runs: services active and healthy, no
	// failed unit, only the public ports answer, release.json as built.
	ins, err := images.Inspect(b.artifact)
	if err != nil {
		t.Fatal(err)
	}
	if ins.ConfigDigest == "" {
		t.Fatalf("%s records no config digest to compare release.json with", b.artifact)
	}
	r, err := bootcheck.Check(ctx, c, bootcheck.Options{
		Ports: ports,
		Probe: func(ctx context.Context, p bootcheck.Port) bool { return probe(ctx, fwd[p.Port], p) },
		Release: []bootcheck.Expect{
			{Field: "name", Want: b.manifest.Appliance, From: "manifest.json appliance"},
			{Field: "version", Want: b.manifest.Version, From: "manifest.json version"},
			{Field: "config_digest", Want: ins.ConfigDigest, From: "the config built into " + filepath.Base(b.artifact)},
		},
		SettleBy: time.Now().Add(liveHealthyWithin),
		Log:      func(s string) { t.Logf("%s: %s", b.what, s) },
	})
	if err != nil {
		t.Fatalf("%s: %v\nserial console (end):\n%s", b.what, err, tail(b.serialLog, 60))
	}
	healthyAt := time.Since(on)
	if len(r.Services) != len(b.app.Services) {
		t.Errorf("%s: %d Quadlet services, the spec has %d", b.what, len(r.Services), len(b.app.Services))
	}
	for _, s := range r.Services {
		t.Logf("%s: %s %s, %s (health %s)", b.what, s.Name, s.Active, s.Status, s.Health)
	}
	for _, p := range r.Problems {
		journal, _ := c.Run("sudo journalctl -b --no-pager -o cat -p warning -n 40")
		t.Errorf("%s: %s\njournal (warnings, end):\n%s", b.what, p, journal)
	}
	t.Logf("times (%s): power-on → SSH login %s, all services healthy %s", b.what, sshAt.Round(time.Second), healthyAt.Round(time.Second))

	b.checkLive(c)
	b.checkData(c)
}

// checkLive: the machine runs from the live root (a tmpfs overlay, not a
// disk), booted the way this artifact boots.
func (b *liveBoot) checkLive(c *vm.Client) {
	t := b.t
	if fs := strings.TrimSpace(mustRun(t, c, "findmnt -n -o FSTYPE /")); fs != "overlay" {
		t.Errorf("%s: / is %q, want the live root's overlay", b.what, fs)
	}
	cmdline := strings.Fields(mustRun(t, c, "cat /proc/cmdline"))
	for _, want := range []string{b.cmdline, "ignition.firstboot", "ignition.platform.id=metal", liveKarg} {
		if !slices.ContainsFunc(cmdline, func(a string) bool { return a == want || strings.HasPrefix(a, want) && strings.HasSuffix(want, "=") }) {
			t.Errorf("%s: kernel command line %q lacks %s", b.what, cmdline, want)
		}
	}
	// The ISO's area is padded with '#', which must not reach the kernel.
	if slices.ContainsFunc(cmdline, func(a string) bool { return strings.Contains(a, "#") }) {
		t.Errorf("%s: the kernel-argument area's padding reached the kernel: %q", b.what, cmdline)
	}
	if out, err := c.Run("test ! -e /config.ign && sudo test ! -e /run/kiln-testos/system-config/user.ign || echo left"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("%s: the embedded config is still readable after switch-root (%q, %v)", b.what, out, err)
	}
}

// checkData: the data filesystem is the volume's, mounted by its label, and
// no disk got a partition table (the config partitions nothing: the volume
// holds one filesystem over the whole disk).
func (b *liveBoot) checkData(c *vm.Client) {
	t := b.t
	d := b.app.Data
	got := strings.Fields(mustRun(t, c, "findmnt -n -o LABEL,FSTYPE --target "+d.Path))
	if len(got) != 2 || got[0] != d.Label || got[1] != d.Format {
		t.Errorf("%s: %s is on %q, want the %s filesystem labelled %s", b.what, d.Path, got, d.Format, d.Label)
	}
	unit := strings.TrimSpace(mustRun(t, c, "systemd-escape -p --suffix=mount "+d.Path))
	// The unit's own What= (systemctl show resolves it to the device node
	// once mounted: /dev/vda).
	if what := strings.TrimSpace(mustRun(t, c, "systemctl cat "+unit+" | sed -n 's/^What=//p'")); what != "/dev/disk/by-label/"+d.Label {
		t.Errorf("%s: %s mounts %q, want /dev/disk/by-label/%s", b.what, unit, what, d.Label)
	}
	byLabel := strings.TrimSpace(mustRun(t, c, "readlink -f /dev/disk/by-label/"+d.Label))
	volume := strings.TrimSpace(mustRun(t, c, "readlink -f "+d.Device))
	if byLabel != volume {
		t.Errorf("%s: the label %s is on %s, the volume %s is %s", b.what, d.Label, byLabel, d.Device, volume)
	}
	// Every disk the guest has, partitions and partition tables included.
	lsblk := mustRun(t, c, "lsblk -rn -o NAME,TYPE,PTTYPE")
	for _, line := range strings.Split(strings.TrimSpace(lsblk), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[1] == "part" || (f[1] == "disk" && len(f) > 2)) {
			t.Errorf("%s: a partition or partition table the config does not ask for: %q\n%s", b.what, line, lsblk)
		}
	}
	// And from the host: the volume starts with the XFS superblock, with
	// neither a protective MBR nor a GPT header.
	head := make([]byte, 1024)
	f, err := os.Open(b.volume)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(head, 0); err != nil {
		t.Fatal(err)
	}
	if d.Format == "xfs" && string(head[:4]) != "XFSB" {
		t.Errorf("%s: the volume does not start with an XFS superblock: %q", b.what, head[:4])
	}
	if string(head[512:520]) == "EFI PART" || (head[510] == 0x55 && head[511] == 0xaa && d.Format != "xfs") {
		t.Errorf("%s: the volume got a partition table", b.what)
	}
}

// probe asks a forwarded port whether the guest answers: sshd speaks
// first; other ports get an HTTP request. A public port gets a minute of
// retries (sshd forks per connection, slow under TCG); a port that must
// stay closed gets one try, since the firewall drops it and each try waits
// out its timeout.
func probe(ctx context.Context, hostPort int, p bootcheck.Port) bool {
	send := []byte("GET / HTTP/1.0\r\n\r\n")
	if p.Owner == "sshd" {
		send = nil
	}
	if !p.Public {
		return vm.Answers(ctx, hostPort, send, 5*time.Second)
	}
	until := time.Now().Add(time.Minute)
	for !vm.Answers(ctx, hostPort, send, 20*time.Second) {
		if time.Now().After(until) || ctx.Err() != nil {
			return false
		}
		time.Sleep(3 * time.Second)
	}
	return true
}

// readManifest reads the build's manifest.json.
func readManifest(t *testing.T, dir string) *images.Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, images.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var m images.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// serveDir serves dir at /live/ on the host's loopback, which the guest
// reaches as 10.0.2.2, and returns the port.
func serveDir(t *testing.T, dir string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.StripPrefix("/live/", http.FileServer(http.Dir(dir))), ReadHeaderTimeout: time.Minute}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// ipxeBoot reads the kernel URL and arguments from kiln's iPXE script.
func ipxeBoot(t *testing.T, path string) (kernel, args string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "kernel "); ok {
			kernel, args, _ = strings.Cut(rest, " ")
			return kernel, args
		}
	}
	t.Fatalf("no kernel line in %s:\n%s", path, data)
	return "", ""
}

// concat writes the files one after the other into dst, as a PXE loader
// hands several initrds to the kernel.
func concat(t *testing.T, dst string, srcs ...string) {
	t.Helper()
	var all []byte
	for _, s := range srcs {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, data...)
	}
	if err := os.WriteFile(dst, all, 0o644); err != nil {
		t.Fatal(err)
	}
}
