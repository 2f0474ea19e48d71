#!/bin/sh
# Writes PgBouncer's auth file from the PostgreSQL password secret, then
# starts PgBouncer. The auth file format quotes with double quotes and
# doubles any double quote inside.
set -eu
umask 077
password=$(sed 's/"/""/g' /run/secrets/postgres-password)
printf '"%s" "%s"\n' clipper "$password" > /tmp/pgbouncer-userlist.txt
# The exporter's user: known to PgBouncer only, for its admin console.
password=$(sed 's/"/""/g' /run/secrets/pgbouncer-stats-password)
printf '"%s" "%s"\n' kiln_stats "$password" >> /tmp/pgbouncer-userlist.txt
exec pgbouncer /etc/kiln/pgbouncer/pgbouncer.ini
