package vm

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
	"golang.org/x/crypto/ssh"

	"github.com/kiln-dev/kiln/internal/testutil"
)

func TestArgsForwardOnlyLoopback(t *testing.T) {
	args := Config{Disk: "/d.raw", Accel: AccelTCG, Forwards: []Forward{{2222, 22}, {8443, 443}}, SerialLog: "/s.log"}.Args()
	i := slices.Index(args, "-nic")
	if i < 0 {
		t.Fatalf("no -nic in %q", args)
	}
	want := "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:8443-:443"
	if args[i+1] != want {
		t.Errorf("-nic %q, want %q", args[i+1], want)
	}
	for _, a := range []string{"-no-reboot", "file:/s.log"} {
		if !slices.Contains(args, a) {
			t.Errorf("%q missing from %q", a, args)
		}
	}
	if i := slices.Index(args, "-accel"); i < 0 || args[i+1] != "tcg" {
		t.Errorf("TCG run is not multi-threaded TCG: %q", args)
	}
	if i := slices.Index(args, "-cpu"); i < 0 || args[i+1] != "max,svm=off,la57=off,avx=off" {
		t.Errorf("TCG run does not ask for -cpu max without SVM, 5-level paging and AVX: %q", args)
	}
	single := Config{Disk: "/d.raw", Accel: AccelTCG, SingleThread: true}.Args()
	if i := slices.Index(single, "-accel"); i < 0 || single[i+1] != "tcg,thread=single" {
		t.Errorf("SingleThread: %q", single)
	}
	if !strings.Contains(strings.Join(args, " "), "file=/d.raw,format=raw,if=virtio") {
		t.Errorf("disk not attached as raw virtio: %q", args)
	}
}

// An extra disk is a virtio-blk device with its serial, after the boot
// disk, so the guest names it /dev/disk/by-id/virtio-SERIAL; the boot disk
// is first in the boot order (SeaBIOS otherwise tried a blank volume and
// never reached GRUB).
func TestArgsExtraDiskBySerial(t *testing.T) {
	args := Config{Disk: "/d.raw", Accel: AccelTCG, Extra: []Drive{{File: "/v.raw", Serial: "kiln-data"}, {File: "/w.qcow2", Format: "qcow2"}}}.Args()
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"-drive file=/d.raw,format=raw,if=none,id=boot,cache=unsafe -device virtio-blk-pci,drive=boot,bootindex=0 -drive file=/v.raw,format=raw,if=none,id=extra0,cache=unsafe -device virtio-blk-pci,drive=extra0,serial=kiln-data",
		"-drive file=/w.qcow2,format=qcow2,if=none,id=extra1,cache=unsafe -device virtio-blk-pci,drive=extra1 ",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("%q missing from %q", want, joined)
		}
	}
	if n := strings.Count(joined, "bootindex="); n != 1 {
		t.Errorf("%d disks in the boot order of %q, want only the boot disk", n, joined)
	}
	if n := strings.Count(joined, "-drive "); n != 3 {
		t.Errorf("%d drives in %q, want 3", n, joined)
	}
}

// A serial QEMU would cut or misread is refused before QEMU starts.
func TestStartRefusesBadSerial(t *testing.T) {
	for _, d := range []Drive{
		{File: "/v.raw", Serial: "kiln,data"},
		{File: "/v.raw", Serial: "a-serial-longer-than-twenty"},
		{File: "/v,1.raw", Serial: "ok"},
		{Serial: "ok"},
	} {
		if _, err := Start(Config{Disk: "/d.raw", QEMU: "/nonexistent/qemu", Extra: []Drive{d}}); err == nil || strings.Contains(err.Error(), "/nonexistent/qemu") {
			t.Errorf("%+v: got %v, want the drive refused before QEMU starts", d, err)
		}
	}
}

func TestDefaultAccelFromEnv(t *testing.T) {
	for _, v := range []string{AccelKVM, AccelTCG} {
		t.Setenv("KILN_VM_ACCEL", v)
		if got := DefaultAccel(); got != v {
			t.Errorf("KILN_VM_ACCEL=%s: DefaultAccel() = %s", v, got)
		}
	}
}

