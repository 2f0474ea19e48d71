#!/usr/bin/env bash
# Builds the kiln test OS: a Debian 13 (trixie) system laid out like a
# Fedora CoreOS metal raw image, so `kiln build --base-image` takes it
# unchanged and QEMU boots it from its own disk (GRUB in BIOS-BOOT). Its
# initramfs (dracut, with systemd) runs the real Ignition engine on first
# boot, as FCOS's does.
#
#   testos/build.sh            writes testos/out/testos-metal.raw and, from
#                              the same root, the live files: the PXE base
#                              directory testos/out/testos-live-pxe/ and the
#                              live ISO testos/out/testos-live.iso
#
# Environment: TESTOS_OUT (output directory), TESTOS_CACHE (a cache shared by
# every clone on the machine, default /var/cache/kiln-testos), TESTOS_MIRROR
# (Debian mirror, default: the host's), GO. Needs root, mmdebstrap, sgdisk,
# mkfs.ext4, mkfs.vfat, a loop device (for grub-install only), and for the
# live files mksquashfs, grub-mkrescue (with grub-pc-bin) and xorriso.
#
# Disk layout (FCOS metal): p1 BIOS-BOOT 1 MiB, p2 EFI-SYSTEM vfat 127 MiB,
# p3 boot ext4 384 MiB at 129 MiB, p4 root ext4 (FCOS: xfs) sized to its
# contents plus room; first boot grows root up to the next partition.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
out=${TESTOS_OUT:-$here/out}
cache=${TESTOS_CACHE:-/var/cache/kiln-testos}
suite=trixie
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mirror=${TESTOS_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}
GO=${GO:-go}
image=testos-metal.raw
# Fixed so the layout is the same on every build (kiln's reproducibility
# tests compare outputs built from one base).
disk_guid=6b696c6e-7465-4000-8000-000000000000
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH

