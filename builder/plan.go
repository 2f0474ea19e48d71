package builder

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/builder/spec"
	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// Paths on the server that kiln owns.
const (
	EtcDir        = "/etc/kiln"
	ReleasePath   = "/etc/kiln/release.json"
	MotdPath      = "/etc/motd.d/50-kiln.motd"
	LibexecDir    = "/usr/local/libexec/kiln"
	SecretsScript = LibexecDir + "/kiln-secrets"
	// NetworkSubnet is the appliance network's fixed subnet, so configs
	// such as pg_hba.conf can name it.
	NetworkSubnet = "10.89.10.0/24"
	// NetworkGateway is the host's address on the appliance network, where
	// containers reach services that run on the host's network.
	NetworkGateway = "10.89.10.1"
)

// plan is everything kiln puts on the server, in typed form, before it is
// written as Butane. Each field is filled by one numbered step of
// newPlan.
type plan struct {
	App     *spec.Appliance
	Users   []butaneUser
	Storage butaneStorage
	Files   []overlays.File
	Dirs    []string
	Units   []units.Unit
	// Warnings are things the user should know about a valid plan, with
	// the spec path they come from.
	Warnings []planWarning

	// dataDirs are directories on the data filesystem that containers
	// mount, with the owner their process runs as.
	dataDirs []dataDir
}

// planWarning is a warning found while planning, about a spec field.
type planWarning struct {
	Path, Msg, Fix string
}

// dataDir is a directory systemd-tmpfiles creates at boot on the data
// filesystem; an existing one (a reattached volume) is left as it is.
type dataDir struct {
	path  string
	owner string // "uid[:gid]" of the container process, or empty for root
	// adopt hands everything inside to owner at every boot, for a
	// directory whose owner changed (Alloy's was root's before it ran as
	// its own user) and whose contents are small.
	adopt bool
}

// DataDir returns a directory on the persistent data filesystem.
func (p *plan) DataDir(parts ...string) string {
	return path.Join(append([]string{p.App.Data.Path}, parts...)...)
}

// SecretsDir is where first boot writes generated secrets: on the data
// filesystem, so that a rebuilt server keeps the passwords its databases
// were initialised with.
func (p *plan) SecretsDir() string { return p.DataDir("secrets") }

