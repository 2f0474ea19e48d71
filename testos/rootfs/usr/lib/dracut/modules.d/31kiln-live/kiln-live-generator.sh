#!/bin/sh
# On a live boot (coreos.live.rootfs_url= for PXE, coreos.liveiso= for the
# ISO) the disk boot's first-boot units must not run: they wait for a
# partition labelled boot that a live machine does not have. Masked in the
# early generator directory, before the boot transaction is computed.
early=${2:-/run/systemd/generator.early}
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	coreos.live.rootfs_url=* | coreos.liveiso=*)
		mkdir -p "$early"
		ln -sf /dev/null "$early/kiln-ignition-pre.service"
		ln -sf /dev/null "$early/kiln-ignition-post.service"
		exit 0
		;;
	esac
done
