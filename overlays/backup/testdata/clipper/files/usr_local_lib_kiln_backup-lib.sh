# shellcheck shell=bash
# Shared by kiln-backup and kiln-restore. Settings come from one env file
# whose lines only fill variables the caller has not set; the defaults run
# every tool inside containers, as Fedora CoreOS has none of them.

# shellcheck source=/dev/null
. "${KILN_BACKUP_ENV:-/etc/kiln/backup/backup.env}"

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# split NAME STRING turns a configured command line into an array.
split() {
	local -n _out=$1
	read -r -a _out <<<"$2"
}

# s3_configured loads the S3 keys and reports whether both are set; they
# never come from the image unless embedding was asked for explicitly, so
# a fresh server has none: backups are then "not configured", a state of
# its own rather than an error.
s3_configured() {
	# The keys open every backup, and the file is sourced as shell code:
	# refuse it unless only its owner, the user running this, can touch it.
	if [[ -e $KILN_S3_ENV ]]; then
		local mode owner
		read -r mode owner < <(stat -L -c '%a %u' "$KILN_S3_ENV") || die "cannot stat $KILN_S3_ENV"
		((8#$mode & 8#077)) &&
			die "$KILN_S3_ENV is open to other users (mode $mode): chmod 0600 $KILN_S3_ENV"
		[[ $owner == "$(id -u)" ]] ||
			die "$KILN_S3_ENV belongs to uid $owner, not to uid $(id -u) running this: chown $(id -un) $KILN_S3_ENV"
	fi
	if [[ -r $KILN_S3_ENV ]]; then
		set -a
		# shellcheck source=/dev/null
		. "$KILN_S3_ENV"
		set +a
	fi
	[[ -n ${AWS_ACCESS_KEY_ID:-} && -n ${AWS_SECRET_ACCESS_KEY:-} ]] || return 1
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
}

# s3_fix is how to configure backups, for messages.
s3_fix() {
	printf 'write AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to %s (mode 0600); the next minute'"'"'s WAL run starts shipping' "$KILN_S3_ENV"
}

s3_credentials() {
	s3_configured || die "no S3 credentials: $(s3_fix)"
}

restic_() {
	local cmd
	split cmd "$KILN_RESTIC"
	# SIGINT lets restic remove its lock. --foreground signals restic alone
	# and waits for it, so a restic that had to be killed is gone (and its
	# lock stale) by the time this returns.
	timeout --foreground -s INT -k "${KILN_RESTIC_KILL_AFTER:-60}" "$KILN_RESTIC_TIMEOUT" "${cmd[@]}" "$@"
}

psql_() {
	local cmd
	split cmd "$KILN_PSQL"
	"${cmd[@]}" -X -q -v ON_ERROR_STOP=1 "$@"
}

pg_dump_() {
	local cmd
	split cmd "$KILN_PG_DUMP"
	"${cmd[@]}" "$@"
}

pg_restore_() {
	local cmd
	split cmd "$KILN_PG_RESTORE"
	"${cmd[@]}" "$@"
}

pg_basebackup_() {
	local cmd
	split cmd "$KILN_PG_BASEBACKUP"
	"${cmd[@]}" "$@"
}

redis_cli_() {
	local cmd
	split cmd "$KILN_REDIS_CLI"
	[[ -r $KILN_REDIS_PASSWORD_FILE ]] || die "Redis password file $KILN_REDIS_PASSWORD_FILE is missing"
	REDISCLI_AUTH=$(<"$KILN_REDIS_PASSWORD_FILE")
	export REDISCLI_AUTH
	"${cmd[@]}" -h "$KILN_REDIS_HOST" -p "$KILN_REDIS_PORT" "$@"
}

run_hook() {
	local cmd
	split cmd "$1"
	"${cmd[@]}"
}

# staging is where a backup is assembled before restic sees it; the path is
# fixed so that every snapshot of a kind has the same paths.
staging_dir() { printf '%s/staging' "$KILN_STATE_DIR"; }

# lock NAME [WAIT] takes the named lock, waiting up to WAIT seconds, so a
# weekly and a daily backup starting together run one after the other. Each
# name has its own file descriptor, so one script can hold several.
lock() {
	local fd
	case $1 in
	backup) fd=9 ;;
	wal) fd=8 ;;
	drill) fd=7 ;;
	repo) fd=6 ;;
	*) die "unknown lock $1" ;;
	esac
	mkdir -p "$KILN_STATE_DIR"
	eval "exec $fd>\"\$KILN_STATE_DIR/$1.lock\""
	flock -w "${2:-7200}" "$fd" || die "another $1 run holds $KILN_STATE_DIR/$1.lock"
}

