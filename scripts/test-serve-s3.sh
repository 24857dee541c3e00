#!/usr/bin/env bash
# The signet serve integration tests (crates/cli/tests/serve.rs) with package files on S3: an
# S3 endpoint from moto[server] on loopback (scripts/test-services.sh), one bucket per test.
# Each test runs on SQLite + files and on SQLite + S3. scripts/test.sh runs this and more
# (PostgreSQL + S3) in one go. Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
. scripts/test-services.sh
start_moto
wait_moto
cargo test --locked -p signet --test serve "$@"
