#!/usr/bin/env bash
# The official redis image's conventions, for Debian's redis-server:
# - a first argument starting with "-" or ending in ".conf" is for redis-server
#   (`docker run IMAGE --appendonly yes`, `docker run IMAGE /etc/my.conf`);
# - started as root, redis-server runs as the user redis (and /data is made its own);
# - protected mode is off unless the arguments (or the config file given) set it: the
#   official image builds Redis with protected mode off by default, because connections
#   through a published port come from the bridge's address, not loopback, and protected
#   mode refuses those when no password is set.
# Anything else (`docker run IMAGE redis-cli ...`) is run as it is.
set -euo pipefail

if [ "${1:-}" = "" ] || [ "${1:0:1}" = "-" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi

if [ "$1" = redis-server ]; then
  protected=
  for argument in "$@"; do
    if [ "$argument" = --protected-mode ]; then protected=yes; fi
  done
  if [ -n "${2:-}" ] && [ "${2:0:1}" != - ] && [ -r "$2" ] \
      && grep -Eqi '^[[:space:]]*protected-mode[[:space:]]' "$2"; then
    protected=yes
  fi
  if [ -z "$protected" ]; then set -- "$@" --protected-mode no; fi
  if [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi

exec "$@"
