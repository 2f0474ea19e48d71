#!/bin/sh
# Applied to the stand-in root after mmdebstrap (argument: the root). It
# gives the service users the numeric ids of the real images, because kiln's
# units hand secrets to those ids (Secret=…,uid=70) and the data volumes keep
# files owned by them: Alpine's postgres is 70:70, redis 999:1000 and nginx
# 101:101, where Debian's packages picked the next free system ids.
# local is not POSIX, but dash (Debian's sh) and bash have it.
set -eu
root=$1

# ent DB KEY prints the matching line of the root's passwd or group file.
ent() { chroot "$root" getent "$1" "$2" || true; }

# free DB prints an unused system id, counting down from 899, for a user
# or group that stands where a fixed id has to go.
free() {
	local i=899
	while [ -n "$(ent "$1" "$i")" ]; do i=$((i - 1)); done
	echo "$i"
}

# regroup NAME GID moves a group to GID (creating it if needed) and re-owns
# its files; a group already holding GID is moved out of the way first.
regroup() {
	local name=$1 gid=$2 holder old
	holder=$(ent group "$gid" | cut -d: -f1)
	[ "$holder" = "$name" ] && return 0
	if [ -n "$holder" ]; then regroup "$holder" "$(free group)"; fi
	old=$(ent group "$name" | cut -d: -f3)
	if [ -z "$old" ]; then
		chroot "$root" groupadd -g "$gid" "$name"
		return 0
	fi
	chroot "$root" groupmod -g "$gid" "$name"
	find "$root" -xdev -gid "$old" -exec chgrp -h "$gid" {} +
}

# reuser NAME UID GID moves a user to UID with primary group GID (creating
# it if needed) and re-owns its files, moving a user holding UID away first.
reuser() {
	local name=$1 uid=$2 gid=$3 holder old
	holder=$(ent passwd "$uid" | cut -d: -f1)
	if [ -n "$holder" ] && [ "$holder" != "$name" ]; then
		reuser "$holder" "$(free passwd)" "$(ent passwd "$holder" | cut -d: -f4)"
	fi
	old=$(ent passwd "$name" | cut -d: -f3)
	if [ -z "$old" ]; then
		chroot "$root" useradd -r -M -u "$uid" -g "$gid" -d /nonexistent -s /usr/sbin/nologin "$name"
		return 0
	fi
	chroot "$root" usermod -u "$uid" -g "$gid" "$name"
	if [ "$old" != "$uid" ]; then
		find "$root" -xdev -uid "$old" -exec chown -h "$uid" {} +
	fi
}

regroup postgres 70
reuser postgres 70 70
regroup redis 1000
reuser redis 999 1000
regroup nginx 101
reuser nginx 101 101

# No cluster of Debian's own: the postgres stand-in's entrypoint runs initdb
# in PGDATA, as the real image does.
rm -rf "$root"/var/lib/postgresql/17 "$root"/etc/postgresql/17

# Alpine's nginx keeps its temporary files under /var/cache/nginx (kiln
# mounts a tmpfs there, the rest of the container is read-only); Debian's
# nginx is built with /var/lib/nginx. Pointing one at the other keeps the
# writable place where kiln's unit puts it. Its default log files go to the
# container's output, as the real image links them.
rm -rf "$root/var/lib/nginx"
ln -s ../cache/nginx "$root/var/lib/nginx"
mkdir -p "$root/var/log/nginx"
ln -sf /dev/stdout "$root/var/log/nginx/access.log"
ln -sf /dev/stderr "$root/var/log/nginx/error.log"

# The working directories of the real images exist in the root, so that an
# image's WORKDIR adds no layer of its own.
mkdir -p "$root/data" "$root/prometheus" "$root/alertmanager"
chown 999:1000 "$root/data"
chown 65534:65534 "$root/prometheus" "$root/alertmanager"

# Not needed by any stand-in, and a third of the root: PostgreSQL's JIT
# (LLVM; without it PostgreSQL runs without JIT, as it does when jit=off)
# and the command-line tools of Prometheus and Alertmanager.
rm -rf "$root"/usr/lib/postgresql/17/lib/llvmjit* "$root"/usr/lib/postgresql/17/lib/bitcode \
	"$root"/usr/lib/x86_64-linux-gnu/libLLVM* "$root"/usr/lib/x86_64-linux-gnu/libz3.so* \
	"$root"/usr/bin/promtool "$root"/usr/bin/amtool

# Nothing of apt's state is needed at run time.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/*.log "$root"/var/log/apt/*
