#!/usr/bin/env bash
# The postgres image's entrypoint (docker-entrypoint.sh), with two additions for a server
# whose files the harness reads and writes on the host (fixtures/containers.py, "Files"):
# - HARNESS_UID / HARNESS_GID: the user postgres takes these ids first, so that the data
#   directory, the socket and the log on the shared mount are the host's service user's
#   (the host's pg_basebackup, pg_rewind and backup tools run as that user);
# - HARNESS_LOG: everything the server prints is appended to this file (on the mount), where
#   the harness reads it as it reads a native server's log, also after the server failed;
# - HARNESS_SETTINGS: postgresql.conf lines appended to the data directory's
#   postgresql.auto.conf (here for a restored one, by harness-settings.sh in
#   /docker-entrypoint-initdb.d for a new one), as the native backend writes them: the
#   server also gets them as -c flags, but the host's tools that start Postgres on the data
#   directory (pg_rewind's crash recovery) read only its files.
set -Eeuo pipefail

if [ "$(id -u)" = 0 ] && [ -n "${HARNESS_UID:-}" ]; then
  groupmod --non-unique --gid "${HARNESS_GID:-$HARNESS_UID}" postgres
  usermod --non-unique --uid "$HARNESS_UID" --gid "${HARNESS_GID:-$HARNESS_UID}" postgres
fi

if [ "$(id -u)" = 0 ] && [ -n "${HARNESS_SETTINGS:-}" ] && [ -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "$HARNESS_SETTINGS" >>"$PGDATA/postgresql.auto.conf"
fi

if [ -n "${HARNESS_LOG:-}" ]; then
  exec docker-entrypoint.sh "$@" >>"$HARNESS_LOG" 2>&1
fi
exec docker-entrypoint.sh "$@"
