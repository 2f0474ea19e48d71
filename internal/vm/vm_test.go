package vm

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
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
	if i := slices.Index(args, "-cpu"); i < 0 || args[i+1] != "max,svm=off,la57=off" {
		t.Errorf("TCG run does not ask for -cpu max without SVM and 5-level paging: %q", args)
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
