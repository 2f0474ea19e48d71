//go:build vmtest

package testos_test

// TestUpgradeKeepsData proves kiln's upgrade, rebuild and replace, on the
// test OS: it boots v1 of a small appliance (testdata/upgrade-*.yaml:
// Clipper's postgres and redis with their stand-ins), writes a PostgreSQL
// row and a file on the data filesystem, powers off, replaces the OS with
// v2 as an operator would, boots again and checks that the data and the
// secrets carried over. It reuses the boot test's helpers (boot_test.go).
//
// What it does not prove: the OS is replaced here by the test (sgdisk and
// a plain write, the steps coreos-installer's --save-partlabel takes), not
// by coreos-installer itself, and the OS is the test OS, not real FCOS.

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/builder"
	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/internal/vm"
)

// The upgrade's bounds: a small appliance, so tighter than Clipper's.
const (
	upgradeSSHWithin     = 10 * time.Minute
	upgradeHealthyWithin = 8 * time.Minute
	poweroffWithin       = 3 * time.Minute
	// volumeSize is the data volume of mode volume (Ignition formats it
	// on v1's first boot); sparse, like the boot disk.
	volumeSize = 2 << 30
)

func TestUpgradeKeepsData(t *testing.T) {
	root := testutil.RepoRoot(t)
	base := testutil.TestOS(t, "make vmtest-upgrade", "testos-metal.raw")[0]
	qemu := testutil.Tool(t, "qemu-system-x86_64")
	sgdisk := testutil.Tool(t, "sgdisk")
	kiln := filepath.Join(t.TempDir(), "kiln")
	run(t, root, "go", "build", "-o", kiln, "./cmd/kiln")

	// Partition first: it is Clipper's mode.
	for _, mode := range []string{spec.DataPartition, spec.DataVolume} {
		t.Run(mode, func(t *testing.T) {
			u := &upgrade{t: t, root: root, base: base, qemu: qemu, sgdisk: sgdisk, kiln: kiln, mode: mode, dir: t.TempDir()}
			u.run()
		})
	}
}

// upgrade is one mode's run: two builds, two boots.
type upgrade struct {
	t                              *testing.T
	root, base, qemu, sgdisk, kiln string
	mode, dir                      string
	key                            *vm.Key
	app1, app2                     *spec.Appliance
	image1, image2                 string // the built raw images
	disk, volume                   string // the machine's disks
	serial                         string // prefix of the serial logs
}

