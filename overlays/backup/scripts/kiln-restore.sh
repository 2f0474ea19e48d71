#!/bin/bash
# kiln-restore: bring data back from the restic repository.
#   kiln-restore list                      list snapshots
#   kiln-restore db [SNAPSHOT] [--into DB] logical dump into the database
#   kiln-restore redis [SNAPSHOT]          Redis snapshot (restarts Redis)
#   kiln-restore pitr --to TIME|latest     base backup + WAL (restarts PostgreSQL)
#   kiln-restore config [SNAPSHOT]         configuration directories
#   kiln-restore drill                     restore into a scratch database and check it
set -euo pipefail
# shellcheck source=/dev/null
. "${KILN_BACKUP_LIB:-/usr/local/lib/kiln/backup-lib.sh}"

usage() {
	sed -n '2,8s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

stamp=$(date -u +%Y%m%dT%H%M%SZ)
work="$KILN_STATE_DIR/restore"

open_repository() {
	s3_credentials
	[[ -s $RESTIC_PASSWORD_FILE ]] || die "no repository password at $RESTIC_PASSWORD_FILE: restore it from your escrow copy"
	unlock_stale
}

# backup_snapshot prints the id of the given snapshot or the latest backup,
# failing when the repository has none.
backup_snapshot() {
	local want=${1:-latest} id
	if [[ $want != latest ]]; then
		printf '%s' "$want"
		return
	fi
	id=$(restic_ snapshots --json --host "$KILN_BACKUP_HOST" --tag kiln-backup --latest 1 | jq -r 'sort_by(.time) | last | .id // empty')
	[[ -n $id ]] || die "no backup snapshot for host $KILN_BACKUP_HOST in $RESTIC_REPOSITORY"
	printf '%s' "$id"
}

# fetch SNAPSHOT RELPATH DEST copies one file of a backup out of the repository.
fetch() {
	local staging
	staging=$(staging_dir)
	mkdir -p "$(dirname "$3")"
	restic_ dump "$1" "$staging/$2" >"$3.tmp"
	mv "$3.tmp" "$3"
}

database_exists() {
	[[ $(psql_ -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$1'") == 1 ]]
}

restore_db() {
	local snap="" into=$PGDATABASE
	while [[ $# -gt 0 ]]; do
		case $1 in
		--into)
			into=${2:?--into needs a database name}
			shift 2
			;;
		*)
			snap=$1
			shift
			;;
		esac
	done
	[[ $into =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bad database name $into"
	open_repository
	local id
	id=$(backup_snapshot "$snap")
	rm -rf "$work/db"
	fetch "$id" "db/$PGDATABASE.dump" "$work/db/dump"
	fetch "$id" db/rows.tsv "$work/db/rows.tsv"
	if ! database_exists "$into"; then
		psql_ -d postgres -c "CREATE DATABASE \"$into\""
	fi
	pg_restore_ --no-password --clean --if-exists --no-owner --exit-on-error --single-transaction -d "$into" <"$work/db/dump"
	log "restored snapshot $id into database $into"
}

# check_counts compares a restored database with the counts recorded at
# backup time: every table must exist; exact counts must match; tables that
# had rows must have rows.
check_counts() {
	local db=$1 recorded=$2 got table want kind n
	got=$(table_counts -d "$db")
	[[ -s $recorded ]] || die "no table counts were recorded in the backup"
	while IFS=$'\t' read -r table want kind; do
		n=$(awk -F '\t' -v t="$table" '$1 == t { print $2 }' <<<"$got")
		[[ -n $n ]] || die "table $table is missing after restore"
		if [[ $kind == exact && $n != "$want" ]]; then
			die "table $table has $n rows after restore, $want at backup time"
		fi
		if ((want > 0 && n == 0)); then
			die "table $table is empty after restore, $want rows at backup time"
		fi
	done <"$recorded"
}

# The drill's outcome is recorded by an EXIT trap, which runs after the
# function's locals are gone, hence globals.
drill_started=0
drill_size=0
drill_done() {
	local rc=$? ok=0
	((rc == 0)) && ok=1
	metrics_record kiln_restore_drill drill "$ok" "$drill_size" "$(($(date +%s) - drill_started))" || rc=1
	((rc == 0)) || log "restore drill FAILED (exit $rc): the backups cannot be trusted"
	exit "$rc"
}

restore_drill() {
	drill_started=$(date +%s)
	trap drill_done EXIT
	lock drill
	open_repository
	# A structural check plus one twelfth of the data each month reads the
	# whole repository once a year without downloading it all every time.
	# check takes restic's exclusive lock: hold off backups and the WAL
	# shipper meanwhile (WAL waits in the spool and ships right after).
	lock backup
	lock wal 900
	restic_ check --read-data-subset "$(($(date +%-m) % 12 + 1))/12"
	unlock_local wal
	unlock_local backup
	local scratch="${PGDATABASE}_restore_drill"
	psql_ -d postgres -c "DROP DATABASE IF EXISTS \"$scratch\""
	restore_db --into "$scratch"
	drill_size=$(stat -c %s "$work/db/dump")
	check_counts "$scratch" "$work/db/rows.tsv"
	psql_ -d postgres -c "DROP DATABASE \"$scratch\""
	log "restore drill passed: $(wc -l <"$work/db/rows.tsv") tables checked"
}

restore_redis() {
	open_repository
	local id dir=$KILN_REDIS_DATA_DIR owner
	id=$(backup_snapshot "${1:-}")
	fetch "$id" redis/dump.rdb "$work/redis/dump.rdb"
	owner=$(stat -c %u:%g "$dir")
	run_hook "$KILN_REDIS_STOP"
	# The current data is moved aside, never deleted. The snapshot becomes
	# both dump.rdb and the base of a fresh append-only file, so Redis loads
	# it whether appendonly is on (it then ignores dump.rdb) or off.
	local aof=$dir/$KILN_REDIS_AOF_DIR name=$KILN_REDIS_AOF_NAME
	[[ -e $aof ]] && mv "$aof" "$aof.before-restore-$stamp"
	[[ -e $dir/dump.rdb ]] && mv "$dir/dump.rdb" "$dir/dump.rdb.before-restore-$stamp"
	mkdir "$aof.tmp"
	cp "$work/redis/dump.rdb" "$aof.tmp/$name.1.base.rdb"
	: >"$aof.tmp/$name.1.incr.aof"
	printf 'file %s.1.base.rdb seq 1 type b\nfile %s.1.incr.aof seq 1 type i\n' "$name" "$name" >"$aof.tmp/$name.manifest"
	cp "$work/redis/dump.rdb" "$dir/dump.rdb.tmp"
	chown -R "$owner" "$aof.tmp" "$dir/dump.rdb.tmp"
	mv "$dir/dump.rdb.tmp" "$dir/dump.rdb"
	mv "$aof.tmp" "$aof"
	run_hook "$KILN_REDIS_START"
	log "restored Redis from snapshot $id"
}

restore_config() {
	open_repository
	local id staging dirs d
	id=$(backup_snapshot "${1:-}")
	staging=$(staging_dir)
	rm -rf "$work/config"
	mkdir -p "$work/config"
	restic_ restore "$id" --target "$work/config" --include "$staging/config"
	read -r -a dirs <<<"$KILN_CONFIG_DIRS"
	for d in "${dirs[@]}"; do
		[[ -d $work/config$staging/config$d ]] || continue
		mkdir -p "$d"
		cp -a "$work/config$staging/config$d/." "$d/"
	done
	log "restored configuration from snapshot $id"
}

# snapshots_tsv TAG prints "epoch<TAB>id" for the host's snapshots, oldest first.
snapshots_tsv() {
	local t id
	restic_ snapshots --json --host "$KILN_BACKUP_HOST" --tag "$1" | jq -r '.[] | [.time, .id] | @tsv' |
		while IFS=$'\t' read -r t id; do
			printf '%s\t%s\n' "$(snapshot_epoch "$t")" "$id"
		done | sort -n
}

restore_pitr() {
	[[ ${1:-} == --to && -n ${2:-} ]] || usage
	local to=$2 target base="" e id
	if [[ $to == latest ]]; then
		target=$(date +%s)
	else
		target=$(date -d "$to" +%s) || die "cannot read the time $to"
	fi
	open_repository
	while IFS=$'\t' read -r e id; do
		((e <= target)) && base=$id
	done < <(snapshots_tsv kiln-backup)
	[[ -n $base ]] || die "no base backup older than $to"
	# A segment is archived within archive_timeout of a commit and shipped
	# within a minute, so the first WAL snapshot taken KILN_WAL_SETTLE
	# seconds after the target holds the records past it. The latest WAL
	# snapshot is added for targets newer than that.
	local wals=() latest=""
	while IFS=$'\t' read -r e id; do
		latest=$id
		if ((${#wals[@]} == 0 && e >= target + KILN_WAL_SETTLE)); then
			wals+=("$id")
		fi
	done < <(snapshots_tsv kiln-wal)
	[[ -n $latest && ${wals[0]:-} != "$latest" ]] && wals+=("$latest")
	log "recovering to $to from base backup $base and WAL snapshots ${wals[*]:-none}"

	local data=$KILN_PG_DATA_DIR staging
	staging=$(staging_dir)
	rm -rf "$work/wal" "$KILN_WAL_RESTORE_DIR"
	mkdir -p "$KILN_WAL_RESTORE_DIR"
	for id in "${wals[@]}"; do
		rm -rf "$work/wal"
		restic_ restore "$id" --target "$work/wal" --include "$KILN_WAL_SHIPPED"
		find "$work/wal$KILN_WAL_SHIPPED" -maxdepth 1 -type f -exec cp -p -n -t "$KILN_WAL_RESTORE_DIR" {} +
	done
	# Segments archived but not shipped yet (the server is still alive, e.g.
	# undoing a bad migration) are the freshest of all.
	if [[ -d $KILN_WAL_INCOMING ]]; then
		find "$KILN_WAL_INCOMING" -maxdepth 1 -type f ! -name '*.tmp' -exec cp -p -n -t "$KILN_WAL_RESTORE_DIR" {} +
	fi

	mkdir -p "$work"
	restic_ dump "$base" "$staging/base/base.tar" >"$work/base.tar"
	run_hook "$KILN_PG_STOP"
	if [[ -e $data ]]; then
		mv "$data" "$data.before-restore-$stamp"
		log "the previous data directory is kept at $data.before-restore-$stamp"
	fi
	mkdir -m 0700 "$data"
	tar -xf "$work/base.tar" -C "$data"
	rm -f "$work/base.tar"
	: >"$data/recovery.signal"
	{
		printf "restore_command = 'cp %s/%%f %%p'\n" "$KILN_WAL_RESTORE_DIR_PG"
		if [[ $to != latest ]]; then
			printf "recovery_target_time = '%s'\n" "$(date -u -d "$to" '+%Y-%m-%d %H:%M:%S.%6N+00')"
		fi
		printf "recovery_target_action = 'promote'\n"
	} >>"$data/postgresql.auto.conf"
	chown -R "$KILN_PG_UID:$KILN_PG_GID" "$data" "$KILN_WAL_RESTORE_DIR"
	run_hook "$KILN_PG_START"

	local deadline=$(($(date +%s) + ${KILN_PG_RECOVERY_TIMEOUT:-3600}))
	until [[ $(psql_ -At -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null) == f ]]; do
		(($(date +%s) < deadline)) || die "PostgreSQL did not finish recovery; see its log"
		sleep 1
	done
	psql_ -d postgres -c 'ALTER SYSTEM RESET restore_command' -c 'ALTER SYSTEM RESET recovery_target_time' \
		-c 'ALTER SYSTEM RESET recovery_target_action' -c 'SELECT pg_reload_conf()' >/dev/null
	rm -rf "$work/wal" "$KILN_WAL_RESTORE_DIR"
	log "point-in-time recovery to $to complete"
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift
case $cmd in
list)
	open_repository
	restic_ snapshots --host "$KILN_BACKUP_HOST"
	;;
db) restore_db "$@" ;;
redis) restore_redis "$@" ;;
config) restore_config "$@" ;;
pitr) restore_pitr "$@" ;;
drill) restore_drill ;;
*) usage ;;
esac
