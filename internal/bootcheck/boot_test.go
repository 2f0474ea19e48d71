package bootcheck

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/internal/vm"
)

// fakeQEMU stands in for qemu-system-x86_64 on a host where /dev/kvm opens
// but KVM cannot run the guest: with -accel kvm it prints $KVM_SAYS and
// waits, as QEMU does with the guest paused or hung, writing nothing to the
// serial console; with TCG it notes the boot in tcg.log and exits, a machine
// that never lets anyone in.
func fakeQEMU(t *testing.T) (bin, tcgLog string) {
	t.Helper()
	dir := t.TempDir()
	bin, tcgLog = filepath.Join(dir, "qemu-system-x86_64"), filepath.Join(dir, "tcg.log")
	script := `#!/bin/sh
case " $* " in
*" -accel kvm "*) printf "$KVM_SAYS" >&2; exec sleep 300 ;;
*) echo "$*" >> ` + tcgLog + `; exit 1 ;;
esac
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, tcgLog
}

func TestBootFallsBackToTCG(t *testing.T) {
	qemuImg := testutil.Tool(t, "qemu-img")
	artifact := filepath.Join(t.TempDir(), "a.raw")
	if err := os.WriteFile(artifact, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := vm.NewKey("t")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KILN_VM_ACCEL", vm.AccelKVM) // as if /dev/kvm opened
	kvmSilence = 2 * time.Second
	t.Cleanup(func() { kvmSilence = time.Minute })
	const kvmError = `KVM internal error. Suberror: 1\nemulation failure\n`
	for _, tc := range []struct {
		name      string
		accel     string
		kvmSays   string
		wantAccel string
		wantTCG   bool
		problem   string
	}{
		// auto: KVM fails within seconds, the boot is tried with TCG.
		{"auto, KVM error", "", kvmError, vm.AccelTCG, true, "stopped"},
		// auto: KVM says nothing, and neither does the guest.
		{"auto, silent guest", "", "", vm.AccelTCG, true, "stopped"},
		// --accel kvm: no second boot, and the report says what to do.
		{"kvm, KVM error", vm.AccelKVM, kvmError, vm.AccelKVM, false, "run again with --accel tcg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KVM_SAYS", tc.kvmSays)
			qemu, tcgLog := fakeQEMU(t)
			start := time.Now()
			r, err := Boot(context.Background(), BootOptions{
				Artifact: artifact, Format: "raw", ScratchDir: t.TempDir(), Accel: tc.accel,
				QEMU: qemu, QEMUImg: qemuImg, User: "u", Signer: key.Signer, SSHPort: 22,
				Timeout: time.Minute,
			})
			if !errors.Is(err, ErrNoLogin) || r == nil {
				t.Fatalf("Boot = %v, %v; want a report and ErrNoLogin", r, err)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("took %s: the KVM failure was not noticed", d)
			}
			if r.Accel != tc.wantAccel {
				t.Errorf("report accel %q, want %q", r.Accel, tc.wantAccel)
			}
			_, statErr := os.Stat(tcgLog)
			if ran := statErr == nil; ran != tc.wantTCG {
				t.Errorf("TCG boot ran: %v, want %v", ran, tc.wantTCG)
			}
			if !strings.Contains(strings.Join(r.Problems, "\n"), tc.problem) {
				t.Errorf("problems %q do not say %q", r.Problems, tc.problem)
			}
		})
	}
}
