#!/bin/bash
# dracut module of the kiln test OS: the live boot (PXE and ISO), as far as
# FCOS's live initramfs matters to a kiln appliance. See kiln-live.sh for
# the sequence and for what differs from FCOS.

check() {
	return 0
}

depends() {
	echo systemd kiln-ignition
}

installkernel() {
	# The root is a squashfs under a tmpfs overlay, read from the ISO (a
	# CD-ROM on QEMU's IDE controller) or fetched over virtio-net; a
	# no-hostonly image has the block drivers but not these.
	instmods squashfs overlay loop isofs sr_mod cdrom ata_piix virtio_net virtio_pci af_packet
}

install() {
	# networkd is the test OS's DHCP client; it drops to its own user.
	inst_multiple curl ip losetup seq modprobe blkid /usr/lib/systemd/systemd-networkd
	grep '^systemd-network:' "$dracutsysrootdir/etc/passwd" >>"$initdir/etc/passwd"
	grep '^systemd-network:' "$dracutsysrootdir/etc/group" >>"$initdir/etc/group"
	inst_script "$moddir/kiln-live.sh" /usr/lib/kiln-testos/kiln-live
	inst_script "$moddir/kiln-live-generator.sh" "$systemdutildir/system-generators/kiln-live-generator"
	inst_hook cmdline 90 "$moddir/parse-kiln-live.sh"
	inst_simple "$moddir/kiln-live.service" "$systemdsystemunitdir/kiln-live.service"
	mkdir -p "$initdir/$systemdsystemunitdir/initrd.target.wants"
	ln_r "$systemdsystemunitdir/kiln-live.service" "$systemdsystemunitdir/initrd.target.wants/kiln-live.service"
}
