path: /etc/kiln/acme/deploy-hook.sh
mode: 0755
owner: root:root
---
#!/bin/sh
# certbot --deploy-hook: runs inside the certbot container only after a
# certificate was issued or renewed, and copies it to where nginx reads it.
#   RENEWED_LINEAGE  set by certbot: the live/<name> directory
#   KILN_TLS_DIR     destination (the TLS directory as mounted)
set -eu

src=${RENEWED_LINEAGE:?RENEWED_LINEAGE is not set}
dst=${KILN_TLS_DIR:?KILN_TLS_DIR is not set}

umask 077
for f in privkey.pem chain.pem fullchain.pem; do
	cp -L "$src/$f" "$dst/.$f.new"
	mv -f "$dst/.$f.new" "$dst/$f"
done
chmod 0644 "$dst/fullchain.pem" "$dst/chain.pem"
echo "kiln-tls: deployed $src to $dst"
