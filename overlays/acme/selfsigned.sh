#!/bin/sh
# Makes a self-signed certificate when none exists, so nginx can start on
# first boot before the ACME CA has issued the real one. Never replaces an
# existing certificate.
#   KILN_TLS_DIR    directory nginx reads (fullchain.pem, privkey.pem, chain.pem)
#   KILN_TLS_NAMES  space-separated DNS names; the first is the common name
#   KILN_TLS_DAYS   lifetime in days
#   OPENSSL         the openssl program
set -eu

dir=${KILN_TLS_DIR:?KILN_TLS_DIR is not set}
names=${KILN_TLS_NAMES:?KILN_TLS_NAMES is not set}
days=${KILN_TLS_DAYS:-30}
openssl=${OPENSSL:-openssl}

if [ -s "$dir/fullchain.pem" ] && [ -s "$dir/privkey.pem" ]; then
	echo "kiln-tls: certificate present in $dir, nothing to do"
	exit 0
fi

umask 077
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.selfsigned.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cn=${names%% *}
san=""
for n in $names; do
	san="${san:+$san,}DNS:$n"
done

"$openssl" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$tmp/privkey.pem" -out "$tmp/fullchain.pem" -days "$days" \
	-subj "/CN=$cn" -addext "subjectAltName=$san" \
	-addext "basicConstraints=critical,CA:FALSE" \
	-addext "extendedKeyUsage=serverAuth" 2>"$tmp/openssl.log" || {
	cat "$tmp/openssl.log" >&2
	exit 1
}
cp "$tmp/fullchain.pem" "$tmp/chain.pem"
chmod 0644 "$tmp/fullchain.pem" "$tmp/chain.pem"

# The key goes first and the certificate last: nginx looks for fullchain.pem.
for f in privkey.pem chain.pem fullchain.pem; do
	mv -f "$tmp/$f" "$dir/$f"
done
echo "kiln-tls: self-signed certificate for $names written to $dir"
