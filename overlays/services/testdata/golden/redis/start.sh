#!/bin/sh
# Starts Redis with the password from the Podman secret. The password goes
# into a private config file that includes the generated one, never onto a
# command line: argv is readable by every process on the host (/proc), and
# the image's entrypoint runs for a while with it before Redis starts.
# The file lives in the container's own /tmp and is readable only by the
# redis user the entrypoint drops to. Arguments are passed to redis-server.
set -eu
umask 077
conf=$(mktemp "${TMPDIR:-/tmp}/redis-auth.XXXXXX")
# Redis reads "…" with backslash escapes: escape backslashes and quotes.
password=$(sed -e 's/[\\"]/\\&/g' /run/secrets/redis-password)
{
	echo 'include /etc/redis/redis.conf'
	printf 'requirepass "%s"\n' "$password"
} >"$conf"
if [ "$(id -u)" = 0 ]; then
	chown redis:redis "$conf"
fi
exec docker-entrypoint.sh redis-server "$conf" "$@"
