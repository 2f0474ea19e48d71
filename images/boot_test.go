package images

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/fixture"
	"github.com/kiln-dev/kiln/internal/testutil"
)

// bootInit runs as PID 1 in the test initramfs: it hashes the config the
// PXE initrd unpacked and powers off.
const bootInit = `#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
exec >/dev/ttyS0 2>&1
echo "KILN-CONFIG-SHA256=$(/bin/busybox sha256sum /config.ign | /bin/busybox cut -d' ' -f1)"
/bin/busybox ls -l /config.ign
/bin/busybox poweroff -f
`

// TestPXEInitrdBoots boots Debian's kernel under QEMU (TCG) with a busybox
// initramfs followed by kiln's config initrd, concatenated as PXE loaders
// do, and checks the kernel unpacked config.ign intact.
func TestPXEInitrdBoots(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM")
	}
	qemu := testutil.Tool(t, "qemu-system-x86_64")
	bb := testutil.Tool(t, "busybox")
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(kernels) == 0 {
		if testutil.InCI() {
			t.Fatal("no /boot/vmlinuz-* (install linux-image-amd64)")
		}
		t.Skip("no /boot/vmlinuz-*; install linux-image-amd64")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, d := range []string{"bin", "dev", "proc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "init"), []byte(bootInit), 0o755); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base.cpio")
	shell(t, "cd '"+root+"' && find . | cpio -o -H newc --quiet > '"+base+"'")

	// The config initrd is the PXE bundle's, as Build writes it.
	out1 := filepath.Join(dir, "out")
	if err := os.Mkdir(out1, 0o755); err != nil {
		t.Fatal(err)
	}
	man, err := Build(t.Context(), Request{
		Ignition: []byte(testConfig), Name: "clipper", Version: "1.2.0", OutDir: out1,
		Targets: []Target{{Format: "pxe"}}, BasePXE: fixture.PXE(t, dir), SourceDateEpoch: testEpoch,
	})
	if err != nil {
		t.Fatal(err)
	}
	initrd, err := os.ReadFile(filepath.Join(out1, "clipper-1.2.0-pxe.ign.img"))
	if err != nil {
		t.Fatal(err)
	}
	all := filepath.Join(dir, "all.img")
	baseBytes, _ := os.ReadFile(base)
	if err := os.WriteFile(all, append(baseBytes, initrd...), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot",
		"-kernel", kernels[len(kernels)-1], "-initrd", all, "-append", "console=ttyS0 panic=-1 quiet")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("VM did not power off in time:\n%s", out.String())
	}
	if err != nil {
		t.Fatalf("qemu: %v\n%s", err, out.String())
	}
	m := regexp.MustCompile(`KILN-CONFIG-SHA256=([0-9a-f]{64})`).FindStringSubmatch(out.String())
	if m == nil || m[1] != man.ConfigSHA256 {
		t.Fatalf("config in the booted initramfs: %v, manifest says %s\n%s", m, man.ConfigSHA256, out.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("-rw-------    1 0        0")) {
		t.Errorf("config.ign mode or owner wrong in the booted initramfs:\n%s", out.String())
	}
}
