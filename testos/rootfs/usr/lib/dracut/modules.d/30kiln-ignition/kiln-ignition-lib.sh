# Shared by the kiln test OS's first-boot scripts (sourced, not run).
#
# FCOS provisions in its initramfs with systemd units from the ignition and
# coreos dracut modules; the test OS does the same work in two units:
#   kiln-ignition-pre  (before the root mount): /dev/disk/by-id/coreos-boot-disk,
#       then on first boot: config.ign -> user.ign, GPT setup, Ignition
#       fetch-offline, kargs and disks, root grown up to the next partition;
#   kiln-ignition-post (root at /sysroot): Ignition mount, files and umount,
#       then ignition.firstboot and the embedded config are removed.
# Differences from FCOS, on purpose or by necessity: no SELinux relabel
# (Debian loads no policy), no networking in the initramfs (a config that
# needs the network for fetch fails loudly), no ostree, root is ext4 (FCOS:
# xfs), filesystem UUIDs are not randomised on first boot, and a failure
# reboots (QEMU -no-reboot then exits) instead of opening an emergency shell.

KILN_RUN=/run/kiln-testos
KILN_BOOT=$KILN_RUN/boot
KILN_LOG=$KILN_RUN/ignition.log
KILN_ROOT=/sysroot
# Where Ignition looks for user.ign (FCOS: /usr/lib/ignition).
export IGNITION_SYSTEM_CONFIG_DIR=$KILN_RUN/system-config

kiln_log() {
	mkdir -p "$KILN_RUN"
	echo "kiln-testos: $*" | tee -a "$KILN_LOG"
}

kiln_fail() {
	kiln_log "FAILED: $*"
	exit 1
}

kiln_firstboot() {
	for arg in $(cat /proc/cmdline); do
		[ "$arg" = ignition.firstboot ] && return 0
	done
	return 1
}

# kiln_platform prints ignition.platform.id: from the kernel command line
# when GRUB passed it, else from the options line of the BLS entry on the
# mounted boot partition. Debian's GRUB has no blscfg (a Fedora patch), so
# the test OS's grub.cfg cannot read the entry that kiln rewrites per
# platform; the initramfs reads it instead.
kiln_platform() {
	for arg in $(cat /proc/cmdline); do
		case "$arg" in ignition.platform.id=*) echo "${arg#*=}"; return ;; esac
	done
	for entry in "$KILN_BOOT"/loader/entries/*.conf; do
		[ -f "$entry" ] || continue
		for arg in $(sed -n 's/^options[[:space:]]//p' "$entry"); do
			case "$arg" in ignition.platform.id=*) echo "${arg#*=}"; return ;; esac
		done
	done
	echo metal
}

kiln_ignition() {
	stage=$1
	kiln_log "ignition stage $stage (platform $KILN_PLATFORM)"
	# Ignition logs to the journal (and so to the console); the file keeps
	# a copy that the real root still has in /run.
	if ! ignition -platform "$KILN_PLATFORM" -stage "$stage" -root "$KILN_ROOT" -log-to-stdout >>"$KILN_LOG" 2>&1; then
		tail -n 40 "$KILN_LOG"
		kiln_fail "ignition stage $stage"
	fi
}
