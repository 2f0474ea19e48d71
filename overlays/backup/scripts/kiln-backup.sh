#!/bin/bash
# kiln-backup: back up the appliance into its restic repository.
#   kiln-backup init                 create the password and the repository
#   kiln-backup now|<schedule>       dump, base backup, Redis, config; retention
#   kiln-backup wal                  ship archived WAL segments
#   kiln-backup configured           exit 0 when S3 is configured, 1 when
#                                    not (the units' ExecCondition=); keeps
#                                    the configured and WAL spool metrics
#   kiln-backup status               what is configured, the last runs and
#                                    the WAL spool
set -euo pipefail
# shellcheck source=/dev/null
. "${KILN_BACKUP_LIB:-/usr/local/lib/kiln/backup-lib.sh}"

usage() {
	echo "usage: kiln-backup init|now|wal|configured|status|<schedule>" >&2
	exit 2
}

job=""
started=0
prefix=""

# finish records the outcome of whatever ran, so a failure is visible to the
# node exporter and the alert rules, not only in the journal.
finish() {
	local rc=$?
	if [[ -n $job ]]; then
		local ok=1
		((rc == 0)) || ok=0
		metrics_record "$prefix" "$job" "$ok" "${size:-0}" "$(($(date +%s) - started))" || rc=1
		((rc == 0)) || log "$job failed (exit $rc)"
	fi
	exit "$rc"
}
trap finish EXIT

backup() {
	local staging db
	staging=$(staging_dir)
	db=$PGDATABASE
	# Nothing here becomes a snapshot until restic commits it at the end, so
	# a failure at any step leaves the previous snapshot as the latest.
	rm -rf "$staging"
	mkdir -p "$staging"/{db,base,redis,config}
	chmod 0700 "$staging"

	table_counts >"$staging/db/rows.before"
	pg_dump_ -Fc --no-password "$db" >"$staging/db/$db.dump.tmp"
	mv "$staging/db/$db.dump.tmp" "$staging/db/$db.dump"
	table_counts >"$staging/db/rows.after"
	# Counts taken before and after the dump agree when nothing wrote in
	# between; the drill then demands them exactly, otherwise only non-empty.
	local exact=changed
	cmp -s "$staging/db/rows.before" "$staging/db/rows.after" && exact=exact
	awk -F '\t' -v e="$exact" 'BEGIN { OFS = "\t" } { print $1, $2, e }' "$staging/db/rows.after" >"$staging/db/rows.tsv"
	rm -f "$staging/db/rows.before" "$staging/db/rows.after"

	# An uncompressed tar lets restic deduplicate unchanged relation files
	# from one day to the next; restic compresses what it stores.
	pg_basebackup_ --no-password -D - -Ft -X fetch --checkpoint=fast -l "kiln-$job" >"$staging/base/base.tar.tmp"
	mv "$staging/base/base.tar.tmp" "$staging/base/base.tar"

	# redis-cli writes to a file in Redis's own data directory: to stdout it
	# would append the transfer's end marker to the snapshot.
	local rdb="$KILN_REDIS_DATA_DIR/kiln-backup.rdb"
	rm -f "$rdb"
	redis_cli_ --rdb "$KILN_REDIS_DATA_DIR_CLI/kiln-backup.rdb" >"$staging/redis/rdb.log" 2>&1 ||
		die "redis-cli --rdb failed: $(cat "$staging/redis/rdb.log")"
	[[ -s $rdb ]] || die "Redis returned an empty snapshot"
	mv "$rdb" "$staging/redis/dump.rdb"
	rm -f "$staging/redis/rdb.log"

	local dirs d
	read -r -a dirs <<<"$KILN_CONFIG_DIRS"
	for d in "${dirs[@]}"; do
		[[ -d $d ]] || continue
		mkdir -p "$staging/config$d"
		cp -a "$d/." "$staging/config$d/"
	done

	{
		printf 'job\t%s\n' "$job"
		printf 'host\t%s\n' "$KILN_BACKUP_HOST"
		printf 'database\t%s\n' "$db"
		printf 'server_version\t%s\n' "$(psql_ -At -c 'SHOW server_version')"
	} >"$staging/MANIFEST"
	size=$(du -sb "$staging" | cut -f1)

	ensure_repository
	restic_ backup --host "$KILN_BACKUP_HOST" --tag kiln-backup --tag "schedule:$job" \
		--tag kind:db --tag kind:base --tag kind:redis --tag kind:config "$staging"

	# forget and prune need restic's exclusive lock: keep the WAL shipper
	# out meanwhile rather than fail on its lock.
	lock wal 900
	restic_ forget --host "$KILN_BACKUP_HOST" --tag kiln-backup --group-by host \
		--keep-daily "$KILN_KEEP_DAILY" --keep-weekly "$KILN_KEEP_WEEKLY" --keep-monthly "$KILN_KEEP_MONTHLY"
	# Shipped WAL is kept hourly for the PITR window; every WAL snapshot holds
	# the segments since the previous base backup, so one per hour suffices.
	restic_ forget --host "$KILN_BACKUP_HOST" --tag kiln-wal --group-by host \
		--keep-within-hourly "$KILN_WAL_WINDOW" --keep-last 1
	restic_ prune
	unlock_local wal
	rm -rf "$staging"
}