// A forwarded port whose guest side drops the connection looks, from the
// host, like a connection that is accepted and closed without a byte: that
// must not count as an answer.
func TestAnswers(t *testing.T) {
	silent := listen(t, func(c net.Conn) { c.Close() })
	talker := listen(t, func(c net.Conn) {
		buf := make([]byte, 64)
		c.Read(buf)
		c.Write([]byte("HTTP/1.0 200 OK\r\n\r\n"))
		c.Close()
	})
	ctx := context.Background()
	if Answers(ctx, silent, []byte("GET / HTTP/1.0\r\n\r\n"), 2*time.Second) {
		t.Error("a port that closes without a byte counts as answering")
	}
	if !Answers(ctx, talker, []byte("GET / HTTP/1.0\r\n\r\n"), 2*time.Second) {
		t.Error("a port that replies does not count as answering")
	}
}

func TestNewKey(t *testing.T) {
	k, err := NewKey("vm-test")
	if err != nil {
		t.Fatal(err)
	}
	pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Authorized))
	if err != nil {
		t.Fatalf("%q: %v", k.Authorized, err)
	}
	if pub.Type() != ssh.KeyAlgoED25519 || comment != "vm-test" {
		t.Errorf("key %s with comment %q", pub.Type(), comment)
	}
	if string(pub.Marshal()) != string(k.Signer.PublicKey().Marshal()) {
		t.Error("authorized key and signer differ")
	}
	path := filepath.Join(t.TempDir(), "key")
	if err := k.WritePrivate(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		t.Fatalf("the written key does not parse: %v", err)
	}
	if string(signer.PublicKey().Marshal()) != string(pub.Marshal()) {
		t.Error("the written private key is not the key's")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
}

func listen(t *testing.T, serve func(net.Conn)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// fakeQEMU writes a shell script that stands in for qemu-system-x86_64:
// it prints say on stderr and then waits, as QEMU does with a paused guest.
func fakeQEMU(t *testing.T, say string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	script := "#!/bin/sh\nprintf '%s' '" + say + "' >&2\nexec sleep 300\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// A guest that KVM cannot run is stopped at once, and Dial says why,
// instead of waiting for SSH until its context ends (QEMU pauses such a
// guest and never exits).
func TestKVMFailureStopsMachine(t *testing.T) {
	key, err := NewKey("t")
	if err != nil {
		t.Fatal(err)
	}
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, say string
		want      error
	}{
		{"kvm internal error", "KVM internal error. Suberror: 1\nemulation failure\n", ErrKVM},
		{"quiet guest", "", context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Start(Config{Disk: "/d.raw", Accel: AccelKVM, QEMU: fakeQEMU(t, tc.say)})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
			defer cancel()
			start := time.Now()
			_, err = Dial(ctx, m, ports[0], "u", key)
			if tc.want == ErrKVM {
				if !errors.Is(err, ErrKVM) || !errors.Is(err, ErrExited) || !m.KVMFailed() {
					t.Fatalf("Dial = %v (KVMFailed %v), want ErrKVM and ErrExited", err, m.KVMFailed())
				}
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("Dial took %s to notice", d)
				}
				return
			}
			if err == nil || errors.Is(err, ErrKVM) || m.KVMFailed() {
				t.Fatalf("Dial = %v (KVMFailed %v) for a guest that only stays quiet", err, m.KVMFailed())
			}
		})
	}
}

