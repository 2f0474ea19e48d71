package bootcheck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kiln-dev/kiln/internal/vm"
)

// BootOptions describe one test boot.
type BootOptions struct {
	// Artifact is the kiln raw or qcow2 disk image. It is never written:
	// the machine boots a qcow2 overlay backed by it.
	Artifact string
	// Format is Artifact's format: "raw" or "qcow2".
	Format string
	// DiskSize is the size in bytes of the machine's disk (the overlay),
	// at least the image's own size; 0 keeps the image's size.
	DiskSize int64
	// ScratchDir holds the overlay while the machine runs (removed
	// afterwards) and, by default, the serial log ("": a new directory
	// under $TMPDIR, kept for the log).
	ScratchDir string
	// SerialLog receives the serial console (default
	// ScratchDir/serial.log).
	SerialLog string
	// Accel is vm.AccelKVM, vm.AccelTCG or "" (auto: KVM when /dev/kvm
	// opens, TCG when it does not or when KVM then fails to run the guest).
	Accel string
	// MemoryMiB and CPUs size the machine (vm.Config's defaults when 0).
	MemoryMiB, CPUs int
	// QEMU and QEMUImg are the programs (default: found on PATH).
	QEMU, QEMUImg string
	// User logs in with Signer; SSHPort is sshd's port on the server.
	User    string
	Signer  ssh.Signer
	SSHPort int
	// Timeout bounds the whole boot check, login and settling included.
	Timeout time.Duration
	// Check says what is expected once logged in; its Probe and SettleBy
	// are set by Boot.
	Check Options
	// Log receives progress lines (nil: none).
	Log func(string)
}

// ErrNoLogin is returned (wrapped) when the machine never let the user log
// in; the report that comes with it says so as a problem.
var ErrNoLogin = errors.New("no SSH login")

// Boot boots o.Artifact in QEMU on a scratch overlay, waits for an SSH
// login, runs Check and stops the machine. A machine that never lets the
// user log in gives a report whose only problem says so; an error means
// the check could not run at all (QEMU missing, the overlay not made).
func Boot(ctx context.Context, o BootOptions) (report *Report, err error) {
	logf := func(format string, a ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(format, a...))
		}
	}
	parent := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	if o.ScratchDir == "" {
		dir, err := os.MkdirTemp("", "kiln-test-boot-")
		if err != nil {
			return nil, err
		}
		o.ScratchDir = dir
		// Kept only for the serial log of a machine that started.
		defer func() {
			if _, err := os.Stat(o.SerialLog); report == nil || err != nil || filepath.Dir(o.SerialLog) != dir {
				os.RemoveAll(dir)
			}
		}()
	}
	if o.SerialLog == "" {
		o.SerialLog = filepath.Join(o.ScratchDir, "serial.log")
	}
	// "" is auto: KVM when /dev/kvm opens, and TCG after all when KVM
	// then cannot run the guest.
	auto := o.Accel == ""
	if auto {
		o.Accel = vm.DefaultAccel()
	}

	// 1. Forwards: every port of the spec, sshd's included, to a free
	// port on the host's loopback.
	ports := o.Check.Ports
	if !hasPort(ports, o.SSHPort) {
		ports = append([]Port{{Port: o.SSHPort, Owner: "sshd", Public: true}}, ports...)
	}
	free, err := vm.FreePorts(len(ports))
	if err != nil {
		return nil, err
	}
	fwd := map[int]int{}
	var forwards []vm.Forward
	for i, p := range ports {
		fwd[p.Port] = free[i]
		forwards = append(forwards, vm.Forward{Host: free[i], Guest: p.Port})
	}

	var (
		r     *Report
		c     *vm.Client
		start time.Time
	)
	for {
		// 2. The scratch disk: a qcow2 overlay, so the artifact stays as
		// built and the copy costs nothing; grown as a server's disk is
		// larger than the image written to it.
		disk, err := overlay(ctx, o)
		if err != nil {
			return nil, err
		}
		defer os.Remove(disk)

		// 3. Power on.
		r = &Report{Artifact: o.Artifact, Accel: o.Accel, SerialLog: o.SerialLog,
			Services: []Service{}, FailedUnits: []string{}, Ports: []PortResult{}, Problems: []string{}}
		cfg := vm.Config{Disk: disk, Format: "qcow2", MemoryMiB: o.MemoryMiB, CPUs: o.CPUs, Accel: o.Accel,
			Forwards: forwards, SerialLog: o.SerialLog, QEMU: o.QEMU}
		start = time.Now()
		m, err := vm.Start(cfg)
		if err != nil {
			return nil, err
		}
		defer m.Stop()
		logf("booting %s (%s, qemu %s); serial console in %s", o.Artifact, o.Accel, strings.Join(cfg.Args(), " "), o.SerialLog)

		// 4. First boot, until sshd lets the user in.
		var silent func() bool
		if auto && o.Accel == vm.AccelKVM {
			silent = stopIfSilent(m, o.SerialLog, kvmSilence)
		}
		c, err = dial(ctx, m, fwd[o.SSHPort], o, start, logf)
		if err == nil {
			break
		}
		if parent.Err() != nil {
			// Interrupted, not timed out: the caller says why.
			return nil, context.Cause(parent)
		}
		if auto && o.Accel == vm.AccelKVM && (errors.Is(err, vm.ErrKVM) || silent()) {
			// Seen with nested virtualisation: /dev/kvm opens, but the
			// guest's first real-mode code fails (QEMU says "KVM
			// internal error") or never gets as far as the boot loader's
			// first line on the serial console. Auto means a boot that
			// works: the same check, only slower.
			logf("KVM cannot run the guest on this host although /dev/kvm opens (nested virtualisation?): booting again with TCG, which is much slower")
			m.Stop()
			o.Accel = vm.AccelTCG
			continue
		}
		r.problem("%v", err)
		if out := strings.TrimSpace(m.Output()); out != "" {
			r.problem("QEMU said: %s", out)
		}
		if errors.Is(err, vm.ErrKVM) {
			r.problem("KVM does not work on this host although /dev/kvm opens: run again with --accel tcg (or auto)")
		}
		return r, fmt.Errorf("%w: %v", ErrNoLogin, err)
	}
	defer c.Close()
	r.Times.SSHLogin = seconds(time.Since(start))
	logf("logged in as %s after %s", o.User, time.Since(start).Round(time.Second))

	// 5. The checks, bounded by what is left of the timeout.
	co := o.Check
	co.Ports = ports
	co.SettleBy = time.Now().Add(10 * time.Minute)
	if d, ok := ctx.Deadline(); ok {
		// Leave time for the port probes and the release file.
		co.SettleBy = d.Add(-2 * time.Minute)
	}
	co.Probe = func(ctx context.Context, p Port) bool { return answers(ctx, fwd[p.Port], p) }
	if co.Log == nil {
		co.Log = o.Log
	}
	cr, err := Check(ctx, c, co)
	if err != nil {
		if parent.Err() != nil {
			return nil, context.Cause(parent)
		}
		return nil, err
	}
	cr.Artifact, cr.Accel, cr.SerialLog, cr.Times = r.Artifact, r.Accel, r.SerialLog, r.Times
	cr.Times.Settled = seconds(time.Since(start))
	return cr, nil
}

