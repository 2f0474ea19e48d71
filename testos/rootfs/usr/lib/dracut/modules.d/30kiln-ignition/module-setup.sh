#!/bin/bash
# dracut module of the kiln test OS: first-boot provisioning with the real
# Ignition engine, in the initramfs, under systemd, as FCOS's ignition and
# coreos dracut modules do. See kiln-ignition-lib.sh for the sequence and for
# what differs from FCOS.

check() {
	return 0
}

depends() {
	echo systemd udev-rules
}

install() {
	inst /usr/lib/kiln-testos/ignition /usr/bin/ignition
	# Everything Ignition's stages call (disks: partitioning, probing,
	# formatting; files: accounts through the shadow tools chrooted into
	# the real root, systemctl --root for disabled units), and what the
	# scripts around it use.
	inst_multiple sgdisk sfdisk partx wipefs blkid mount umount \
		mke2fs mkfs.ext4 e2fsck resize2fs mkfs.xfs mkfs.fat mkswap \
		useradd usermod userdel groupadd groupmod groupdel systemctl udevadm \
		sed grep cat readlink basename tee tail sleep rm cp mkdir
	if [ -d /usr/share/xfsprogs ]; then
		inst_dir /usr/share/xfsprogs
		inst_multiple -o /usr/share/xfsprogs/mkfs/*
	fi
	inst_simple "$moddir/kiln-ignition-lib.sh" /usr/lib/kiln-testos/kiln-ignition-lib.sh
	inst_script "$moddir/kiln-ignition-pre.sh" /usr/lib/kiln-testos/kiln-ignition-pre
	inst_script "$moddir/kiln-ignition-post.sh" /usr/lib/kiln-testos/kiln-ignition-post
	inst_simple "$moddir/kiln-ignition-pre.service" "$systemdsystemunitdir/kiln-ignition-pre.service"
	inst_simple "$moddir/kiln-ignition-post.service" "$systemdsystemunitdir/kiln-ignition-post.service"
	mkdir -p "$initdir/$systemdsystemunitdir/initrd.target.wants"
	ln_r "$systemdsystemunitdir/kiln-ignition-pre.service" "$systemdsystemunitdir/initrd.target.wants/kiln-ignition-pre.service"
	ln_r "$systemdsystemunitdir/kiln-ignition-post.service" "$systemdsystemunitdir/initrd.target.wants/kiln-ignition-post.service"
}
