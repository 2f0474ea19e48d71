// Package spec defines the appliance spec: the one YAML file from which kiln
// builds a server. It loads the file strictly (unknown keys are errors with
// their line and column), applies defaults and runs the semantic checks.
// Loading and validation are pure: they read the spec and nothing else.
package spec

// Appliance is the root of an appliance spec.
type Appliance struct {
	// Name of the appliance; names the outputs (<name>-<version>.ign).
	Name string `yaml:"name" json:"name"`
	// Version of this build of the appliance, a semantic version. Upgrading
	// is rebuilding with a new version.
	Version string `yaml:"version" json:"version"`
	// Description is free text shown in the release information.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Base selects the Fedora CoreOS release the images start from.
	Base Base `yaml:"base,omitempty" json:"base,omitempty"`
	// Updates controls in-place OS updates (off by default: rebuild to upgrade).
	Updates Updates `yaml:"updates,omitempty" json:"updates,omitempty"`
	// Data is the persistent data volume that rebuilds never touch.
	Data Data `yaml:"data,omitempty" json:"data,omitempty"`
	// Users are the login accounts, SSH keys only.
	Users []User `yaml:"users" json:"users"`
	// SSH configures the SSH daemon.
	SSH SSH `yaml:"ssh,omitempty" json:"ssh,omitempty"`
	// Firewall lists what may reach the server beyond the public ports.
	Firewall Firewall `yaml:"firewall,omitempty" json:"firewall,omitempty"`
	// TLS configures certificates for the edge.
	TLS TLS `yaml:"tls,omitempty" json:"tls,omitempty"`
	// Secrets are generated on the server at first boot, never baked in.
	Secrets []Secret `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	// Volumes are named container volumes on the data path.
	Volumes []Volume `yaml:"volumes,omitempty" json:"volumes,omitempty"`
	// Services are the containers the server runs.
	Services []Service `yaml:"services" json:"services"`
	// Registry configures how the server pulls the services' images.
	Registry Registry `yaml:"registry,omitempty" json:"registry,omitempty"`
	// Backup configures scheduled backups and point-in-time recovery.
	Backup Backup `yaml:"backup,omitempty" json:"backup,omitempty"`
	// Alerts says who is notified when an alert fires (through the
	// alertmanager service).
	Alerts Alerts `yaml:"alerts,omitempty" json:"alerts,omitempty"`
	// Butane lists extra Butane snippets (paths relative to the spec) merged
	// into the generated config.
	Butane []string `yaml:"butane,omitempty" json:"butane,omitempty"`
	// Targets are the platforms and formats `kiln build` produces.
	Targets []Target `yaml:"targets,omitempty" json:"targets,omitempty"`
}

// Base selects the Fedora CoreOS base artifacts.
type Base struct {
	// Stream is stable, testing or next.
	Stream string `yaml:"stream,omitempty" json:"stream,omitempty" jsonschema:"enum=stable,enum=testing,enum=next"`
	// Release is a version constraint on the FCOS release, e.g. ">= 42".
	Release string `yaml:"release,omitempty" json:"release,omitempty"`
}

// Updates controls Zincati, FCOS's auto-update agent.
type Updates struct {
	// Auto enables Zincati auto-updates. Off by default: an appliance is
	// upgraded by rebuilding it with a new version.
	Auto bool `yaml:"auto,omitempty" json:"auto,omitempty"`
}

// Data describes the persistent data filesystem.
type Data struct {
	// Mode is partition (a partition on the boot disk), volume (an attached
	// block device) or none (ephemeral: data is lost on rebuild).
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty" jsonschema:"enum=partition,enum=volume,enum=none"`
	// Device is the block device for mode volume, e.g.
	// /dev/disk/by-id/scsi-0DO_Volume_clipper-data. For mode partition it
	// defaults to the boot disk.
	Device string `yaml:"device,omitempty" json:"device,omitempty"`
	// Label of the filesystem (default kiln-data); the server mounts by label.
	Label string `yaml:"label,omitempty" json:"label,omitempty"`
	// Path where the filesystem is mounted (default /var/lib/kiln).
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Format of the filesystem: xfs (default) or ext4.
	Format string `yaml:"format,omitempty" json:"format,omitempty" jsonschema:"enum=xfs,enum=ext4"`
	// Partition places the data partition on the boot disk (mode partition).
	Partition Partition `yaml:"partition,omitempty" json:"partition,omitempty"`
}

