package units

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Container is a service's container, resolved from the spec and its
// kind's recipe: everything needed to write its Quadlet file.
type Container struct {
	// Name of the service; the unit is <Name>.container → <Name>.service.
	Name        string
	Description string
	Image       string
	// Entrypoint replaces the image's entrypoint when not empty.
	Entrypoint string
	// Exec overrides the image's command.
	Exec []string
	// Network is the Quadlet network file name (e.g. "clipper.network") or
	// "host" for host networking.
	Network string
	// Publish maps host ports to container ports.
	Publish []Publish
	Env     map[string]string
	Secrets []SecretMount
	// Mounts are named volumes (Source ends in .volume) or host paths.
	Mounts []Mount
	// DependsOn lists the services this one starts after (once they are
	// healthy, with Notify=healthy) and pulls in. They are wanted, not
	// required: with Requires=, a dependency that fails its first start
	// fails this unit's start job with result "dependency", and nothing
	// starts it again when the dependency's Restart= brings it back
	// (systemd.unit(5), Requires=: "If one of the other units fails to
	// activate, and an ordering dependency After= on the failing unit is
	// set, this unit will not be started"). Seen on the booted appliance:
	// redis failed its first start, and the redis and nginx exporters
	// stayed down for good. A container whose peer is not up yet retries
	// on its own (Restart=always, health checks).
	DependsOn []string
	// After lists further units to order after (e.g. the data mount).
	After  []string
	Health Health
	// MemoryMax and CPUQuota are systemd resource limits on the service's
	// cgroup, which holds the container (Quadlet uses --cgroups=split).
	MemoryMax string
	CPUQuota  string
	// User runs the container's process as this user.
	User string
	// GroupAdd gives the process supplementary groups (numeric gids of the
	// host, such as systemd-journal's, to read the journal without root).
	GroupAdd []string
	// NoNewPrivileges forbids privilege escalation inside the container.
	NoNewPrivileges bool
	// AddCapability lists capabilities the container needs beyond the
	// defaults (the edge needs NET_BIND_SERVICE, for example).
	AddCapability []string
	// DropCapability and ReadOnly tighten the container where the image
	// allows; Tmpfs gives a read-only container its scratch directories.
	DropCapability []string
	ReadOnly       bool
	Tmpfs          []string
	// ExecStartPre and ExecReload are host commands of the service.
	ExecStartPre []string
	ExecReload   string
	// PodmanArgs are extra podman run arguments for options Quadlet has
	// no key for.
	PodmanArgs []string
	// SecurityLabelDisable runs the container unconfined by SELinux, for
	// containers that read host system paths (the journal, the host's
	// root), which kiln must not relabel. Its mounts are never relabelled.
	SecurityLabelDisable bool
	// Notify makes the unit ready only once the health check passes
	// (Quadlet Notify=healthy, Podman 5), so After= on it means ready.
	Notify bool
}

// Publish is one published port. HostIP is 127.0.0.1 for everything but
// the edge: nothing is reachable from outside unless the firewall says so.
type Publish struct {
	HostIP        string
	HostPort      int
	ContainerPort int
}

// SecretMount mounts a Podman secret as a file.
type SecretMount struct {
	Name   string
	Target string
	UID    string
	Mode   string
}

// Mount is one volume or bind mount.
type Mount struct {
	Source   string
	Target   string
	ReadOnly bool
	// Options are further comma-separated options (e.g. rslave).
	Options string
	// NoRelabel leaves the source's SELinux label alone. Set it for host
	// paths that the host's own daemons use (the journal, machine-id, the
	// root): relabelled to container_file_t they lock those daemons out.
	NoRelabel bool
}

// relabelRefused are the paths Podman refuses to relabel ("SELinux
// relabeling of / is not allowed"), even read-only: the exclude list of
// github.com/opencontainers/selinux, go-selinux/selinux_linux.go
// (label.Relabel in older releases), which Podman applies to every :z.
var relabelRefused = map[string]bool{
	"/": true, "/bin": true, "/boot": true, "/dev": true, "/etc": true, "/etc/passwd": true,
	"/etc/pki": true, "/etc/shadow": true, "/home": true, "/lib": true, "/lib64": true,
	"/media": true, "/opt": true, "/proc": true, "/root": true, "/run": true, "/sbin": true,
	"/srv": true, "/sys": true, "/tmp": true, "/usr": true, "/var": true, "/var/lib": true,
	"/var/log": true,
}

