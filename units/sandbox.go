package units

import (
	"slices"
	"strings"
)

// The sandboxes below are the [Service] directives of kiln's own host
// units (the scripts kiln writes, as opposed to the Quadlet containers).
// They are judged by `systemd-analyze security`: a unit that starts no
// container scores at most 2.0, one that runs `podman run` or `podman
// exec` at most 5.0. What each profile leaves open is what its programs
// need on Fedora CoreOS, and the reason is written beside the directive.

// Confined is the sandbox of a host program that starts no container: no
// capability beyond Capabilities, no network unless HostNetwork, a
// read-only system except Writable.
type Confined struct {
	// Writable are the only paths the program may change (ReadWritePaths=).
	// Each must exist when the unit starts to be writable: the unit makes
	// it beforehand (ExecStartPre=+…) where it may be missing.
	Writable []string
	// Capabilities is the whole bounding set (e.g. CAP_NET_ADMIN for nft);
	// empty means none.
	Capabilities []string
	// HostNetwork keeps the host's network namespace and netlink sockets,
	// for a program that configures the host's network (the firewall).
	HostNetwork bool
	// Podman is set for a program that runs podman commands which start
	// no container (`podman secret create`): podman writes its storage and
	// runtime state, and its storage driver mounts overlay to probe it.
	Podman bool
}

// Directives returns the [Service] lines of the sandbox, one per line.
func (c Confined) Directives() string {
	var b unitWriter
	writable := slices.Clone(c.Writable)
	if c.Podman {
		writable = append(writable, podmanWritable...)
	}
	b.kv("ProtectSystem", "strict")
	if len(writable) > 0 {
		b.kv("ReadWritePaths", readWritePaths(writable))
	}
	b.kv("ProtectHome", protectHome(c.Podman))
	b.kv("PrivateTmp", "yes")
	if c.Podman {
		// The storage probe creates an overlay whiteout, a device node.
		b.kv("DevicePolicy", "closed")
	} else {
		b.kv("PrivateDevices", "yes")
	}
	b.kv("PrivateMounts", "yes")
	b.kv("PrivateIPC", "yes")
	if !c.HostNetwork {
		b.kv("PrivateNetwork", "yes")
		b.kv("IPAddressDeny", "any")
	}
	if !c.HostNetwork && !c.Podman {
		// root is mapped to itself: files keep their owners, but no
		// capability reaches beyond the namespace. nft needs the host's.
		b.kv("PrivateUsers", "yes")
	}
	b.kv("ProtectHostname", "yes")
	b.kv("ProtectClock", "yes")
	b.kv("ProtectKernelTunables", "yes")
	b.kv("ProtectKernelModules", "yes")
	b.kv("ProtectKernelLogs", "yes")
	b.kv("ProtectControlGroups", "yes")
	b.kv("ProtectProc", "invisible")
	if !c.Podman {
		// podman reads /proc/filesystems and /proc/sys to pick its
		// storage driver.
		b.kv("ProcSubset", "pid")
	}
	families := []string{"AF_UNIX"}
	if c.HostNetwork || c.Podman {
		families = append(families, "AF_NETLINK")
	}
	b.kv("RestrictAddressFamilies", strings.Join(families, " "))
	b.kv("RestrictNamespaces", "yes")
	b.kv("RestrictRealtime", "yes")
	b.kv("RestrictSUIDSGID", "yes")
	b.kv("LockPersonality", "yes")
	b.kv("MemoryDenyWriteExecute", "yes")
	if !c.Podman {
		// Under NoNewPrivileges SELinux refuses the transition into
		// podman's domain (container_runtime_t).
		b.kv("NoNewPrivileges", "yes")
	}
	caps := slices.Clone(c.Capabilities)
	if c.Podman && !slices.Contains(caps, "CAP_SYS_ADMIN") {
		// podman run by root without CAP_SYS_ADMIN takes itself for
		// rootless and fails to join a user namespace; it also mounts.
		caps = append(caps, "CAP_SYS_ADMIN")
	}
	b.kv("CapabilityBoundingSet", strings.Join(caps, " "))
	b.kv("SystemCallArchitectures", "native")
	if c.Podman {
		// podman raises its rlimits (@resources) and mounts (@mount).
		b.kv("SystemCallFilter", "@system-service @mount")
	} else {
		b.kv("SystemCallFilter", "@system-service")
		b.kv("SystemCallFilter", "~@privileged @resources")
	}
	b.kv("UMask", "0077")
	b.kv("KeyringMode", "private")
	return b.String()
}

// readWritePaths lists paths for ReadWritePaths=, each marked optional
// ("-"). A missing path then stays read-only and the program's write fails
// with a message naming it; unmarked, systemd would refuse to start the
// unit with status 226/NAMESPACE, which an ExecCondition= (the backup
// units' "configured" check) reads as "skip this run", silently.
func readWritePaths(paths []string) string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = "-" + p
	}
	return strings.Join(out, " ")
}

// protectHome hides the home directories: "yes" mounts an inaccessible
// (mode 0) directory on /root, "tmpfs" an empty one. podman looks for
// configuration and registry credentials under root's home, and some of
// those lookups treat any error but "does not exist" as fatal; without
// CAP_DAC_OVERRIDE, which would let root search the inaccessible directory,
// podman gets "permission denied" there, so it gets the empty tmpfs.
func protectHome(podmanWithoutDACOverride bool) string {
	if podmanWithoutDACOverride {
		return "tmpfs"
	}
	return "yes"
}

