package builder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/internal/auditroot"
	"github.com/kiln-dev/kiln/overlays/sshd"
)

// TestBruteForceNeedsPenalties: ssh.fail2ban is sshd's PerSourcePenalties,
// so a base.release that admits an FCOS whose OpenSSH predates 9.8 is
// refused at the user's line with the fix; disabling the guard, or a
// release from 41 on, renders. Without a release the build holds bases to
// FCOS 41 and later.
func TestBruteForceNeedsPenalties(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "render", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	withBase := func(release string, extra string) []byte {
		return []byte(strings.Replace(string(data), "users:", "base:\n  release: \""+release+"\"\n"+extra+"users:", 1))
	}
	bad, err := Render(Request{File: "old.yaml", Spec: withBase(">= 40", "")})
	if err == nil || bad == nil {
		t.Fatalf("FCOS 40 base with the guard: got %v, want a diagnostic", err)
	}
	var got spec.Diagnostic
	for _, d := range bad.Diagnostics {
		if d.Severity == spec.Error {
			got = d
		}
	}
	if got.Path != "base.release" || got.Pos.Line != 5 || !strings.Contains(got.Msg, "OpenSSH 9.6") || !strings.Contains(got.Fix, `">= 41"`) {
		t.Errorf("diagnostic %+v: want base.release at line 5 naming OpenSSH 9.6 and the fix \">= 41\"", got)
	}
	if _, err := Render(Request{File: "off.yaml", Spec: withBase(">= 40", "ssh:\n  fail2ban:\n    disabled: true\n")}); err != nil {
		t.Errorf("FCOS 40 without the guard: %v", err)
	}
	res, err := Render(Request{File: "new.yaml", Spec: withBase(">= 41", "")})
	if err != nil {
		t.Fatalf("FCOS 41: %v", err)
	}
	if f := findFile(t, res, sshd.DropInPath); !strings.Contains(f, "\nPerSourcePenalties ") {
		t.Errorf("FCOS 41 drop-in has no PerSourcePenalties:\n%s", f)
	}
	a := &spec.Appliance{}
	if got := baseRelease(a); got != ">= 41" {
		t.Errorf("no release, guard on: bases held to %q, want \">= 41\"", got)
	}
	a.SSH.Fail2ban.Disabled = true
	if got := baseRelease(a); got != "" {
		t.Errorf("no release, guard off: bases held to %q, want none", got)
	}
}

// TestClipperSshdStarts: Clipper's rendered drop-in, penalties included,
// passes `sshd -t` of Debian 13's OpenSSH 10 (the audit root), the version
// of the newest FCOS kiln knows; an unknown keyword would keep sshd from
// starting and lock everyone out.
func TestClipperSshdStarts(t *testing.T) {
	root := auditroot.Root(t)
	res := renderCase(t, "clipper")
	dropIn := findFile(t, res, sshd.DropInPath)
	if !strings.Contains(dropIn, "\nPerSourcePenalties ") {
		t.Fatalf("Clipper's drop-in has no PerSourcePenalties:\n%s", dropIn)
	}
	dir, inside := auditroot.TempDir(t, root)
	if err := os.WriteFile(filepath.Join(dir, "40-kiln.conf"), []byte(dropIn), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := auditroot.Command(ctx, root, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", inside+"/hostkey").CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	main := fmt.Sprintf("Include %[1]s/40-kiln.conf\nHostKey %[1]s/hostkey\n", inside)
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "run", "sshd"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := auditroot.Command(ctx, root, "/usr/sbin/sshd", "-T", "-f", inside+"/sshd_config").CombinedOutput()
	if err != nil {
		t.Fatalf("sshd -T: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "\npersourcepenalties crash:3600 authfail:720 noauth:720 grace-exceeded:720 ") || !strings.Contains(string(out), "max:3600 min:2880") {
		t.Errorf("sshd's effective penalties are not Clipper's:\n%s", grepLines(string(out), "persourcepenalties"))
	}
}

func findFile(t *testing.T, res *Result, path string) string {
	t.Helper()
	for _, f := range res.files(t) {
		if f.path == path {
			return f.content
		}
	}
	t.Fatalf("no %s rendered", path)
	return ""
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
