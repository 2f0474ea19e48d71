#!/bin/bash
# A live boot of the kiln test OS (kiln-live.service), doing what FCOS's
# live initramfs does as far as a kiln appliance needs it:
#   1. the root squashfs: PXE fetches coreos.live.rootfs_url over http(s)
#      (DHCP on every wired NIC, then the network is taken down again); the
#      ISO mounts the medium whose volume id coreos.liveiso names and takes
#      images/pxeboot/rootfs.img from it;
#   2. / is that squashfs under a tmpfs overlay, mounted at /sysroot;
#   3. /config.ign, unpacked by the kernel from kiln's config initrd (PXE:
#      appended to the initramfs; ISO: the embed area, images/ignition.img),
#      becomes the user config and the real Ignition engine runs on the live
#      root: fetch-offline, disks, mount, files, umount, with the platform
#      of ignition.platform.id. Nothing is partitioned unless the config
#      says so.
# Differences from FCOS: the rootfs is not checked against the initramfs
# (FCOS compares its hash); only http(s) rootfs URLs, no rootfs appended as
# an initrd; DNS is not configured in the initramfs (give the URL an
# address); no coreos-installer and no persistence of /var (FCOS has none
# either by default); the ISO is not copied to RAM (coreos.liveiso.fromram);
# the root is a plain overlay, not ostree, and Podman's graph root is a
# tmpfs with the image's container storage as a read-only additional image
# store (Podman's overlay driver refuses an overlay root; FCOS's /var is a
# tmpfs of its own).
set -u
. /usr/lib/kiln-testos/kiln-ignition-lib.sh

LIVE=/run/kiln-live
cmdline_arg() { # cmdline_arg NAME: the value of NAME= on the kernel command line
	for arg in $(cat /proc/cmdline); do
		case "$arg" in "$1"=*) echo "${arg#*=}"; return 0 ;; esac
	done
	return 1
}

mkdir -p "$KILN_RUN"
modprobe -a loop squashfs overlay isofs sr_mod >>"$KILN_LOG" 2>&1
mkdir -p "$LIVE/rw" "$LIVE/squash" "$LIVE/media"
mount -t tmpfs -o mode=0755 tmpfs "$LIVE/rw" || kiln_fail "tmpfs for the live root"

if url=$(cmdline_arg coreos.live.rootfs_url); then
	case "$url" in http://* | https://*) ;; *) kiln_fail "coreos.live.rootfs_url=$url: only http and https are fetched" ;; esac
	# systemd-networkd as the DHCP client (it creates its state directory
	# and drops to its own user); the address goes before switch-root.
	mkdir -p /run/systemd/network
	printf '[Match]\nType=ether\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' >/run/systemd/network/10-kiln-live.network
	/usr/lib/systemd/systemd-networkd >>"$KILN_LOG" 2>&1 &
	networkd=$!
	for _ in $(seq 1 60); do
		[ -n "$(ip -4 route show default 2>/dev/null)" ] && break
		sleep 1
	done
	[ -n "$(ip -4 route show default)" ] || kiln_fail "no DHCP lease in 60 s: $(ip -4 addr 2>&1)"
	kiln_log "fetching the live rootfs from $url"
	curl -fsS --retry 5 --retry-connrefused --retry-delay 2 -o "$LIVE/rw/rootfs.img" "$url" ||
		kiln_fail "fetch $url"
	kill "$networkd"
	wait "$networkd" 2>/dev/null
	for link in /sys/class/net/*; do
		n=$(basename "$link")
		[ "$n" = lo ] && continue
		ip addr flush dev "$n"
		ip link set "$n" down
	done
	rm -f /run/systemd/network/10-kiln-live.network
	squashfs=$LIVE/rw/rootfs.img
elif label=$(cmdline_arg coreos.liveiso); then
	dev=""
	for _ in $(seq 1 60); do
		udevadm settle
		if [ -b "/dev/disk/by-label/$label" ]; then
			dev=/dev/disk/by-label/$label
		else
			dev=$(blkid -l -o device -t LABEL="$label" 2>/dev/null) || dev=""
		fi
		[ -n "$dev" ] && break
		sleep 1
	done
	[ -n "$dev" ] || kiln_fail "no medium labelled $label (coreos.liveiso) in 60 s"
	mount -t iso9660 -o ro "$dev" "$LIVE/media" || kiln_fail "mount $dev"
	squashfs=$LIVE/media/images/pxeboot/rootfs.img
	kiln_log "live ISO $label on $dev"
else
	kiln_fail "neither coreos.live.rootfs_url nor coreos.liveiso on the kernel command line"
fi

mount -t squashfs -o ro,loop "$squashfs" "$LIVE/squash" || kiln_fail "mount the rootfs squashfs $squashfs"
mkdir -p "$LIVE/rw/upper" "$LIVE/rw/work"
mount -t overlay overlay -o "lowerdir=$LIVE/squash,upperdir=$LIVE/rw/upper,workdir=$LIVE/rw/work" "$KILN_ROOT" ||
	kiln_fail "overlay root"
# No root or boot partition to mount: the live root is already whole.
printf '# Live boot: / is the squashfs under a tmpfs overlay (kiln-live).\n' >"$KILN_ROOT/etc/fstab"
# Podman's overlay driver refuses a graph root on overlayfs: a tmpfs graph
# root, with the image's stand-in images as a read-only additional store.
store=/usr/lib/kiln-testos/image-store
mkdir -p "$KILN_ROOT$store" "$KILN_ROOT/var/lib/containers/storage"
mount --bind -o ro "$LIVE/squash/var/lib/containers/storage" "$KILN_ROOT$store" || kiln_fail "bind the image store"
mount -t tmpfs -o mode=0700 tmpfs "$KILN_ROOT/var/lib/containers/storage" || kiln_fail "tmpfs graph root"
[ -e "$KILN_ROOT/etc/containers/storage.conf" ] && kiln_fail "/etc/containers/storage.conf exists; the live store setting would replace it"
cat >"$KILN_ROOT/etc/containers/storage.conf" <<CONF
# Written by the live initramfs (kiln-live): the graph root is a tmpfs and
# the images come from the live root's read-only store.
[storage]
driver = "overlay"
graphroot = "/var/lib/containers/storage"
runroot = "/run/containers/storage"

[storage.options]
additionalimagestores = ["$store"]
CONF

# coreos-ignition-setup-user: the embedded config is the user config.
[ -f /config.ign ] || kiln_fail "no /config.ign: the config initrd was not loaded"
mkdir -p "$IGNITION_SYSTEM_CONFIG_DIR" || kiln_fail "mkdir $IGNITION_SYSTEM_CONFIG_DIR"
cp /config.ign "$IGNITION_SYSTEM_CONFIG_DIR/user.ign" || kiln_fail "copy /config.ign"
KILN_PLATFORM=$(cmdline_arg ignition.platform.id) || KILN_PLATFORM=metal
kiln_log "live boot: using /config.ign, platform $KILN_PLATFORM"
kiln_ignition fetch-offline
[ -e /run/ignition/neednet ] && kiln_fail "the config needs the network, which this initramfs does not bring up for Ignition"
kiln_ignition disks
kiln_ignition mount
kiln_ignition files
kiln_ignition umount
# The config may carry secrets: FCOS's copies live in the initramfs and go
# with it at switch-root, but /run (where Ignition reads this one from)
# moves to the real root.
rm -f /config.ign "$IGNITION_SYSTEM_CONFIG_DIR/user.ign"
kiln_log "live root ready"
