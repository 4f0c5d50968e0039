#!/usr/bin/env bash
# The official postgres image's conventions, for Debian's postgresql-15:
# - arguments starting with "-" are options for `postgres` (`docker run IMAGE -c key=value`);
#   one argument "-c key=value" (as a list command may carry it) is split into "-c" and
#   "key=value": postgres itself would read the setting name " key" and refuse it;
# - started as root, it prepares $PGDATA and runs itself again as the user postgres
#   (Postgres refuses to run as root);
# - on the first start (empty $PGDATA): initdb with POSTGRES_USER (default postgres) and
#   POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_INITDB_ARGS,
#   then on a server listening on its socket only: CREATE DATABASE POSTGRES_DB (default
#   POSTGRES_USER) and the *.sh / *.sql files of /docker-entrypoint-initdb.d;
# - the server then listens on all addresses (listen_addresses='*'), port 5432, and any host
#   may log in with a password (scram-sha-256), or without one if the method is trust.
# Anything else (`docker run IMAGE psql ...`) is run as it is.
set -Eeuo pipefail

if [ "${1:-}" = "" ] || [ "${1:0:1}" = "-" ]; then set -- postgres "$@"; fi

if [ "$1" != postgres ]; then exec "$@"; fi

arguments=()
for argument in "${@:2}"; do
  if [[ "$argument" =~ ^-c[[:space:]]+(.+)$ ]]; then arguments+=(-c "${BASH_REMATCH[1]}")
  else arguments+=("$argument"); fi
done
set -- postgres "${arguments[@]}"

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

say() { printf 'entrypoint: %s\n' "$*"; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  POSTGRES_USER="${POSTGRES_USER:-postgres}"
  POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
  auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo 'entrypoint: ERROR: the database is uninitialized and POSTGRES_PASSWORD is not set;' >&2
    echo '  set it (or POSTGRES_HOST_AUTH_METHOD=trust to allow logins without a password)' >&2
    exit 1
  fi
  say "initializing $PGDATA (superuser $POSTGRES_USER, database $POSTGRES_DB)"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of options, as upstream
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
    ${POSTGRES_INITDB_ARGS:-}
  printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
  printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"

  # A server for the setup only: no TCP listener, so nobody connects before it is done.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
  export PGPASSWORD="${POSTGRES_PASSWORD:-}"
  psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres)
  if [ "$POSTGRES_DB" != postgres ]; then
    "${psql[@]}" --set db="$POSTGRES_DB" -q <<<'CREATE DATABASE :"db";'
  fi
  psql+=(--dbname "$POSTGRES_DB")
  for file in /docker-entrypoint-initdb.d/*; do
    case "$file" in
      *.sh) say "running $file"; if [ -x "$file" ]; then "$file"; else . "$file"; fi ;;
      *.sql) say "running $file"; "${psql[@]}" -f "$file" ;;
      *.sql.gz) say "running $file"; gunzip -c "$file" | "${psql[@]}" ;;
      *) if [ -e "$file" ]; then say "ignoring $file"; fi ;;
    esac
  done
  unset PGPASSWORD
  pg_ctl -D "$PGDATA" -m fast -w stop
  say 'PostgreSQL init process complete; ready for start up.'
fi

exec "$@"
