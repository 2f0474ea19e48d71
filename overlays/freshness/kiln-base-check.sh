#!/bin/sh
# kiln-base-check: how old is this server's Fedora CoreOS release, and does
# its stream have a newer one? Writes node-exporter textfile metrics.
#
# An immutable server only gets kernel and OpenSSH fixes through a rebuild
# (Zincati is off), so its operators need to see when one is due.
# Environment: KILN_BASE_STREAM, KILN_TEXTFILE_DIR; for tests also
# KILN_BASE_STREAM_URL, KILN_OS_RELEASE, KILN_ARCH and KILN_NOW (epoch).
set -eu

stream="${KILN_BASE_STREAM:?}"
dir="${KILN_TEXTFILE_DIR:?}"
url="${KILN_BASE_STREAM_URL:-https://builds.coreos.fedoraproject.org/streams/$stream.json}"
os_release="${KILN_OS_RELEASE:-/etc/os-release}"
arch="${KILN_ARCH:-$(uname -m)}"
now="${KILN_NOW:-$(date -u +%s)}"

# FCOS versions read MAJOR.YYYYMMDD.STREAM.N: the build day is in the name.
built_at() {
	day=$(printf '%s\n' "$1" | cut -d. -f2)
	date -u -d "$day" +%s
}

current=$(sed -n "s/^OSTREE_VERSION=['\"]\{0,1\}\([^'\"]*\)['\"]\{0,1\}\$/\1/p" "$os_release")
if [ -z "$current" ]; then
	echo "kiln-base-check: no OSTREE_VERSION in $os_release" >&2
	exit 1
fi
built=$(built_at "$current")

tmp=$(mktemp "$dir/.kiln_base.prom.XXXXXX")
trap 'rm -f "$tmp"' EXIT
{
	echo "# HELP kiln_base_release_timestamp_seconds Build day of the Fedora CoreOS release this server runs."
	echo "# TYPE kiln_base_release_timestamp_seconds gauge"
	echo "kiln_base_release_timestamp_seconds{stream=\"$stream\",release=\"$current\"} $built"
	echo "# HELP kiln_base_release_age_seconds Age of that release when last checked."
	echo "# TYPE kiln_base_release_age_seconds gauge"
	echo "kiln_base_release_age_seconds{stream=\"$stream\",release=\"$current\"} $((now - built))"
} >"$tmp"

ok=0
# A failed fetch still leaves the age (known without the network) and says
# the check failed, so a server cut off from Fedora is noticed too.
if meta=$(curl -fsSL --max-time 60 --retry 3 "$url") &&
	latest=$(printf '%s' "$meta" | jq -er --arg a "$arch" '.architectures[$a].artifacts.metal.release') &&
	latest_built=$(built_at "$latest"); then
	newer=0
	if [ "$latest" != "$current" ] &&
		[ "$(printf '%s\n%s\n' "$current" "$latest" | sort -V | tail -n1)" = "$latest" ]; then
		newer=1
	fi
	{
		echo "# HELP kiln_base_latest_release_timestamp_seconds Build day of the stream's current release."
		echo "# TYPE kiln_base_latest_release_timestamp_seconds gauge"
		echo "kiln_base_latest_release_timestamp_seconds{stream=\"$stream\",release=\"$latest\"} $latest_built"
		echo "# HELP kiln_base_newer_available 1 when the stream has a newer release than this server runs."
		echo "# TYPE kiln_base_newer_available gauge"
		echo "kiln_base_newer_available{stream=\"$stream\",release=\"$current\",latest=\"$latest\"} $newer"
	} >>"$tmp"
	ok=1
else
	echo "kiln-base-check: cannot read the current release of stream $stream from $url" >&2
fi
{
	echo "# HELP kiln_base_check_success 1 when the last check read the stream metadata."
	echo "# TYPE kiln_base_check_success gauge"
	echo "kiln_base_check_success $ok"
	echo "# HELP kiln_base_check_timestamp_seconds When the last check ran."
	echo "# TYPE kiln_base_check_timestamp_seconds gauge"
	echo "kiln_base_check_timestamp_seconds $now"
} >>"$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$dir/kiln_base.prom"
trap - EXIT
[ "$ok" = 1 ]
