package sshd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
)

// TestSshdLive runs sshd with the drop-in on a loopback port and has the
// OpenSSH client try what an attacker or an outdated client would: the
// server offers public keys only and refuses legacy algorithms.
func TestSshdLive(t *testing.T) {
	sshd := testutil.Tool(t, "sshd")
	ssh := testutil.Tool(t, "ssh")
	keygen := testutil.Tool(t, "ssh-keygen")
	if os.Geteuid() != 0 && !testutil.InCI() {
		t.Skip("sshd needs root to run")
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "ssh_host_ed25519_key")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	dropIn, err := DropIn(DefaultConfig("core"))
	if err != nil {
		t.Fatal(err)
	}
	dropInPath := filepath.Join(dir, "40-kiln.conf")
	mainPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(dropInPath, dropIn, 0o600); err != nil {
		t.Fatal(err)
	}
	mainCfg := fmt.Sprintf("Include %s\nHostKey %s\nPidFile %s\nPasswordAuthentication yes\n", dropInPath, key, filepath.Join(dir, "sshd.pid"))
	if err := os.WriteFile(mainPath, []byte(mainCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testutil.FreePort(t)

	// -p replaces the drop-in's Port, so the test needs no privileged port.
	cmd := exec.Command(sshd, "-D", "-e", "-f", mainPath, "-p", fmt.Sprint(port), "-o", "ListenAddress=127.0.0.1")
	startSshd(t, cmd, port)

	client := func(opts ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		args := []string{"-F", "/dev/null", "-v", "-p", fmt.Sprint(port),
			"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/dev/null", "-o", "ConnectTimeout=5"}
		args = append(args, opts...)
		args = append(args, "core@127.0.0.1", "true")
		out, err := exec.CommandContext(ctx, ssh, args...).CombinedOutput()
		if err == nil {
			t.Fatalf("ssh %v logged in:\n%s", opts, out)
		}
		return string(out)
	}

	out := client("-o", "PreferredAuthentications=password,keyboard-interactive,publickey")
	if !regexp.MustCompile(`Authentications that can continue: publickey\r?\n`).MatchString(out) {
		t.Errorf("server offers more than public keys:\n%s", out)
	}
	// OpenSSH 9.2 announces a fixed server-sig-algs list whatever
	// PubkeyAcceptedAlgorithms says, so that setting is checked by sshd -T
	// in TestSshd rather than here.
	for _, tc := range []struct{ opt, want string }{
		{"KexAlgorithms=diffie-hellman-group14-sha256,diffie-hellman-group14-sha1", "no matching key exchange method found"},
		{"Ciphers=aes128-cbc,aes256-cbc,3des-cbc", "no matching cipher found"},
		{"MACs=hmac-sha1,hmac-sha2-256,umac-64@openssh.com", "no matching MAC found"},
		{"HostKeyAlgorithms=ssh-rsa", "no matching host key type found"},
	} {
		opts := []string{"-o", tc.opt}
		if strings.HasPrefix(tc.opt, "MACs=") {
			// MACs are only negotiated for a non-AEAD cipher.
			opts = append(opts, "-o", "Ciphers=aes256-ctr")
		}
		if out := client(opts...); !strings.Contains(out, tc.want) {
			t.Errorf("ssh -o %s: want %q in:\n%s", tc.opt, tc.want, out)
		}
	}
}
