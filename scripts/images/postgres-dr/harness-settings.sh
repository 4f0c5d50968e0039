#!/usr/bin/env bash
# Run once, by docker-entrypoint.sh, on a new cluster: HARNESS_SETTINGS into its
# postgresql.auto.conf (harness-entrypoint.sh says why).
if [ -n "${HARNESS_SETTINGS:-}" ]; then
  printf '%s\n' "$HARNESS_SETTINGS" >>"$PGDATA/postgresql.auto.conf"
fi