// Partition places the data partition on the boot disk.
type Partition struct {
	// Number of the partition (default 5, after FCOS's four).
	Number int `yaml:"number,omitempty" json:"number,omitempty"`
	// StartMiB leaves room for the root filesystem, which FCOS needs to be at
	// least 8 GiB when another partition follows it (default 10240).
	StartMiB int `yaml:"start_mib,omitempty" json:"start_mib,omitempty"`
	// SizeMiB of the partition; 0 takes the rest of the disk.
	SizeMiB int `yaml:"size_mib,omitempty" json:"size_mib,omitempty"`
}

// User is a login account.
type User struct {
	// Name of the account.
	Name string `yaml:"name" json:"name"`
	// SSHKeys are the authorized public keys; at least one is required
	// because passwords are never accepted.
	SSHKeys []string `yaml:"ssh_keys" json:"ssh_keys"`
	// Sudo grants passwordless sudo.
	Sudo bool `yaml:"sudo,omitempty" json:"sudo,omitempty"`
	// Groups are extra groups for the account.
	Groups []string `yaml:"groups,omitempty" json:"groups,omitempty"`
}

// SSH configures the SSH daemon.
type SSH struct {
	// Port sshd listens on (default 22).
	Port int `yaml:"port,omitempty" json:"port,omitempty"`
	// AllowTCPForwarding permits port forwarding (off by default).
	AllowTCPForwarding bool `yaml:"allow_tcp_forwarding,omitempty" json:"allow_tcp_forwarding,omitempty"`
	// AllowAgentForwarding permits agent forwarding (off by default).
	AllowAgentForwarding bool `yaml:"allow_agent_forwarding,omitempty" json:"allow_agent_forwarding,omitempty"`
	// RateLimit is the number of new SSH connections a source may open per
	// minute before they are dropped (default 10).
	RateLimit int `yaml:"rate_limit,omitempty" json:"rate_limit,omitempty"`
	// Fail2ban configures brute-force protection.
	Fail2ban Fail2ban `yaml:"fail2ban,omitempty" json:"fail2ban,omitempty"`
}

// Fail2ban configures the sshd jail.
type Fail2ban struct {
	// Disabled turns fail2ban off.
	Disabled bool `yaml:"disabled,omitempty" json:"disabled,omitempty"`
	// Bantime in seconds (default 3600).
	Bantime int `yaml:"bantime,omitempty" json:"bantime,omitempty"`
	// Findtime in seconds (default 600).
	Findtime int `yaml:"findtime,omitempty" json:"findtime,omitempty"`
	// Maxretry failures within findtime before a ban (default 5).
	Maxretry int `yaml:"maxretry,omitempty" json:"maxretry,omitempty"`
}

// Firewall lists extra allowed traffic; everything else is dropped.
type Firewall struct {
	// Allow opens a port to the listed sources only.
	Allow []AllowRule `yaml:"allow,omitempty" json:"allow,omitempty"`
}

// AllowRule opens one TCP port to a set of source networks.
type AllowRule struct {
	// Port is the TCP port.
	Port int `yaml:"port" json:"port"`
	// From lists source CIDRs (IPv4 or IPv6).
	From []string `yaml:"from" json:"from"`
}

// TLS configures the edge's certificates.
type TLS struct {
	// Domains served by the edge; the first is the primary name.
	Domains []string `yaml:"domains,omitempty" json:"domains,omitempty"`
	// Email for the ACME account.
	Email string `yaml:"email,omitempty" json:"email,omitempty"`
	// ACME is letsencrypt (default), letsencrypt-staging, none (self-signed
	// only) or an ACME directory URL.
	ACME string `yaml:"acme,omitempty" json:"acme,omitempty"`
}