// A PXE-style live boot: QEMU loads the kernel and one initrd itself, with
// the kernel arguments, and no boot disk is attached; the extra disks keep
// their serials.
func TestArgsLiveKernel(t *testing.T) {
	args := Config{Accel: AccelTCG, Kernel: "/k", Initrd: "/i.img", Append: "coreos.live.rootfs_url=http://10.0.2.2:8080/r.img ignition.firstboot",
		Extra: []Drive{{File: "/v.raw", Serial: "kiln-data"}}}.Args()
	joined := strings.Join(args, " ")
	for _, want := range []string{"-kernel /k -initrd /i.img -append coreos.live.rootfs_url=http://10.0.2.2:8080/r.img ignition.firstboot",
		"-drive file=/v.raw,format=raw,if=none,id=extra0,cache=unsafe -device virtio-blk-pci,drive=extra0,serial=kiln-data"} {
		if !strings.Contains(joined, want) {
			t.Errorf("%q missing from %q", want, joined)
		}
	}
	if i := slices.Index(args, "-append"); i < 0 || args[i+1] != "coreos.live.rootfs_url=http://10.0.2.2:8080/r.img ignition.firstboot" {
		t.Errorf("the kernel arguments are not one QEMU argument: %q", args)
	}
	if n := strings.Count(joined, "-drive "); n != 1 || strings.Contains(joined, "id=boot") || strings.Contains(joined, "file=,") {
		t.Errorf("a live boot attached a boot disk: %q", joined)
	}
}

// A live ISO boots from the CD drive, first in the boot order.
func TestArgsLiveCDROM(t *testing.T) {
	args := Config{Accel: AccelTCG, CDROM: "/live.iso", Extra: []Drive{{File: "/v.raw", Serial: "kiln-data"}}}.Args()
	joined := strings.Join(args, " ")
	if !strings.Contains(joined, "-drive file=/live.iso,media=cdrom,if=ide,readonly=on -boot order=d") {
		t.Errorf("no CD-ROM first in the boot order: %q", joined)
	}
	if strings.Contains(joined, "-kernel") || strings.Contains(joined, "id=boot") {
		t.Errorf("an ISO boot with a kernel or boot disk: %q", joined)
	}
}

// Live configurations QEMU would misread or boot from the wrong medium are
// refused before QEMU starts.
func TestStartRefusesBadLiveConfig(t *testing.T) {
	for _, c := range []Config{
		{},
		{Kernel: "/k", CDROM: "/live.iso"},
		{Disk: "/d.raw", Initrd: "/i.img"},
		{Disk: "/d.raw", Append: "quiet"},
		{CDROM: "/a,b.iso"},
	} {
		c.QEMU = "/nonexistent/qemu"
		if _, err := Start(c); err == nil || strings.Contains(err.Error(), "/nonexistent/qemu") {
			t.Errorf("%+v: got %v, want the config refused before QEMU starts", c, err)
		}
	}
}

// liveInit runs as PID 1 in the test initramfs: it prints the kernel
// command line and the PCI devices it sees (the disks' drivers are modules
// this initramfs lacks) on the serial console and powers off.
const liveInit = `#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox mount -t proc proc /proc
exec >/dev/ttyS0 2>&1
echo "KILN-LIVE-CMDLINE: $(/bin/busybox cat /proc/cmdline)"
/bin/busybox mount -t sysfs sys /sys
echo "KILN-LIVE-PCI: $(/bin/busybox cat /sys/bus/pci/devices/*/device | /bin/busybox tr '\n' ' ')"
/bin/busybox poweroff -f
`

