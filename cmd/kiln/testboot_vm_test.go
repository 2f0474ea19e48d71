//go:build vmtest

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/bootcheck"
	"github.com/kiln-dev/kiln/internal/testutil"
	"github.com/kiln-dev/kiln/internal/vm"
)

// TestTestBootOnTestOS runs the real `kiln test-boot` as an operator would:
// a small appliance (testdata/testboot: redis with its health check and a
// secret on the data partition, a static site on a public port; both
// images have stand-ins in the test OS) built on the FCOS-shaped test OS
// (make testos), booted in QEMU. Every check must pass, and the report
// must say so field by field. Run it under the machine's VM lock:
// flock /tmp/kiln-vm.lock make vmtest-testboot.
func TestTestBootOnTestOS(t *testing.T) {
	base := testutil.TestOS(t, "flock /tmp/kiln-vm.lock make vmtest-testboot", "testos-metal.raw")[0]
	testutil.Tool(t, "qemu-system-x86_64")
	testutil.Tool(t, "qemu-img")
	dir := t.TempDir()
	specPath, keyPath := testBootSpec(t, dir)
	if _, stderr, code := kiln(t, dir, "build", "-q", "-f", specPath, "-o", "out",
		"--platform", "metal", "--format", "raw", "--base-image", base, "--insecure-base"); code != 0 {
		t.Fatalf("build: exit %d\n%s", code, stderr)
	}
	artifact := filepath.Join(dir, "out", "bootcheck-0.1.0-metal.raw")
	before, err := os.Stat(artifact)
	if err != nil {
		t.Fatal(err)
	}

	// TCG unless asked: KVM was measured broken on these machines (nested).
	// KILN_VM_ACCEL=auto runs what an operator gets by default: KVM when
	// /dev/kvm opens, TCG when KVM then cannot run the guest.
	accel := os.Getenv("KILN_VM_ACCEL")
	if accel == "" {
		accel = vm.AccelTCG
	}
	wantAccel := []string{accel}
	if accel == "auto" {
		wantAccel = []string{vm.AccelKVM, vm.AccelTCG}
	}
	serial := filepath.Join(dir, "serial.log")
	start := time.Now()
	stdout, stderr, code := kiln(t, dir, "test-boot", "-f", specPath, "--key", keyPath, "--accel", accel,
		"--serial-log", serial, "--json", "out/bootcheck-0.1.0-metal.raw")
	t.Logf("kiln test-boot: exit %d after %s\n%s", code, time.Since(start).Round(time.Second), stderr)
	var r bootcheck.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("--json printed no report: %v\n%s", err, stdout)
	}
	if code != 0 || !r.OK {
		t.Errorf("exit %d, ok %v, problems %q\n%s", code, r.OK, r.Problems, stdout)
	}
	if !slices.Contains(wantAccel, r.Accel) || r.SerialLog != serial || r.Times.SSHLogin <= 0 || r.Times.Settled < r.Times.SSHLogin {
		t.Errorf("accel %q, serial log %q, times %+v", r.Accel, r.SerialLog, r.Times)
	}
	t.Logf("accel %s; power-on → SSH login %.0f s, → services settled %.0f s", r.Accel, r.Times.SSHLogin, r.Times.Settled)
	if fi, err := os.Stat(serial); err != nil || fi.Size() == 0 {
		t.Errorf("serial console log %s: %v", serial, err)
	}

	services := map[string]bootcheck.Service{}
	for _, s := range r.Services {
		services[s.Name] = s
	}
	for _, name := range []string{"redis", "frontend"} {
		if s := services[name]; !s.OK || s.Active != "active" || s.HealthCheck && s.Health != "healthy" {
			t.Errorf("service %s: %+v", name, s)
		}
	}
	if len(r.Services) != 2 {
		t.Errorf("want the spec's two services, got %+v", r.Services)
	}
	answers := map[int]bool{}
	for _, p := range r.Ports {
		answers[p.Port] = p.Answers
	}
	if want := map[int]bool{22: true, 8081: true, 6379: false}; len(answers) != len(want) || answers[22] != want[22] || answers[8081] != want[8081] || answers[6379] {
		t.Errorf("ports answering from outside: %v, want %v", answers, want)
	}
	fields := map[string]bootcheck.FieldResult{}
	for _, f := range r.Release.Fields {
		fields[f.Field] = f
	}
	if !r.Release.OK || fields["name"].Got != "bootcheck" || fields["version"].Got != "0.1.0" || fields["config_digest"].Got == "" {
		t.Errorf("release: %+v", r.Release)
	}
	if len(r.FailedUnits) != 0 {
		t.Errorf("failed units: %v", r.FailedUnits)
	}

	// The artifact stays as built: the machine wrote to an overlay.
	after, err := os.Stat(artifact)
	if err != nil || !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Errorf("the artifact changed: %v → %v (%v)", before.ModTime(), after.ModTime(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "kiln-test-boot-*", "disk.qcow2")); len(left) > 0 {
		t.Errorf("scratch disks left behind: %v", left)
	}
}
