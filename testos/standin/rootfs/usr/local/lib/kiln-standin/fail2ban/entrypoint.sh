#!/bin/sh
# Stand-in for the entrypoint of crazymax/fail2ban (Debian variant), on
# Debian's fail2ban 1.1 with its systemd backend and nftables. It keeps what
# kiln's unit relies on: /data holds the state (db/fail2ban.sqlite3) and the
# operator's jail.d, filter.d and action.d, which are linked into
# /etc/fail2ban; F2B_LOG_TARGET, F2B_LOG_LEVEL and F2B_DB_PURGE_AGE set
# fail2ban.conf; then `exec "$@"` (fail2ban-server in the foreground).
# Not reproduced: TZ, the SSMTP_* mail settings, and IPTABLES_MODE (the
# stand-in has no iptables at all: kiln's jail bans through nft).
set -e

F2B_LOG_TARGET=${F2B_LOG_TARGET:-STDOUT}
F2B_LOG_LEVEL=${F2B_LOG_LEVEL:-INFO}
F2B_DB_PURGE_AGE=${F2B_DB_PURGE_AGE:-1d}

mkdir -p /data/db /data/action.d /data/filter.d /data/jail.d /run/fail2ban
rm -rf /etc/fail2ban/jail.d
ln -sf /data/jail.d /etc/fail2ban/jail.d
sed -i \
	-e "s|^logtarget =.*|logtarget = $F2B_LOG_TARGET|" \
	-e "s|^loglevel =.*|loglevel = $F2B_LOG_LEVEL|" \
	-e "s|^dbfile =.*|dbfile = /data/db/fail2ban.sqlite3|" \
	-e "s|^dbpurgeage =.*|dbpurgeage = $F2B_DB_PURGE_AGE|" \
	-e "s|^#allowipv6 =.*|allowipv6 = auto|" \
	/etc/fail2ban/fail2ban.conf
for kind in action filter; do
	for f in /data/$kind.d/*; do
		[ -f "$f" ] || continue
		echo "adding custom $kind ${f##*/}"
		ln -sf "$f" "/etc/fail2ban/$kind.d/"
	done
done
exec "$@"
