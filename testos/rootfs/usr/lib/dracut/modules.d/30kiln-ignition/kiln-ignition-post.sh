#!/bin/bash
# First boot, with the root filesystem at /sysroot (kiln-ignition-post.service).
set -u
. /usr/lib/kiln-testos/kiln-ignition-lib.sh

KILN_PLATFORM=$(cat "$KILN_RUN/platform")
kiln_ignition mount
kiln_ignition files
kiln_ignition umount

# coreos-ignition-firstboot-complete: the next boot must not provision
# again, and the embedded config may carry secrets.
mkdir -p "$KILN_BOOT"
mount -t ext4 /dev/disk/by-label/boot "$KILN_BOOT" || kiln_fail "mount the boot partition read-write"
rm -f "$KILN_BOOT/ignition.firstboot" "$KILN_BOOT/ignition/config.ign"
umount "$KILN_BOOT" || kiln_fail "unmount the boot partition"
kiln_log "first boot provisioning done"