// Secret is generated on the server at first boot and handed to containers.
type Secret struct {
	// Name of the secret; containers see it at /run/secrets/<name>.
	Name string `yaml:"name" json:"name"`
	// Length of the generated value in characters (default 32).
	Length int `yaml:"length,omitempty" json:"length,omitempty"`
}

// Registry configures image pulls. First boot pulls every image, and
// anonymous pulls are rate-limited per IP (Docker Hub), so credentials and
// retries keep a fresh server from failing.
type Registry struct {
	// AuthFile is a file on the server in containers-auth.json(5) format
	// (what `podman login --authfile FILE` writes) used for every pull. It
	// is never part of the image: kiln creates it empty (anonymous pulls)
	// when it is missing, and you copy or provision the credentials there.
	AuthFile string `yaml:"auth_file,omitempty" json:"auth_file,omitempty"`
	// PullRetries is how often a failed pull is retried (default 5).
	PullRetries int `yaml:"pull_retries,omitempty" json:"pull_retries,omitempty"`
	// PullRetryDelay is the wait between retries (default 30s).
	PullRetryDelay string `yaml:"pull_retry_delay,omitempty" json:"pull_retry_delay,omitempty"`
	// PullTimeout bounds one image's pull, retries included (default 15m).
	PullTimeout string `yaml:"pull_timeout,omitempty" json:"pull_timeout,omitempty"`
}

// Volume is a named container volume stored on the data path.
type Volume struct {
	// Name of the volume.
	Name string `yaml:"name" json:"name"`
}

// Service is one container.
type Service struct {
	// Name of the service; also its container and host name on the
	// appliance network.
	Name string `yaml:"name" json:"name"`
	// Kind selects kiln's recipe: configuration files, health check and
	// defaults for a known component. "app" (default) uses only the spec.
	Kind string `yaml:"kind,omitempty" json:"kind,omitempty"`
	// Image reference with a tag or digest; pin by digest for reproducible
	// servers (`--strict` requires it).
	Image string `yaml:"image" json:"image"`
	// Command overrides the image's command.
	Command []string `yaml:"command,omitempty" json:"command,omitempty"`
	// Ports the service listens on.
	Ports []Port `yaml:"ports,omitempty" json:"ports,omitempty"`
	// Env sets environment variables.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Secrets mounted at /run/secrets/<name>.
	Secrets []string `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	// Volumes mounted into the container.
	Volumes []Mount `yaml:"volumes,omitempty" json:"volumes,omitempty"`
	// DependsOn names services started before this one.
	DependsOn []string `yaml:"depends_on,omitempty" json:"depends_on,omitempty"`
	// Health is the container health check.
	Health Health `yaml:"health,omitempty" json:"health,omitempty"`
	// Memory limit, e.g. 512M or 2G.
	Memory string `yaml:"memory,omitempty" json:"memory,omitempty"`
	// CPUs limit, e.g. 0.5 or 2.
	CPUs float64 `yaml:"cpus,omitempty" json:"cpus,omitempty"`
	// User the container runs as ("uid[:gid]" or a name in the image).
	User string `yaml:"user,omitempty" json:"user,omitempty"`
	// Privileged drops the no-new-privileges restriction; needed only by
	// images that switch users with setuid tools.
	AllowPrivilegeEscalation bool `yaml:"allow_privilege_escalation,omitempty" json:"allow_privilege_escalation,omitempty"`
}

// Port is one port a service listens on.
type Port struct {
	// Port is the host port (on loopback unless public).
	Port int `yaml:"port" json:"port"`
	// Target is the port inside the container (default: same as Port).
	Target int `yaml:"target,omitempty" json:"target,omitempty"`
	// Public opens the port to the internet through the firewall.
	Public bool `yaml:"public,omitempty" json:"public,omitempty"`
	// Force allows publishing a database, cache or monitoring port, which
	// is refused otherwise.
	Force bool `yaml:"force,omitempty" json:"force,omitempty"`
}

// Mount mounts a named volume into a container.
type Mount struct {
	// Volume names an entry of the top-level volumes list.
	Volume string `yaml:"volume" json:"volume"`
	// Path inside the container.
	Path string `yaml:"path" json:"path"`
	// ReadOnly mounts it read-only.
	ReadOnly bool `yaml:"read_only,omitempty" json:"read_only,omitempty"`
}

// Health is a container health check.
type Health struct {
	// Command run inside the container (shell form); exit 0 is healthy.
	Command string `yaml:"command,omitempty" json:"command,omitempty"`
	// Interval between checks (default 30s).
	Interval string `yaml:"interval,omitempty" json:"interval,omitempty"`
	// Timeout of one check (default 5s).
	Timeout string `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Retries before the container is unhealthy (default 3).
	Retries int `yaml:"retries,omitempty" json:"retries,omitempty"`
	// StartPeriod during which failures do not count (default 30s).
	StartPeriod string `yaml:"start_period,omitempty" json:"start_period,omitempty"`
}