# ship_wal moves finished segments (never *.tmp, which archive_command is
# still writing) out of the spool and backs up the local copy. The copy is
# cumulative back to the previous base backup, so the newest WAL snapshot
# after a point in time holds all it needs to recover to it.
ship_wal() {
	lock wal 600
	mkdir -p "$KILN_WAL_INCOMING" "$KILN_WAL_SHIPPED"
	local f moved=0
	size=0
	for f in "$KILN_WAL_INCOMING"/*; do
		[[ -f $f && $f != *.tmp ]] || continue
		size=$((size + $(stat -c %s "$f")))
		mv -f "$f" "$KILN_WAL_SHIPPED/"
		moved=$((moved + 1))
	done
	if ((moved > 0)); then
		: >"$KILN_STATE_DIR/wal.pending"
	fi
	[[ -e $KILN_STATE_DIR/wal.pending ]] || return 0
	ensure_repository
	restic_ backup --quiet --host "$KILN_BACKUP_HOST" --tag kiln-wal "$KILN_WAL_SHIPPED"
	rm -f "$KILN_STATE_DIR/wal.pending"
	prune_shipped
}

# prune_shipped keeps segments from the start of the KILN_WAL_KEEP_BASES-th
# newest base backup on; everything older is in earlier WAL snapshots.
prune_shipped() {
	local backups n cutoff f name
	mapfile -t backups < <(find "$KILN_WAL_SHIPPED" -maxdepth 1 -name '*.backup' -printf '%f\n' | sort)
	n=${#backups[@]}
	((n > KILN_WAL_KEEP_BASES)) || return 0
	cutoff=${backups[n - KILN_WAL_KEEP_BASES]:0:24}
	for f in "$KILN_WAL_SHIPPED"/*; do
		name=${f##*/}
		[[ $name == *.history ]] && continue
		if [[ ${name:0:24} < $cutoff ]]; then
			rm -f "$f"
		fi
	done
}

