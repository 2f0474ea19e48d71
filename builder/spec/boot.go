package spec

import (
	"fmt"
	"strings"

	"github.com/kiln-dev/kiln/images"
)

// Boot is how an artifact starts the appliance. It decides which devices
// exist at first boot, and so which data modes can work.
type Boot = images.Boot

// Boots, as the manifest records them.
const (
	BootDisk      = images.BootDisk
	BootLive      = images.BootLive
	BootInstaller = images.BootInstaller
)

// IsLiveFormat reports whether a format boots the FCOS live system (ISO
// or PXE) rather than being a disk image.
func IsLiveFormat(format string) bool {
	fi, ok := images.LookupFormat(format)
	return ok && fi.Live
}

// BootOf returns how an artifact of format built for t boots.
func BootOf(t Target, format string) Boot {
	switch {
	case !IsLiveFormat(format):
		return BootDisk
	case t.Install.Device != "":
		return BootInstaller
	}
	return BootLive
}

// formats returns the target's formats: those it lists, or its
// platform's defaults.
func (t Target) formats() []string {
	if len(t.Formats) > 0 {
		return t.Formats
	}
	p, _ := images.LookupPlatform(t.Platform)
	return p.Formats
}

// LiveBootProblem says why the appliance's data cannot work on a live
// boot, or returns "" when it can. Ignition fails the boot when a device
// its config partitions never appears, and a live system has no boot disk.
func LiveBootProblem(d Data) string {
	if d.Mode == DataPartition && d.Device == DefaultBootDisk {
		return "a live boot has no boot disk: data.mode partition needs " + DefaultBootDisk + ", which exists only on an installed disk, so the first boot would stop in the emergency shell"
	}
	return ""
}

// LiveBootFix is the fix that goes with LiveBootProblem.
const LiveBootFix = "add `install: {device: /dev/sda}` to this target so the ISO/PXE installs to that disk and reboots into it, or use data.mode volume (or none) for an appliance that runs live"

// CheckBoot returns an error when an artifact of format for t cannot
// boot the appliance a. The validator and `kiln build --platform/--format`
// both use it, so no combination escapes it.
func CheckBoot(a *Appliance, t Target, format string) error {
	if BootOf(t, format) == BootLive {
		if p := LiveBootProblem(a.Data); p != "" {
			return fmt.Errorf("%s: %s — %s", format, p, LiveBootFix)
		}
	}
	return nil
}

func (v *validator) install(p string, a *Appliance, t Target) {
	if t.Install.Device == "" {
		if v.src.Has(p + ".install") {
			v.errorf(p+".install", "add `device: /dev/sda` (the disk to install to), or remove `install:`", "install needs a device")
		}
		return
	}
	if !strings.HasPrefix(t.Install.Device, "/dev/") || strings.ContainsAny(t.Install.Device, " \t\n") {
		v.errorf(p+".install.device", "give the disk's path under /dev, e.g. /dev/sda, /dev/nvme0n1 or /dev/disk/by-id/…", "%q is not a device path", t.Install.Device)
	}
	// coreos-installer overwrites its disk and keeps only a partition
	// labelled like the data; a data volume on that disk would be wiped.
	if a.Data.Mode == DataVolume && a.Data.Device == t.Install.Device {
		v.errorf(p+".install.device", "install to another disk, or use data.mode partition to keep the data on this one", "%s is also data.device: installing would wipe the data volume", t.Install.Device)
	}
	live := false
	for _, f := range t.formats() {
		live = live || IsLiveFormat(f)
	}
	if !live {
		v.errorf(p+".install", "remove `install:`, or add iso or pxe to this target's formats", "install applies only to the iso and pxe formats, and this target builds neither")
	}
}
