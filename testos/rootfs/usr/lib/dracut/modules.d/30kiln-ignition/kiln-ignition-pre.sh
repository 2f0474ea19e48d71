#!/bin/bash
# First boot, before the root filesystem is mounted (kiln-ignition-pre.service).
set -u
. /usr/lib/kiln-testos/kiln-ignition-lib.sh

# Every boot: name the boot disk /dev/disk/by-id/coreos-boot-disk, as FCOS's
# udev rules do, so a config that partitions it finds it. The rule is in
# /run, which the real root keeps after switch-root.
boot_part=$(readlink -f /dev/disk/by-label/boot)
[ -b "$boot_part" ] || kiln_fail "no partition labelled boot"
boot_disk=$(basename "$(readlink -f "/sys/class/block/$(basename "$boot_part")/..")")
mkdir -p /run/udev/rules.d
cat >/run/udev/rules.d/90-kiln-testos-boot-disk.rules <<RULES
SUBSYSTEM=="block", KERNEL=="$boot_disk", SYMLINK+="disk/by-id/coreos-boot-disk"
SUBSYSTEM=="block", KERNEL=="$boot_disk*", ENV{DEVTYPE}=="partition", SYMLINK+="disk/by-id/coreos-boot-disk-part%n"
RULES
udevadm control --reload-rules
udevadm trigger --action=add --subsystem-match=block
udevadm settle

kiln_firstboot || exit 0

mkdir -p "$KILN_BOOT"
mount -t ext4 -o ro /dev/disk/by-label/boot "$KILN_BOOT" || kiln_fail "mount the boot partition"
KILN_PLATFORM=$(kiln_platform)
kiln_log "first boot on /dev/$boot_disk, platform $KILN_PLATFORM"
# coreos-ignition-setup-user: the config kiln embedded becomes the user
# config, which Ignition prefers over the platform's user data.
# This initramfs's /usr is read-only (mkdir there fails with EROFS), so the
# config goes to $IGNITION_SYSTEM_CONFIG_DIR, which Ignition reads instead of
# /usr/lib/ignition.
if [ -f "$KILN_BOOT/ignition/config.ign" ]; then
	mkdir -p "$IGNITION_SYSTEM_CONFIG_DIR" || kiln_fail "mkdir $IGNITION_SYSTEM_CONFIG_DIR"
	cp "$KILN_BOOT/ignition/config.ign" "$IGNITION_SYSTEM_CONFIG_DIR/user.ign" || kiln_fail "copy config.ign"
	kiln_log "using /boot/ignition/config.ign"
fi
umount "$KILN_BOOT"

# coreos-gpt-setup: a fresh disk GUID, and the backup GPT header moved to
# the end of the disk, which is larger than the image written to it.
sgdisk --move-second-header --disk-guid=R "/dev/$boot_disk" >>"$KILN_LOG" 2>&1 || kiln_fail "sgdisk on /dev/$boot_disk"
udevadm settle

kiln_ignition fetch-offline
[ -e /run/ignition/neednet ] && kiln_fail "the config needs the network, which this initramfs does not bring up"
kiln_ignition kargs
kiln_ignition disks

# ignition-ostree-growfs: root takes the space up to the next partition (a
# data partition the config placed after it) or the end of the disk.
root_part=$(readlink -f /dev/disk/by-label/root)
root_nr=$(cat "/sys/class/block/$(basename "$root_part")/partition")
echo ", +" | sfdisk --no-reread --no-tell-kernel -N "$root_nr" "/dev/$boot_disk" >>"$KILN_LOG" 2>&1 || kiln_fail "grow the root partition"
partx -u --nr "$root_nr" "/dev/$boot_disk" >>"$KILN_LOG" 2>&1 || kiln_fail "partx -u /dev/$boot_disk"
udevadm settle
e2fsck -f -p "$root_part" >>"$KILN_LOG" 2>&1
[ $? -le 1 ] || kiln_fail "e2fsck $root_part"
resize2fs "$root_part" >>"$KILN_LOG" 2>&1 || kiln_fail "resize2fs $root_part"
kiln_log "root grown to $(($(cat "/sys/class/block/$(basename "$root_part")/size") / 2048)) MiB"
echo "$KILN_PLATFORM" >"$KILN_RUN/platform"