// podmanWritable is where root podman keeps its images, containers and
// secrets, its runtime state (/run/containers, /run/libpod, /run/netns)
// and image layers while they are pulled. /var/lib/containers exists from
// boot on Fedora CoreOS: rpm-ostree recreates the /var directories of its
// packages (containers-common's /var/lib/containers/sigstore) with
// systemd-tmpfiles.
var podmanWritable = []string{"/var/lib/containers", "/run", "/var/tmp"}

// PodmanRunner is the sandbox of a host program that starts containers
// with `podman run` or enters them with `podman exec`. Podman itself needs
// root, mounts, namespaces, cgroups and most capabilities, and every
// container it starts inherits the unit's seccomp filters, so what is left
// to close is what neither podman nor the containers use: kernel modules,
// logs and tunables, the clock, the home directories, user namespaces,
// real-time scheduling, the capabilities no container gets.
type PodmanRunner struct {
	// Writable are the paths the program and its containers change besides
	// podman's own state (ReadWritePaths=); each must exist at start to be
	// writable.
	Writable []string
	// Exec is set when the program enters other containers (`podman exec`
	// into PostgreSQL or Redis): joining the namespaces of a process of
	// another user needs CAP_SYS_PTRACE.
	Exec bool
	// Bridge is set when a container joins a Podman bridge network (with
	// Exec as well, or PrivateHostname with Exec, the unit scores 5.1,
	// above the ceiling):
	// netavark configures it (CAP_NET_ADMIN) and writes sysctls such as
	// net.ipv4.ip_forward, so /proc/sys stays writable. Containers on the
	// host's network need neither.
	Bridge bool
	// PrivateHostname is set when a container gets its own UTS namespace:
	// podman then sets its hostname, which ProtectHostname= forbids.
	PrivateHostname bool
}

// podmanDroppedCaps are capabilities that neither podman nor the default
// capability set of a container (Podman 5: CHOWN DAC_OVERRIDE FOWNER
// FSETID KILL NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT)
// uses; a container cannot be given a capability its parent's bounding
// set lacks.
var podmanDroppedCaps = []string{
	"CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_AUDIT_WRITE", "CAP_BLOCK_SUSPEND",
	"CAP_IPC_LOCK", "CAP_LEASE", "CAP_LINUX_IMMUTABLE", "CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE",
	"CAP_SYSLOG", "CAP_SYS_BOOT", "CAP_SYS_MODULE", "CAP_SYS_PACCT", "CAP_SYS_RAWIO",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_WAKE_ALARM",
}

// Directives returns the [Service] lines of the sandbox, one per line.
func (p PodmanRunner) Directives() string {
	var b unitWriter
	b.kv("ProtectSystem", "strict")
	b.kv("ReadWritePaths", readWritePaths(append(slices.Clone(p.Writable), podmanWritable...)))
	b.kv("ProtectHome", protectHome(false)) // podman keeps CAP_DAC_OVERRIDE
	b.kv("PrivateTmp", "yes")
	// The unit's mounts (container root filesystems) never reach the
	// host; podman run --rm removes them before the unit ends.
	b.kv("PrivateMounts", "yes")
	// ProtectClock's device list (the real-time clock, read-only) already
	// closes the unit's devices but the pseudo devices (/dev/null…);
	// DevicePolicy says so. Containers live in their own cgroups
	// (machine.slice), so the list binds podman alone, which opens no
	// other device.
	b.kv("ProtectClock", "yes")
	b.kv("DevicePolicy", "closed")
	if !p.Bridge {
		b.kv("ProtectKernelTunables", "yes")
	}
	b.kv("ProtectKernelModules", "yes")
	b.kv("ProtectKernelLogs", "yes")
	b.kv("ProtectProc", "invisible")
	if !p.PrivateHostname {
		b.kv("ProtectHostname", "yes")
	}
	b.kv("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6 AF_NETLINK")
	if !p.Exec {
		// Root containers use every namespace but the user namespace.
		// podman exec cannot have even that: crun joins the container's
		// namespaces with setns(fd, 0), which systemd's filter refuses
		// unless every namespace type is allowed ("setns `mnt`:
		// Operation not permitted", seen under systemd 257).
		b.kv("RestrictNamespaces", "~user")
	}
	b.kv("RestrictRealtime", "yes")
	b.kv("LockPersonality", "yes")
	// Inherited by the containers: none of kiln's runs a JIT (restic is
	// Go, certbot CPython with cffi in API mode, pg_dump and redis-cli C).
	b.kv("MemoryDenyWriteExecute", "yes")
	drop := slices.Clone(podmanDroppedCaps)
	if !p.Exec {
		drop = append(drop, "CAP_SYS_PTRACE")
	}
	if !p.Bridge {
		drop = append(drop, "CAP_NET_ADMIN")
	}
	slices.Sort(drop)
	b.kv("CapabilityBoundingSet", "~"+strings.Join(drop, " "))
	b.kv("SystemCallArchitectures", "native")
	b.kv("SystemCallFilter", "~@clock @cpu-emulation @debug @module @obsolete @raw-io @reboot @swap")
	b.kv("KeyringMode", "private")
	return b.String()
}