func (u *upgrade) run() {
	t := u.t
	start := time.Now()
	var err error
	if u.key, err = vm.NewKey("kiln-vmtest"); err != nil {
		t.Fatal(err)
	}
	u.serial = filepath.Join(u.root, "testos", "out", "vmtest-upgrade-"+u.mode)
	u.app1, u.image1 = u.build("1.0.0")
	u.app2, u.image2 = u.build("2.0.0")
	t.Logf("built v1 and v2 in %s", time.Since(start).Round(time.Second))

	// v1: a fresh server, its disk grown as a VPS's is.
	u.disk = filepath.Join(u.dir, "disk.raw")
	run(t, u.dir, "cp", "--sparse=always", u.image1, u.disk)
	if err := os.Truncate(u.disk, diskSize); err != nil {
		t.Fatal(err)
	}
	if u.mode == spec.DataVolume {
		u.volume = filepath.Join(u.dir, "volume.raw")
		if err := os.WriteFile(u.volume, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(u.volume, volumeSize); err != nil {
			t.Fatal(err)
		}
	}
	before := u.bootV1()
	t.Logf("v1 booted, written and powered off %s after the test began", time.Since(start).Round(time.Second))

	// Replace the OS as the operator does (README, "Upgrading a server").
	replaced := time.Now()
	if u.mode == spec.DataPartition {
		u.reimage(u.disk, u.image2, u.app2.Data.Label)
	} else {
		// A new server from the v2 image; the volume moves to it.
		u.disk = filepath.Join(u.dir, "disk2.raw")
		run(t, u.dir, "cp", "--sparse=always", u.image2, u.disk)
		if err := os.Truncate(u.disk, diskSize); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("OS replaced by v2 in %s", time.Since(replaced).Round(time.Second))
	u.bootV2(before)
	t.Logf("%s mode: whole upgrade test %s", u.mode, time.Since(start).Round(time.Second))
}

// build writes the spec of version (v2: one more secret, the visible
// change) with the test's key and builds its raw image.
func (u *upgrade) build(version string) (*spec.Appliance, string) {
	t := u.t
	name := "upgrade-" + u.mode + ".yaml"
	data, err := os.ReadFile(filepath.Join(u.root, "testos", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	data = withKey(t, name, data, u.key)
	edits := []struct{ re, repl string }{
		{`(?m)^version: 1\.0\.0$`, "version: " + version},
	}
	if version != "1.0.0" {
		edits = append(edits, struct{ re, repl string }{`(?m)^secrets:\n`, "secrets:\n  - name: session-key\n"})
	}
	for _, e := range edits {
		re := regexp.MustCompile(e.re)
		if !re.Match(data) {
			t.Fatalf("%s no longer matches %s, which the test edits", name, e.re)
		}
		data = re.ReplaceAll(data, []byte(e.repl))
	}
	dir := filepath.Join(u.dir, version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, name)
	app := writeSpec(t, specPath, data)
	out := filepath.Join(dir, "out")
	run(t, u.root, u.kiln, "build", "-f", specPath, "-o", out, "--platform", "metal", "--format", "raw", "--base-image", u.base, "--insecure-base")
	return app, filepath.Join(out, fmt.Sprintf("%s-%s-metal.raw", app.Name, version))
}

// state is what must survive the upgrade.
type state struct {
	row, file string
	secrets   map[string]string // name -> sha256
	fsUUID    string
	partition gptEntry // mode partition: the data partition's entry
}

// boot starts the machine on u.disk (and the volume) and logs in; it
// returns the machine, the session and when it was powered on.
func (u *upgrade) boot(what string) (*vm.Machine, *vm.Client, time.Time) {
	t := u.t
	ports, err := vm.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := vm.Config{Disk: u.disk, QEMU: u.qemu, Accel: os.Getenv("KILN_VM_ACCEL"), SerialLog: u.serialLog(what),
		Forwards: []vm.Forward{{Host: ports[0], Guest: u.app1.SSH.Port}}}
	if cfg.Accel == "" {
		cfg.Accel = vm.AccelTCG // as boot_test.go: KVM is broken on the CI machines
	}
	if u.volume != "" {
		// The spec names the volume as a provider does, by a stable ID:
		// QEMU's virtio disks get theirs from the serial.
		serial, ok := strings.CutPrefix(u.app1.Data.Device, "/dev/disk/by-id/virtio-")
		if !ok {
			t.Fatalf("data.device %q is not /dev/disk/by-id/virtio-SERIAL, which the test can attach", u.app1.Data.Device)
		}
		cfg.Extra = []vm.Drive{{File: u.volume, Serial: serial}}
	}
	if path := os.Getenv("KILN_VM_KEY"); path != "" {
		if err := u.key.WritePrivate(path); err != nil {
			t.Fatal(err)
		}
		t.Logf("login: ssh -i %s -p %d deploy@127.0.0.1", path, ports[0])
	}
	// No second boot after a panic: an upgrade boot runs on disks the
	// boots before it wrote, which a retry could not restore.
	return powerOn(t, what, cfg, upgradeSSHWithin, ports[0], u.key, nil)
}

// serialLog is the serial console's file of one boot, kept in testos/out
// like the boot test's.
func (u *upgrade) serialLog(what string) string {
	return u.serial + "-" + what + "-serial.log"
}

// healthy waits until every container is healthy and fails the test when
// one is not; it returns when they were.
func (u *upgrade) healthy(c *vm.Client, what string) time.Time {
	t := u.t
	qs, err := readQuadlets(mustRun(t, c, quadletUnits))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) == 0 {
		t.Fatalf("%s: the guest has no Quadlet containers", what)
	}
	// Every image of this appliance has a stand-in: nothing is blocked.
	st, settled := waitHealthy(t, c, qs, map[string]string{}, time.Now().Add(upgradeHealthyWithin))
	if !settled {
		var bad []string
		for _, q := range qs {
			if s := st[q.Name]; !s.ok(q) {
				journal, _ := c.Run("sudo journalctl -b --no-pager -o cat -n 30 -u " + q.Name + ".service")
				bad = append(bad, fmt.Sprintf("%s: %s %s\n%s", q.Name, s.active, s.status, journal))
			}
		}
		t.Fatalf("%s: not every container became healthy:\n%s", what, strings.Join(bad, "\n"))
	}
	return time.Now()
}

// bootV1 boots the first build, writes the data the upgrade must keep and
// powers the machine off.
func (u *upgrade) bootV1() state {
	t := u.t
	m, c, on := u.boot("v1")
	t.Logf("v1: SSH %s after power-on", time.Since(on).Round(time.Second))
	done := u.healthy(c, "v1")
	t.Logf("v1: all healthy %s after power-on", done.Sub(on).Round(time.Second))

	token := make([]byte, 12)
	_, _ = rand.Read(token)
	var s state
	s.row, s.file = "row-"+hex.EncodeToString(token), "file-"+hex.EncodeToString(token)
	u.psql(c, "CREATE TABLE upgrade_probe (v text); INSERT INTO upgrade_probe VALUES ('"+s.row+"');")
	if got := u.psql(c, "SELECT v FROM upgrade_probe;"); got != s.row {
		t.Fatalf("v1: the row reads back as %q, want %q", got, s.row)
	}
	mustRun(t, c, "printf %s "+s.file+" | sudo tee "+u.app1.Data.Path+"/upgrade-probe >/dev/null")
	s.secrets = u.secrets(c)
	if _, ok := s.secrets["session-key"]; ok {
		t.Fatal("v1 already has v2's secret session-key: the visible change would prove nothing")
	}
	s.fsUUID = strings.TrimSpace(mustRun(t, c, "findmnt -n -o UUID "+u.app1.Data.Path))
	// PostgreSQL writes the row to disk on a clean shutdown; the journal
	// of the data filesystem is flushed by the unmount.
	_, _ = c.Run("sudo systemctl poweroff")
	select {
	case <-m.Done():
	case <-time.After(poweroffWithin):
		t.Fatalf("v1 did not power off within %s\nserial console (end):\n%s", poweroffWithin, tail(u.serialLog("v1"), 40))
	}
	if u.mode == spec.DataPartition {
		e, err := readGPTEntry(u.sgdisk, u.disk, u.app1.Data.Label)
		if err != nil {
			t.Fatal(err)
		}
		s.partition = e
	}
	return s
}

// bootV2 boots the replaced OS and checks that what v1 wrote is there.
func (u *upgrade) bootV2(before state) {
	t := u.t
	_, c, on := u.boot("v2")
	sshAt := time.Since(on)
	done := u.healthy(c, "v2")
	// The upgrade's RTO: power-on of the new build to every service
	// healthy (the build and the OS replacement come before, offline).
	t.Logf("RTO of the upgrade (%s mode): power-on → SSH %s, → all healthy %s", u.mode, sshAt.Round(time.Second), done.Sub(on).Round(time.Second))

	t.Run("release is v2", func(t *testing.T) {
		var rel builder.Release
		out := mustRun(t, c, "cat /etc/kiln/release.json")
		if err := json.Unmarshal([]byte(out), &rel); err != nil {
			t.Fatalf("/etc/kiln/release.json: %v\n%s", err, out)
		}
		if rel.Version != u.app2.Version || rel.Name != u.app2.Name {
			t.Errorf("/etc/kiln/release.json says %s %s, want %s %s", rel.Name, rel.Version, u.app2.Name, u.app2.Version)
		}
	})
	t.Run("row kept", func(t *testing.T) {
		if got := u.psql(c, "SELECT v FROM upgrade_probe;"); got != before.row {
			t.Errorf("the row written on v1 reads %q on v2, want %q", got, before.row)
		}
	})
	t.Run("file kept", func(t *testing.T) {
		if got := mustRun(t, c, "sudo cat "+u.app2.Data.Path+"/upgrade-probe"); got != before.file {
			t.Errorf("%s/upgrade-probe is %q on v2, want %q", u.app2.Data.Path, got, before.file)
		}
	})
	t.Run("filesystem kept", func(t *testing.T) {
		got := strings.Fields(mustRun(t, c, "findmnt -n -o UUID,LABEL "+u.app2.Data.Path))
		if len(got) != 2 || got[0] != before.fsUUID || got[1] != u.app2.Data.Label {
			t.Errorf("%s is %q on v2, want the same filesystem %s labelled %s (not re-created)", u.app2.Data.Path, got, before.fsUUID, u.app2.Data.Label)
		}
	})
	t.Run("secrets kept", func(t *testing.T) {
		after := u.secrets(c)
		for name, sum := range before.secrets {
			if after[name] != sum {
				t.Errorf("secret %s changed across the upgrade (sha256 %s → %s)", name, sum, after[name])
			}
		}
		// The visible change: v2's new secret was generated, once.
		if _, ok := after["session-key"]; !ok {
			t.Errorf("v2's new secret session-key was not generated; the secrets are %v", keys(after))
		}
		t.Logf("%d secrets of v1 unchanged on v2; session-key new", len(before.secrets))
	})
	t.Run("no failed unit", func(t *testing.T) {
		list := mustRun(t, c, "systemctl list-units --all --state=failed --plain --no-legend --no-pager | awk '{print $1}'")
		for _, unit := range strings.Fields(list) {
			if healthcheckUnit.MatchString(unit) {
				// A health check that failed before its container was
				// up; the containers are healthy now (u.healthy).
				t.Logf("%s: a health check failed before its container became healthy", unit)
				continue
			}
			journal, _ := c.Run("sudo journalctl -b --no-pager -o cat -n 30 -u " + unit)
			t.Errorf("%s failed on v2:\n%s", unit, journal)
		}
	})
	if u.mode == spec.DataPartition {
		t.Run("partition kept", func(t *testing.T) {
			// Ignition found the partition as v2's config describes it
			// and left it alone; first boot grew root up to it.
			p := before.partition
			want := strings.ToLower(fmt.Sprintf("%d %d %d %s %s %s", p.number, p.first, (p.last-p.first+1)*512, p.typeGUID, p.guid, p.name))
			got := strings.Join(strings.Fields(mustRun(t, c, "lsblk -bndo PARTN,START,SIZE,PARTTYPE,PARTUUID,PARTLABEL /dev/disk/by-partlabel/"+p.name)), " ")
			if strings.ToLower(got) != want {
				t.Errorf("the data partition is %q on v2 (number, start, bytes, type, GUID, name), want %q as on v1", got, want)
			}
			size := strings.TrimSpace(mustRun(t, c, "findmnt -bno SIZE /"))
			t.Logf("root is %s bytes on v2", size)
		})
	} else {
		t.Run("volume by id", func(t *testing.T) {
			got := strings.TrimSpace(mustRun(t, c, "findmnt -n -o SOURCE "+u.app2.Data.Path+"; readlink -f "+u.app2.Data.Device))
			if f := strings.Fields(got); len(f) != 2 || f[0] != f[1] {
				t.Errorf("%s is mounted from %q; %s is the volume", u.app2.Data.Path, got, u.app2.Data.Device)
			}
		})
	}
}

// psql runs SQL (given on stdin, so it may quote) in the postgres
// container over TCP as the appliance's user with the secret's password:
// the secret is proved to still open the database. It returns the output
// without surrounding space.
func (u *upgrade) psql(c *vm.Client, sql string) string {
	port := ""
	for _, s := range u.app1.Services {
		if s.Kind == "postgres" {
			port = fmt.Sprint(s.Ports[0].Port)
		}
	}
	// kiln's postgres recipe names the database and its owner after the
	// appliance (POSTGRES_USER, POSTGRES_DB).
	db := u.app1.Name
	cmd := "sudo podman exec -i postgres sh -c 'PGPASSWORD=$(cat /run/secrets/postgres-password) psql -X -q -t -A -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " +
		port + " -U " + db + " -d " + db + " -f -'"
	out, err := c.RunInput(cmd, sql)
	if err != nil {
		u.t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(out)
}

// secrets returns the sha256 of every file in the secrets directory.
func (u *upgrade) secrets(c *vm.Client) map[string]string {
	out := mustRun(u.t, c, "sudo sh -c 'cd "+u.app1.Data.Path+"/secrets && sha256sum -- *'")
	sums := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			sums[f[1]] = f[0]
		}
	}
	if len(sums) == 0 {
		u.t.Fatalf("no secrets under %s/secrets", u.app1.Data.Path)
	}
	return sums
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// reimage writes image over the start of disk keeping the partition
// labelled label, the steps coreos-installer takes for --save-partlabel:
// read the partition's GPT entry, write the image (its own GPT included),
// move the image's backup GPT to the end of the disk (the image is
// smaller), and add the saved entry back to the new table. It refuses when
// the image reaches into the partition, as coreos-installer does.
func (u *upgrade) reimage(disk, image, label string) {
	t := u.t
	saved, err := readGPTEntry(u.sgdisk, disk, label)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(image)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > saved.first*512 {
		t.Fatalf("%s (%d bytes) would overwrite the %s partition at sector %d", image, fi.Size(), label, saved.first)
	}
	src, err := os.Open(image)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Every byte of the image, zeros included, as a write to a block
	// device does.
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	run(t, u.dir, u.sgdisk, "--move-second-header", disk)
	n := fmt.Sprint(saved.number)
	run(t, u.dir, u.sgdisk,
		"--new="+n+":"+fmt.Sprint(saved.first)+":"+fmt.Sprint(saved.last),
		"--typecode="+n+":"+saved.typeGUID,
		"--partition-guid="+n+":"+saved.guid,
		"--change-name="+n+":"+saved.name,
		disk)
	if saved.attrs != "0000000000000000" {
		run(t, u.dir, u.sgdisk, "--attributes="+n+":=:"+saved.attrs, disk)
	}
	got, err := readGPTEntry(u.sgdisk, disk, label)
	if err != nil {
		t.Fatal(err)
	}
	if got != saved {
		t.Fatalf("restored %+v, saved %+v", got, saved)
	}
	t.Logf("v2 written over the disk; partition %d (%s, sectors %d-%d) kept", saved.number, label, saved.first, saved.last)
}

// gptEntry is one partition's GPT entry, as sgdisk --info prints it.
type gptEntry struct {
	number         int
	first, last    int64
	typeGUID, guid string
	name, attrs    string
}

// readGPTEntry finds the partition named label on disk.
func readGPTEntry(sgdisk, disk, label string) (gptEntry, error) {
	out, err := exec.Command(sgdisk, "--print", disk).CombinedOutput()
	if err != nil {
		return gptEntry{}, fmt.Errorf("sgdisk --print %s: %v\n%s", disk, err, out)
	}
	// "Number  Start (sector)  End (sector)  Size  Code  Name" rows.
	row := regexp.MustCompile(`^\s*(\d+)\s+\d+\s+\d+\s+\S+ \S+\s+\S+\s+(.*)$`)
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil || strings.TrimSpace(m[2]) != label {
			continue
		}
		info, err := exec.Command(sgdisk, "--info="+m[1], disk).CombinedOutput()
		if err != nil {
			return gptEntry{}, fmt.Errorf("sgdisk --info=%s %s: %v\n%s", m[1], disk, err, info)
		}
		e, err := parseGPTEntry(string(info))
		if err != nil {
			return gptEntry{}, err
		}
		fmt.Sscan(m[1], &e.number)
		return e, nil
	}
	return gptEntry{}, fmt.Errorf("%s has no partition named %s:\n%s", disk, label, out)
}

// parseGPTEntry reads sgdisk --info's output.
func parseGPTEntry(out string) (gptEntry, error) {
	var e gptEntry
	field := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `: (.*)$`).FindStringSubmatch(out)
		if m == nil {
			return ""
		}
		return strings.TrimSpace(m[1])
	}
	e.typeGUID, _, _ = strings.Cut(field("Partition GUID code"), " ")
	e.guid = field("Partition unique GUID")
	first, _, _ := strings.Cut(field("First sector"), " ")
	last, _, _ := strings.Cut(field("Last sector"), " ")
	e.attrs = field("Attribute flags")
	e.name = strings.Trim(field("Partition name"), "'")
	if _, err := fmt.Sscan(first, &e.first); err != nil {
		return e, fmt.Errorf("sgdisk --info: no first sector in:\n%s", out)
	}
	if _, err := fmt.Sscan(last, &e.last); err != nil || e.typeGUID == "" || e.guid == "" {
		return e, fmt.Errorf("sgdisk --info: incomplete entry in:\n%s", out)
	}
	return e, nil
}
