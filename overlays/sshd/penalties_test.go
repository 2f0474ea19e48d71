package sshd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/auditroot"
	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/overlays"
)

// TestPenaltiesMapping pins the mapping from fail2ban's three numbers to
// sshd's bucket (BruteForce.Penalties): MaxRetry quick failures exceed
// min and MaxRetry-1 do not, and the account they leave is the ban.
func TestPenaltiesMapping(t *testing.T) {
	for _, tc := range []struct {
		b    BruteForce
		want Penalties
	}{
		// Clipper: 5 failures in 10 minutes ban for an hour.
		{BruteForce{BanTime: 3600, FindTime: 600, MaxRetry: 5}, Penalties{AuthFail: 720, NoAuth: 720, InvalidUser: 720, Grace: 720, Crash: 3600, Min: 2880, Max: 3600}},
		// One failure bans at once.
		{BruteForce{BanTime: 600, FindTime: 60, MaxRetry: 1}, Penalties{AuthFail: 600, NoAuth: 600, InvalidUser: 600, Grace: 600, Crash: 600, Min: 0, Max: 600}},
		// A short ban over a long window: the window wins, the ban is longer.
		{BruteForce{BanTime: 600, FindTime: 600, MaxRetry: 5}, Penalties{AuthFail: 601, NoAuth: 601, InvalidUser: 601, Grace: 601, Crash: 3005, Min: 2404, Max: 3005}},
	} {
		p := tc.b.Penalties()
		if p != tc.want {
			t.Errorf("%+v: got %+v, want %+v", tc.b, p, tc.want)
		}
		n := tc.b.MaxRetry
		if (n-1)*p.AuthFail > p.Min || n*p.AuthFail <= p.Min || p.Max < tc.b.BanTime || p.Crash <= p.Min {
			t.Errorf("%+v: %+v does not ban at %d failures, or bans early or short", tc.b, p, n)
		}
		// MaxRetry failures spread over FindTime still exceed min.
		if n*p.AuthFail-tc.b.FindTime <= p.Min {
			t.Errorf("%+v: %d failures over %d s stay under min %d", tc.b, n, tc.b.FindTime, p.Min)
		}
	}
}

// TestPenaltiesNeedOpenSSH98: asking an sshd older than 9.8 for the guard
// is refused (it would refuse to start, locking everyone out), naming the
// field; 9.8 gets the directive, and no guard gets none.
func TestPenaltiesNeedOpenSSH98(t *testing.T) {
	c := DefaultConfig("core")
	c.BruteForce = &BruteForce{BanTime: 3600, FindTime: 600, MaxRetry: 5}
	c.OpenSSH = OpenSSH{9, 6}
	_, err := DropIn(c)
	var fe *overlays.FieldError
	if !errors.Is(err, ErrNoPenalties) || !errors.As(err, &fe) || fe.Field != "brute_force" {
		t.Fatalf("OpenSSH 9.6: got %v, want a brute_force field error wrapping ErrNoPenalties", err)
	}
	c.OpenSSH = PenaltiesSince
	b, err := DropIn(c)
	if err != nil {
		t.Fatal(err)
	}
	line := "\nPerSourcePenalties authfail:720s noauth:720s grace-exceeded:720s crash:3600s min:2880s max:3600s"
	if !strings.Contains(string(b), line+"\n") {
		t.Errorf("OpenSSH 9.8 drop-in lacks the penalties:\n%s", b)
	}
	// invaliduser only for the sshd that knows it.
	c.OpenSSH = OpenSSH{10, 3}
	if b, _ := DropIn(c); !strings.Contains(string(b), line+" invaliduser:720s\n") {
		t.Errorf("OpenSSH 10.3 drop-in lacks invaliduser:\n%s", b)
	}
	c.BruteForce = nil
	if b, _ := DropIn(c); strings.Contains(string(b), "PerSourcePenalties") {
		t.Errorf("no guard asked, yet:\n%s", b)
	}
	c.BruteForce = &BruteForce{BanTime: 3600, FindTime: 600, MaxRetry: 0}
	if _, err := DropIn(c); !errors.As(err, &fe) || fe.Field != "brute_force.maxretry" {
		t.Errorf("maxretry 0: got %v", err)
	}
}

var activating = regexp.MustCompile(`activating ipv4 penalty of ([0-9.]+) seconds`)

