#!/bin/sh
# Runs one ACME attempt, the command given as arguments (podman run
# certbot), unless the next attempt is not due yet. An attempt that cannot
# succeed yet (the domain does not point here, the CA or the registry is
# unreachable) is a retry state, never a failed unit: the failure is
# counted, the next attempt is put off with a doubling delay, the metrics
# say so, and the script exits 0 while the self-signed certificate serves.
#   KILN_ACME_STATE        state file: failures, next attempt, last success
#   KILN_ACME_KEY          what is certified (the domains); a new key is
#                          attempted at once, whatever the state says
#   KILN_ACME_METRICS      node exporter textfile (.prom); empty for none
#   KILN_ACME_BACKOFF      first retry delay in seconds (default 300)
#   KILN_ACME_BACKOFF_MAX  longest retry delay in seconds (default 21600)
#   KILN_ACME_RENEW_EVERY  seconds between renewal checks after a success
#                          (default 43200: twice a day)
set -eu

state=${KILN_ACME_STATE:?KILN_ACME_STATE is not set}
key=${KILN_ACME_KEY:-}
metrics=${KILN_ACME_METRICS:-}
backoff=${KILN_ACME_BACKOFF:-300}
backoff_max=${KILN_ACME_BACKOFF_MAX:-21600}
renew_every=${KILN_ACME_RENEW_EVERY:-43200}
[ "$#" -gt 0 ] || { echo "usage: kiln-acme COMMAND [ARG...]" >&2; exit 2; }

now=$(date +%s)
failures=0 next=0 last_success=0 last_key=

# The state file is kiln's own; read it as data, keeping only numbers.
if [ -f "$state" ]; then
	while IFS='=' read -r k v; do
		case $k in
		failures | next | last_success)
			case $v in '' | *[!0-9]*) ;; *) eval "$k=\$v" ;; esac ;;
		key) last_key=$v ;;
		esac
	done <"$state"
fi

write_metrics() {
	[ -n "$metrics" ] || return 0
	mkdir -p "$(dirname "$metrics")"
	cat >"$metrics.tmp" <<METRICS
# HELP kiln_acme_consecutive_failures ACME attempts failed since the last success (0: the CA's certificate is current).
# TYPE kiln_acme_consecutive_failures gauge
kiln_acme_consecutive_failures $failures
# HELP kiln_acme_last_success_timestamp_seconds When an ACME attempt last succeeded (0: never; the self-signed certificate serves).
# TYPE kiln_acme_last_success_timestamp_seconds gauge
kiln_acme_last_success_timestamp_seconds $last_success
# HELP kiln_acme_next_attempt_timestamp_seconds When the next ACME attempt is due.
# TYPE kiln_acme_next_attempt_timestamp_seconds gauge
kiln_acme_next_attempt_timestamp_seconds $next
METRICS
	mv -f "$metrics.tmp" "$metrics"
}

if [ "$key" = "$last_key" ] && [ "$now" -lt "$next" ]; then
	echo "kiln-acme: next attempt at $(date -u -d "@$next" '+%Y-%m-%d %H:%M:%S UTC' 2>/dev/null || echo "$next")"
	write_metrics
	exit 0
fi

rc=0
"$@" || rc=$?
if [ "$rc" -eq 0 ]; then
	failures=0
	last_success=$now
	next=$((now + renew_every))
	echo "kiln-acme: certificate current; next check in ${renew_every}s"
else
	failures=$((failures + 1))
	delay=$backoff
	i=1
	while [ "$i" -lt "$failures" ] && [ "$delay" -lt "$backoff_max" ]; do
		delay=$((delay * 2))
		i=$((i + 1))
	done
	[ "$delay" -le "$backoff_max" ] || delay=$backoff_max
	next=$((now + delay))
	echo "kiln-acme: attempt $failures failed (exit $rc); retrying in ${delay}s, the current certificate serves meanwhile" >&2
fi

mkdir -p "$(dirname "$state")"
printf 'failures=%s\nnext=%s\nlast_success=%s\nkey=%s\n' "$failures" "$next" "$last_success" "$key" >"$state.tmp"
mv -f "$state.tmp" "$state"
write_metrics
