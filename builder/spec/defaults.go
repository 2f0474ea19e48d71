package spec

// Defaults the spec falls back to. They are the values of the default
// (Clipper) appliance, so a short spec gets a complete, safe server.
const (
	DefaultStream        = "stable"
	DefaultDataLabel     = "kiln-data"
	DefaultDataPath      = "/var/lib/kiln"
	DefaultDataFormat    = "xfs"
	DefaultBootDisk      = "/dev/disk/by-id/coreos-boot-disk"
	DefaultDataPartition = 5
	// DefaultDataStartMiB leaves the root filesystem 9.5 GiB after FCOS's
	// first 513 MiB; FCOS refuses to boot when a root smaller than 8 GiB is
	// followed by another partition.
	DefaultDataStartMiB   = 10240
	DefaultSSHPort        = 22
	DefaultSSHRateLimit   = 10
	DefaultBantime        = 3600
	DefaultFindtime       = 600
	DefaultMaxretry       = 5
	DefaultSecretLength   = 32
	DefaultHealthInterval = "30s"
	DefaultHealthTimeout  = "5s"
	DefaultHealthRetries  = 3
	DefaultHealthStart    = "30s"
	DefaultArchiveTimeout = "60s"
	DefaultACME           = "letsencrypt"
	DefaultS3Credentials  = "/etc/kiln/backup/s3.env"
	DefaultKind           = KindApp
	DefaultPullRetries    = 5
	DefaultPullRetryDelay = "30s"
	DefaultPullTimeout    = "15m"
)

// MinRootMiB is the smallest root filesystem FCOS boots with when another
// partition follows it.
const MinRootMiB = 8192

// FCOSRootStartMiB is where FCOS's root partition starts on the metal image
// (1 MiB BIOS-BOOT + 127 MiB ESP + 384 MiB boot + 1 MiB alignment).
const FCOSRootStartMiB = 513

// ApplyDefaults fills every field the user left empty. It runs after the
// strict decode and before validation, so checks see the effective values.
func ApplyDefaults(a *Appliance) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defInt := func(i *int, v int) {
		if *i == 0 {
			*i = v
		}
	}
	def(&a.Base.Stream, DefaultStream)
	def(&a.Data.Mode, DataPartition)
	def(&a.Data.Label, DefaultDataLabel)
	def(&a.Data.Path, DefaultDataPath)
	def(&a.Data.Format, DefaultDataFormat)
	if a.Data.Mode == DataPartition {
		def(&a.Data.Device, DefaultBootDisk)
		defInt(&a.Data.Partition.Number, DefaultDataPartition)
		defInt(&a.Data.Partition.StartMiB, DefaultDataStartMiB)
	}
	defInt(&a.SSH.Port, DefaultSSHPort)
	defInt(&a.SSH.RateLimit, DefaultSSHRateLimit)
	defInt(&a.SSH.Fail2ban.Bantime, DefaultBantime)
	defInt(&a.SSH.Fail2ban.Findtime, DefaultFindtime)
	defInt(&a.SSH.Fail2ban.Maxretry, DefaultMaxretry)
	def(&a.TLS.ACME, DefaultACME)
	for i := range a.Secrets {
		defInt(&a.Secrets[i].Length, DefaultSecretLength)
	}
	for i := range a.Services {
		s := &a.Services[i]
		def(&s.Kind, DefaultKind)
		for j := range s.Ports {
			if s.Ports[j].Target == 0 {
				s.Ports[j].Target = s.Ports[j].Port
			}
		}
		if s.Health.Command != "" {
			def(&s.Health.Interval, DefaultHealthInterval)
			def(&s.Health.Timeout, DefaultHealthTimeout)
			defInt(&s.Health.Retries, DefaultHealthRetries)
			def(&s.Health.StartPeriod, DefaultHealthStart)
		}
	}
	defInt(&a.Registry.PullRetries, DefaultPullRetries)
	def(&a.Registry.PullRetryDelay, DefaultPullRetryDelay)
	def(&a.Registry.PullTimeout, DefaultPullTimeout)
	def(&a.Backup.ArchiveTimeout, DefaultArchiveTimeout)
	def(&a.Backup.S3.CredentialsFile, DefaultS3Credentials)
	if a.Backup.Retention == (Retention{}) {
		a.Backup.Retention = Retention{Daily: 7, Weekly: 4, Monthly: 6}
	}
}
