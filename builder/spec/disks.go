package spec

import (
	"fmt"

	"github.com/kiln-dev/kiln/images"
)

// FCOSImageMiB is the size of Fedora CoreOS's disk images: 10 GiB.
const FCOSImageMiB = images.FCOSImageMiB

// MinDataMiB is the least a data partition that takes "the rest of the
// disk" (size_mib 0) is given, including the backup GPT at the disk's end.
const MinDataMiB = 1024

// MinDiskMiB is the smallest disk the appliance's disk artifacts (and
// installer boots) work on: the FCOS image, and the data partition when it
// lives on the boot disk. Ignition fails the first boot when the partition
// does not fit.
func MinDiskMiB(a *Appliance) int {
	min := FCOSImageMiB
	d := a.Data
	if d.Mode == DataPartition && d.Device == DefaultBootDisk {
		end := d.Partition.StartMiB + MinDataMiB
		if d.Partition.SizeMiB > 0 {
			end = d.Partition.StartMiB + d.Partition.SizeMiB + 1 // + the backup GPT
		}
		min = max(min, end)
	}
	return min
}

// ceilGiB rounds MiB up to whole GiB.
func ceilGiB(mib int) int { return (mib + 1023) / 1024 }

// diskSize checks the target's disk: a declared disk_gib must hold the
// image and the data partition; an undeclared one warns when the
// platform's small plans cannot.
func (v *validator) diskSize(p string, a *Appliance, t Target) {
	need := MinDiskMiB(a)
	disk := false
	for _, f := range t.formats() {
		disk = disk || BootOf(t, f) != BootLive
	}
	if !disk {
		return
	}
	why := fmt.Sprintf("the FCOS image is %d GiB", FCOSImageMiB/1024)
	if need > FCOSImageMiB {
		why = fmt.Sprintf("the data partition starts at %d MiB and needs at least %d MiB", a.Data.Partition.StartMiB, need-a.Data.Partition.StartMiB)
	}
	switch {
	case t.DiskGiB < 0:
		v.errorf(p+".disk_gib", "give the disk size in GiB, e.g. 25", "negative disk size")
	case t.DiskGiB > 0 && t.DiskGiB*1024 < need:
		v.errorf(p+".disk_gib", fmt.Sprintf("use a disk of at least %d GiB, or lower data.partition.start_mib/size_mib, or use data.mode volume", ceilGiB(need)),
			"a %d GiB disk is too small: %s", t.DiskGiB, why)
	case t.DiskGiB == 0:
		// Providers that fix the disk by plan: their smallest plan's disk
		// may not hold the data partition. Elsewhere the user chooses.
		if pl, _ := images.LookupPlatform(t.Platform); pl.SmallDiskGiB > 0 && pl.SmallDiskGiB*1024 < need {
			v.warnf(p+".platform", fmt.Sprintf("choose a plan with a disk of at least %d GiB and say so with `disk_gib:`, or use data.mode volume", ceilGiB(need)),
				"%s have %d GiB disks, and this appliance needs %d GiB (%s)", pl.SmallDiskPlan, pl.SmallDiskGiB, ceilGiB(need), why)
		}
	}
}
