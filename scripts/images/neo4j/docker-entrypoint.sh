#!/usr/bin/env bash
# Starts Neo4j Community from its jars the way fixtures/providers/neo4j.py does for the
# native backend, with the official neo4j image's conventions:
# - `neo4j` (the default command; `neo4j console` too) runs the server in the foreground,
#   its log on stdout ("Started." once it serves); `neo4j-admin ...` runs the admin tool;
#   anything else is run as it is;
# - started as root, it makes /data and /logs the user neo4j's and runs itself again as neo4j;
# - neo4j.conf is written at each start: the image's defaults (listen on 0.0.0.0, Bolt 7687,
#   HTTP 7474, data in /data, logs in /logs), then every NEO4J_<setting> variable
#   (`_` -> `.`, `__` -> `_`, as upstream: NEO4J_server_memory_heap_max__size=512m is
#   server.memory.heap.max_size=512m);
# - NEO4J_AUTH=neo4j/<password> sets the initial password (Neo4j wants 8 characters or
#   more) before the first start; NEO4J_AUTH=none turns authentication off; unset: neo4j/neo4j,
#   which must be changed at the first login (as upstream);
# - the heap: server.memory.heap.initial_size / max_size become -Xms / -Xmx (what
#   bin/neo4j would do; the entry point itself only checks them), otherwise the JVM's own
#   default; server.memory.pagecache.size defaults to 512M (the official image's default).
set -Eeuo pipefail

NEO4J_HOME="${NEO4J_HOME:-/var/lib/neo4j}"
NEO4J_CONF="${NEO4J_CONF:-$NEO4J_HOME/conf}"
export NEO4J_HOME NEO4J_CONF
JVM_OPTIONS=(  # fixtures/providers/neo4j.py JVM_OPTIONS (the stock neo4j.conf's)
  -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow -XX:-UsePerfData -Dfile.encoding=UTF-8
  -Djdk.nio.maxCachedBufferSize=1024 -Dio.netty.tryReflectionSetAccessible=true
  -Dlog4j2.disable.jmx=true
  --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
)

say() { printf 'entrypoint: %s\n' "$*"; }
die() { printf 'entrypoint: ERROR: %s\n' "$*" >&2; exit 1; }

case "${1:-neo4j}" in
  neo4j | neo4j-admin) ;;
  *) exec "$@" ;;
esac
[ "$#" -gt 0 ] || set -- neo4j

if [ "$(id -u)" = 0 ]; then
  for dir in /data /logs "$NEO4J_CONF" "$NEO4J_HOME/run"; do
    mkdir -p "$dir"
    find "$dir" \! -user neo4j -exec chown neo4j:neo4j '{}' +
  done
  exec setpriv --reuid=neo4j --regid=neo4j --init-groups "$BASH_SOURCE" "$@"
fi

declare -A conf=(
  [server.default_listen_address]=0.0.0.0
  [server.bolt.enabled]=true
  [server.bolt.listen_address]=:7687
  [server.http.enabled]=true
  [server.http.listen_address]=:7474
  [server.https.enabled]=false
  [server.directories.data]=/data
  [server.directories.logs]=/logs
  [server.directories.import]=/import
  [server.directories.plugins]="$NEO4J_HOME/plugins"
  [server.directories.run]="$NEO4J_HOME/run"
  [server.memory.pagecache.size]=512M
  [dbms.usage_report.enabled]=false
  # As for the native backend: Bolt's event loops otherwise take 2 x 5 s to stop.
  [internal.dbms.bolt.netty_server_shutdown_quiet_period]=0
  [internal.dbms.bolt.netty_server_shutdown_timeout]=2s
)
while IFS='=' read -r -d '' name value; do
  case "$name" in
    NEO4J_[[:lower:]]*)
      setting="${name#NEO4J_}"; setting="${setting//_/.}"; setting="${setting//../_}"
      conf[$setting]="$value" ;;
  esac
done < <(env -0)

auth="${NEO4J_AUTH:-}"
password=
if [ "$auth" = none ]; then
  conf[dbms.security.auth_enabled]=false
elif [ -n "$auth" ]; then
  user="${auth%%/*}"; password="${auth#*/}"
  [ "$user" = neo4j ] && [ "$password" != "$auth" ] \
    || die "NEO4J_AUTH must be neo4j/<password> or none (got a value for user '$user')"
  [ "$password" != neo4j ] || die "NEO4J_AUTH: the password 'neo4j' is not allowed; choose another"
  conf[dbms.security.auth_enabled]=true
fi

mkdir -p "$NEO4J_CONF"
if ! [ -w "$NEO4J_CONF" ]; then  # e.g. `docker run --user 1234`: a conf dir of its own
  NEO4J_CONF="$(mktemp -d)"; export NEO4J_CONF
fi
for key in "${!conf[@]}"; do printf '%s=%s\n' "$key" "${conf[$key]}"; done | LC_ALL=C sort \
  > "$NEO4J_CONF/neo4j.conf"

classpath="$NEO4J_HOME/lib/*"
if [ "$1" = neo4j-admin ]; then
  shift
  exec java -Xmx256m "${JVM_OPTIONS[@]}" -cp "$classpath" org.neo4j.cli.AdminTool "$@"
fi

# The initial password, before the first start (once the system database exists it is
# the server's business).
if [ -n "$password" ] && ! [ -d /data/databases/system ]; then
  java -Xmx256m "${JVM_OPTIONS[@]}" -cp "$classpath" org.neo4j.cli.AdminTool \
    dbms set-initial-password "$password" \
    || die "neo4j-admin dbms set-initial-password failed (see above)"
fi

heap=()
if [ -n "${conf[server.memory.heap.initial_size]:-}" ]; then heap+=("-Xms${conf[server.memory.heap.initial_size]}"); fi
if [ -n "${conf[server.memory.heap.max_size]:-}" ]; then heap+=("-Xmx${conf[server.memory.heap.max_size]}"); fi
exec java "${heap[@]}" "${JVM_OPTIONS[@]}" -cp "$classpath" \
  org.neo4j.server.CommunityEntryPoint \
  --home-dir="$NEO4J_HOME" --config-dir="$NEO4J_CONF" --console-mode
