// Package vm boots a kiln disk image in QEMU, the way a VPS or a bare-metal
// server boots it (from its own disk, through its own boot loader), and
// talks to it over SSH. The whole-appliance tests use it.
package vm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Accelerators QEMU can run a machine with.
const (
	AccelKVM = "kvm"
	AccelTCG = "tcg"
)

// ErrExited is returned when QEMU ends while something waits for the guest.
var ErrExited = errors.New("the virtual machine stopped")

// ErrKVM is returned (with ErrExited) when QEMU reported a KVM internal
// error: /dev/kvm opened, but KVM cannot run the guest (seen with nested
// virtualisation, in the boot loader's real-mode code). QEMU then pauses
// the guest forever; the machine is stopped instead, so a caller learns it
// in seconds and can boot again with TCG.
var ErrKVM = errors.New("KVM failed to run the guest although /dev/kvm opens")

// Forward maps a TCP port on the host's loopback to a port of the guest
// (QEMU user networking). Only 127.0.0.1 is ever bound, so a test machine
// is never reachable from the network.
type Forward struct {
	Host, Guest int
}

// Config describes one machine.
type Config struct {
	// Disk is the image the machine boots from and writes to; pass a
	// scratch copy, never an artifact that must stay as built. Empty for
	// a live boot (Kernel or CDROM).
	Disk string
	// Format of Disk: "raw" (default) or "qcow2".
	Format string
	// MemoryMiB and CPUs size the machine (defaults 3072 and 2).
	MemoryMiB, CPUs int
	// Accel is AccelKVM, AccelTCG or "" to choose (see DefaultAccel).
	Accel string
	// Forwards are the guest's TCP ports reachable on the host's loopback.
	Forwards []Forward
	// SerialLog receives the guest's serial console (boot loader, kernel,
	// initramfs and, on the test OS, a copy of the journal).
	SerialLog string
	// QEMU is the emulator binary (default qemu-system-x86_64 on PATH).
	QEMU string
	// SingleThread runs every vCPU of a TCG machine on one host thread.
	// Multi-threaded TCG (the default) races a guest kernel that patches
	// its own code while other vCPUs run it: Debian 13's 6.12 kernel
	// oopsed ("Oops: int3" in sched_clock_cpu) when the clocksource
	// watchdog marked the TSC unstable minutes into the boot and flipped
	// the sched_clock static key. A guest booted with tsc=reliable (the
	// test OS is) has no such flip; other guests may need this.
	SingleThread bool
	// Extra are disks attached after Disk, as a cloud server's volumes
	// are: the guest sees them as further virtio disks and, by their
	// serial, under /dev/disk/by-id/virtio-SERIAL.
	Extra []Drive
	// Live boots have no boot disk (Disk empty). Kernel, Initrd and Append
	// boot a kernel as a PXE loader does: QEMU loads them itself (one
	// initrd file: PXE's several initrds are concatenated into it, which
	// the kernel unpacks in order). CDROM boots a live ISO from the
	// emulated CD drive through the firmware, as a server's virtual media.
	Kernel, Initrd, Append string
	CDROM                  string
}

// Drive is a disk attached to a machine besides its boot disk.
type Drive struct {
	// File is the image; like Disk, a scratch copy.
	File string
	// Format of File: "raw" (default) or "qcow2".
	Format string
	// Serial names the disk to the guest: udev links it as
	// /dev/disk/by-id/virtio-SERIAL, which stays the same whatever order
	// the disks are found in (as a provider's volume ID does). Up to 20
	// characters of letters, digits, '-', '_' and '.' (virtio-blk keeps
	// 20; a comma would end QEMU's option).
	Serial string
}

