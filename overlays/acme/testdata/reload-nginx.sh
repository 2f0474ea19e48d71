#!/bin/sh
# Reloads nginx when the certificate it serves differs from the one last
# loaded, so a renewal run that changed nothing does not touch nginx.
#   KILN_TLS_DIR    directory holding fullchain.pem
#   KILN_TLS_STATE  file remembering the last loaded certificate's SHA-256
#   KILN_RELOAD     command that reloads nginx
set -eu

dir=${KILN_TLS_DIR:?KILN_TLS_DIR is not set}
state=${KILN_TLS_STATE:?KILN_TLS_STATE is not set}
reload=${KILN_RELOAD:-systemctl try-reload-or-restart kiln-nginx.service}

new=$(sha256sum "$dir/fullchain.pem" | cut -d' ' -f1)
old=$(cat "$state" 2>/dev/null || true)
if [ "$new" = "$old" ]; then
	echo "kiln-tls: certificate unchanged"
	exit 0
fi
$reload
printf '%s\n' "$new" >"$state.new"
mv -f "$state.new" "$state"
echo "kiln-tls: nginx reloaded for certificate $new"