// RelabelRefused reports whether Podman refuses to relabel path.
func RelabelRefused(path string) bool {
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
	}
	return relabelRefused[path]
}

// Health is a container health check. Podman runs it on a timer and
// Quadlet's HealthOnFailure=kill makes systemd restart an unhealthy
// container.
type Health struct {
	Command     string
	Interval    string
	Timeout     string
	Retries     int
	StartPeriod string
}

// Unit renders the container's Quadlet file.
func (c Container) Unit() Unit {
	var b unitWriter
	b.WriteString("[Unit]\n")
	b.kv("Description", c.Description)
	wants := append([]string{}, c.After...)
	for _, r := range c.DependsOn {
		wants = append(wants, r+".service")
	}
	if len(wants) > 0 {
		b.kv("After", strings.Join(wants, " "))
		b.kv("Wants", strings.Join(wants, " "))
	}
	b.WriteString("\n[Container]\n")
	b.kv("ContainerName", c.Name)
	b.kv("Image", c.Image)
	if c.Network == "host" {
		b.kv("Network", "host")
	} else if c.Network != "" {
		b.kv("Network", c.Network)
		b.kv("HostName", c.Name)
	}
	for _, p := range c.Publish {
		b.kv("PublishPort", fmt.Sprintf("%s:%d:%d", p.HostIP, p.HostPort, p.ContainerPort))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		b.kv("Environment", quoteEnv(k, c.Env[k]))
	}
	for _, s := range c.Secrets {
		opts := []string{s.Name, "type=mount", "target=" + s.Target}
		if s.UID != "" {
			opts = append(opts, "uid="+s.UID)
		}
		if s.Mode != "" {
			opts = append(opts, "mode="+s.Mode)
		}
		b.kv("Secret", strings.Join(opts, ","))
	}
	for _, m := range c.Mounts {
		// kiln's own directories and named volumes get the shared label
		// (z): its level is fixed, so a restart finds the tree labelled
		// already and relabels nothing, where Z would pick a new random
		// level and relabel everything at every start. Host paths and
		// unconfined containers are never relabelled.
		var opts []string
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		if !m.NoRelabel && !c.SecurityLabelDisable && !RelabelRefused(m.Source) {
			opts = append(opts, "z")
		}
		if m.Options != "" {
			opts = append(opts, m.Options)
		}
		v := m.Source + ":" + m.Target
		if len(opts) > 0 {
			v += ":" + strings.Join(opts, ",")
		}
		b.kv("Volume", v)
	}
	if c.User != "" {
		b.kv("User", c.User)
	}
	for _, g := range c.GroupAdd {
		b.kv("GroupAdd", g)
	}
	if c.NoNewPrivileges {
		b.kv("NoNewPrivileges", "true")
	}
	if len(c.DropCapability) > 0 {
		b.kv("DropCapability", strings.Join(c.DropCapability, " "))
	}
	if len(c.AddCapability) > 0 {
		b.kv("AddCapability", strings.Join(c.AddCapability, " "))
	}
	if c.ReadOnly {
		b.kv("ReadOnly", "true")
	}
	if c.SecurityLabelDisable {
		b.kv("SecurityLabelDisable", "true")
	}
	for _, t := range c.Tmpfs {
		b.kv("Tmpfs", t)
	}
	b.kv("LogDriver", "journald")
	if h := c.Health; h.Command != "" {
		b.kv("HealthCmd", h.Command)
		b.kv("HealthInterval", h.Interval)
		b.kv("HealthTimeout", h.Timeout)
		b.kv("HealthRetries", fmt.Sprint(h.Retries))
		b.kv("HealthStartPeriod", h.StartPeriod)
		b.kv("HealthOnFailure", "kill")
		if c.Notify {
			b.kv("Notify", "healthy")
		}
	}
	if len(c.Exec) > 0 {
		b.kv("Exec", shellJoin(c.Exec))
	}
	args := c.PodmanArgs
	if c.Entrypoint != "" {
		args = append([]string{"--entrypoint=" + c.Entrypoint}, args...)
	}
	if len(args) > 0 {
		b.kv("PodmanArgs", shellJoin(args))
	}
	b.WriteString("\n[Service]\n")
	b.kv("Restart", "always")
	b.kv("RestartSec", "5s")
	for _, e := range c.ExecStartPre {
		b.kv("ExecStartPre", e)
	}
	if c.ExecReload != "" {
		b.kv("ExecReload", c.ExecReload)
	}
	// Pulling an image on a fresh server can take longer than the default.
	b.kv("TimeoutStartSec", "900")
	if c.MemoryMax != "" {
		b.kv("MemoryMax", c.MemoryMax)
	}
	if c.CPUQuota != "" {
		b.kv("CPUQuota", c.CPUQuota)
	}
	b.WriteString("\n[Install]\n")
	b.kv("WantedBy", "multi-user.target")
	return Unit{Name: c.Name + ".container", Contents: b.String(), Enabled: true}
}