log() { printf 'testos: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap into a directory, chroot, loop devices)"
for t in mmdebstrap sgdisk mkfs.ext4 mkfs.vfat losetup sha256sum mksquashfs grub-mkrescue xorriso; do
	command -v "$t" >/dev/null || die "$t is missing (apt-get install mmdebstrap gdisk e2fsprogs dosfstools mount squashfs-tools grub-common grub-pc-bin xorriso)"
done
[ -d /usr/lib/grub/i386-pc ] || die "GRUB's BIOS modules are missing (apt-get install grub-pc-bin)"
# What is cached and reused together: the metal image and the live files.
# The release in the live names is what kiln reads a live base's release
# from (FCOS: fedora-coreos-RELEASE-live-kernel.x86_64, volume id
# fedora-coreos-RELEASE), so it is the FCOS release the test OS stands in
# for, as in the BLS title below.
fcos_release=42.20251012.3.0
pxe_dir=testos-live-pxe
live_iso=testos-live.iso
outputs="$image $pxe_dir $live_iso"
mkdir -p "$out" "$cache"

# 1. The Ignition engine for the initramfs, built from the version tools/
#    pins. Unlike bin/ignition (which applies configs to scratch
#    directories) it keeps FCOS's defaults, except the SELinux relabel:
#    Debian runs without a policy.
ign="$out/ignition"
log "building Ignition from tools/"
(cd "$repo/tools" && CGO_ENABLED=1 "$GO" build -trimpath \
	-ldflags "-buildid= -X github.com/coreos/ignition/v2/internal/distro.selinuxRelabel=false" \
	-o "$ign.tmp" github.com/coreos/ignition/v2/internal)
mv "$ign.tmp" "$ign"

# 2. Everything the image is made from, hashed: when nothing changed the
#    image in out/ or in the shared cache is reused.
rootfs_hash=$( { echo "$suite"; sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/packages" | grep -v '^$'; } | sha256sum | cut -c1-16)
inputs_hash=$( {
	echo "$rootfs_hash"
	sha256sum "$here/build.sh" "$here/grub.cfg" "$here/standins" "$ign" | cut -d' ' -f1
	(cd "$here" && find standin \( -type f -o -type l \) ! -name '*_test.go' | LC_ALL=C sort | while read -r f; do
		printf '%s ' "$f"; if [ -L "$f" ]; then readlink "$f"; else stat -c %a "$f"; sha256sum <"$f"; fi
	done)
	(cd "$here/rootfs" && find . -type f -o -type l | LC_ALL=C sort | while read -r f; do
		printf '%s ' "$f"; if [ -L "$f" ]; then readlink "$f"; else stat -c %a "$f"; sha256sum <"$f"; fi
	done)
} | sha256sum | cut -c1-16)

have_outputs() { # have_outputs DIR: every output is in DIR
	for o in $outputs; do [ -e "$1/$o" ] || return 1; done
}
if have_outputs "$out" && [ "$(cat "$out/$image.hash" 2>/dev/null)" = "$inputs_hash" ]; then
	log "$out/$image and the live files are up to date ($inputs_hash)"
	exit 0
fi
if have_outputs "$cache/$inputs_hash"; then
	log "copying $outputs from $cache/$inputs_hash"
	rm -f "$out/$image.hash"
	for o in $outputs; do
		rm -rf "$out/$o.tmp"
		cp -r --sparse=always "$cache/$inputs_hash/$o" "$out/$o.tmp"
		rm -rf "$out/$o"
		mv "$out/$o.tmp" "$out/$o"
	done
	echo "$inputs_hash" >"$out/$image.hash"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/kiln-testos.XXXXXX")
loop=""
standin_pid=""
cleanup() {
	set +e
	if [ -n "$standin_pid" ] && kill -0 "$standin_pid" 2>/dev/null; then
		pkill -P "$standin_pid"
		kill "$standin_pid"
		wait "$standin_pid"
		rm -f "$standin_tar.tmp"
	fi
	for m in "$work/root/mnt" "$work/root/sys" "$work/root/proc" "$work/root/dev" "$work/root"; do
		mountpoint -q "$m" && umount -l "$m"
	done
	[ -n "$loop" ] && losetup -d "$loop"
	rm -rf "$work" "$out/$image.tmp" "$out/$pxe_dir.tmp" "$out/$live_iso.tmp"
}
trap cleanup EXIT

# 3. The root filesystem from Debian packages, cached on its own (keyed by
#    the package list only) because it is the slow step (~6 minutes). The
#    stand-in images' root (standin/packages) is cached the same way and
#    made at the same time, in the background: mmdebstrap mostly waits for
#    the mirror and for dpkg, one core each.
standin_hash=$( { echo "$suite"; sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/standin/packages" | grep -v '^$'; } | sha256sum | cut -c1-16)
standin_tar="$cache/standin-$suite-$standin_hash.tar"
if [ ! -f "$standin_tar" ]; then
	log "mmdebstrap $suite for the stand-in images"
	(mmdebstrap --variant=essential --format=tar --include="$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/standin/packages" | grep -v '^$' | paste -sd,)" \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
		"$suite" "$standin_tar.tmp" "deb [signed-by=$keyring] $mirror $suite main" >"$work/standin-mmdebstrap.log" 2>&1 &&
		mv "$standin_tar.tmp" "$standin_tar") &
	standin_pid=$!
fi
rootfs_tar="$cache/rootfs-$suite-$rootfs_hash.tar"
if [ ! -f "$rootfs_tar" ]; then
	packages=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/packages" | grep -v '^$' | paste -sd,)
	log "mmdebstrap $suite from $mirror"
	mmdebstrap --variant=apt --format=tar --include="$packages" "$suite" "$rootfs_tar.tmp" \
		"deb [signed-by=$keyring] $mirror $suite main"
	mv "$rootfs_tar.tmp" "$rootfs_tar"
fi
root="$work/root"
mkdir -p "$root"
tar -C "$root" --numeric-owner -xpf "$rootfs_tar"

# 4. The test OS's own files, then what needs the system's tools (chroot).
cp -a --no-preserve=ownership "$here/rootfs/." "$root/"
install -D -m 0755 "$ign" "$root/usr/lib/kiln-testos/ignition"
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
# As on FCOS: sshd is a service (so the Port of kiln's drop-in counts), no
# static ruleset is loaded by nftables.service (kiln loads its own), and the
# Podman API socket is off. A getty on the serial console calls vhangup,
# after which the journal copies on the console stop; the test OS has no
# console login. dracut builds the initramfs with the test OS's first-boot
# module (usr/lib/dracut/modules.d/30kiln-ignition).
chroot "$root" /bin/sh -euc '
	systemctl enable systemd-networkd.service systemd-resolved.service ssh.service
	systemctl disable ssh.socket nftables.service podman.socket
	systemctl mask serial-getty@ttyS0.service
	echo localhost >/etc/hostname
	for k in /boot/vmlinuz-*; do
		v=${k#/boot/vmlinuz-}
		dracut --force --kver "$v" "/boot/initrd.img-$v"
	done
'
# Stand-in images (standins, standin/): one Debian 13 root with the
# packages of every stand-in, imported once with the trixie Podman of the
# image itself (so the storage is in the format the test OS reads), and one
# image per reference built from standin/images/NAME.Containerfile (or the
# Go server's, go-standin.Containerfile, for a NAME without one). The
# Containerfiles have no RUN step: they only set the entrypoint, command,
# user and environment, so building needs no container runtime and every
# image shares the root's one layer. Podman unpacks layers through a
# remount of /, so the chroot's root must be a mount point.
log "stand-in images (testos/standins, testos/standin)"
CGO_ENABLED=0 "$GO" build -C "$repo" -trimpath -ldflags "-s -w -buildid=" -o "$work/standin" ./testos/standin
CGO_ENABLED=0 "$GO" build -C "$here/standin/digest" -trimpath -ldflags "-s -w -buildid=" \
	-tags "exclude_graphdriver_btrfs containers_image_openpgp" -o "$root/tmp/standin-digest" .
if [ -n "$standin_pid" ]; then
	wait "$standin_pid" || { cat "$work/standin-mmdebstrap.log" >&2; die "mmdebstrap of the stand-in root failed"; }
fi
mkdir -p "$work/si"
tar -C "$work/si" --numeric-owner -xpf "$standin_tar"
sh "$here/standin/customize.sh" "$work/si"
cp -a --no-preserve=ownership "$here/standin/rootfs/." "$work/si/"
install -D -m 0755 "$work/standin" "$work/si/usr/local/bin/kiln-standin"
tar -C "$work/si" --numeric-owner --mtime=@"$SOURCE_DATE_EPOCH" --sort=name -cf "$root/tmp/standin-root.tar" .
rm -rf "$work/si"
cp -r "$here/standin/images" "$root/tmp/standin-images"
umount "$root/sys" "$root/proc" "$root/dev"
mount --bind "$root" "$root"
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
# podman runs in the chroot with a quiet environment; a failed step prints
# what Podman said.
podman_() {
	chroot "$root" env PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman "$@" >"$work/podman.out" 2>&1 ||
		{ cat "$work/podman.out" >&2; die "podman $*"; }
}
build_() { # build_ REFERENCE CONTAINERFILE [ARG…]
	local ref=$1 file=$2
	shift 2
	[ -f "$here/standin/images/$file" ] || die "standin/images/$file is missing (for $ref)"
	# --no-cache: Podman's layer cache takes the Go server's Containerfile
	# built with other --build-arg values for the same image, and every Go
	# stand-in would then be the first one built (seen: loki listening as
	# the backend on :8080).
	podman_ build --pull=never --network=none --no-cache -f "/tmp/standin-images/$file" -t "$ref" "$@" /tmp/standin-images
}
podman_ import --quiet /tmp/standin-root.tar localhost/kiln-standin:root
sed -e 's/#.*//' "$here/standins" | while read -r ref name listen dial; do
	[ -n "$ref" ] || continue
	if [ -f "$here/standin/images/$name.Containerfile" ]; then
		build_ "$ref" "$name.Containerfile"
	else
		[ "$dial" = - ] && dial=
		build_ "$ref" go-standin.Containerfile --build-arg NAME="$name" --build-arg LISTEN="$listen" --build-arg DIAL="$dial"
		podman_ image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$ref"
		grep -qx "STANDIN_NAME=$name" "$work/podman.out" || die "$ref: the stand-in image is not configured as $name: $(cat "$work/podman.out")"
	fi
done
# kiln pins its own images by digest; Podman finds a pinned reference only
# among an image's recorded digests, so the stand-in gets the pinned one.
sed -e 's/#.*//' "$here/standin/jobs" | while read -r ref digest name; do
	[ -n "$ref" ] || continue
	build_ "$ref" "$name.Containerfile"
	chroot "$root" /tmp/standin-digest "$ref" "$digest" || die "recording $digest on $ref"
	podman_ image exists "$ref@$digest"
done
podman_ untag localhost/kiln-standin:root
rm -rf "$root/tmp/standin-root.tar" "$root/tmp/standin-images" "$root/tmp/standin-digest"
umount "$root/sys" "$root/proc" "$root/dev"
umount "$root"
# FCOS generates host keys (sshd-keygen.service) and the machine id on first
# boot; an uninitialized machine id also makes systemd apply the presets
# Ignition wrote.
rm -f "$root"/etc/ssh/ssh_host_* "$root/var/lib/dbus/machine-id" "$root"/initrd.img.old "$root"/vmlinuz.old
echo uninitialized >"$root/etc/machine-id"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb

# 5. The boot partition's tree: kernel, initramfs, a BLS entry as FCOS has
#    one (behind the loader symlink), grub.cfg and ignition.firstboot.
kver=$(basename "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)")
kver=${kver#vmlinuz-}
boot="$work/boot"
mkdir -p "$boot/loader.1/entries" "$boot/grub"
ln -s loader.1 "$boot/loader"
mv "$root/boot/vmlinuz-$kver" "$boot/vmlinuz-$kver"
mv "$root/boot/initrd.img-$kver" "$boot/initrd.img-$kver"
rm -rf "$root"/boot/*
rm -f "$root/vmlinuz" "$root/initrd.img"
# The title names the FCOS release the test OS stands in for, where kiln
# reads a base's release (FCOS: "Fedora CoreOS 42.… (ostree:0)"), so the
# spec's base.release is checked as on a real base: FCOS 42 has the same
# systemd (257) and Podman (5.4) generation; its OpenSSH is 9.9, whose
# algorithm lists Debian 13's OpenSSH 10.0 accepts.
cat >"$boot/loader.1/entries/testos-1.conf" <<EOF
title kiln test OS (Debian 13, $kver) standing in for Fedora CoreOS $fcos_release
version 1
options ignition.platform.id=metal \$ignition_firstboot root=LABEL=root rw console=tty0 console=ttyS0,115200n8 tsc=reliable
linux /vmlinuz-$kver
initrd /initrd.img-$kver
EOF
sed -e "s|@KERNEL@|vmlinuz-$kver|" -e "s|@INITRD@|initrd.img-$kver|" "$here/grub.cfg" >"$boot/grub/grub.cfg"
: >"$boot/ignition.firstboot"

# 6. The disk: GPT as FCOS's metal image has it, filesystems made from the
#    trees (mkfs -d needs no mounts), GRUB installed through a loop device.
MiB=$((1024 * 1024))
root_used=$(du -sm --apparent-size "$root" | cut -f1)
root_mib=$((root_used * 13 / 10 + 1024))
disk_mib=$((129 + 384 + root_mib + 1))
log "disk ${disk_mib} MiB (root ${root_mib} MiB for ${root_used} MiB of files)"
truncate -s $((disk_mib * MiB)) "$out/$image.tmp"
sgdisk -U "$disk_guid" \
	-n 1:2048:+1M -t 1:EF02 -c 1:BIOS-BOOT -u 1:6b696c6e-7465-4000-8000-000000000001 \
	-n 2:4096:+127M -t 2:EF00 -c 2:EFI-SYSTEM -u 2:6b696c6e-7465-4000-8000-000000000002 \
	-n 3:$((129 * 2048)):+384M -t 3:8300 -c 3:boot -u 3:6b696c6e-7465-4000-8000-000000000003 \
	-n 4:$((513 * 2048)):0 -t 4:8300 -c 4:root -u 4:6b696c6e-7465-4000-8000-000000000004 \
	"$out/$image.tmp" >/dev/null
truncate -s $((127 * MiB)) "$work/esp.img"
mkfs.vfat -F 32 -n EFI-SYSTEM -i 6b696c6e "$work/esp.img" >/dev/null
dd if="$work/esp.img" of="$out/$image.tmp" bs=1M seek=2 conv=notrunc,sparse status=none
# The boot filesystem gets FCOS's features (metadata_csum, which kiln's
# writer requires, and no orphan_file, which kiln's reader does not know).
truncate -s $((384 * MiB)) "$work/boot.img"
mkfs.ext4 -q -F -L boot -O metadata_csum,64bit,extent,huge_file,flex_bg,dir_nlink,extra_isize,resize_inode,^orphan_file \
	-U 6b696c6e-7465-4000-8000-0000000000b0 -E root_owner=0:0 -d "$boot" "$work/boot.img"
dd if="$work/boot.img" of="$out/$image.tmp" bs=1M seek=129 conv=notrunc,sparse status=none
root_bytes=$(( (disk_mib - 513 - 1) * MiB ))
truncate -s "$root_bytes" "$work/root.img"
mkfs.ext4 -q -F -L root -U 6b696c6e-7465-4000-8000-0000000000c0 -E root_owner=0:0 -d "$root" "$work/root.img"
dd if="$work/root.img" of="$out/$image.tmp" bs=1M seek=513 conv=notrunc,sparse status=none
rm -f "$work/esp.img" "$work/boot.img" "$work/root.img"

# GRUB through a loop device: grub-install (Debian 13's, in the chroot)
# writes core.img into BIOS-BOOT and its modules next to grub.cfg. partx
# adds the partitions because a loop device's own partition scan does not
# run in every container.
loop=$(losetup --show -f "$out/$image.tmp")
partx -a "$loop"
mount "${loop}p3" "$root/mnt"
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
chroot "$root" grub-install --target=i386-pc --boot-directory=/mnt --modules="part_gpt ext2" "$loop" >&2
umount "$root/sys" "$root/proc" "$root/dev" "$root/mnt"
partx -d "$loop"
losetup -d "$loop"
loop=""
e2fsck -fn "$out/$image.tmp?offset=$((129 * MiB))" >/dev/null || die "boot filesystem is not clean"
sgdisk -v "$out/$image.tmp" | grep -q 'No problems found' || die "sgdisk -v finds problems in the GPT"

# 7. The live files, from the same root, kernel and initramfs (whose
#    kiln-live module does the live boot: rootfs/usr/lib/dracut/modules.d/
#    31kiln-live): FCOS's PXE names, so that the directory is a base PXE
#    directory to kiln, and a live ISO laid out as FCOS's.
log "live files: squashfs of the root, PXE directory, ISO"
rm -rf "$out/$pxe_dir.tmp" "$out/$live_iso.tmp"
mkdir -p "$out/$pxe_dir.tmp"
live=testos-$fcos_release-live
cp "$boot/vmlinuz-$kver" "$out/$pxe_dir.tmp/$live-kernel.x86_64"
cp "$boot/initrd.img-$kver" "$out/$pxe_dir.tmp/$live-initramfs.x86_64.img"
# dracut writes the initramfs 0600; a TFTP or HTTP server must read it.
chmod 0644 "$out/$pxe_dir.tmp/$live-initramfs.x86_64.img"
# zstd: the kernel reads it, and it unpacks faster than xz under an
# emulator. mksquashfs takes its times from SOURCE_DATE_EPOCH (exported
# above), so two builds of one root are the same.
mksquashfs "$root" "$out/$pxe_dir.tmp/$live-rootfs.x86_64.img" -noappend -quiet -no-progress -comp zstd >&2
# The ISO: images/pxeboot/{vmlinuz,initrd.img,rootfs.img}, the 256 KiB
# zero embed area images/ignition.img that coreos/igninfo.json names, and
# the kernel-argument area that coreos/kargs.json names in GRUB's config.
# The volume id is what coreos.liveiso names (FCOS: fedora-coreos-RELEASE).
# GRUB (grub-mkrescue, BIOS El Torito) loads the embed area as a second
# initrd, as FCOS's boot loaders do. kiln writes its arguments into the
# area followed by '#' padding (kargs.json's pad); the area is a GRUB
# string that a regexp cuts at the first '#', since a '#' inside a word is
# not a GRUB comment.
volid=kiln-testos-$fcos_release
kargs_default="coreos.liveiso=$volid ignition.firstboot ignition.platform.id=metal"
kargs_size=1024
iso="$work/iso"
mkdir -p "$iso/images/pxeboot" "$iso/coreos" "$iso/boot/grub"
ln "$out/$pxe_dir.tmp/$live-kernel.x86_64" "$iso/images/pxeboot/vmlinuz"
ln "$out/$pxe_dir.tmp/$live-initramfs.x86_64.img" "$iso/images/pxeboot/initrd.img"
ln "$out/$pxe_dir.tmp/$live-rootfs.x86_64.img" "$iso/images/pxeboot/rootfs.img"
truncate -s $((256 * 1024)) "$iso/images/ignition.img"
echo '{"file":"images/ignition.img"}' >"$iso/coreos/igninfo.json"
pad=$(head -c $((kargs_size - ${#kargs_default})) /dev/zero | tr '\0' '#')
head='# Live ISO of the kiln test OS (testos/build.sh); tsc=reliable and panic=10
# as on the disk image (testos/grub.cfg).
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
insmod regexp
menuentry '"'kiln test OS (live)'"' {
	set kiln_kargs="'
tail='"
	regexp --set 1:kargs '"'^([^#]*)'"' "$kiln_kargs"
	linux /images/pxeboot/vmlinuz $kargs console=tty0 console=ttyS0,115200n8 panic=10 tsc=reliable
	initrd /images/pxeboot/initrd.img /images/ignition.img
}'
printf '%s%s%s%s\n' "$head" "$kargs_default" "$pad" "$tail" >"$iso/boot/grub/grub.cfg"
cat >"$iso/coreos/kargs.json" <<EOF
{"default": "$kargs_default", "files": [{"path": "boot/grub/grub.cfg", "offset": ${#head}, "pad": "#", "end": "\"\n"}], "size": $kargs_size}
EOF
grub-mkrescue -o "$out/$live_iso.tmp" "$iso" -- -volid "$volid" >"$work/grub-mkrescue.log" 2>&1 ||
	{ cat "$work/grub-mkrescue.log" >&2; die "grub-mkrescue"; }
rm -rf "$iso"

# 8. Into place, then into the shared cache (older entries go).
rm -rf "$out/$pxe_dir" "$out/$live_iso"
mv "$out/$pxe_dir.tmp" "$out/$pxe_dir"
mv "$out/$live_iso.tmp" "$out/$live_iso"
mv "$out/$image.tmp" "$out/$image"
echo "$inputs_hash" >"$out/$image.hash"
mkdir -p "$cache/$inputs_hash.tmp"
for o in $outputs; do
	cp -r --sparse=always "$out/$o" "$cache/$inputs_hash.tmp/$o"
done
find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$inputs_hash.tmp" -exec rm -rf {} +
mv "$cache/$inputs_hash.tmp" "$cache/$inputs_hash"
log "wrote $out/$image ($inputs_hash)"
