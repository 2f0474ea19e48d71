path: /etc/kiln/redis/healthcheck.sh
mode: 0644
owner: root:root
---
#!/bin/sh
# Succeeds when Redis answers an authenticated PING. REDISCLI_AUTH keeps the
# password off redis-cli's command line.
set -eu
REDISCLI_AUTH=$(cat /run/secrets/redis-password)
export REDISCLI_AUTH
redis-cli -p 6379 ping | grep -qx PONG
