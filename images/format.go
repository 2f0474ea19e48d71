package images

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// This file is the one place that says what each platform, output format
// and base artifact is. The spec's lists, its schema enums and its
// validation, base discovery, the manifest's fields, Inspect and the CLI's
// help are all derived from the three tables below, the way Talos derives
// its outputs from its profile table: adding a format is a row here and a
// writer in its own file.

// Format is a disk or boot artifact format.
type Format string

// The formats kiln writes.
const (
	FormatRaw   Format = "raw"
	FormatQcow2 Format = "qcow2"
	FormatVHD   Format = "vhd"
	FormatISO   Format = "iso"
	FormatPXE   Format = "pxe"
)

// Compression is an output compression, named by its file suffix.
type Compression string

// The compressions kiln writes.
const (
	CompressNone Compression = ""
	CompressXZ   Compression = "xz"
	CompressGzip Compression = "gz"
	CompressZstd Compression = "zst"
)

// compressions lists the suffixes a compressible format may carry, in the
// order the format lists show them.
var compressions = []Compression{CompressGzip, CompressXZ, CompressZstd}

// Compressions lists the compression suffixes a compressible format may
// carry.
func Compressions() []Compression { return slices.Clone(compressions) }

// Boot is how an artifact starts the appliance; the manifest records it
// per artifact. It decides which devices exist at first boot.
type Boot string

// Boots.
const (
	// BootDisk: a disk image that is the server's disk.
	BootDisk Boot = "disk"
	// BootLive: a live boot (ISO, PXE) that runs the appliance from RAM;
	// /dev/disk/by-id/coreos-boot-disk does not exist there.
	BootLive Boot = "live"
	// BootInstaller: a live boot that installs FCOS with the appliance's
	// config to a disk and reboots into it.
	BootInstaller Boot = "installer"
)

// FCOSImageMiB is the size of Fedora CoreOS's disk images (metal, and the
// cloud images kiln derives from it): 10 GiB. A server's disk can be
// larger (the root filesystem grows into it) but never smaller.
const FCOSImageMiB = 10240

// BaseKind names a kind of FCOS base artifact; the manifest's bases[].kind.
type BaseKind string

// The base artifacts formats are made from.
const (
	DiskBase BaseKind = "image" // the metal raw disk image
	ISOBase  BaseKind = "iso"   // the live ISO
	PXEBase  BaseKind = "pxe"   // the live kernel, initramfs and rootfs
)

// BaseInfo says how kiln finds one kind of base artifact.
type BaseInfo struct {
	Kind BaseKind
	// FCOSFormat is its format in FCOS stream metadata, for platform metal.
	FCOSFormat string
	// Flag is the `kiln build` flag that names a local one instead.
	Flag string
	// Field is the Request field that holds its path.
	Field string
	// Optional: formats made from it can be written without it (a PXE
	// bundle then points at the URLs of PXEOptions).
	Optional bool
}

var baseTable = []BaseInfo{
	{Kind: DiskBase, FCOSFormat: "raw.xz", Flag: "--base-image", Field: "BaseImage"},
	{Kind: ISOBase, FCOSFormat: "iso", Flag: "--base-iso", Field: "BaseISO"},
	{Kind: PXEBase, FCOSFormat: "pxe", Flag: "--base-pxe", Field: "BasePXE", Optional: true},
}

// Bases lists the kinds of base artifact, in the order a build looks for
// them.
func Bases() []BaseInfo { return slices.Clone(baseTable) }

// baseInfo returns the row of a base kind; every kind is in the table.
func baseInfo(k BaseKind) BaseInfo {
	i := slices.IndexFunc(baseTable, func(b BaseInfo) bool { return b.Kind == k })
	return baseTable[i]
}

// FormatInfo is everything kiln knows about one output format.
type FormatInfo struct {
	// Name is the format's name as targets write it, before any
	// compression suffix.
	Name Format
	// Base is the base artifact it is made from.
	Base BaseKind
	// Live: it boots the FCOS live system (BootLive, or BootInstaller with
	// Request.LiveIgnition) rather than being the server's disk. Live
	// boots are bare metal's: their platform is always metal.
	Live bool
	// Compressible: it may carry a compression suffix (qcow2.xz).
	Compressible bool
	// Output is its file name after "<name>-<version>-"; empty means
	// "<platform>.<format>".
	Output string
	// InspectKind is the kind Inspect reports for it.
	InspectKind string

	// write writes target t (format and comp already parsed) into the
	// staging directory as file name, and returns what it wrote with
	// digests taken on the way; the artifact named name is the target's.
	write func(b *builder, t Target, name string, comp Compression) ([]Artifact, error)
	// extra lists the other files write puts beside the output.
	extra func(r *Request) ([]string, error)
	// sniff recognises an uncompressed output by its bytes (head is its
	// first 32 KiB and a few bytes); read returns its config and, for
	// disks, the platform id it boots with.
	sniff func(head []byte, f *os.File, size int64) bool
	read  func(path string, f *os.File, size int64) (config []byte, platform string, err error)
}

// formatTable lists every format kiln writes, in the order help and
// errors list them; Inspect tries their sniffers in this order too. The
// writers and readers live in one file per format.
var formatTable = []FormatInfo{
	{Name: FormatRaw, Base: DiskBase, Compressible: true, InspectKind: KindRaw,
		write: diskWriter(rawLayout), sniff: isRawDisk, read: readRawDisk},
	{Name: FormatQcow2, Base: DiskBase, Compressible: true, InspectKind: KindQcow2,
		write: diskWriter(qcow2Layout), sniff: isQcow2, read: readQcow2Disk},
	{Name: FormatVHD, Base: DiskBase, Compressible: true, InspectKind: KindVHD,
		write: diskWriter(vhdLayout), sniff: isVHD, read: readVHDDisk},
	{Name: FormatISO, Base: ISOBase, Live: true, Output: "live.iso", InspectKind: KindISO,
		write: isoWriter, sniff: isISO, read: readISO},
	{Name: FormatPXE, Base: PXEBase, Live: true, Output: "pxe.ign.img", InspectKind: KindInitrd,
		write: pxeWriter, extra: pxeExtra, sniff: isInitrd, read: readInitrd},
}

