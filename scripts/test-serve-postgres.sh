#!/usr/bin/env bash
# The signet serve integration tests (crates/cli/tests/serve.rs) on PostgreSQL: a throwaway
# cluster from Debian's postgresql (initdb/pg_ctl in a temp dir, loopback only, trust auth),
# one database per test, removed with the cluster on exit. Installs postgresql if missing.
# Not part of CI yet (the apt install would cost CI time); run it by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ -z "$(pgbin)" ]; then
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
PGBIN=$(pgbin)

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# initdb refuses to run as root: run the cluster as the postgres user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$dir/data" -o "-h 127.0.0.1 -p $port -k $dir" -l "$dir/log" -w start >/dev/null
stop() { as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null || true; rm -rf "$dir"; }
trap stop EXIT

SIGNET_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port" \
    cargo test -p signet --test serve "$@"
