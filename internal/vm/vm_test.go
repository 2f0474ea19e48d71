package vm

import (
	"context"
	"net"
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
	for _, a := range []string{"-no-reboot", "file:/s.log", "tcg,thread=single"} {
		if !slices.Contains(args, a) {
			t.Errorf("%q missing from %q", a, args)
		}
	}
	if slices.Contains(args, "-cpu") {
		t.Errorf("TCG run asks for a CPU model: %q", args)
	}
	if !strings.Contains(strings.Join(args, " "), "file=/d.raw,format=raw,if=virtio") {
		t.Errorf("disk not attached as raw virtio: %q", args)
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
