package spec

import "fmt"

// FCOSImageMiB is the size of Fedora CoreOS's disk images (metal, qemu,
// and the cloud images kiln derives from metal): 10 GiB. A server's disk
// can be larger (the root filesystem grows into it) but never smaller.
const FCOSImageMiB = 10240

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

// smallDisks are platforms whose providers fix the disk by plan, with the
// smallest disk a current plan gives, in GiB. Elsewhere (metal, qemu,
// aws, azure, openstack, proxmoxve) the user chooses the disk size.
var smallDisks = map[string]struct {
	GiB  int
	Plan string
}{
	"digitalocean": {10, "DigitalOcean's smallest droplets"},
	"vultr":        {10, "Vultr's smallest plans"},
	"hetzner":      {20, "Hetzner's smallest servers"},
}

// ceilGiB rounds MiB up to whole GiB.
func ceilGiB(mib int) int { return (mib + 1023) / 1024 }

// diskSize checks the target's disk: a declared disk_gib must hold the
// image and the data partition; an undeclared one warns when the
// platform's small plans cannot.
func (v *validator) diskSize(p string, a *Appliance, t Target) {
	need := MinDiskMiB(a)
	disk := false
	for _, f := range t.Formats {
		disk = disk || BootOf(t, f) != BootLive
	}
	if len(t.Formats) == 0 {
		disk = true // every platform's defaults include a disk image
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
		if sd, ok := smallDisks[t.Platform]; ok && sd.GiB*1024 < need {
			v.warnf(p+".platform", fmt.Sprintf("choose a plan with a disk of at least %d GiB and say so with `disk_gib:`, or use data.mode volume", ceilGiB(need)),
				"%s have %d GiB disks, and this appliance needs %d GiB (%s)", sd.Plan, sd.GiB, ceilGiB(need), why)
		}
	}
}