// liveInitrd writes a newc initramfs with a static busybox and liveInit.
func liveInitrd(t *testing.T, dir string) string {
	t.Helper()
	bb, err := os.ReadFile(testutil.Tool(t, "busybox"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w := cpio.NewWriter(&b)
	for _, f := range []struct {
		name string
		mode cpio.FileMode
		data []byte
	}{
		{"bin", cpio.TypeDir | 0o755, nil}, {"dev", cpio.TypeDir | 0o755, nil}, {"proc", cpio.TypeDir | 0o755, nil},
		{"sys", cpio.TypeDir | 0o755, nil},
		{"bin/busybox", cpio.TypeReg | 0o755, bb}, {"init", cpio.TypeReg | 0o755, []byte(liveInit)},
	} {
		if err := w.WriteHeader(&cpio.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Links: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "initrd.img")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hostKernel returns Debian's kernel of the host, which the live boots
// below start.
func hostKernel(t *testing.T) string {
	t.Helper()
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(kernels) == 0 {
		if testutil.InCI() {
			t.Fatal("no /boot/vmlinuz-* (install linux-image-amd64)")
		}
		t.Skip("no /boot/vmlinuz-*; install linux-image-amd64")
	}
	return kernels[len(kernels)-1]
}

// bootToPowerOff starts c and waits for the guest to power off, then
// returns its serial console.
func bootToPowerOff(t *testing.T, c Config) string {
	t.Helper()
	m, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	select {
	case <-m.Done():
	case <-time.After(3 * time.Minute):
		log, _ := os.ReadFile(c.SerialLog)
		t.Fatalf("the guest did not power off in 3 minutes\nQEMU: %s\nserial:\n%s", m.Output(), log)
	}
	log, err := os.ReadFile(c.SerialLog)
	if err != nil {
		t.Fatal(err)
	}
	return string(log)
}

// Kernel, Initrd and Append reach the guest as a PXE loader passes them,
// with only the extra disk attached.
func TestLiveKernelBoots(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	qemu := testutil.Tool(t, "qemu-system-x86_64")
	dir := t.TempDir()
	vol := filepath.Join(dir, "vol.raw")
	if err := os.WriteFile(vol, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	log := bootToPowerOff(t, Config{QEMU: qemu, Accel: AccelTCG, MemoryMiB: 256, CPUs: 1, Kernel: hostKernel(t),
		Initrd: liveInitrd(t, dir), Append: "console=ttyS0 panic=-1 kiln.marker=pxe-live", SerialLog: filepath.Join(dir, "serial.log"),
		Extra: []Drive{{File: vol, Serial: "kiln-data"}}})
	if !regexp.MustCompile(`KILN-LIVE-CMDLINE: .*kiln\.marker=pxe-live`).MatchString(log) {
		t.Errorf("the kernel arguments did not reach the guest:\n%s", log)
	}
	// virtio-blk is PCI device 0x1001: the extra disk, and no boot disk.
	if m := regexp.MustCompile(`KILN-LIVE-PCI: (.*)`).FindStringSubmatch(log); m == nil || strings.Count(m[1], "0x1001") != 1 {
		t.Errorf("want one virtio disk (the extra one), got PCI devices %q\n%s", m, log)
	}
}

// CDROM boots a live ISO through the firmware and its boot loader (GRUB on
// an El Torito image, as the test OS's live ISO has), ahead of a blank
// extra disk.
func TestLiveCDROMBoots(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	qemu := testutil.Tool(t, "qemu-system-x86_64")
	mkrescue := testutil.Tool(t, "grub-mkrescue")
	testutil.Tool(t, "xorriso")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "boot", "grub"), 0o755); err != nil {
		t.Fatal(err)
	}
	kernel, err := os.ReadFile(hostKernel(t))
	if err != nil {
		t.Fatal(err)
	}
	initrd, err := os.ReadFile(liveInitrd(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"vmlinuz": kernel, "initrd.img": initrd,
		"boot/grub/grub.cfg": []byte("serial --unit=0 --speed=115200\nterminal_output serial\nset timeout=0\nmenuentry live {\n\tlinux /vmlinuz console=ttyS0 panic=-1 kiln.marker=iso-live\n\tinitrd /initrd.img\n}\n"),
	} {
		if err := os.WriteFile(filepath.Join(tree, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	iso := filepath.Join(dir, "live.iso")
	if out, err := exec.Command(mkrescue, "-o", iso, tree).CombinedOutput(); err != nil {
		t.Fatalf("grub-mkrescue: %v\n%s", err, out)
	}
	vol := filepath.Join(dir, "vol.raw")
	if err := os.WriteFile(vol, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	log := bootToPowerOff(t, Config{QEMU: qemu, Accel: AccelTCG, MemoryMiB: 256, CPUs: 1, CDROM: iso,
		SerialLog: filepath.Join(dir, "serial.log"), Extra: []Drive{{File: vol, Serial: "kiln-data"}}})
	if !regexp.MustCompile(`KILN-LIVE-CMDLINE: .*kiln\.marker=iso-live`).MatchString(log) {
		t.Errorf("the ISO's boot loader did not start its kernel:\n%s", log)
	}
}
