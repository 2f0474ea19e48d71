package images

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/fixture"
	"github.com/kiln-dev/kiln/internal/testutil"
)

// judge runs a judging program and returns its combined output; a non-zero
// exit fails the test unless allowFail.
func judge(t *testing.T, allowFail bool, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testutil.Tool(t, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil && !allowFail {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// shell runs a pipeline under bash with pipefail so no stage's failure hides.
func shell(t *testing.T, script string) string {
	t.Helper()
	testutil.Tool(t, "bash")
	cmd := exec.Command("bash", "-c", "set -euo pipefail; "+script)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s%s", script, err, out.String(), errb.String())
	}
	return out.String()
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkBootFS runs e2fsck and debugfs on the boot filesystem of a raw disk
// and asserts the embedded config's bytes, mode and owner.
func checkBootFS(t *testing.T, disk string, config []byte, platform string) {
	t.Helper()
	spec := fmt.Sprintf("%s?offset=%d", disk, fixture.BootStart)
	out := judge(t, true, "e2fsck", "-fn", spec)
	if !strings.Contains(out, "Pass 5") || strings.Contains(strings.ToLower(out), "fix?") || strings.Contains(out, "WARNING") || strings.Contains(out, "corrupt") {
		t.Fatalf("e2fsck not clean:\n%s", out)
	}
	if err := exec.Command(testutil.Tool(t, "e2fsck"), "-fn", spec).Run(); err != nil {
		t.Fatalf("e2fsck exit: %v\n%s", err, out)
	}
	st := judge(t, false, "debugfs", "-R", "stat /ignition/config.ign", spec)
	for _, want := range []string{"Mode:  0600", "User:     0   Group:     0", fmt.Sprintf("Size: %d", len(config))} {
		if !strings.Contains(st, want) {
			t.Errorf("debugfs stat lacks %q:\n%s", want, st)
		}
	}
	dst := judge(t, false, "debugfs", "-R", "stat /ignition", spec)
	if !strings.Contains(dst, "Mode:  0700") || !strings.Contains(dst, "User:     0   Group:     0") {
		t.Errorf("ignition dir mode/owner wrong:\n%s", dst)
	}
	got := judge(t, false, "debugfs", "-R", "cat /ignition/config.ign", spec)
	if !strings.Contains(got, string(config)) {
		t.Errorf("debugfs cat shows %q, want %q", got, config)
	}
	entry := judge(t, false, "debugfs", "-R", "cat /"+fixture.BLSEntry, spec)
	if !strings.Contains(entry, "ignition.platform.id="+platform+" ") {
		t.Errorf("BLS entry lacks platform %s:\n%s", platform, entry)
	}
	if strings.Count(entry, "ignition.platform.id=") != 1 {
		t.Errorf("BLS entry has several platform ids:\n%s", entry)
	}
	sg := judge(t, false, "sgdisk", "-v", disk)
	if !strings.Contains(sg, "No problems found") || strings.Contains(sg, "ERROR") || strings.Contains(sg, "Warning") || strings.Contains(sg, "Caution") || strings.Contains(sg, "Problem:") {
		t.Errorf("sgdisk -v:\n%s", sg)
	}
}
