#!/bin/sh
# Writes deploy/compose/.env, the secrets of the compose demo, with fresh random values: the
# bus key every proxy seals bus messages with, and the NATS passwords of the proxies and of
# `portcullis revoke`. Compose reads .env from this folder by itself. Run it once before the
# first `up`; it never overwrites an existing .env (delete it to start over, then recreate
# every container so all of them get the new values). The file is git-ignored and outside
# the image's build context.
set -eu
env_file="$(dirname "$0")/.env"
if [ -e "$env_file" ]; then
  echo "$env_file exists: kept (delete it for new secrets)" >&2
  exit 0
fi
# n random bytes as hex, from the kernel (no openssl needed)
rand() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
umask 077
cat > "$env_file" <<EOT
# Secrets of the compose demo, written by init-env.sh. Keep this file out of version control.
# Bus key: 32 random bytes as hex (64 bytes of key; cluster.auth needs at least 32).
PORTCULLIS_BUS_KEY=$(rand 32)
# NATS passwords start with a letter: nats-server reads the value as config text.
PORTCULLIS_NATS_PASSWORD=p$(rand 24)
PORTCULLIS_NATS_REVOKE_PASSWORD=p$(rand 24)
EOT
echo "wrote $env_file" >&2
