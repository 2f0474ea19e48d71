package spec

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strings"
	"time"

	version "github.com/hashicorp/go-version"

	"github.com/kiln-dev/kiln/images"
	"github.com/kiln-dev/kiln/internal/valid"
)

var (
	nameRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	userRE   = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	envRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	sizeRE   = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?[KMGT]$`)
	digestRE = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
)

// Validate runs the semantic checks on a decoded, defaulted appliance. It is
// pure: it reads nothing but its arguments.
func Validate(a *Appliance, src *Source) Diagnostics {
	v := &validator{src: src}
	v.appliance(a)
	return v.ds
}

type validator struct {
	src *Source
	ds  Diagnostics
}

func (v *validator) add(sev Severity, path, msg, fix string) {
	file := ""
	if v.src != nil {
		file = v.src.File
	}
	v.ds = append(v.ds, Diagnostic{Severity: sev, File: file, Pos: v.src.Pos(path), Path: path, Msg: msg, Fix: fix})
}

func (v *validator) errorf(path, fix, format string, args ...any) {
	v.add(Error, path, fmt.Sprintf(format, args...), fix)
}

// check reports err, a failure of one of internal/valid's checks, at
// path; nil reports nothing.
func (v *validator) check(path string, err error) {
	var pr *valid.Problem
	switch {
	case err == nil:
	case errors.As(err, &pr):
		v.add(Error, path, pr.Msg, pr.Fix)
	default:
		v.add(Error, path, err.Error(), "")
	}
}

func (v *validator) warnf(path, fix, format string, args ...any) {
	v.add(Warning, path, fmt.Sprintf(format, args...), fix)
}

func (v *validator) appliance(a *Appliance) {
	if a.Name == "" {
		v.errorf("name", "add `name: myapp` (lowercase letters, digits, dashes)", "the appliance has no name")
	} else if !nameRE.MatchString(a.Name) {
		v.errorf("name", "use lowercase letters, digits and dashes, starting with a letter", "%q is not a valid name", a.Name)
	}
	if a.Version == "" {
		v.errorf("version", "add `version: 1.0.0`", "the appliance has no version")
	} else if _, err := version.NewVersion(a.Version); err != nil {
		v.errorf("version", "use a semantic version such as 1.4.0", "%q is not a version", a.Version)
	}
	switch a.Base.Stream {
	case "stable", "testing", "next":
	default:
		v.errorf("base.stream", "use stable, testing or next", "unknown FCOS stream %q", a.Base.Stream)
	}
	if a.Base.Release != "" {
		if _, err := version.NewConstraint(a.Base.Release); err != nil {
			v.errorf("base.release", `write a version constraint such as ">= 42" or "~> 42.2025"`, "%q is not a version constraint", a.Base.Release)
		}
	}
	v.data(&a.Data)
	v.users(a.Users)
	v.ssh(&a.SSH)
	v.firewall(&a.Firewall)
	v.tls(a)
	secrets := v.names("secrets", len(a.Secrets), func(i int) string { return a.Secrets[i].Name })
	for i, s := range a.Secrets {
		if s.Length < 16 || s.Length > 256 {
			v.errorf(fmt.Sprintf("secrets[%d].length", i), "use a length between 16 and 256", "length %d is out of range", s.Length)
		}
	}
	volumes := v.names("volumes", len(a.Volumes), func(i int) string { return a.Volumes[i].Name })
	v.services(a, secrets, volumes)
	v.backup(a)
	v.alerts(a)
	for i, b := range a.Butane {
		p := fmt.Sprintf("butane[%d]", i)
		if b == "" {
			v.errorf(p, "give the path of a Butane file, relative to the spec", "empty path")
		}
	}
	v.registry(&a.Registry)
	v.targets(a)
}

// names checks a list of named entries: each named, validly, once.
func (v *validator) names(list string, n int, name func(int) string) map[string]bool {
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("%s[%d].name", list, i)
		nm := name(i)
		switch {
		case nm == "":
			v.errorf(p, "give every entry a `name:`", "missing name")
			continue
		case !nameRE.MatchString(nm):
			v.errorf(p, "use lowercase letters, digits and dashes, starting with a letter", "%q is not a valid name", nm)
		}
		if j, dup := seen[nm]; dup {
			v.errorf(p, fmt.Sprintf("rename one of them (the first is at line %d)", v.src.Pos(fmt.Sprintf("%s[%d].name", list, j)).Line), "duplicate name %q", nm)
			continue
		}
		seen[nm] = i
	}
	out := map[string]bool{}
	for nm := range seen {
		out[nm] = true
	}
	return out
}

func (v *validator) data(d *Data) {
	switch d.Mode {
	case DataPartition:
		if d.Partition.Number < 5 || d.Partition.Number > 128 {
			v.errorf("data.partition.number", "use 5 or higher: FCOS owns partitions 1 to 4", "partition %d is not free on an FCOS disk", d.Partition.Number)
		}
		if d.Partition.StartMiB < FCOSRootStartMiB+MinRootMiB {
			v.errorf("data.partition.start_mib", fmt.Sprintf("use at least %d, leaving the root filesystem 8 GiB", FCOSRootStartMiB+MinRootMiB),
				"start %d MiB leaves the root filesystem less than 8 GiB, and FCOS refuses to boot then", d.Partition.StartMiB)
		}
		if d.Partition.SizeMiB < 0 {
			v.errorf("data.partition.size_mib", "use 0 for the rest of the disk, or a size in MiB", "negative size")
		}
	case DataVolume:
		if d.Device == "" {
			v.errorf("data.device", "name the attached volume, e.g. /dev/disk/by-id/scsi-0DO_Volume_NAME", "mode volume needs a device")
		}
		v.leftoverPartition(d.Mode)
	case DataNone:
		v.warnf("data.mode", "use mode partition or volume to keep data across rebuilds", "the appliance is ephemeral: its data is lost on every rebuild")
		v.leftoverPartition(d.Mode)
	default:
		v.errorf("data.mode", "use partition, volume or none", "unknown data mode %q", d.Mode)
	}
	if d.Device != "" && !strings.HasPrefix(d.Device, "/dev/") {
		v.errorf("data.device", "give a path under /dev, preferably /dev/disk/by-id/…", "%q is not a device path", d.Device)
	}
	if d.Mode != DataNone && !nameRE.MatchString(strings.ToLower(d.Label)) {
		v.errorf("data.label", "use letters, digits and dashes (at most 12 for xfs)", "%q is not a usable filesystem label", d.Label)
	}
	if d.Format == "xfs" && len(d.Label) > 12 {
		v.errorf("data.label", "shorten it to 12 characters or fewer", "xfs labels hold at most 12 characters; %q has %d", d.Label, len(d.Label))
	}
	if d.Format != "xfs" && d.Format != "ext4" {
		v.errorf("data.format", "use xfs or ext4", "unknown filesystem %q", d.Format)
	}
	if !path.IsAbs(d.Path) || path.Clean(d.Path) != d.Path || d.Path == "/" {
		v.errorf("data.path", "use a clean absolute path such as /var/lib/kiln", "%q is not a usable mount point", d.Path)
	} else if !strings.HasPrefix(d.Path, "/var/") {
		v.errorf("data.path", "mount it under /var, e.g. /var/lib/kiln", "%q is on FCOS's read-only /usr or outside /var; only /var and /etc are writable", d.Path)
	}
}

// leftoverPartition warns about a partition block that the data mode
// ignores: a user switching from partition to volume would otherwise
// believe the numbers still apply.
func (v *validator) leftoverPartition(mode string) {
	if v.src.Has("data.partition") {
		v.warnf("data.partition", "remove the `partition:` block, or set `mode: partition`", "ignored: data.mode is %s, and only mode partition uses a partition", mode)
	}
}

func (v *validator) users(users []User) {
	if len(users) == 0 {
		v.errorf("users", "add a user with `name:` and `ssh_keys:`", "no users: nobody could log in")
	}
	v.names("users", len(users), func(i int) string { return users[i].Name })
	for i, u := range users {
		p := fmt.Sprintf("users[%d]", i)
		if u.Name != "" && !userRE.MatchString(u.Name) {
			v.errorf(p+".name", "use lowercase letters, digits, _ and -", "%q is not a valid user name", u.Name)
		}
		if u.Name == "root" {
			v.errorf(p+".name", "use an unprivileged user with `sudo: true`", "root cannot log in over SSH")
		}
		if len(u.SSHKeys) == 0 {
			v.errorf(p+".ssh_keys", "add at least one public key, e.g. the line from ~/.ssh/id_ed25519.pub", "user %q has no SSH keys and passwords are disabled", u.Name)
		}
		for j, k := range u.SSHKeys {
			if err := CheckSSHKey(k); err != nil {
				v.errorf(fmt.Sprintf("%s.ssh_keys[%d]", p, j), "paste the whole line of your public key file (ssh-ed25519 AAAA… comment), e.g. from `ssh-keygen -t ed25519`", "%v", err)
			}
		}
	}
}

func (v *validator) ssh(s *SSH) {
	v.check("ssh.port", valid.Port(s.Port))
	if s.RateLimit < 1 || s.RateLimit > 1000 {
		v.errorf("ssh.rate_limit", "use new connections per minute between 1 and 1000", "rate limit %d is out of range", s.RateLimit)
	}
	f := s.Fail2ban
	if f.Bantime < 60 || f.Findtime < 60 || f.Maxretry < 1 {
		v.errorf("ssh.fail2ban", "use bantime and findtime of at least 60 seconds and maxretry of at least 1", "fail2ban settings out of range")
	}
}

func (v *validator) firewall(f *Firewall) {
	for i, r := range f.Allow {
		p := fmt.Sprintf("firewall.allow[%d]", i)
		v.check(p+".port", valid.Port(r.Port))
		if len(r.From) == 0 {
			v.errorf(p+".from", "list the source networks, e.g. [203.0.113.0/24]", "an allow rule with no sources")
		}
		for j, c := range r.From {
			if _, err := netip.ParsePrefix(c); err != nil {
				v.errorf(fmt.Sprintf("%s.from[%d]", p, j), "write a CIDR such as 203.0.113.0/24 or 2001:db8::/32", "%q is not a network", c)
			}
		}
	}
}

func (v *validator) tls(a *Appliance) {
	for i, d := range a.TLS.Domains {
		v.check(fmt.Sprintf("tls.domains[%d]", i), valid.Domain(d))
	}
	switch a.TLS.ACME {
	case "letsencrypt", "letsencrypt-staging", "none":
	default:
		if !strings.HasPrefix(a.TLS.ACME, "https://") {
			v.errorf("tls.acme", "use letsencrypt, letsencrypt-staging, none or an https:// directory URL", "unknown ACME directory %q", a.TLS.ACME)
		}
	}
	switch {
	case a.TLS.Email != "":
		v.check("tls.email", valid.Email(a.TLS.Email))
	case a.TLS.ACME != "none" && len(a.TLS.Domains) > 0:
		v.errorf("tls.email", "add `email:` for the ACME account (expiry notices go there)", "ACME needs a contact email")
	}
}

func (v *validator) backup(a *Appliance) {
	b := &a.Backup
	if b.Disabled {
		return
	}
	v.names("backup.schedules", len(b.Schedules), func(i int) string { return b.Schedules[i].Name })
	for i, s := range b.Schedules {
		if err := CheckCalendar(s.OnCalendar); err != nil {
			v.errorf(fmt.Sprintf("backup.schedules[%d].on_calendar", i), `write a systemd calendar expression such as "*-*-* 02:00:00" or "Sun *-*-* 03:00:00"`, "invalid OnCalendar %q: %v", s.OnCalendar, err)
		}
	}
	r := b.Retention
	if r.Daily < 0 || r.Weekly < 0 || r.Monthly < 0 || r.Daily+r.Weekly+r.Monthly == 0 {
		v.errorf("backup.retention", "keep at least one snapshot, e.g. daily: 7", "retention keeps nothing")
	}
	if d, err := time.ParseDuration(b.ArchiveTimeout); err != nil || d < 10*time.Second || d > 5*time.Minute {
		v.errorf("backup.archive_timeout", "use a duration between 10s and 5m (it bounds how much data a crash can lose)", "%q is not a usable archive timeout", b.ArchiveTimeout)
	}
	if len(b.Schedules) > 0 && b.S3.Bucket == "" {
		v.errorf("backup.s3.bucket", "name the S3 bucket backups go to, or set `backup.disabled: true`", "backups have no destination")
	}
	if b.S3.Endpoint != "" && !strings.HasPrefix(b.S3.Endpoint, "https://") && !strings.HasPrefix(b.S3.Endpoint, "http://") {
		v.errorf("backup.s3.endpoint", "write the endpoint as a URL, e.g. https://s3.eu-central-1.amazonaws.com", "%q is not a URL", b.S3.Endpoint)
	}
	if !path.IsAbs(b.S3.CredentialsFile) {
		v.errorf("backup.s3.credentials_file", "give an absolute path on the server", "%q is not an absolute path", b.S3.CredentialsFile)
	}
	hasPG := false
	for _, s := range a.Services {
		hasPG = hasPG || s.Kind == KindPostgres
	}
	if len(b.Schedules) == 0 && hasPG {
		v.warnf("backup", "add `schedules:` (e.g. daily at 02:00) or set `disabled: true`", "the database is never backed up")
	}
}

func (v *validator) registry(r *Registry) {
	if r.AuthFile != "" {
		if !path.IsAbs(r.AuthFile) || path.Clean(r.AuthFile) != r.AuthFile || strings.ContainsAny(r.AuthFile, " \t\n") {
			v.errorf("registry.auth_file", "give a clean absolute path on the server, e.g. /etc/kiln/registry-auth.json", "%q is not a usable path", r.AuthFile)
		} else if !strings.HasPrefix(r.AuthFile, "/etc/") && !strings.HasPrefix(r.AuthFile, "/var/") {
			v.errorf("registry.auth_file", "keep it under /etc or /var, e.g. /etc/kiln/registry-auth.json", "%q is not writable on FCOS (only /etc and /var are)", r.AuthFile)
		}
	}
	if r.PullRetries < 0 || r.PullRetries > 100 {
		v.errorf("registry.pull_retries", "use a number between 0 and 100", "%d retries is out of range", r.PullRetries)
	}
	delay, err := valid.Duration(r.PullRetryDelay)
	v.check("registry.pull_retry_delay", err)
	timeout, err2 := time.ParseDuration(r.PullTimeout)
	switch {
	case err2 != nil || timeout < time.Minute:
		v.errorf("registry.pull_timeout", "write a duration of at least 1m, such as 15m", "%q is not a usable pull timeout", r.PullTimeout)
	case err == nil && time.Duration(r.PullRetries)*delay >= timeout:
		v.errorf("registry.pull_timeout", "raise pull_timeout above pull_retries × pull_retry_delay, or retry less", "the timeout %s ends the pull before %d retries %s apart can run", r.PullTimeout, r.PullRetries, r.PullRetryDelay)
	}
}

func (v *validator) targets(a *Appliance) {
	seen := map[string]bool{}
	for i, t := range a.Targets {
		p := fmt.Sprintf("targets[%d]", i)
		if _, ok := images.LookupPlatform(t.Platform); !ok {
			v.errorf(p+".platform", "use one of: "+strings.Join(images.PlatformNames(), ", "), "unknown platform %q", t.Platform)
		}
		if seen[t.Platform] {
			v.errorf(p+".platform", "list each platform once, with all its formats", "platform %q is listed twice", t.Platform)
		}
		seen[t.Platform] = true
		for j, f := range t.Formats {
			fi, known := images.LookupFormat(f)
			if !known {
				v.errorf(fmt.Sprintf("%s.formats[%d]", p, j), "use one of: "+strings.Join(images.FormatNames(), ", "), "unknown format %q", f)
			} else if !fi.Fits(t.Platform) {
				v.errorf(fmt.Sprintf("%s.formats[%d]", p, j), "list iso and pxe under platform metal", "%s boots bare metal; it is not a %s format", f, t.Platform)
			} else if BootOf(t, f) == BootLive {
				if prob := LiveBootProblem(a.Data); prob != "" {
					v.errorf(fmt.Sprintf("%s.formats[%d]", p, j), LiveBootFix, "%s", prob)
				}
			}
		}
		if len(t.Formats) == 0 {
			for _, f := range t.formats() {
				if BootOf(t, f) != BootLive {
					continue
				}
				if prob := LiveBootProblem(a.Data); prob != "" {
					v.errorf(p+".platform", LiveBootFix+"; or list `formats:` without iso and pxe", "the default formats of %s include %s, and %s", t.Platform, f, prob)
					break
				}
			}
		}
		v.install(p, a, t)
		v.diskSize(p, a, t)
	}
}