// Fits reports whether the format can be built for platform: live boots
// are bare metal's.
func (f FormatInfo) Fits(platform string) bool { return !f.Live || platform == MetalPlatform }

// Formats lists the format table's rows.
func Formats() []FormatInfo { return slices.Clone(formatTable) }

// FormatNames lists every format name kiln accepts, each compressible
// format also with every compression suffix: raw, raw.gz, raw.xz, ….
func FormatNames() []string {
	var names []string
	for _, f := range formatTable {
		names = append(names, string(f.Name))
		if f.Compressible {
			for _, c := range compressions {
				names = append(names, string(f.Name)+"."+string(c))
			}
		}
	}
	return names
}

// LookupFormat returns the row of a format name, with or without a
// compression suffix; ok is false when ParseFormat would refuse it.
func LookupFormat(name string) (FormatInfo, bool) {
	fi, _, err := parseFormat(name)
	return fi, err == nil
}

// ParseFormat splits a format name such as "qcow2.xz" or "raw" into its
// format and compression.
func ParseFormat(s string) (Format, Compression, error) {
	fi, c, err := parseFormat(s)
	return fi.Name, c, err
}

func parseFormat(s string) (FormatInfo, Compression, error) {
	name, comp, dot := strings.Cut(s, ".")
	i := slices.IndexFunc(formatTable, func(f FormatInfo) bool { return string(f.Name) == name })
	if i < 0 || dot && comp == "" {
		return FormatInfo{}, "", fmt.Errorf("%w: %q", ErrUnknownFormat, s)
	}
	fi, c := formatTable[i], Compression(comp)
	switch {
	case c != CompressNone && !fi.Compressible:
		return FormatInfo{}, "", fmt.Errorf("%w: %s cannot be compressed", ErrUnknownFormat, s)
	case c != CompressNone && !slices.Contains(compressions, c):
		return FormatInfo{}, "", fmt.Errorf("%w: compression %q", ErrUnknownFormat, comp)
	}
	return fi, c, nil
}

// PlatformInfo is everything kiln knows about one platform.
type PlatformInfo struct {
	// Name is the FCOS platform id (ignition.platform.id), which is also
	// the platform's name in the spec and on the command line. The
	// console kernel arguments and GRUB commands that go with it are read
	// from the base image's platforms.json, as coreos-installer does: FCOS
	// changes them between releases.
	Name string
	// Formats are the formats built when a target lists none: those FCOS
	// publishes for the platform.
	Formats []string
	// SmallDiskGiB, when set, is the disk of the provider's smallest
	// current plan (SmallDiskPlan says whose), which may be too small for
	// an appliance with a data partition. Elsewhere the user chooses the
	// disk.
	SmallDiskGiB  int
	SmallDiskPlan string
}

// platformTable lists the platforms kiln builds for, by name.
var platformTable = []PlatformInfo{
	{Name: "aws", Formats: []string{"raw"}},
	{Name: "azure", Formats: []string{"vhd"}},
	{Name: "digitalocean", Formats: []string{"qcow2.gz"}, SmallDiskGiB: 10, SmallDiskPlan: "DigitalOcean's smallest droplets"},
	{Name: "hetzner", Formats: []string{"raw.xz"}, SmallDiskGiB: 20, SmallDiskPlan: "Hetzner's smallest servers"},
	{Name: "metal", Formats: []string{"raw.xz", "iso", "pxe"}},
	{Name: "openstack", Formats: []string{"qcow2"}},
	{Name: "proxmoxve", Formats: []string{"qcow2"}},
	{Name: "qemu", Formats: []string{"qcow2"}},
	{Name: "vultr", Formats: []string{"raw.xz"}, SmallDiskGiB: 10, SmallDiskPlan: "Vultr's smallest plans"},
}

// MetalPlatform is the platform live formats (ISO, PXE) boot as.
const MetalPlatform = "metal"

// PlatformNames lists the platform names, sorted.
func PlatformNames() []string {
	names := make([]string, len(platformTable))
	for i, p := range platformTable {
		names[i] = p.Name
	}
	return names
}

// LookupPlatform returns the row of a platform name.
func LookupPlatform(name string) (PlatformInfo, bool) {
	i := slices.IndexFunc(platformTable, func(p PlatformInfo) bool { return p.Name == name })
	if i < 0 {
		return PlatformInfo{}, false
	}
	p := platformTable[i]
	p.Formats = slices.Clone(p.Formats)
	return p, true
}

// checkTarget returns an error when t cannot be built: an unknown name, or
// a live format for a platform other than metal (a live format needs no
// platform: it boots as metal).
func checkTarget(t Target) (FormatInfo, error) {
	fi, _, err := parseFormat(t.Format)
	switch {
	case err != nil:
		return fi, err
	case t.Platform != "" && !fi.Fits(t.Platform):
		return fi, fmt.Errorf("%w: %s boots as metal, not %q", ErrUnknownPlatform, fi.Name, t.Platform)
	case !fi.Live:
		if _, ok := LookupPlatform(t.Platform); !ok {
			return fi, fmt.Errorf("%w: %q", ErrUnknownPlatform, t.Platform)
		}
	}
	return fi, nil
}
