#!/usr/bin/env bash
# The signet serve integration tests (crates/cli/tests/serve.rs) with package files on S3: an
# S3 endpoint from moto[server] (PyPI, in a venv) on loopback, one bucket per test. Combine with
# scripts/test-serve-postgres.sh's SIGNET_TEST_POSTGRES for the PostgreSQL + S3 pair. Not part
# of CI yet; run it by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${SIGNET_TOOLS_DIR:-$HOME/.cache/signet-tools}/moto-venv
if [ ! -x "$venv/bin/moto_server" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'moto[server]==5.2.5'
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill $moto' EXIT
for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
    sleep 0.2
done
SIGNET_TEST_S3="http://127.0.0.1:$port" cargo test -p signet --test serve "$@"