# spool_metrics writes the WAL spool's size for the node exporter: what
# waits to be shipped (incoming) and what is kept after shipping.
spool_metrics() {
	local out="$KILN_TEXTFILE_DIR/kiln_wal_spool.prom" d name n bytes
	mkdir -p "$KILN_TEXTFILE_DIR"
	{
		printf '# HELP kiln_wal_spool_segments WAL files in the spool on the data filesystem.\n# TYPE kiln_wal_spool_segments gauge\n'
		printf '# HELP kiln_wal_spool_bytes Bytes of WAL in the spool on the data filesystem.\n# TYPE kiln_wal_spool_bytes gauge\n'
		for d in incoming:"$KILN_WAL_INCOMING" shipped:"$KILN_WAL_SHIPPED"; do
			name=${d%%:*} n=0 bytes=0
			if [[ -d ${d#*:} ]]; then
				read -r n bytes < <(find "${d#*:}" -maxdepth 1 -type f -printf '%s\n' | awk '{ n++; b += $1 } END { printf "%d %d\n", n, b }')
			fi
			printf 'kiln_wal_spool_segments{dir="%s"} %s\nkiln_wal_spool_bytes{dir="%s"} %s\n' "$name" "$n" "$name" "$bytes"
		done
	} >"$out.$$.tmp"
	chmod 0644 "$out.$$.tmp"
	mv -f "$out.$$.tmp" "$out"
}

# configured is the backup units' ExecCondition=: exit 0 runs the unit,
# exit 1 skips it without failing it, so a server whose S3 keys were never
# provided shows no failed unit every minute. It keeps kiln_backup_configured
# current (the WAL timer runs it every minute). Unconfigured, nothing can
# ship what archive_command spools, so finished segments are dropped there
# instead of filling the data filesystem; PostgreSQL has recycled them, and
# point-in-time recovery starts at the first base backup once configured.
configured() {
	local ok=1 f out="$KILN_TEXTFILE_DIR/kiln_backup_configured.prom"
	s3_configured || ok=0
	if ((ok == 0)) && [[ -d $KILN_WAL_INCOMING ]]; then
		for f in "$KILN_WAL_INCOMING"/*; do
			if [[ -f $f && $f != *.tmp ]]; then
				rm -f "$f"
			fi
		done
	fi
	spool_metrics
	printf '# HELP kiln_backup_configured 1 if S3 credentials are in place, 0 if backups are not configured.\n# TYPE kiln_backup_configured gauge\nkiln_backup_configured %s\n' "$ok" >"$out.$$.tmp"
	chmod 0644 "$out.$$.tmp"
	mv -f "$out.$$.tmp" "$out"
	if ((ok == 0)); then
		log "backups are not configured: $(s3_fix)"
		return 1
	fi
}

status() {
	if s3_configured; then
		echo "backups: configured, repository $RESTIC_REPOSITORY"
	else
		echo "backups: not configured: $(s3_fix)"
	fi
	local f last ok size name
	for f in "$KILN_STATE_DIR"/metrics/*; do
		[[ -f $f && $f != *.tmp ]] || continue
		read -r last ok size _ <"$f" || continue
		name=${f##*/}
		name=${name/kiln_backup./backup }
		name=${name/kiln_wal_archive./wal }
		if ((last > 0)); then
			last=$(date -u -d "@$last" '+%Y-%m-%d %H:%M:%S UTC')
		else
			last=never
		fi
		((ok == 1)) && ok=ok || ok=FAILED
		printf '%s: last run %s, last success %s (%s bytes)\n' "$name" "$ok" "$last" "$size"
	done
	local d n
	for d in "$KILN_WAL_INCOMING" "$KILN_WAL_SHIPPED"; do
		n=0
		[[ -d $d ]] && n=$(find "$d" -maxdepth 1 -type f | wc -l)
		printf 'wal spool %s: %s files, %s\n' "$d" "$n" "$(du -sh "$d" 2>/dev/null | cut -f1 || echo 0)"
	done
}

[[ $# -eq 1 ]] || usage
case $1 in
init)
	ensure_repository
	;;
configured)
	configured
	;;
status)
	status
	;;
wal)
	job=ship prefix=kiln_wal_archive started=$(date +%s)
	ship_wal
	;;
-* | "") usage ;;
*)
	[[ $1 =~ ^[a-z][a-z0-9-]*$ ]] || usage
	job=$1 prefix=kiln_backup started=$(date +%s)
	lock backup
	backup
	;;
esac
