#!/bin/sh
# Writes deploy/compose/.env, the secrets of the compose demo, with fresh random values: the
# admin API's bearer token, the read-only metrics token Prometheus scrapes with, the bus key every proxy seals bus messages with, and the NATS
# passwords of the proxies and of `portcullis revoke`. Compose reads .env from this folder by
# itself. Run it once before the first `up`; it never overwrites a value (an existing .env
# only gets the variables it lacks; delete it to start over, then recreate every container so
# all of them get the new values). The file is git-ignored and outside the image's build context.
set -eu
env_file="$(dirname "$0")/.env"
# n random bytes as hex, from the kernel (no openssl needed)
rand() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
umask 077
if [ -e "$env_file" ]; then
  kept=1
else
  kept=0
  echo "# Secrets of the compose demo, written by init-env.sh. Keep this file out of version control." > "$env_file"
fi
added=""
# NAME VALUE COMMENT: appended unless .env already sets NAME
add() {
  grep -q "^$1=" "$env_file" && return 0
  printf '# %s\n%s=%s\n' "$3" "$1" "$2" >> "$env_file"
  added="$added $1"
}
add PORTCULLIS_ADMIN_TOKEN "$(rand 24)" "Admin API bearer token (curl -H \"Authorization: Bearer \$PORTCULLIS_ADMIN_TOKEN\" 127.0.0.1:9911/…)."
add PORTCULLIS_METRICS_TOKEN "$(rand 24)" "Read-only metrics token: GET /metrics only (curl -H \"Authorization: Bearer \$PORTCULLIS_METRICS_TOKEN\" 127.0.0.1:9911/metrics)."
add PORTCULLIS_BUS_KEY "$(rand 32)" "Bus key: 32 random bytes as hex (64 bytes of key; cluster.auth needs at least 32)."
# NATS passwords start with a letter: nats-server reads the value as config text.
add PORTCULLIS_NATS_PASSWORD "p$(rand 24)" "The proxies' NATS password (user portcullis)."
add PORTCULLIS_NATS_REVOKE_PASSWORD "p$(rand 24)" "The revoke CLI's NATS password (user portcullis-revoke)."
if [ "$kept" = 0 ]; then echo "wrote $env_file" >&2
elif [ -z "$added" ]; then echo "$env_file exists: kept (delete it for new secrets)" >&2
else echo "$env_file exists: kept its values, added$added (recreate the containers: up -d --force-recreate)" >&2
fi