# unlock_local NAME releases a lock taken with lock.
unlock_local() {
	case $1 in
	backup) exec 9>&- ;;
	wal) exec 8>&- ;;
	drill) exec 7>&- ;;
	repo) exec 6>&- ;;
	esac
}

# table_counts prints "schema.table<TAB>rows" for every user table, sorted,
# in one query so that it is cheap and consistent.
table_counts() {
	psql_ -At -F $'\t' "$@" -c "SELECT format('%I.%I', n.nspname, c.relname),
  (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1"
}

# snapshot_epoch turns restic's RFC 3339 time into seconds.
snapshot_epoch() { date -d "$1" +%s; }

# metrics_record PREFIX JOB OK SIZE DURATION keeps one state line per job and
# rewrites PREFIX.prom for the node exporter atomically (temp file + rename
# in the same directory). A failed run keeps the last success time and size.
# The job goes in a "schedule" label: Prometheus owns "job" (the scrape job)
# and would rename a textfile's own job label to exported_job.
metrics_record() {
	local prefix=$1 job=$2 ok=$3 size=$4 duration=$5
	local dir="$KILN_STATE_DIR/metrics" last=0 lastsize=0 f
	mkdir -p "$dir" "$KILN_TEXTFILE_DIR"
	if [[ -f $dir/$prefix.$job ]]; then
		read -r last _ lastsize _ <"$dir/$prefix.$job" || true
	fi
	if [[ $ok == 1 ]]; then
		last=$(date +%s)
		lastsize=$size
	fi
	printf '%s %s %s %s\n' "$last" "$ok" "$lastsize" "$duration" >"$dir/$prefix.$job.tmp"
	mv -f "$dir/$prefix.$job.tmp" "$dir/$prefix.$job"

	local out="$KILN_TEXTFILE_DIR/$prefix.prom" tmp
	tmp="$out.$$.tmp"
	{
		local i name help
		for i in 1 2 3 4; do
			case $i in
			1) name=last_success_timestamp_seconds help="Unix time of the last successful run." ;;
			2) name=last_run_success help="1 if the last run succeeded, 0 if it failed." ;;
			3) name=last_size_bytes help="Bytes handled by the last successful run." ;;
			4) name=last_duration_seconds help="Duration of the last run in seconds." ;;
			esac
			printf '# HELP %s_%s %s\n# TYPE %s_%s gauge\n' "$prefix" "$name" "$help" "$prefix" "$name"
			for f in "$dir/$prefix".*; do
				[[ $f == *.tmp ]] && continue
				local fields
				read -r -a fields <"$f"
				printf '%s_%s{schedule="%s"} %s\n' "$prefix" "$name" "${f##*/"$prefix".}" "${fields[i - 1]}"
			done
		done
	} >"$tmp"
	chmod 0644 "$tmp"
	mv -f "$tmp" "$out"
}

# ensure_repository creates the password once and the repository once.
# A repository that exists but does not open with this password is never
# re-created: that would orphan every backup in it.
#
# The first daily backup and the WAL shipper both find neither once the S3
# keys are written, and restic refuses to create a repository twice (seen
# on a booted appliance: the backup failed with "repository master key and
# config already initialized"); two password writers would also race on
# the temporary file. One creates both under the lock; the other then
# opens what it created.
ensure_repository() {
	lock repo 600
	if [[ ! -s $RESTIC_PASSWORD_FILE ]]; then
		log "generating the repository password $RESTIC_PASSWORD_FILE; keep a copy off this server"
		mkdir -p "$(dirname "$RESTIC_PASSWORD_FILE")"
		(
			umask 077
			head -c 48 /dev/urandom | base64 -w0 >"$RESTIC_PASSWORD_FILE.tmp"
		)
		mv -n "$RESTIC_PASSWORD_FILE.tmp" "$RESTIC_PASSWORD_FILE"
		rm -f "$RESTIC_PASSWORD_FILE.tmp"
	fi
	s3_credentials
	local err
	if err=$(restic_ cat config 2>&1 >/dev/null); then
		unlock_local repo
		unlock_stale
		return 0
	fi
	case $err in
	*"wrong password"* | *"no key found"*)
		die "the repository at $RESTIC_REPOSITORY does not open with $RESTIC_PASSWORD_FILE: restore that file from your escrow copy" ;;
	esac
	log "initialising the repository at $RESTIC_REPOSITORY"
	restic_ init || die "cannot open or create the repository: $err"
	unlock_local repo
}

# unlock_stale removes locks left by a restic that died (its process is gone
# on this host, or the lock is older than 30 minutes); a live lock stays.
# Without this one S3 outage in the middle of a run blocks every later run.
unlock_stale() {
	restic_ unlock >/dev/null 2>&1 || log "warning: could not check for stale repository locks"
}
