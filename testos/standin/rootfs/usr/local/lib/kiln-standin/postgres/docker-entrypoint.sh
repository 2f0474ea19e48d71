#!/bin/bash
# Stand-in for the entrypoint of the official postgres image (alpine), on
# Debian's PostgreSQL 17. It keeps the parts kiln's postgres unit relies on:
#   - started as root, it creates PGDATA and /var/run/postgresql, gives them
#     to postgres (uid 70, as on Alpine) and drops to that user;
#   - POSTGRES_PASSWORD, POSTGRES_USER, POSTGRES_DB and POSTGRES_INITDB_ARGS,
#     each also as *_FILE (a file holding the value, e.g. a Podman secret);
#   - on an empty PGDATA: initdb with that superuser and password, a
#     temporary server started with the container's own arguments (so
#     config_file and hba_file apply) on no TCP address, the database
#     created, /docker-entrypoint-initdb.d/*.sql and *.sh run, the server
#     stopped; then `exec "$@"`.
# Not reproduced: POSTGRES_HOST_AUTH_METHOD and POSTGRES_INITDB_WALDIR, *.sql.gz
# and other compressed init scripts, the appended "host all all all" line in
# PGDATA/pg_hba.conf (kiln passes its own hba_file), and the image's
# build (Alpine musl, PostgreSQL 17.6 with ICU, vs Debian's 17 with glibc).
set -Eeo pipefail

# file_env VAR [DEFAULT] sets VAR from VAR or from the file VAR_FILE names;
# both at once is an error, as in the real image.
file_env() {
	local var=$1 file_var=${1}_FILE def=${2:-} val=$2
	if [ "${!var:-}" ] && [ "${!file_var:-}" ]; then
		printf >&2 'error: both %s and %s are set (but are exclusive)\n' "$var" "$file_var"
		exit 1
	fi
	if [ "${!var:-}" ]; then
		val=${!var}
	elif [ "${!file_var:-}" ]; then
		val=$(<"${!file_var}")
	fi
	export "$var"="${val:-$def}"
	unset "$file_var"
}

# An option as the first argument means "postgres with these options".
if [ "${1:0:1}" = - ]; then
	set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA"
	chmod 00700 "$PGDATA" || :
	find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
	mkdir -p /var/run/postgresql
	chmod 03775 /var/run/postgresql || :
	find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	if [ -z "$POSTGRES_PASSWORD" ]; then
		echo >&2 'error: Database is uninitialized and superuser password is not specified (POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE).'
		exit 1
	fi
	mkdir -p "$PGDATA"
	chmod 00700 "$PGDATA"
	# Word-split like the real image: POSTGRES_INITDB_ARGS is a shell fragment.
	eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"

	shift
	PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@" -c listen_addresses= -p "${PGPORT:-5432}")" -w start
	psql_() { PGPASSWORD=$POSTGRES_PASSWORD psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc -p "${PGPORT:-5432}" "$@"; }
	if [ "$POSTGRES_DB" != postgres ]; then
		exists=$(psql_ --dbname postgres --set db="$POSTGRES_DB" --tuples-only <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")
		if [ -z "${exists// /}" ]; then
			psql_ --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
		fi
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case $f in
		*.sh) echo "running $f"; . "$f" ;;
		*.sql) echo "running $f"; psql_ --dbname "$POSTGRES_DB" -f "$f" ;;
		*) if [ -e "$f" ]; then echo "ignoring $f"; fi ;;
		esac
	done
	PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -m fast -w stop
	echo 'PostgreSQL init process complete; ready for start up.'
	set -- postgres "$@"
fi

exec "$@"