// serialRE is what a Drive's serial may be.
var serialRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,20}$`)

// check reports a Config QEMU would misread.
func (c Config) check() error {
	switch {
	case c.Disk == "" && c.Kernel == "" && c.CDROM == "":
		return errors.New("nothing to boot: give a disk, a kernel or a CD-ROM image")
	case c.Kernel != "" && c.CDROM != "":
		return errors.New("a kernel and a CD-ROM image: boot one of them")
	case c.Kernel == "" && (c.Initrd != "" || c.Append != ""):
		return errors.New("an initrd or kernel arguments without a kernel")
	case strings.Contains(c.CDROM, ","):
		return fmt.Errorf("CD-ROM image %q: a comma in the path ends QEMU's option; use another path", c.CDROM)
	}
	for i, d := range c.Extra {
		if d.File == "" {
			return fmt.Errorf("extra disk %d has no file", i)
		}
		if strings.Contains(d.File, ",") {
			return fmt.Errorf("extra disk %q: a comma in the path ends QEMU's option; use another path", d.File)
		}
		if d.Serial != "" && !serialRE.MatchString(d.Serial) {
			return fmt.Errorf("extra disk %q: serial %q must be 1-20 letters, digits, '-', '_' or '.'", d.File, d.Serial)
		}
	}
	return nil
}

// Machine is a running QEMU process.
type Machine struct {
	// Accel is the accelerator the machine runs with.
	Accel string
	cmd   *exec.Cmd
	done  chan struct{}
	err   error
	once  sync.Once
	out   *strings.Builder
	// kvmFailed is set, under mu, when QEMU printed a KVM internal error.
	kvmFailed bool
}

// DefaultAccel returns AccelKVM when KILN_VM_ACCEL says so or, when it is
// empty, when /dev/kvm can be opened; else AccelTCG.
func DefaultAccel() string {
	switch v := os.Getenv("KILN_VM_ACCEL"); v {
	case AccelKVM, AccelTCG:
		return v
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return AccelTCG
	}
	f.Close()
	return AccelKVM
}

// Args returns QEMU's command line for c (without the binary).
func (c Config) Args() []string {
	mem, cpus := c.MemoryMiB, c.CPUs
	if mem == 0 {
		mem = 3072
	}
	if cpus == 0 {
		cpus = 2
	}
	format := c.Format
	if format == "" {
		format = "raw"
	}
	accel := c.Accel
	if accel == "" {
		accel = DefaultAccel()
	}
	nic := "user,model=virtio-net-pci"
	for _, f := range c.Forwards {
		nic += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", f.Host, f.Guest)
	}
	accelArg := accel
	if accel == AccelTCG && c.SingleThread {
		accelArg = "tcg,thread=single"
	}
	args := []string{
		"-accel", accelArg,
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
	}
	// SeaBIOS, the default firmware, boots the disk's MBR and GRUB's core
	// image in BIOS-BOOT, as on a BIOS server.
	switch {
	case c.Disk == "":
		// A live boot: no boot disk; the extra disks keep their serials.
	case len(c.Extra) == 0:
		args = append(args, "-drive", "file="+c.Disk+",format="+format+",if=virtio,cache=unsafe")
	default:
		// With more disks SeaBIOS picked an extra one (a blank volume)
		// and never reached GRUB: the boot disk is named first in the
		// boot order, and first on the PCI bus so it stays /dev/vda.
		args = append(args, "-drive", "file="+c.Disk+",format="+format+",if=none,id=boot,cache=unsafe",
			"-device", "virtio-blk-pci,drive=boot,bootindex=0")
	}
	for i, d := range c.Extra {
		f := d.Format
		if f == "" {
			f = "raw"
		}
		// -drive if=none plus a -device: the serial is a property of the
		// virtio-blk device (QEMU dropped -drive serial= in 3.0).
		id := "extra" + strconv.Itoa(i)
		dev := "virtio-blk-pci,drive=" + id
		if d.Serial != "" {
			dev += ",serial=" + d.Serial
		}
		args = append(args, "-drive", "file="+d.File+",format="+f+",if=none,id="+id+",cache=unsafe", "-device", dev)
	}
	if c.Kernel != "" {
		args = append(args, "-kernel", c.Kernel)
		if c.Initrd != "" {
			args = append(args, "-initrd", c.Initrd)
		}
		if c.Append != "" {
			args = append(args, "-append", c.Append)
		}
	}
	if c.CDROM != "" {
		// The CD drive first in the boot order: SeaBIOS would otherwise
		// try the extra disks (blank volumes) before it.
		args = append(args, "-drive", "file="+c.CDROM+",media=cdrom,if=ide,readonly=on", "-boot", "order=d")
	}
	args = append(args,
		"-nic", nic,
		"-display", "none", "-monitor", "none",
		// A failed first boot reboots (panic=N); -no-reboot turns that
		// into QEMU exiting, so a waiting caller fails fast.
		"-no-reboot",
	)
	switch accel {
	case AccelKVM:
		// The host's CPU model, as a cloud VM gets; QEMU's default model
		// asks for features a KVM host may not offer.
		args = append(args, "-cpu", "host")
	case AccelTCG:
		// Every feature TCG emulates, as a cloud CPU offers them, instead
		// of the default qemu64 (x86-64 as of 2003) — but not SVM nor
		// 5-level paging, which a VPS does not offer either (with SVM the
		// guest loaded kvm_amd with nested paging on every boot; la57 adds
		// a page-table level to every emulated TLB miss), and not AVX,
		// whose emulation is the newest of TCG's (QEMU 7.2, Debian 12's):
		// two CI boots panicked ("Fatal exception in interrupt", once two
		// minutes in, once 8 s into the kernel), never one of dozens
		// here, so it is not proven the cause, only the likeliest. Without
		// AVX in CPUID the guest offers no YMM state, so neither its
		// kernel nor its programs use AVX2 either; boots were as fast.
		args = append(args, "-cpu", TCGCPU)
	}
	if c.SerialLog != "" {
		args = append(args, "-serial", "file:"+c.SerialLog)
	} else {
		args = append(args, "-serial", "null")
	}
	return args
}

// TCGCPU is the CPU model a TCG guest gets.
const TCGCPU = "max,svm=off,la57=off,avx=off"

// Start boots the machine. The caller must Stop it.
func Start(c Config) (*Machine, error) {
	bin := c.QEMU
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	if c.Accel == "" {
		c.Accel = DefaultAccel()
	}
	m := &Machine{Accel: c.Accel, done: make(chan struct{}), out: &strings.Builder{}}
	m.cmd = exec.Command(bin, c.Args()...)
	m.cmd.Stdout, m.cmd.Stderr = &outputWriter{m: m}, &outputWriter{m: m}
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		m.err = m.cmd.Wait()
		close(m.done)
	}()
	return m, nil
}

// Done is closed when QEMU has exited.
func (m *Machine) Done() <-chan struct{} { return m.done }

// Output is what QEMU itself printed (errors, warnings).
func (m *Machine) Output() string {
	mu.Lock()
	defer mu.Unlock()
	return m.out.String()
}

// Stop ends QEMU (the guest is not shut down cleanly: the disk is a scratch
// copy) and waits for it.
func (m *Machine) Stop() {
	m.once.Do(func() {
		select {
		case <-m.done:
			return
		default:
		}
		_ = m.cmd.Process.Kill()
		<-m.done
	})
}

// KVMFailed reports whether QEMU said KVM could not run the guest (the
// machine was then stopped; see ErrKVM).
func (m *Machine) KVMFailed() bool {
	mu.Lock()
	defer mu.Unlock()
	return m.kvmFailed
}

// mu guards every Machine's output buffer and kvmFailed; QEMU writes rarely.
var mu sync.Mutex

// outputWriter keeps what QEMU prints and stops a machine whose KVM failed.
type outputWriter struct{ m *Machine }

func (w *outputWriter) Write(p []byte) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	n, err := w.m.out.Write(p)
	if !w.m.kvmFailed && strings.Contains(w.m.out.String(), "KVM internal error") {
		w.m.kvmFailed = true
		// Not from here: Kill waits for nothing, but the process's
		// pipes are being copied by the goroutine calling Write.
		go func() { _ = w.m.cmd.Process.Kill() }()
	}
	return n, err
}

// FreePorts returns n TCP ports that are free on 127.0.0.1 now. QEMU binds
// them a moment later; another process could take one in between, which
// Start then reports as QEMU failing.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Answers reports whether something in the guest answers on a forwarded
// port: QEMU accepts every connection on the host side and closes it without
// a byte when the guest refuses or drops it, so only data coming back (an
// SSH banner, an HTTP or TLS reply to what is sent) counts as an answer.
func Answers(ctx context.Context, hostPort int, probe []byte, wait time.Duration) bool {
	d := net.Dialer{Timeout: wait}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort)))
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	if len(probe) > 0 {
		if _, err := conn.Write(probe); err != nil {
			return false
		}
	}
	buf := make([]byte, 1)
	n, _ := conn.Read(buf)
	return n > 0
}
