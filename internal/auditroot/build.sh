#!/usr/bin/env bash
# Builds (once) a Debian 13 (trixie) root holding the auditors and the
# servers they audit: ssh-audit 3.3 (with OpenSSH 9.9/10 hardening policies),
# OpenSSH 10's sshd, testssl.sh 3.2 (which grades) and nginx 1.26 with
# OpenSSL 3.5 (the hybrid ML-KEM group). Debian 12 ships only ssh-audit 2.5
# and testssl.sh 3.0, which know neither.
#
# The root is cached under $KILN_AUDIT_CACHE (default /var/cache/kiln-audit)
# in a directory named after a hash of this script, so changing the package
# list rebuilds it and nothing else does. The host's apt lists are never
# touched: mmdebstrap keeps its own. Needs root (chroot, device nodes).
#
#   build.sh          build when missing, print the root's path
#   build.sh --check  print the root's path when built; exit 3 when not
set -euo pipefail

suite=trixie
packages=openssh-server,openssh-client,ssh-audit,testssl.sh,nginx,openssl,ca-certificates,procps
cache="${KILN_AUDIT_CACHE:-/var/cache/kiln-audit}"
# The mirror the host uses (CI and this machine reach only that one).
mirror="${KILN_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
	mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
	mirror="${mirror:-http://deb.debian.org/debian}"
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# The key covers this script (its package list and steps), not the mirror:
# the same packages from another mirror are the same root.
key=$(sha256sum "$0" | cut -c1-16)
root="$cache/$suite-$key"

if [ -f "$root/.kiln-complete" ]; then
	echo "$root"
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "audit root not built: run sudo bash $0" >&2
	exit 3
fi

mkdir -p "$cache"
# Built beside its final place and renamed when complete, so a test never
# sees half a root; a leftover from a killed run is removed first.
tmp="$root.tmp"
rm -rf "$tmp"
mmdebstrap --quiet --variant=apt --include="$packages" \
	--customize-hook='chroot "$1" ssh-audit --help >/dev/null' \
	"$suite" "$tmp" "deb [signed-by=$keyring] $mirror $suite main" >&2
# The servers run as root inside the root with their own privilege
# separation directory; host keys are made by each test.
mkdir -p "$tmp/run/sshd"
rm -f "$tmp"/etc/ssh/ssh_host_*
touch "$tmp/.kiln-complete"
mv "$tmp" "$root"
# Older roots of this script are garbage now.
find "$cache" -mindepth 1 -maxdepth 1 -name "$suite-*" ! -name "$suite-$key" -exec rm -rf {} +
echo "$root"