func newPlan(app *spec.Appliance) (*plan, error) {
	p := &plan{App: app}
	steps := []struct {
		name string
		run  func() error
	}{
		{"users", p.users},
		{"data filesystem", p.data},
		{"secrets", p.secrets},
		{"network and volumes", p.networkAndVolumes},
		{"backups", p.backups},
		{"services", p.services},
		{"updates", p.updates},
		{"host hardening", p.host},
		{"data directories", p.tmpfiles},
		{"base freshness", p.freshness},
		{"image pulls", p.imagePulls},
		{"images", p.images},
	}
	// The steps run in this order (their comments carry the numbers); the
	// user sees a step's name, not its number.
	for _, s := range steps {
		if err := s.run(); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	sortFiles(p.Files)
	sort.SliceStable(p.Units, func(i, j int) bool { return p.Units[i].Name < p.Units[j].Name })
	if path, ok := repeated(p.Files, func(f overlays.File) string { return f.Path }); ok {
		return nil, fmt.Errorf("%w: %s", ErrDuplicateFile, path)
	}
	if name, ok := repeated(p.Units, func(u units.Unit) string { return u.Name }); ok {
		return nil, fmt.Errorf("%w: %s", ErrDuplicateUnit, name)
	}
	return p, nil
}

// repeated returns the first key two neighbours of a sorted list share:
// two parts of the plan writing the same file or unit.
func repeated[T any](sorted []T, key func(T) string) (string, bool) {
	for i := 1; i < len(sorted); i++ {
		if k := key(sorted[i]); k == key(sorted[i-1]) {
			return k, true
		}
	}
	return "", false
}

func (p *plan) addFile(path string, mode fs.FileMode, contents string) {
	p.Files = append(p.Files, overlays.File{Path: path, Mode: mode, Contents: []byte(contents)})
}

// 1. Users log in with keys only; sudo is granted through a sudoers
// drop-in rather than a group, so it is explicit in the config.
func (p *plan) users() error {
	var sudoers []string
	for _, u := range p.App.Users {
		keys := make([]string, len(u.SSHKeys))
		for i, k := range u.SSHKeys {
			keys[i] = strings.TrimSpace(k)
		}
		p.Users = append(p.Users, butaneUser{Name: u.Name, Groups: u.Groups, SSHAuthorizedKeys: keys})
		if u.Sudo {
			sudoers = append(sudoers, u.Name+" ALL=(ALL) NOPASSWD: ALL")
		}
	}
	if len(sudoers) > 0 {
		p.addFile("/etc/sudoers.d/90-kiln", 0o440, "# Managed by kiln: users with sudo: true in the appliance spec.\n"+strings.Join(sudoers, "\n")+"\n")
	}
	return nil
}

// 2. The data filesystem is created only when the device is blank
// (wipe_filesystem: false), and mounted by label.
func (p *plan) data() error {
	d := p.App.Data
	switch d.Mode {
	case spec.DataNone:
		p.Dirs = append(p.Dirs, d.Path)
		return nil
	case spec.DataPartition:
		p.Storage.Disks = append(p.Storage.Disks, butaneDisk{
			Device:    d.Device,
			WipeTable: false,
			Partitions: []butanePartition{{
				Number: d.Partition.Number, Label: d.Label,
				StartMiB: d.Partition.StartMiB, SizeMiB: d.Partition.SizeMiB,
			}},
		})
		p.Storage.Filesystems = append(p.Storage.Filesystems, butaneFilesystem{
			Device: "/dev/disk/by-partlabel/" + d.Label, Format: d.Format, Label: d.Label, WipeFilesystem: false,
		})
	case spec.DataVolume:
		p.Storage.Filesystems = append(p.Storage.Filesystems, butaneFilesystem{
			Device: d.Device, Format: d.Format, Label: d.Label, WipeFilesystem: false,
		})
	}
	p.Units = append(p.Units, units.DataMount(d.Label, d.Path, d.Format))
	return nil
}

// mountDeps are the units every container orders after: the data
// filesystem and the generated secrets.
func (p *plan) mountDeps() []string {
	deps := []string{"kiln-secrets.service"}
	if p.App.Data.Mode != spec.DataNone {
		deps = append([]string{units.MountUnitName(p.App.Data.Path)}, deps...)
	}
	return deps
}

// 3. Secrets are generated on the server by a first-boot oneshot and never
// appear in the image.
func (p *plan) secrets() error {
	var b strings.Builder
	b.WriteString(secretsScriptHead)
	for _, s := range p.App.Secrets {
		fmt.Fprintf(&b, "generate %s %d\n", s.Name, s.Length)
	}
	for _, name := range p.kilnSecrets() {
		fmt.Fprintf(&b, "generate %s %d\n", name, spec.DefaultSecretLength)
	}
	p.Files = append(p.Files, overlays.File{Path: SecretsScript, Mode: 0o755, Contents: []byte(b.String())})
	var after []string
	if p.App.Data.Mode != spec.DataNone {
		after = []string{units.MountUnitName(p.App.Data.Path)}
	}
	// The directory is made outside the sandbox, which can only open
	// paths that exist when it starts; the script runs confined, writing
	// the secrets and podman's secret store only.
	//
	// This is the first podman command of every boot (every container
	// orders after it). That first run refreshes podman's state and, on a
	// fresh storage, probes overlay with test mounts; under this sandbox
	// the probe failed and podman remembered the failure, breaking every
	// later podman command (measured with systemd 257 and Podman 5.4). So
	// podman initialises itself outside the sandbox first (`podman info`:
	// podman's own code, no input from kiln), and the script's secret
	// commands run confined after it.
	sandbox := "ExecStartPre=+/usr/bin/install -d -m 0700 " + p.SecretsDir() + "\n" +
		"ExecStartPre=+/usr/bin/podman info --format {{.Store.GraphDriverName}}\n" +
		units.Confined{Writable: []string{p.SecretsDir()}, Podman: true}.Directives()
	u := units.Oneshot("kiln-secrets", "Generate the appliance's secrets (never replaces one)",
		"/usr/bin/env KILN_SECRETS_DIR="+p.SecretsDir()+" "+SecretsScript, after, nil, sandbox)
	p.Units = append(p.Units, u)
	return nil
}

// secretsScriptHead generates each secret once: an existing file is never
// replaced, because the databases were initialised with it. Podman's
// secret store lives on the root disk, which a rebuild replaces, so the
// Podman secret is re-created from the file whenever it is missing.
const secretsScriptHead = `#!/bin/bash
# Managed by kiln. Generates the appliance's secrets on first boot.
set -euo pipefail
dir=${KILN_SECRETS_DIR:?KILN_SECRETS_DIR must name the secrets directory}
podman=${KILN_PODMAN:-podman}
umask 077
install -d -m 0700 "$dir"
generate() {
  local name=$1 length=$2 file="$dir/$1" value=""
  if [ ! -s "$file" ]; then
    while [ "${#value}" -lt "$length" ]; do
      value+=$(head -c 512 /dev/urandom | tr -dc 'A-Za-z0-9')
    done
    printf '%s' "${value:0:$length}" > "$file.tmp"
    chmod 0600 "$file.tmp"
    mv -f "$file.tmp" "$file"
  fi
  if ! $podman secret exists "$name"; then
    $podman secret create "$name" "$file" >/dev/null
  fi
}
`

// 4. One internal network for the appliance; named volumes live in
// directories on the data filesystem.
func (p *plan) networkAndVolumes() error {
	p.Units = append(p.Units, units.Network(p.App.Name, NetworkSubnet, NetworkGateway))
	for _, v := range p.App.Volumes {
		dir := p.DataDir("volumes", v.Name)
		mount := ""
		if p.App.Data.Mode != spec.DataNone {
			mount = units.MountUnitName(p.App.Data.Path)
		}
		p.Units = append(p.Units, units.Volume(v.Name, dir, mount))
		owner := ""
		for _, s := range p.App.Services {
			for _, m := range s.Volumes {
				if m.Volume == v.Name && owner == "" {
					owner = s.User
				}
			}
		}
		p.dataDirs = append(p.dataDirs, dataDir{path: dir, owner: owner})
	}
	return nil
}

// 9. Directories on the data filesystem, created by systemd-tmpfiles at
// boot (after the data mount), owned by the process that writes them.
func (p *plan) tmpfiles() error {
	var b strings.Builder
	b.WriteString("# Managed by kiln: directories on the data filesystem.\n")
	sort.SliceStable(p.dataDirs, func(i, j int) bool { return p.dataDirs[i].path < p.dataDirs[j].path })
	// A directory another part declares already (the backup plan owns the
	// node exporter's textfile directory, which its jobs write as root) is
	// left to it: systemd-tmpfiles keeps the first line for a path and
	// warns about the other, so a second owner would only be ignored.
	seen := map[string]bool{}
	for _, f := range p.Files {
		if path.Dir(f.Path) != "/etc/tmpfiles.d" {
			continue
		}
		for _, line := range strings.Split(string(f.Contents), "\n") {
			if fields := strings.Fields(line); len(fields) >= 2 && !strings.HasPrefix(fields[0], "#") {
				seen[fields[1]] = true
			}
		}
	}
	for _, d := range p.dataDirs {
		if seen[d.path] {
			continue
		}
		seen[d.path] = true
		uid, gid, _ := strings.Cut(d.owner, ":")
		if _, err := strconv.Atoi(uid); err != nil || uid == "" {
			fmt.Fprintf(&b, "d %s 0755 root root -\n", d.path)
			continue
		}
		if gid == "" {
			gid = uid
		}
		fmt.Fprintf(&b, "d %s 0750 %s %s -\n", d.path, uid, gid)
		if d.adopt {
			fmt.Fprintf(&b, "Z %s - %s %s -\n", d.path, uid, gid)
		}
	}
	p.addFile("/etc/tmpfiles.d/kiln.conf", 0o644, b.String())
	return nil
}

// 6. Each service becomes a Quadlet container, shaped by its kind's recipe.
func (p *plan) services() error {
	for i := range p.App.Services {
		s := &p.App.Services[i]
		r, err := recipeFor(s.Kind)
		if err != nil {
			return err
		}
		c := units.Container{
			Name:            s.Name,
			Description:     fmt.Sprintf("%s %s (%s)", p.App.Name, s.Name, s.Kind),
			Image:           s.Image,
			Exec:            s.Command,
			Network:         p.App.Name + ".network",
			Env:             map[string]string{},
			DependsOn:       s.DependsOn,
			After:           p.mountDeps(),
			User:            s.User,
			NoNewPrivileges: !s.AllowPrivilegeEscalation,
			MemoryMax:       s.Memory,
		}
		if s.CPUs > 0 {
			c.CPUQuota = strconv.Itoa(int(s.CPUs*100+0.5)) + "%"
		}
		hostIP := "127.0.0.1"
		if hostNetworkKinds[s.Kind] {
			c.Network = "host"
		}
		for _, port := range s.Ports {
			if c.Network == "host" {
				continue // host networking: the process binds the port itself
			}
			// A public or allow-listed port is published on every address;
			// the firewall's forward chain then admits its DNAT for everyone
			// or for the allow-list's sources only. Anything else stays on
			// loopback, where no outside packet can reach it.
			ip := hostIP
			if port.Public || allowListed(p.App, port.Port) {
				ip = "0.0.0.0"
			}
			c.Publish = append(c.Publish, units.Publish{HostIP: ip, HostPort: port.Port, ContainerPort: port.Target})
		}
		// Secrets are readable by the user the container runs as: the
		// recipe's image user, else the spec's numeric user.
		secretUID := p.imageUID(s)
		if uid, _, _ := strings.Cut(s.User, ":"); secretUID == "" && uid != "" {
			if _, err := strconv.Atoi(uid); err == nil {
				secretUID = uid
			}
		}
		for _, sec := range s.Secrets {
			c.Secrets = append(c.Secrets, units.SecretMount{Name: sec, Target: "/run/secrets/" + sec, UID: secretUID, Mode: "0400"})
		}
		for _, m := range s.Volumes {
			c.Mounts = append(c.Mounts, units.Mount{Source: m.Volume + ".volume", Target: m.Path, ReadOnly: m.ReadOnly})
		}
		k, err := r.apply(p, s)
		if err != nil {
			return fmt.Errorf("service %s: %w", s.Name, fromSpec(err, componentFields(i, s)))
		}
		p.attach(&c, k)
		leastPrivilege(s.Kind, &c)
		for k, v := range s.Env {
			c.Env[k] = v // the spec overrides the recipe
		}
		if s.Health.Command != "" {
			c.Health = units.Health{Command: s.Health.Command, Interval: s.Health.Interval, Timeout: s.Health.Timeout, Retries: s.Health.Retries, StartPeriod: s.Health.StartPeriod}
		}
		p.Units = append(p.Units, c.Unit())
	}
	return nil
}

// 7. Zincati would reboot the server into a new OS release on its own;
// kiln's model is rebuild-to-upgrade, so it is off unless the spec asks.
func (p *plan) updates() error {
	enabled := "false"
	if p.App.Updates.Auto {
		enabled = "true"
	}
	p.addFile("/etc/zincati/config.d/90-kiln-updates.toml", 0o644,
		"# Managed by kiln: the appliance is upgraded by rebuilding it (updates.auto in the spec).\n[updates]\nenabled = "+enabled+"\n")
	return nil
}