// kvmSilence is how long a KVM guest may print nothing on its serial
// console before auto gives up on KVM: the boot loader (FCOS's GRUB, the
// test OS's) writes to the serial console within a second or two of power-on
// under KVM, while a guest that nested KVM cannot run writes nothing at all
// (measured here: an empty console after 60 s, no error from QEMU).
var kvmSilence = 60 * time.Second

// stopIfSilent stops m when nothing has reached serialLog after d, and
// returns whether it did so.
func stopIfSilent(m *vm.Machine, serialLog string, d time.Duration) func() bool {
	var stopped atomic.Bool
	t := time.AfterFunc(d, func() {
		if fi, err := os.Stat(serialLog); err == nil && fi.Size() > 0 {
			return
		}
		stopped.Store(true)
		m.Stop()
	})
	return func() bool {
		t.Stop()
		return stopped.Load()
	}
}

func seconds(d time.Duration) float64 {
	return float64(d.Round(100*time.Millisecond)) / float64(time.Second)
}

func hasPort(ports []Port, port int) bool {
	for _, p := range ports {
		if p.Port == port {
			return true
		}
	}
	return false
}

// overlay makes the scratch disk and returns its path.
func overlay(ctx context.Context, o BootOptions) (string, error) {
	qemuImg := o.QEMUImg
	if qemuImg == "" {
		qemuImg = "qemu-img"
	}
	abs, err := filepath.Abs(o.Artifact)
	if err != nil {
		return "", err
	}
	// The overlay may not be smaller than the image (qemu-img would make
	// it so, cutting the root filesystem off).
	vsize, err := virtualSize(qemuImg, abs, o.Format)
	if err != nil {
		return "", err
	}
	size := max(o.DiskSize, vsize)
	disk := filepath.Join(o.ScratchDir, "disk.qcow2")
	cmd := exec.CommandContext(ctx, qemuImg, "create", "-q", "-f", "qcow2", "-b", abs, "-F", o.Format, disk, strconv.FormatInt(size, 10))
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("qemu-img create (the scratch overlay of %s): %w: %s", o.Artifact, err, strings.TrimSpace(string(b)))
	}
	return disk, nil
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// dial waits for the login, saying every 30 s that it still waits.
func dial(ctx context.Context, m *vm.Machine, port int, o BootOptions, start time.Time, logf func(string, ...any)) (*vm.Client, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				logf("waiting for SSH on 127.0.0.1:%d (%s since power-on; serial console in %s)", port, time.Since(start).Round(time.Second), o.SerialLog)
			}
		}
	}()
	return vm.Dial(ctx, m, port, o.User, &vm.Key{Signer: o.Signer})
}

// httpProbe is sent to every port but sshd's (which speaks first): an HTTP
// server answers it, and so does a TLS one (with an alert).
var httpProbe = []byte("GET / HTTP/1.0\r\n\r\n")

// answers probes a port through its forward. A public port gets retries
// for a minute (sshd forks per connection, which takes seconds under TCG);
// a port the guest drops would cost the whole wait, so others get one try.
func answers(ctx context.Context, hostPort int, p Port) bool {
	send := httpProbe
	if p.Owner == "sshd" {
		send = nil
	}
	if !p.Public {
		return vm.Answers(ctx, hostPort, send, 5*time.Second)
	}
	until := time.Now().Add(time.Minute)
	for {
		if vm.Answers(ctx, hostPort, send, 20*time.Second) {
			return true
		}
		if time.Now().After(until) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(3 * time.Second):
		}
	}
}
