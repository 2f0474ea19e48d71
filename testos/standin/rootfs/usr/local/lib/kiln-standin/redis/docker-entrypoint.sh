#!/bin/sh
# Stand-in for the entrypoint of the official redis image (alpine), on
# Debian's Redis 8.0. kiln's start script ends in
# `exec docker-entrypoint.sh redis-server CONF`, and this keeps what that
# relies on: a first argument that is an option or a *.conf file means
# redis-server; started as root, it gives the working directory (/data) to
# redis (uid 999, as on Alpine) and drops to that user; protected mode is
# switched off on the command line unless the config file given first sets
# it itself (the real image's "Docker" default); umask 0077.
# Not reproduced: the real image's build (Redis 8.2 on musl with its bundled
# modules) and its handling of REDIS_* variables of newer releases.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$1" = redis-server ]; then
	protected=1
	if [ -f "${2:-}" ] && grep -q '^protected-mode' "$2"; then
		protected=
	fi
	if [ -n "$protected" ]; then
		set -- "$@" --protected-mode no
	fi
fi

if [ "$(umask)" = 0022 ]; then
	umask 0077
fi
exec "$@"
