path: /etc/kiln/redis/start.sh
mode: 0644
owner: root:root
---
#!/bin/sh
# Starts Redis with the password from the Podman secret. Redis has no
# directive that reads a password from a file, so it goes on the command
# line; Redis replaces its process title when it starts, which hides it
# from ps. The image's entrypoint still runs: it drops root before starting
# the server. Arguments are passed on to redis-server.
set -eu
password=$(cat /run/secrets/redis-password)
exec docker-entrypoint.sh redis-server /etc/redis/redis.conf --requirepass "$password" "$@"
