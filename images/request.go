package images

import "time"

// Target is one output: a platform and a format such as "qcow2.xz", both
// rows of the tables in format.go.
type Target struct {
	Platform string
	Format   string
}

// ProgressEvent reports how far one artifact's step has come.
type ProgressEvent struct {
	Artifact string // output file name
	Step     string // "copy", "embed", "write", "hash"
	Done     int64  // bytes
	Total    int64  // bytes; 0 when unknown
}

// Request is everything Build needs.
type Request struct {
	// Ignition is the rendered, validated Ignition config.
	Ignition []byte
	// LiveIgnition, when set, is what ISO and PXE boots run instead of
	// Ignition: an installer that writes the appliance to InstallDevice
	// and reboots into it. Empty means they run the appliance live.
	LiveIgnition  []byte
	InstallDevice string
	// MinDiskMiB is the smallest disk the appliance's disk images and
	// installers need (the image and its data partition), for the manifest.
	MinDiskMiB int64
	// Name and Version name the outputs: <name>-<version>-<platform>.<format>.
	Name, Version string
	// OutDir receives the outputs; it must exist.
	OutDir string
	// Targets lists the outputs to write.
	Targets []Target
	// BaseImage is the FCOS metal raw image (uncompressed, or .xz/.gz,
	// which is decompressed into the output directory's staging area) for
	// disk targets, BaseISO the live ISO, BasePXE a directory with the
	// live kernel, initramfs and rootfs.
	BaseImage, BaseISO, BasePXE string
	// BaseRelease is the FCOS release the bases come from, when known
	// from their metadata; otherwise it is read from the bases themselves.
	BaseRelease string
	// BaseConstraint is the spec's base.release; a base whose own release
	// does not satisfy it is refused.
	BaseConstraint string
	// BaseSHA256 maps a base path to its verified sha256, and BaseNames
	// to the name to record for it (the verified download a decompressed
	// cache copy came from). Missing digests are taken from DigestDir or
	// computed once, beside the build.
	BaseSHA256, BaseNames map[string]string
	// DigestDir keeps base digests between builds, keyed by device,
	// inode, size and modification time; empty keeps none.
	DigestDir string
	// Force replaces artifacts that already exist in OutDir.
	Force bool
	// PXE says where PXE artifacts are served.
	PXE PXEOptions
	// SourceDateEpoch is the only time that reaches the outputs.
	SourceDateEpoch time.Time
	// KernelArgs are appended for ISO and PXE boots.
	KernelArgs []string
	// KilnVersion is recorded in the manifest.
	KilnVersion string
	// Progress, when set, receives progress events (from the calling
	// goroutine; keep it quick).
	Progress func(ProgressEvent)
}

// Artifact describes one output file.
type Artifact struct {
	Name     string `json:"name"`
	Platform string `json:"platform,omitempty"`
	Format   string `json:"format,omitempty"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	// Boot is disk (the server's disk), live (runs from RAM) or installer
	// (installs to InstallDevice and reboots).
	Boot          string `json:"boot,omitempty"`
	InstallDevice string `json:"install_device,omitempty"`
	// MinDiskMiB is the smallest disk the artifact boots from (disk) or
	// installs to (installer).
	MinDiskMiB int64 `json:"min_disk_mib,omitempty"`
}

// BaseArtifact describes one base artifact an output was made from.
type BaseArtifact struct {
	Kind    string `json:"kind"` // a BaseKind: image, iso or pxe
	Name    string `json:"name"`
	Release string `json:"release,omitempty"`
	SHA256  string `json:"sha256"`
}

// Manifest records what a build produced and from what.
type Manifest struct {
	Appliance       string         `json:"appliance"`
	Version         string         `json:"version"`
	BaseRelease     string         `json:"base_release,omitempty"`
	Bases           []BaseArtifact `json:"bases"`
	ConfigSHA256    string         `json:"config_sha256"`
	KilnVersion     string         `json:"kiln_version,omitempty"`
	SourceDateEpoch int64          `json:"source_date_epoch"`
	Artifacts       []Artifact     `json:"artifacts"`
}