// Backup configures scheduled backups.
type Backup struct {
	// Disabled turns backups off.
	Disabled bool `yaml:"disabled,omitempty" json:"disabled,omitempty"`
	// Schedules are systemd OnCalendar expressions, by name.
	Schedules []Schedule `yaml:"schedules,omitempty" json:"schedules,omitempty"`
	// Retention of snapshots.
	Retention Retention `yaml:"retention,omitempty" json:"retention,omitempty"`
	// S3 is the destination bucket.
	S3 S3 `yaml:"s3,omitempty" json:"s3,omitempty"`
	// ArchiveTimeout bounds the age of unarchived WAL (the RPO), e.g. 60s.
	ArchiveTimeout string `yaml:"archive_timeout,omitempty" json:"archive_timeout,omitempty"`
}

// Schedule is one backup timer.
type Schedule struct {
	// Name of the schedule (daily, weekly…).
	Name string `yaml:"name" json:"name"`
	// OnCalendar is a systemd calendar expression.
	OnCalendar string `yaml:"on_calendar" json:"on_calendar"`
}

// Retention says how many snapshots of each age to keep.
type Retention struct {
	Daily   int `yaml:"daily,omitempty" json:"daily,omitempty"`
	Weekly  int `yaml:"weekly,omitempty" json:"weekly,omitempty"`
	Monthly int `yaml:"monthly,omitempty" json:"monthly,omitempty"`
}

// S3 is an S3-compatible bucket.
type S3 struct {
	Endpoint string `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	Bucket   string `yaml:"bucket,omitempty" json:"bucket,omitempty"`
	Prefix   string `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	Region   string `yaml:"region,omitempty" json:"region,omitempty"`
	// CredentialsFile on the server holding AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY; it is never part of the image.
	CredentialsFile string `yaml:"credentials_file,omitempty" json:"credentials_file,omitempty"`
}

// Target is one platform and its output formats.
type Target struct {
	// Platform is an FCOS platform id, one of images.PlatformNames: aws,
	// azure, digitalocean, hetzner, metal, openstack, proxmoxve, qemu, vultr.
	Platform string `yaml:"platform" json:"platform"`
	// Formats, e.g. raw.xz, qcow2.gz, iso, pxe (images.FormatNames).
	// Default: the platform's (images.PlatformInfo.Formats).
	Formats []string `yaml:"formats,omitempty" json:"formats,omitempty"`
	// Install turns the iso and pxe formats into installers: booted, they
	// write the appliance to a disk with coreos-installer and reboot into
	// it. Without it they run the appliance live, from RAM, with no boot
	// disk (so data.mode partition cannot work).
	Install Install `yaml:"install,omitempty" json:"install,omitempty"`
	// DiskGiB is the size of the disk this target's servers get: the
	// provider plan's disk, or the disk an installer writes to. kiln
	// refuses it when the FCOS image and the data partition do not fit.
	DiskGiB int `yaml:"disk_gib,omitempty" json:"disk_gib,omitempty"`
}

// Install says where an installer boot (iso, pxe) puts the appliance.
type Install struct {
	// Device is the disk to install to, e.g. /dev/sda, /dev/nvme0n1 or a
	// /dev/disk/by-id/ path. It is overwritten without confirmation,
	// except for the data partition (data.mode partition), which is kept
	// across reinstalls.
	Device string `yaml:"device,omitempty" json:"device,omitempty"`
}
