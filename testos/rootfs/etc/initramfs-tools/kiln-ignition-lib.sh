# Shared by the kiln test OS's initramfs scripts (sourced, not run).
#
# What FCOS does with systemd units in a dracut initramfs, the test OS does
# with two initramfs-tools scripts around the root mount:
#   local-premount: boot-disk link, user.ign, GPT setup, Ignition fetch-offline,
#                   kargs and disks, root grown up to the next partition;
#   local-bottom:   Ignition mount, files and umount on the mounted root, then
#                   ignition.firstboot and the embedded config are removed.
# Differences from FCOS, on purpose or by necessity: no SELinux relabel (Debian
# has no policy loaded), no networking in the initramfs (a config that needs
# the network for fetch fails loudly), no ostree, root is ext4 (FCOS: xfs) and
# filesystem UUIDs are not randomised on first boot.

KILN_RUN=/run/kiln-testos
KILN_BOOT=$KILN_RUN/boot
KILN_LOG=$KILN_RUN/ignition.log

kiln_log() {
	mkdir -p "$KILN_RUN"
	echo "kiln-testos: $*" | tee -a "$KILN_LOG" >/dev/console
}

# kiln_fail stops the boot the way a failed Ignition stops FCOS's: nothing
# after it runs. With panic=N on the command line initramfs-tools reboots
# (QEMU with -no-reboot then exits, so a test fails fast).
kiln_fail() {
	kiln_log "FAILED: $*"
	panic "kiln-testos first boot failed: $*"
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
# boot partition. Debian's GRUB has no blscfg (a Fedora patch), so the test
# OS's grub.cfg cannot read the entry that kiln rewrites per platform; this
# initramfs reads it instead.
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
	# Ignition's own log goes to the console (the VM's serial log) and to a
	# file that the real root keeps in /run after switch-root.
	if ! ignition -platform "$KILN_PLATFORM" -stage "$stage" -root "${rootmnt:-/root}" -log-to-stdout >>"$KILN_LOG" 2>&1; then
		tail -n 40 "$KILN_LOG" >/dev/console
		kiln_fail "ignition stage $stage"
	fi
}
