// Package sysctl renders the host's kernel and systemd hardening: sysctl
// settings, journald size limits, disabled core dumps and the time sync
// policy.
package sysctl

import (
	"bytes"
	_ "embed"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"text/template"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// Paths on the server.
const (
	// SysctlPath sorts after systemd's 50-default.conf so its values win.
	SysctlPath = "/etc/sysctl.d/90-kiln.conf"
	// JournaldPath is the journald drop-in.
	JournaldPath = "/etc/systemd/journald.conf.d/90-kiln.conf"
	// CoredumpPath is the systemd-coredump drop-in.
	CoredumpPath = "/etc/systemd/coredump.conf.d/90-kiln.conf"
	// SystemPath is the service manager drop-in (default resource limits).
	SystemPath = "/etc/systemd/system.conf.d/90-kiln.conf"
	// ChronydDropInPath is the chronyd.service drop-in.
	ChronydDropInPath = "/etc/systemd/system/chronyd.service.d/90-kiln.conf"
	// ChronyConfPath is written only when NTP servers are given; FCOS then
	// leaves its platform-specific time sources alone.
	ChronyConfPath = "/etc/chrony.conf"
)

// Setting is one sysctl key and value.
type Setting struct {
	// Key is dotted, as sysctl(8) writes it; "*" matches every interface.
	Key string
	// Value is written verbatim.
	Value string
	// Why is the comment written above the setting.
	Why string
}

// Hardened are the settings kiln always applies, in file order. IP
// forwarding is deliberately absent: netavark enables it for containers.
var Hardened = []Setting{
	{"net.ipv4.tcp_syncookies", "1", "Answer SYN floods with cookies instead of dropping connections."},
	{"net.ipv4.tcp_rfc1337", "1", "Ignore RSTs for sockets in TIME-WAIT (RFC 1337)."},
	{"net.ipv4.conf.all.rp_filter", "1", "Strict reverse-path filtering drops spoofed sources; the glob overrides\n# the loose default systemd applies to each interface as it appears."},
	{"net.ipv4.conf.default.rp_filter", "1", ""},
	{"net.ipv4.conf.*.rp_filter", "1", ""},
	{"net.ipv4.conf.all.accept_redirects", "0", "A server takes its routes from its configuration, never from ICMP redirects."},
	{"net.ipv4.conf.default.accept_redirects", "0", ""},
	{"net.ipv4.conf.all.secure_redirects", "0", ""},
	{"net.ipv4.conf.default.secure_redirects", "0", ""},
	{"net.ipv6.conf.all.accept_redirects", "0", ""},
	{"net.ipv6.conf.default.accept_redirects", "0", ""},
	{"net.ipv4.conf.all.send_redirects", "0", "It is not a router either."},
	{"net.ipv4.conf.default.send_redirects", "0", ""},
	{"net.ipv4.conf.all.accept_source_route", "0", "Source-routed packets let a sender pick the path through this host."},
	{"net.ipv4.conf.default.accept_source_route", "0", ""},
	{"net.ipv6.conf.all.accept_source_route", "0", ""},
	{"net.ipv6.conf.default.accept_source_route", "0", ""},
	{"net.ipv4.icmp_echo_ignore_broadcasts", "1", "No smurf amplification, no noise from bogus ICMP errors."},
	{"net.ipv4.icmp_ignore_bogus_error_responses", "1", ""},
	{"kernel.kptr_restrict", "2", "Kernel addresses and the kernel log are for root only."},
	{"kernel.dmesg_restrict", "1", ""},
	{"kernel.unprivileged_bpf_disabled", "1", "No BPF for unprivileged users; JIT-compiled BPF is blinded."},
	{"net.core.bpf_jit_harden", "2", ""},
	{"kernel.yama.ptrace_scope", "1", "Processes may only trace their own descendants."},
	{"kernel.randomize_va_space", "2", "Full address-space layout randomisation."},
	{"fs.protected_hardlinks", "1", "Block the classic link and FIFO attacks in world-writable directories."},
	{"fs.protected_symlinks", "1", ""},
	{"fs.protected_fifos", "2", ""},
	{"fs.protected_regular", "2", ""},
	{"fs.suid_dumpable", "0", "Set-uid programs never dump core."},
}

// Journal bounds the persistent journal.
type Journal struct {
	// SystemMaxUse caps the journal's disk use ("1G").
	SystemMaxUse string
	// SystemKeepFree is left free for everything else ("2G").
	SystemKeepFree string
	// SystemMaxFileSize caps one journal file, so old entries rotate out.
	SystemMaxFileSize string
	// MaxRetentionSec drops entries older than this ("1month").
	MaxRetentionSec string
}

// Config is the host hardening the builder derives from the spec.
type Config struct {
	// Extra sysctls beyond Hardened; they may not redefine a hardened key.
	Extra map[string]string
	// Journal limits.
	Journal Journal
	// NTPServers replace FCOS's platform time sources when set; empty
	// keeps them (cloud platforms offer the closest source).
	NTPServers []string
}

// DefaultConfig is Clipper's host hardening.
func DefaultConfig() Config {
	return Config{Journal: Journal{SystemMaxUse: "1G", SystemKeepFree: "2G", SystemMaxFileSize: "128M", MaxRetentionSec: "1month"}}
}

var (
	keyRe    = regexp.MustCompile(`^[a-z0-9_]+(\.([a-z0-9_-]+|\*))+$`)
	valueRe  = regexp.MustCompile(`^[A-Za-z0-9 _./:=,+-]+$`)
	sizeRe   = regexp.MustCompile(`^[0-9]+[KMGT]?$`)
	spanRe   = regexp.MustCompile(`^[0-9]+(us|ms|s|min|h|day|week|month|year)?$`)
	serverRe = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

//go:embed 90-kiln.sysctl.tmpl
var sysctlTmpl string

//go:embed journald.conf.tmpl
var journaldTmpl string

//go:embed coredump.conf.tmpl
var coredumpTmpl string

//go:embed system.conf.tmpl
var systemTmpl string

//go:embed chronyd.dropin.tmpl
var chronydTmpl string

//go:embed chrony.conf.tmpl
var chronyTmpl string

var (
	sysctlT   = template.Must(template.New("90-kiln.conf").Parse(sysctlTmpl))
	journaldT = template.Must(template.New("journald").Parse(journaldTmpl))
	coredumpT = template.Must(template.New("coredump").Parse(coredumpTmpl))
	systemT   = template.Must(template.New("system").Parse(systemTmpl))
	chronydT  = template.Must(template.New("chronyd").Parse(chronydTmpl))
	chronyT   = template.Must(template.New("chrony").Parse(chronyTmpl))
)

// Validate reports the first problem in c, naming the field.
func (c Config) Validate() error {
	hardened := map[string]bool{}
	for _, s := range Hardened {
		hardened[s.Key] = true
	}
	for _, k := range slices.Sorted(maps.Keys(c.Extra)) {
		if !keyRe.MatchString(k) {
			return fmt.Errorf("extra[%s]: %w", k, ErrKey)
		}
		if hardened[k] {
			return fmt.Errorf("extra[%s]: %w", k, ErrOverride)
		}
		if !valueRe.MatchString(c.Extra[k]) {
			return fmt.Errorf("extra[%s]: %q: %w", k, c.Extra[k], ErrValue)
		}
	}
	for _, f := range []struct{ field, v string }{
		{"journal.system_max_use", c.Journal.SystemMaxUse},
		{"journal.system_keep_free", c.Journal.SystemKeepFree},
		{"journal.system_max_file_size", c.Journal.SystemMaxFileSize},
	} {
		if !sizeRe.MatchString(f.v) {
			return fmt.Errorf("%s: %q: %w", f.field, f.v, ErrSize)
		}
	}
	if !spanRe.MatchString(c.Journal.MaxRetentionSec) {
		return fmt.Errorf("journal.max_retention_sec: %q: %w", c.Journal.MaxRetentionSec, ErrSize)
	}
	for i, s := range c.NTPServers {
		if _, err := netip.ParseAddr(s); err != nil && !serverRe.MatchString(s) {
			return fmt.Errorf("ntp_servers[%d]: %q: %w", i, s, ErrServer)
		}
	}
	return nil
}

// Settings returns every sysctl kiln writes, hardened first, then the
// extras sorted by key.
func (c Config) Settings() []Setting {
	out := slices.Clone(Hardened)
	for _, k := range slices.Sorted(maps.Keys(c.Extra)) {
		out = append(out, Setting{Key: k, Value: c.Extra[k]})
	}
	return out
}

// Render returns the sysctl, journald, coredump, system manager and time
// sync files. None needs a unit of its own: systemd applies them at boot.
func Render(c Config) ([]overlays.File, []units.Unit, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	outs := []struct {
		path string
		t    *template.Template
		data any
	}{
		{SysctlPath, sysctlT, c.Settings()},
		{JournaldPath, journaldT, c.Journal},
		{CoredumpPath, coredumpT, nil},
		{SystemPath, systemT, nil},
		{ChronydDropInPath, chronydT, nil},
	}
	if len(c.NTPServers) > 0 {
		outs = append(outs, struct {
			path string
			t    *template.Template
			data any
		}{ChronyConfPath, chronyT, c.NTPServers})
	}
	var files []overlays.File
	for _, o := range outs {
		var b bytes.Buffer
		if err := o.t.Execute(&b, o.data); err != nil {
			return nil, nil, err
		}
		files = append(files, overlays.File{Path: o.path, Mode: 0o644, Contents: b.Bytes()})
	}
	return files, nil, nil
}