// TestPenaltiesLive is the guard judged by a real sshd of a version FCOS
// ships (Debian 13's OpenSSH 10 in the audit root), on loopback with
// kiln's drop-in and Clipper's numbers (5 failures in 600 s ban for
// 3600 s). Five penalised connections come from 127.0.0.1: startSshd's
// readiness probe (a connection that never logs in), three logins with a
// key the server does not accept, and a login as root, which AllowUsers
// does not admit. Each of them reaches authentication: OpenSSH's default
// penalties would already refuse the fifth connection (1 + 3 × 5 s >
// 15 s), so kiln's min is in force. The sixth connection is refused before
// the SSH banner, which shows that the try at root counted as a whole
// failure (at OpenSSH's 1 s it would not reach min), and sshd logs a ban
// of about bantime. The same server without kiln's directive and with
// the penalties off lets the sixth connection in, so the refusal is the
// directive's doing.
//
// Adapted for the test only: a loopback port, the host key in a temporary
// directory inside the root, and the root's "sync" as the allowed user
// (the one account there whose shell exists, which sshd requires).
func TestPenaltiesLive(t *testing.T) {
	root := auditroot.Root(t)
	ssh := testutil.Tool(t, "ssh")
	keygen := testutil.Tool(t, "ssh-keygen")
	if err := os.MkdirAll(filepath.Join(root, "run", "sshd"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, inside := auditroot.TempDir(t, root)
	client := filepath.Join(t.TempDir(), "id_ed25519")
	for _, k := range []string{filepath.Join(dir, "ssh_host_ed25519_key"), client} {
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	b := BruteForce{BanTime: 3600, FindTime: 600, MaxRetry: 5}
	c := DefaultConfig("sync")
	c.OpenSSH = OpenSSH{10, 0}
	c.BruteForce = &b
	// The control's drop-in is the same without the guard: sshd then
	// takes PerSourcePenalties from its command line (a second value in
	// the file would be merged into the first, not replace it).
	control := c
	control.BruteForce = nil
	// The exempt server is kiln's with the client's network on
	// ssh.fail2ban.ignoreip (and an IPv6 one, so the list has two).
	exempt := c
	eb := b
	eb.Exempt = []string{"2001:db8::/32", "127.0.0.0/8"}
	exempt.BruteForce = &eb
	for name, cfg := range map[string]Config{"kiln": c, "control": control, "exempt": exempt} {
		dropIn, err := DropIn(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".conf"), dropIn, 0o600); err != nil {
			t.Fatal(err)
		}
		main := fmt.Sprintf("Include %[1]s/%[2]s.conf\nHostKey %[1]s/ssh_host_ed25519_key\nPidFile %[1]s/%[2]s.pid\n", inside, name)
		if err := os.WriteFile(filepath.Join(dir, name+"_config"), []byte(main), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sshd := func(name string, port int, extra ...string) *exec.Cmd {
		args := append([]string{"-D", "-e", "-f", inside + "/" + name + "_config", "-p", strconv.Itoa(port), "-o", "ListenAddress=127.0.0.1"}, extra...)
		return auditroot.Command(ctx, root, "/usr/sbin/sshd", args...)
	}
	if out, err := sshd("kiln", 22, "-t").CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("sshd -t with the penalties: %v\n%s", err, out)
	}

	// try connects once as user and says whether the server let the
	// client reach authentication (and refused its key) or closed the
	// connection first.
	try := func(port int, user string) (authenticated bool, out string) {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
		defer ccancel()
		o, err := exec.CommandContext(cctx, ssh, "-F", "/dev/null", "-p", strconv.Itoa(port),
			"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "IdentitiesOnly=yes", "-i", client, "-o", "ConnectTimeout=5", user+"@127.0.0.1", "true").CombinedOutput()
		if err == nil {
			t.Fatalf("ssh logged in with a key the server does not know:\n%s", o)
		}
		// sshd books the penalty when the session process exits, just
		// after the client sees the refusal.
		time.Sleep(300 * time.Millisecond)
		return strings.Contains(string(o), "Permission denied (publickey)"), string(o)
	}
	failures := func(port int, log *testutil.Daemon) {
		t.Helper()
		for i, user := range []string{"sync", "sync", "sync", "root"} {
			if ok, out := try(port, user); !ok {
				t.Fatalf("failed login %d (as %s) was refused before authentication:\n%s\nsshd:\n%s", i+1, user, out, log)
			}
		}
	}

	t.Run("kiln's penalties", func(t *testing.T) {
		port := testutil.FreePort(t)
		log := startSshd(t, sshd("kiln", port), port)
		failures(port, log)
		if ok, out := try(port, "sync"); ok {
			t.Fatalf("after %d penalised connections the next one reached authentication:\n%s\nsshd:\n%s", b.MaxRetry, out, log)
		}
		m := activating.FindStringSubmatch(log.Output())
		if m == nil {
			t.Fatalf("sshd logged no activated penalty:\n%s", log)
		}
		secs, _ := strconv.ParseFloat(m[1], 64)
		// The burst took a few seconds of the account's bantime.
		if p := b.Penalties(); secs > float64(p.Max) || secs < float64(b.BanTime-60) {
			t.Errorf("ban of %.0f s, want about bantime %d s", secs, b.BanTime)
		}
		t.Logf("refused after %d penalised connections; sshd: %s", b.MaxRetry, m[0])
	})
	t.Run("exempt source", func(t *testing.T) {
		port := testutil.FreePort(t)
		log := startSshd(t, sshd("exempt", port), port)
		failures(port, log)
		if ok, out := try(port, "sync"); !ok {
			t.Fatalf("a source on the exemption list was refused after %d failures:\n%s\nsshd:\n%s", b.MaxRetry, out, log)
		}
	})
	t.Run("penalties off", func(t *testing.T) {
		port := testutil.FreePort(t)
		log := startSshd(t, sshd("control", port, "-o", "PerSourcePenalties=no"), port)
		failures(port, log)
		if ok, out := try(port, "sync"); !ok {
			t.Fatalf("without penalties the sixth connection was refused:\n%s\nsshd:\n%s", out, log)
		}
	})
}