// Network renders the appliance's internal Podman network. Its subnet and
// gateway are fixed so that configs (pg_hba.conf, scrape targets) can
// name them.
func Network(name, subnet, gateway string) Unit {
	return Unit{Name: name + ".network", Contents: fmt.Sprintf(`[Unit]
Description=%s internal container network

[Network]
NetworkName=%s
Subnet=%s
Gateway=%s
`, name, name, subnet, gateway)}
}

// Volume renders a named volume whose data lives in dir on the persistent
// data filesystem, so a rebuilt server finds it again.
func Volume(name, dir, mountUnit string) Unit {
	after := ""
	if mountUnit != "" {
		after = "RequiresMountsFor=" + dir + "\n"
	}
	return Unit{Name: name + ".volume", Contents: fmt.Sprintf(`[Unit]
Description=%s volume on the data filesystem
%s
[Volume]
VolumeName=%s
Device=%s
Type=none
Options=bind
`, name, after, name, dir)}
}

// quoteEnv writes KEY=value in the systemd quoting Quadlet understands.
func quoteEnv(k, v string) string {
	if strings.ContainsAny(v, " \t\"'\\$%") {
		return `"` + k + "=" + escape(v) + `"`
	}
	return k + "=" + v
}

// shellJoin quotes each word for a systemd command line.
func shellJoin(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if w == "" || strings.ContainsAny(w, " \t\"'\\$%;") {
			out[i] = `"` + escape(w) + `"`
		} else {
			out[i] = w
		}
	}
	return strings.Join(out, " ")
}

// escape makes a string safe inside double quotes in a systemd unit, where
// % starts a specifier and $ a variable.
func escape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$")
	return r.Replace(s)
}

// Image is a Quadlet .image unit: it pulls one image before the container
// that names it starts.
type Image struct {
	// Name gives the file <Name>.image; Quadlet runs it as
	// <Name>-image.service.
	Name, Description, Ref string
	// AuthFile is the registry credentials file on the server, or "".
	AuthFile string
	// Retries and RetryDelay are podman pull's --retry and --retry-delay
	// (Quadlet 5.4 has no keys for them); TimeoutSec bounds the whole pull.
	Retries    int
	RetryDelay string
	TimeoutSec int
}

// Unit renders the .image file. The pull runs only when the image is
// missing (ExecCondition), as a container's default pull policy does:
// `podman image pull` asks the registry every time, and a server must
// restart its containers without the registry.
func (i Image) Unit() Unit {
	var b unitWriter
	b.WriteString("[Unit]\n")
	b.kv("Description", i.Description)
	b.WriteString("\n[Image]\n")
	b.kv("Image", i.Ref)
	if i.AuthFile != "" {
		b.kv("AuthFile", i.AuthFile)
	}
	b.kv("PodmanArgs", fmt.Sprintf("--retry %d --retry-delay %s", i.Retries, i.RetryDelay))
	b.WriteString("\n[Service]\n")
	b.kv("ExecCondition", "/bin/sh -c "+shellJoin([]string{"! /usr/bin/podman image exists " + shellJoin([]string{i.Ref})}))
	b.kv("TimeoutStartSec", fmt.Sprint(i.TimeoutSec))
	return Unit{Name: i.Name + ".image", Contents: b.String()}
}
